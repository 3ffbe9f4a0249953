package detectors

import (
	"encoding/binary"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Kafka, the broker most Kubernetes data platforms run (Strimzi, Confluent,
// Redpanda speak it too), says in its answers why a client's request
// failed: every response carries error codes. A request is a 32-bit size,
// then its API key, API version and a correlation id; the response has the
// size and that id, then a body whose layout the request's key and version
// decide. Responses come in the order of their requests on a connection,
// so the client's stream is walked frame by frame to remember what each
// outstanding request was (kafkaQueue of them; a Produce with acks=0 gets
// no answer and is skipped by its id), and the broker's to read the errors
// of the answers:
//
//   - SaslHandshake and SaslAuthenticate: the login refused
//     (SASL_AUTHENTICATION_FAILED with the broker's message, a mechanism
//     the broker does not enable);
//   - Metadata and Produce: a topic that does not exist, topic, group,
//     cluster or transactional-id authorization (ACLs), a message or batch
//     over the broker's limits, too few in-sync replicas, a storage error;
//   - FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//     InitProducerId: their top-level error (not the rebalance codes a
//     healthy group goes through);
//   - any request the broker answers UNSUPPORTED_VERSION (ApiVersions
//     aside: a client asks with its newest version and retries).
//
// Reported as DB_ERROR (db.system kafka), each kind once per connection.
// A response is read from the segment it starts in, or from its first 64
// bytes when cut: a Metadata response whose brokers fill more than the
// rest of a segment is not read.

// kafkaQueue is how many outstanding requests a connection remembers (a
// producer keeps up to 5 in flight).
const kafkaQueue = 8

// kafkaReq is an outstanding request: its correlation id, key and version.
type kafkaReq struct {
	corr int32
	key  int16
	ver  int16
}

// Kafka API keys read here.
const (
	kProduce          = 0
	kMetadata         = 3
	kFindCoordinator  = 10
	kJoinGroup        = 11
	kHeartbeat        = 12
	kLeaveGroup       = 13
	kSyncGroup        = 14
	kSaslHandshake    = 17
	kApiVersions      = 18
	kInitProducerID   = 22
	kSaslAuthenticate = 36
)

// kafkaAPIs names the keys read here, and the first version of each that
// is flexible (compact strings and arrays, tagged fields).
var kafkaAPIs = map[int16]struct {
	name string
	flex int16
}{
	kProduce: {"Produce", 9}, kMetadata: {"Metadata", 9}, kFindCoordinator: {"FindCoordinator", 3},
	kJoinGroup: {"JoinGroup", 6}, kHeartbeat: {"Heartbeat", 4}, kLeaveGroup: {"LeaveGroup", 4},
	kSyncGroup: {"SyncGroup", 4}, kSaslHandshake: {"SaslHandshake", 99}, kApiVersions: {"ApiVersions", 3},
	kInitProducerID: {"InitProducerId", 2}, kSaslAuthenticate: {"SaslAuthenticate", 2},
}

// kafkaErrs are the errors reported, with what they mean (at most 32:
// dbState.sent).
var kafkaErrs = [...]struct {
	code int16
	name string
	hint string
}{
	{3, "UNKNOWN_TOPIC_OR_PARTITION", "the topic does not exist: not created yet, a wrong name, or a broker that does not create topics on first use (auto.create.topics.enable=false, as Strimzi and Confluent set it)"},
	{29, "TOPIC_AUTHORIZATION_FAILED", "an ACL denies the client's user this topic (kafka-acls --list)"},
	{30, "GROUP_AUTHORIZATION_FAILED", "an ACL denies the client's user its consumer group"},
	{31, "CLUSTER_AUTHORIZATION_FAILED", "an ACL denies the client's user a cluster operation (an idempotent producer needs IdempotentWrite on the cluster with older brokers)"},
	{53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "an ACL denies the client's user its transactional.id"},
	{58, "SASL_AUTHENTICATION_FAILED", "wrong user name or password, or a user the broker does not know (SCRAM credentials are per mechanism: SCRAM-SHA-256 and SCRAM-SHA-512 are set apart)"},
	{33, "UNSUPPORTED_SASL_MECHANISM", "the broker does not enable the client's SASL mechanism (sasl.enabled.mechanisms on that listener)"},
	{34, "ILLEGAL_SASL_STATE", "a SASL request out of order: the client and the broker disagree on the login's steps"},
	{10, "MESSAGE_TOO_LARGE", "a record batch over the broker's or topic's limit (message.max.bytes, max.message.bytes), or over the client's max.request.size"},
	{18, "RECORD_LIST_TOO_LARGE", "a request over the broker's socket.request.max.bytes"},
	{19, "NOT_ENOUGH_REPLICAS", "fewer in-sync replicas than the topic's min.insync.replicas: with acks=all the broker refuses writes while replicas are down or lagging"},
	{20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "the write was stored, but fewer replicas than min.insync.replicas took it in time"},
	{7, "REQUEST_TIMED_OUT", "the broker could not finish the request within its timeout (replicas slow to acknowledge: acks=all with a lagging follower)"},
	{56, "KAFKA_STORAGE_ERROR", "the broker's disk for that partition failed or is full"},
	{26, "INVALID_SESSION_TIMEOUT", "the consumer's session.timeout.ms is outside the broker's group.min.session.timeout.ms and group.max.session.timeout.ms"},
	{81, "GROUP_MAX_SIZE_REACHED", "the consumer group has group.max.size members already"},
	{87, "INVALID_RECORD", "the broker rejected a record (a compacted topic's record without a key, a timestamp out of range)"},
	{2, "CORRUPT_MESSAGE", "a record batch failed the broker's checks (its CRC or size): a client or proxy bug, or memory corruption"},
	{35, "UNSUPPORTED_VERSION", "the broker does not support this version of the request: a client newer or older than the broker knows"},
	{42, "INVALID_REQUEST", "the broker could not read the request"},
	{-1, "ADVERTISED_LOOPBACK", "a loopback address, which for the client is itself: the broker's advertised.listeners names an address only the broker's own host can use (localhost, or the default of a broker set up for one machine), so the client's connections to that broker go to its own host and fail there (Connection refused): advertise the broker's Service or pod name"},
	{15, "COORDINATOR_NOT_AVAILABLE", "the group coordinator is not available: the __consumer_offsets topic is missing or has partitions offline (offsets.topic.replication.factor above the brokers running)"},
}

// kafkaKind numbers a Kafka error for dbState.sent (-1: not reported).
func kafkaKind(code int16) int {
	for i := range kafkaErrs {
		if kafkaErrs[i].code == code {
			return i
		}
	}
	return -1
}

// kafkaClientStart reports whether b, a client's first segment to port,
// starts a Kafka request a client opens with: ApiVersions (every client
// since Kafka 0.10), SaslHandshake or Metadata, of a plausible version,
// whose size covers at least its header; on Kafka's usual ports, any
// request (kafkajs opens a connection to a partition's leader with its
// Fetch).
func kafkaClientStart(b []byte, port uint16) bool {
	if len(b) < 14 {
		return false
	}
	size := binary.BigEndian.Uint32(b)
	key, ver := int16(binary.BigEndian.Uint16(b[4:])), int16(binary.BigEndian.Uint16(b[6:]))
	idLen := int16(binary.BigEndian.Uint16(b[12:]))
	if size < 10 || size > 1<<20 || ver < 0 || ver > 20 || idLen < -1 || int(idLen) > 1024 {
		return false
	}
	switch port {
	case 9092, 9093, 9094, 19092, 29092:
		return key >= 0 && key <= 90
	}
	return key == kApiVersions || key == kSaslHandshake || key == kMetadata
}

// kafkaClient walks the client's requests (their 12-byte headers) to
// queue what each is.
func (e *Engine) kafkaClient(c *flowtable.Conn, d *dbState, p *decode.Packet) {
	b := d.clientNew(c, p)
	for len(b) > 0 {
		var h []byte
		if h, b, _ = d.clientHeader(b, 12); h == nil {
			continue
		}
		size := binary.BigEndian.Uint32(h)
		if size < 8 || size > 1<<30 {
			d.cOff = true
			return
		}
		d.cskip = size - 8
		r := kafkaReq{key: int16(binary.BigEndian.Uint16(h[4:])), ver: int16(binary.BigEndian.Uint16(h[6:])), corr: int32(binary.BigEndian.Uint32(h[8:]))}
		d.queue(r)
	}
}

// clientNew returns the bytes of the client's segment p that the walk of
// its requests has not passed yet (nil: none, or the walk is lost).
func (d *dbState) clientNew(c *flowtable.Conn, p *decode.Packet) []byte {
	if d.cOff {
		return nil
	}
	off := c.StreamOffset(0, p.Seq)
	b := p.Payload
	end := off + int64(len(b))
	switch {
	case off < 0 || off > d.cseen:
		d.cOff = true // bytes missing: the frames are lost
		return nil
	case end <= d.cseen:
		return nil
	case off < d.cseen:
		b = b[d.cseen-off:]
	}
	d.cseen = end
	return b
}

// clientHeader passes, in b, the rest of the client's current request,
// then gathers the next one's n-byte header: it returns the header once
// whole (nil until then; the caller sets cskip to the request's rest),
// whether it started in b (its body follows in rest), and what follows.
func (d *dbState) clientHeader(b []byte, n int) (h, rest []byte, fresh bool) {
	if d.cskip > 0 {
		k := min(uint32(len(b)), d.cskip)
		d.cskip -= k
		return nil, b[k:], false
	}
	fresh = d.chdrN == 0
	rest, whole := gather(d.chdr[:n], &d.chdrN, b)
	if !whole {
		return nil, nil, false
	}
	return d.chdr[:n], rest, fresh
}

// gather adds b's first bytes to the *n bytes of a fixed-size header
// already in buf (a header a segment's end may cut): it returns what
// follows in b, and whether the header is whole (*n is then reset for
// the next one).
func gather(buf []byte, n *uint8, b []byte) (rest []byte, whole bool) {
	k := copy(buf[*n:], b)
	*n += uint8(k)
	if int(*n) < len(buf) {
		return b[k:], false
	}
	*n = 0
	return b[k:], true
}

// queue remembers an outstanding request (the oldest is forgotten when
// kafkaQueue are).
func (d *dbState) queue(r kafkaReq) {
	if d.kqN == kafkaQueue {
		copy(d.kq[:], d.kq[1:])
		d.kqN--
	}
	d.kq[d.kqN] = r
	d.kqN++
}

// kafkaWalk walks the broker's responses: a 32-bit size and the
// correlation id, then the body.
func (e *Engine) kafkaWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		switch d.st {
		case dbSkip:
			b, _ = d.pass(b)
		case dbHold:
			// A response cut by the segment's end: its first bytes.
			n := copy(d.ln[d.lnN:min(len(d.ln), int(d.lnN)+int(d.skip))], b)
			d.lnN += uint8(n)
			d.skip -= uint32(n)
			b = b[n:]
			if int(d.lnN) == len(d.ln) || d.skip == 0 {
				e.kafkaResponse(c, fs, d, d.ln[:d.lnN], ts)
				d.st = dbSkip
				if d.skip == 0 {
					d.st = dbFrame
				}
			}
		default: // dbFrame
			var whole bool
			if b, whole = gather(d.hdr[:4], &d.hdrN, b); !whole {
				return
			}
			size := binary.BigEndian.Uint32(d.hdr[:4])
			if size < 4 || size > 1<<30 {
				d.st = dbOff
				return
			}
			if uint32(len(b)) >= size || len(b) >= 1024 {
				e.kafkaResponse(c, fs, d, b[:min(uint32(len(b)), size)], ts)
				d.st, d.skip = dbSkip, size
				continue
			}
			d.st, d.skip, d.lnN = dbHold, size, 0
		}
		if d.st == dbSkip && d.skip == 0 {
			d.st = dbFrame
		}
	}
}

// kafkaResponse reads the start of a response, b (its correlation id
// first), with what its request was.
func (e *Engine) kafkaResponse(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	if len(b) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(b))
	var req kafkaReq
	found := false
	for d.kqN > 0 {
		r := d.kq[0]
		copy(d.kq[:], d.kq[1:d.kqN])
		d.kqN--
		if r.corr == corr {
			req, found = r, true
			break
		}
		// An earlier request that gets no answer (a Produce with
		// acks=0): dropped.
	}
	api, known := kafkaAPIs[req.key]
	if !found || !known {
		return
	}
	flex := req.ver >= api.flex
	r := kreader{b: b[4:]}
	if flex && req.key != kApiVersions {
		r.tags() // the response header's tagged fields
	}
	var code int16
	var topic, msg []byte
	switch req.key {
	case kApiVersions, kSaslHandshake:
		code = r.i16()
		if req.key == kApiVersions && code == 35 {
			return // the client asked with too new a version: it retries
		}
	case kSaslAuthenticate:
		code = r.i16()
		msg = r.str(flex)
	case kFindCoordinator:
		if req.ver >= 1 {
			r.i32()
		}
		if req.ver >= 4 {
			if r.arr(flex) < 1 {
				return
			}
			r.str(flex)
			r.i32()
			r.str(flex)
			r.i32()
		}
		code = r.i16()
		if req.ver >= 1 {
			msg = r.str(flex)
		}
	case kJoinGroup, kSyncGroup, kHeartbeat, kLeaveGroup:
		if req.ver >= 2 || (req.ver == 1 && req.key != kJoinGroup) { // throttle_time_ms
			r.i32()
		}
		code = r.i16()
	case kInitProducerID:
		r.i32()
		code = r.i16()
	case kMetadata:
		var lo kafkaBroker
		code, topic = kafkaMetadataError(&r, req.ver, flex, &lo)
		if lo.host != nil && !c.Resp().IsLoopback() {
			e.kafkaLoopback(c, fs, d, lo, ts)
		}
	case kProduce:
		code, topic, msg = kafkaProduceError(&r, req.ver, flex)
	}
	if r.bad || code == 0 {
		return
	}
	k := kafkaKind(code)
	if k < 0 || !d.first(k) {
		return
	}
	ev := e.kafkaEventStart(c, fs, d, " answered the "+api.name+" request of client ", ts)
	if ev == nil {
		return
	}
	if len(topic) > 0 {
		ev.B = append(ev.B, " for topic "...)
		ev.B = appendText(ev.B, topic)
	}
	ev.B = append(ev.B, " with error "...)
	ev.B = jsonw.Uint(ev.B, uint64(code))
	ev.B = append(ev.B, ' ')
	ev.B = append(ev.B, kafkaErrs[k].name...)
	if len(msg) > 0 {
		ev.B = append(ev.B, " \\\""...)
		ev.B = appendText(ev.B, cut(msg, 160))
		ev.B = append(ev.B, "\\\""...)
	}
	ev.B = append(ev.B, ": "...)
	ev.B = append(ev.B, kafkaErrs[k].hint...)
	var num [8]byte
	e.kafkaEventEnd(ev, fs, d, jsonw.Int(num[:0], int64(code)), kafkaErrs[k].name, api.name, topic, msg)
}

// kafkaEventStart opens a Kafka DB_ERROR: "Kafka broker ADDR<did>CLIENT
// (client.id ID)"; nil when the rate limiter folds it.
func (e *Engine) kafkaEventStart(c *flowtable.Conn, fs *flowState, d *dbState, did string, ts int64) *Buffer {
	ev := e.problemEvent(c, fs, NoteDBError, ts)
	if ev == nil {
		return nil
	}
	ev.B = append(ev.B, "Kafka broker "...)
	ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
	ev.B = append(ev.B, did...)
	ev.B = c.Orig().AppendTo(ev.B)
	if d.user != 0 {
		ev.B = append(ev.B, " (client.id "...)
		ev.B = appendText(ev.B, e.dbNames[d.user-1])
		ev.B = append(ev.B, ')')
	}
	return ev
}

// kafkaEventEnd ends a Kafka DB_ERROR with its side and db object.
func (e *Engine) kafkaEventEnd(ev *Buffer, fs *flowState, d *dbState, code []byte, name, api string, topic, msg []byte) {
	ev.B = appendSide(ev.B, "server")
	ev.B = append(ev.B, `,"db":{"system":"kafka","code":"`...)
	ev.B = append(ev.B, code...)
	ev.B = append(ev.B, `","name":"`...)
	ev.B = append(ev.B, name...)
	ev.B = append(ev.B, `","api":"`...)
	ev.B = append(ev.B, api...)
	ev.B = append(ev.B, '"')
	if d.user != 0 {
		ev.B = append(ev.B, `,"client_id":`...)
		ev.B = jsonw.Bytes(ev.B, e.dbNames[d.user-1])
	}
	if len(topic) > 0 {
		ev.B = append(ev.B, `,"topic":`...)
		ev.B = jsonw.Bytes(ev.B, topic)
	}
	if len(msg) > 0 {
		ev.B = append(ev.B, `,"message":`...)
		ev.B = jsonw.Bytes(ev.B, cut(msg, 200))
	}
	ev.B = append(ev.B, '}')
	e.eventEndPcap(ev, fs)
}

// kafkaClosed reports a broker that closed the connection right after the
// client's SASL credentials instead of answering them: it refused the
// login (brokers before Kafka 1.0, and some implementations, close
// without SASL_AUTHENTICATION_FAILED).
func (e *Engine) kafkaClosed(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || d.kind != svcKafka || d.kqN == 0 || d.kq[d.kqN-1].key != kSaslAuthenticate || c.E[0].FINs() != 0 || !d.first(kafkaKind(58)) {
		return
	}
	ev := e.kafkaEventStart(c, fs, d, " closed the connection of client ", ts)
	if ev == nil {
		return
	}
	ev.B = append(ev.B, " right after its SASL credentials, without answering them: it refused the login ("...)
	ev.B = append(ev.B, kafkaErrs[kafkaKind(58)].hint...)
	ev.B = append(ev.B, "; the client sees a closed connection or a timeout, not an authentication error)"...)
	e.kafkaEventEnd(ev, fs, d, []byte("58"), "SASL_AUTHENTICATION_FAILED", "SaslAuthenticate", nil, nil)
}

// kafkaLoopback reports a broker that tells a client, in Metadata, that a
// broker is at a loopback address: the client then connects to itself.
func (e *Engine) kafkaLoopback(c *flowtable.Conn, fs *flowState, d *dbState, lo kafkaBroker, ts int64) {
	if !d.first(kafkaKind(-1)) {
		return
	}
	ev := e.kafkaEventStart(c, fs, d, " told client ", ts)
	if ev == nil {
		return
	}
	ev.B = append(ev.B, " that broker "...)
	ev.B = jsonw.Int(ev.B, int64(lo.node))
	ev.B = append(ev.B, " is at "...)
	ev.B = appendText(ev.B, cut(lo.host, 64))
	ev.B = append(ev.B, ':')
	ev.B = jsonw.Int(ev.B, int64(lo.port))
	ev.B = append(ev.B, ": "...)
	ev.B = append(ev.B, kafkaErrs[kafkaKind(-1)].hint...)
	e.kafkaEventEnd(ev, fs, d, []byte("ADVERTISED_LOOPBACK"), "ADVERTISED_LOOPBACK", "Metadata", nil, cut(lo.host, 64))
}

// kafkaBroker is a broker as Metadata describes it.
type kafkaBroker struct {
	node int32
	host []byte
	port int32
}

// loopbackHost reports whether a broker's advertised host is one that,
// for any client, is the client itself.
func loopbackHost(h []byte) bool {
	switch string(h) {
	case "localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "ip6-localhost":
		return true
	}
	return len(h) > 4 && string(h[:4]) == "127."
}

// kafkaMetadataError returns the first error a Metadata response gives a
// topic, and the topic; lo gets the first broker it advertises on a
// loopback address.
func kafkaMetadataError(r *kreader, ver int16, flex bool, lo *kafkaBroker) (int16, []byte) {
	if ver >= 3 {
		r.i32() // throttle_time_ms
	}
	for n := r.arr(flex); n > 0 && !r.bad; n-- { // brokers
		node, host, port := r.i32(), r.str(flex), r.i32()
		if lo.host == nil && loopbackHost(host) {
			*lo = kafkaBroker{node, host, port}
		}
		if ver >= 1 {
			r.str(flex) // rack
		}
		if flex {
			r.tags()
		}
	}
	if ver >= 2 {
		r.str(flex) // cluster_id
	}
	if ver >= 1 {
		r.i32() // controller_id
	}
	for n := r.arr(flex); n > 0 && !r.bad; n-- { // topics
		code := r.i16()
		name := r.str(flex)
		if code != 0 {
			return code, name
		}
		if ver >= 10 {
			r.skip(16) // topic_id
		}
		if ver >= 1 {
			r.skip(1) // is_internal
		}
		for m := r.arr(flex); m > 0 && !r.bad; m-- { // partitions
			r.skip(2 + 4 + 4) // error_code, partition_index, leader_id
			if ver >= 7 {
				r.i32() // leader_epoch
			}
			for k := 0; k < 2+btoi(ver >= 5); k++ { // replicas, isr, offline
				r.skip(4 * max(r.arr(flex), 0))
			}
			if flex {
				r.tags()
			}
		}
		if ver >= 8 {
			r.i32() // topic_authorized_operations
		}
		if flex {
			r.tags()
		}
	}
	return 0, nil
}

// kafkaProduceError returns the first error a Produce response gives a
// partition, its topic and the broker's message (v8 and later).
func kafkaProduceError(r *kreader, ver int16, flex bool) (int16, []byte, []byte) {
	for n := r.arr(flex); n > 0 && !r.bad; n-- { // topics
		var name []byte
		if ver >= 13 {
			r.skip(16) // topic_id: v13 names topics by id
		} else {
			name = r.str(flex)
		}
		for m := r.arr(flex); m > 0 && !r.bad; m-- { // partitions
			r.i32()
			code := r.i16()
			r.skip(8) // base_offset
			if ver >= 2 {
				r.skip(8) // log_append_time_ms
			}
			if ver >= 5 {
				r.skip(8) // log_start_offset
			}
			var msg []byte
			if ver >= 8 {
				for k := r.arr(flex); k > 0 && !r.bad; k-- { // record_errors
					r.i32()
					r.str(flex)
					if flex {
						r.tags()
					}
				}
				msg = r.str(flex)
			}
			if code != 0 {
				return code, name, msg
			}
			if flex {
				r.tags()
			}
		}
		if flex {
			r.tags()
		}
	}
	return 0, nil, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// kreader reads Kafka's big-endian fields; past the end it reads zeros
// and sets bad.
type kreader struct {
	b   []byte
	bad bool
}

// take returns the next n bytes (nil past the end).
func (r *kreader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.b, r.bad = nil, true
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *kreader) skip(n int) { r.take(n) }

func (r *kreader) i16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *kreader) i32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

// uvarint reads an unsigned varint (flexible versions' lengths).
func (r *kreader) uvarint() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<30 {
		r.b, r.bad = nil, true
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

// str reads a (nullable) string: an int16 length, or a compact one.
func (r *kreader) str(flex bool) []byte {
	n := 0
	if flex {
		n = r.uvarint() - 1
	} else {
		n = int(r.i16())
	}
	if n <= 0 || r.bad {
		return nil
	}
	return r.take(n)
}

// arr reads an array's length (-1: null).
func (r *kreader) arr(flex bool) int {
	if flex {
		return r.uvarint() - 1
	}
	n := int(r.i32())
	if n > len(r.b) {
		r.bad = true
		return 0
	}
	return n
}

// tags skips a tagged-fields section.
func (r *kreader) tags() {
	for n := r.uvarint(); n > 0 && !r.bad; n-- {
		r.uvarint()
		r.skip(r.uvarint())
	}
}

// kafkaClientID interns the client.id of a client's first request b.
func (e *Engine) kafkaClientID(d *dbState, b []byte) {
	if len(b) < 14 {
		return
	}
	n := int(int16(binary.BigEndian.Uint16(b[12:])))
	if n > 0 && n <= 64 && 14+n <= len(b) {
		d.user = e.dbName(b[14 : 14+n])
	}
}
