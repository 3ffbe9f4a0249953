package detectors

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// MongoDB (and the servers that speak its protocol: Amazon DocumentDB,
// Azure Cosmos DB for MongoDB, FerretDB) answers every command with a
// BSON document; a failed one has ok: 0, a code, its codeName and an
// errmsg, and a write's errors travel in writeErrors and
// writeConcernError. A message is a 16-byte header (little-endian size,
// requestID, responseTo, opCode) and a body: OP_MSG (a flag word, then
// sections, the command's document first), or the legacy OP_QUERY and
// OP_REPLY a driver's first hello still uses.
//
// The client's messages are walked to queue each command's name,
// collection and database by requestID, and the server's replies, which
// name the request they answer in responseTo, are read for:
//
//   - a login refused (AuthenticationFailed, in the reply to saslStart,
//     saslContinue or authenticate, or to a hello that carried a
//     speculative login), the user named in the SCRAM exchange;
//   - the errors that say the environment failed, not the data (mongoErrs:
//     authorization, a write to a secondary, a failover, a shutdown, a
//     time limit, a write concern not met, a disk full, a driver too old
//     for the server, transactions on a standalone server);
//   - a replica set whose hello lists its members at a loopback address:
//     a client that discovers the set then connects to itself.
//
// Reported as DB_ERROR (db.system mongodb), each kind once per
// connection. A reply is read from the segment it starts in (replies
// with an error are small); compressed messages (OP_COMPRESSED, after a
// client and server agreed on a compressor) are not read.

// MongoDB opcodes.
const (
	mongoReply      = 1
	mongoQuery      = 2004
	mongoCompressed = 2012
	mongoMsg        = 2013
)

// mongoErr is a MongoDB error reported, with what it means.
type mongoErr struct {
	code int32
	name string
	hint string
}

const (
	mongoFailoverHint = "a replica set's primary changed under the request (a failover, an election, a step-down for maintenance or a rolling restart); drivers retry reads and retryable writes once, so a client that sees it had no primary to retry on in time"
	mongoReachHint    = "the server (a mongos, or a member syncing) could not reach another member or shard: a name that does not resolve from the server's pod, a NetworkPolicy, or a member down"
	mongoTimeHint     = "the operation ran longer than its time limit (maxTimeMS: the driver's timeoutMS, or the query's own): a slow query (an index missing), a lock wait, or an overloaded server"
)

// mongoErrs are the errors reported (at most 29: dbState.sent's bits up
// to mongoLoopbackKind).
var mongoErrs = [...]mongoErr{
	{18, "AuthenticationFailed", "wrong user name or password, or the user exists in another database than the one the client logs in to (authSource: a user created in admin needs authSource=admin in the connection string), or has no credentials for the client's mechanism (SCRAM-SHA-1 or SCRAM-SHA-256)"},
	{334, "MechanismUnavailable", "the server does not enable the client's authentication mechanism (authenticationMechanisms)"},
	{8000, "AtlasError", "MongoDB Atlas refused it (\"bad auth\": a wrong user name or password)"},
	{13, "Unauthorized", "the user's roles do not allow this command on this database: grant it one that does (readWrite on the database, or a role the command needs)"},
	{10107, "NotWritablePrimary", "the client wrote to a member that is not the primary: " + mongoFailoverHint + "; or the client connects to one member directly (directConnection=true, or a Service that spreads connections over every member) instead of to the replica set"},
	{13435, "NotPrimaryNoSecondaryOk", "the client read from a secondary without a read preference that allows it (readPreference=secondaryPreferred): it connects to one member directly (directConnection=true, or a Service over every member) instead of to the replica set, or the primary changed"},
	{13436, "NotPrimaryOrSecondary", "the member is neither primary nor secondary: starting up, in recovery, or removed from the replica set's configuration"},
	{189, "PrimarySteppedDown", mongoFailoverHint},
	{11602, "InterruptedDueToReplStateChange", mongoFailoverHint},
	{91, "ShutdownInProgress", "the server is shutting down (its pod stopped, evicted or rolled)"},
	{11600, "InterruptedAtShutdown", "the server is shutting down (its pod stopped, evicted or rolled) and ended the operation"},
	{133, "FailedToSatisfyReadPreference", "no replica set member matches the read preference (members down, or unreachable from the mongos)"},
	{6, "HostUnreachable", mongoReachHint},
	{7, "HostNotFound", mongoReachHint},
	{89, "NetworkTimeout", mongoReachHint},
	{9001, "SocketException", mongoReachHint},
	{50, "MaxTimeMSExpired", mongoTimeHint},
	{262, "ExceededTimeLimit", mongoTimeHint},
	{64, "WriteConcernFailed", "the primary stored the write, but not enough members acknowledged it within the write concern's wtimeout: secondaries down or lagging"},
	{100, "UnsatisfiableWriteConcern", "the write concern asks for more data-bearing members than the replica set has up (w: majority, or a number, with members down)"},
	{14031, "OutOfDiskSpace", "the server's disk is full"},
	{292, "QueryExceededMemoryLimitNoDiskUseAllowed", "a sort or aggregation needed more memory than its limit (100 MB) and may not spill to disk: an index for the sort, or allowDiskUse"},
	{43, "CursorNotFound", "the server no longer has the cursor the client reads from: the client waited more than 10 minutes between batches (cursorTimeoutMillis), or its getMore went to another mongos or member than the query (a load balancer in between)"},
	{352, "UnsupportedOpQueryCommand", "the client's driver sends commands in the legacy OP_QUERY protocol, which MongoDB 6.0 removed: the driver is too old for the server"},
	{59, "CommandNotFound", "the server does not know the command: a server older than the client expects, or a MongoDB-compatible server (Amazon DocumentDB, Azure Cosmos DB, FerretDB) that lacks it"},
	{251, "NoSuchTransaction", "the server had aborted the transaction: it ran longer than transactionLifetimeLimitSeconds (60 s by default), or a failover ended it"},
	{20, "IllegalOperation", "most often transactions or retryable writes sent to a standalone server: they need a replica set member or a mongos (Prisma needs a replica set); a single-node replica set (--replSet, rs.initiate()) provides them"},
	{16500, "RequestRateTooLarge", "Azure Cosmos DB's request-unit rate limit was exceeded: the collection's or database's provisioned throughput is too low for the load"},
}

// mongoLoopbackKind is dbState.sent's bit for a replica set member
// advertised at a loopback address (kindClosed is the next one).
const mongoLoopbackKind = 29

// mongoKind numbers a MongoDB error for dbState.sent (-1: not reported).
func mongoKind(code int32) int {
	for i := range mongoErrs {
		if mongoErrs[i].code == code {
			return i
		}
	}
	return -1
}

// mongoClientStart reports whether b, a client's first segment to port,
// starts a MongoDB message a driver opens a connection with: a hello
// (isMaster, in OP_QUERY or OP_MSG). On MongoDB's usual ports, any
// command.
func mongoClientStart(b []byte, port uint16) bool {
	if len(b) < 26 {
		return false
	}
	size, to, op := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
	if size < 26 || size > 48<<20 || to != 0 || (op != mongoQuery && op != mongoMsg) {
		return false
	}
	switch port {
	case 27017, 27018, 27019:
		return true
	}
	name, _ := bsonFirst(mongoCommandDoc(op, b[16:]))
	switch string(name) {
	case "hello", "isMaster", "ismaster":
		return true
	}
	return false
}

// mongoCommandDoc returns the command document that body, a request's
// body after the header, starts (nil: none).
func mongoCommandDoc(op uint32, body []byte) []byte {
	switch op {
	case mongoMsg:
		if len(body) > 5 && body[4] == 0 { // flags, then a body section
			return body[5:]
		}
	case mongoQuery:
		if len(body) > 4 {
			if k := bytes.IndexByte(body[4:], 0); k >= 0 && 4+k+9 < len(body) { // flags, the collection, skip and return counts
				return body[4+k+9:]
			}
		}
	case mongoReply:
		if len(body) > 20 { // flags, cursor id, starting from, number returned
			return body[20:]
		}
	}
	return nil
}

// bsonFirst returns the name and value of a document's first element.
func bsonFirst(doc []byte) (name, val []byte) {
	it := bsonIter{b: doc}
	if !it.open() {
		return nil, nil
	}
	_, name, val, _ = it.next()
	return name, val
}

// bsonIter walks a BSON document's elements, stopping at its end or
// where the bytes at hand end (a document cut by a segment's end).
type bsonIter struct {
	b []byte
}

// open enters the document b starts (its length prefix).
func (it *bsonIter) open() bool {
	if len(it.b) < 5 {
		return false
	}
	n := int(int32(binary.LittleEndian.Uint32(it.b)))
	if n < 5 {
		return false
	}
	it.b = it.b[4:min(n-1, len(it.b))] // without the terminating NUL
	return true
}

// next returns the next element: its type, name and value bytes (a
// string's value is its text; a document's or array's, the whole
// document; a binary's, its data).
func (it *bsonIter) next() (t byte, name, val []byte, ok bool) {
	if len(it.b) < 2 {
		return 0, nil, nil, false
	}
	t = it.b[0]
	k := bytes.IndexByte(it.b[1:], 0)
	if k < 0 {
		return 0, nil, nil, false
	}
	name, v := it.b[1:1+k], it.b[2+k:]
	n := 0
	switch t {
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		n = 8
	case 0x02, 0x0D, 0x0E: // string, code, symbol
		if len(v) < 4 {
			return 0, nil, nil, false
		}
		l := int(int32(binary.LittleEndian.Uint32(v)))
		if l < 1 || 4+l > len(v) {
			return 0, nil, nil, false
		}
		it.b = v[4+l:]
		return t, name, v[4 : 4+l-1], true
	case 0x03, 0x04, 0x0F: // document, array, code with scope
		if len(v) < 4 {
			return 0, nil, nil, false
		}
		n = int(int32(binary.LittleEndian.Uint32(v)))
		if n < 5 {
			return 0, nil, nil, false
		}
		if n > len(v) {
			// Cut: what is at hand (a document's first elements).
			it.b = nil
			return t, name, v, true
		}
	case 0x05: // binary: a length, a subtype, the data
		if len(v) < 5 {
			return 0, nil, nil, false
		}
		l := int(int32(binary.LittleEndian.Uint32(v)))
		if l < 0 || 5+l > len(v) {
			return 0, nil, nil, false
		}
		it.b = v[5+l:]
		return t, name, v[5 : 5+l], true
	case 0x06, 0x0A, 0x7F, 0xFF: // undefined, null, max key, min key
	case 0x07: // ObjectId
		n = 12
	case 0x08: // bool
		n = 1
	case 0x0B: // regex: two C strings
		a := bytes.IndexByte(v, 0)
		if a < 0 {
			return 0, nil, nil, false
		}
		b := bytes.IndexByte(v[a+1:], 0)
		if b < 0 {
			return 0, nil, nil, false
		}
		n = a + b + 2
	case 0x0C: // DBPointer
		if len(v) < 4 {
			return 0, nil, nil, false
		}
		n = 4 + int(int32(binary.LittleEndian.Uint32(v))) + 12
	case 0x10: // int32
		n = 4
	case 0x13: // decimal128
		n = 16
	default:
		return 0, nil, nil, false
	}
	if n < 0 || n > len(v) {
		return 0, nil, nil, false
	}
	it.b = v[n:]
	return t, name, v[:n], true
}

// bsonNum reads a numeric element's value (double, int32, int64, bool)
// as an integer; ok is false for other types.
func bsonNum(t byte, v []byte) (int64, bool) {
	switch {
	case t == 0x10 && len(v) == 4:
		return int64(int32(binary.LittleEndian.Uint32(v))), true
	case t == 0x12 && len(v) == 8:
		return int64(binary.LittleEndian.Uint64(v)), true
	case t == 0x01 && len(v) == 8:
		f := math.Float64frombits(binary.LittleEndian.Uint64(v))
		if f != f || f > 1<<31 || f < -(1<<31) {
			return 0, false
		}
		return int64(f), true
	case t == 0x08 && len(v) == 1:
		return int64(v[0]), true
	}
	return 0, false
}

// mongoErrOf reads an error document's code, codeName and errmsg (or a
// legacy reply's $err).
func mongoErrOf(doc []byte) (code int32, name, msg []byte) {
	it := bsonIter{b: doc}
	if !it.open() {
		return 0, nil, nil
	}
	for {
		t, k, v, ok := it.next()
		if !ok {
			return code, name, msg
		}
		switch string(k) {
		case "code":
			if n, ok := bsonNum(t, v); ok {
				code = int32(n)
			}
		case "codeName":
			if t == 0x02 {
				name = v
			}
		case "errmsg", "$err":
			if t == 0x02 {
				msg = v
			}
		}
	}
}

// mongoProbe reports whether a command is one drivers and shells send on
// their own to learn about the server, and get over its failing
// (mongosh's atlasVersion on any other server, a driver's endSessions
// to a server without sessions), or whose failure they ignore.
func mongoProbe(cmd []byte) bool {
	switch string(cmd) {
	case "hello", "isMaster", "ismaster", "buildInfo", "buildinfo", "endSessions", "killCursors", "getParameter",
		"getCmdLineOpts", "atlasVersion", "getLog", "hostInfo", "serverStatus", "connectionStatus", "listCommands",
		"getFreeMonitoringStatus", "ping", "whatsmyuri", "features", "replSetGetStatus", "getShardVersion",
		"abortTransaction": // (a transaction's abort after its failure, whose own error drivers ignore)
		return true
	}
	return false
}

// mongoAuthCmd reports whether a command is a step of a login.
func mongoAuthCmd(cmd []byte) bool {
	switch string(cmd) {
	case "saslStart", "saslContinue", "authenticate":
		return true
	}
	return false
}

// mongoClient walks the client's messages: each request's command is
// queued by its requestID (a message with moreToCome gets no reply and
// is not).
func (e *Engine) mongoClient(c *flowtable.Conn, d *dbState, p *decode.Packet, ts int64) {
	b := d.clientNew(c, p)
	for len(b) > 0 {
		var h []byte
		var fresh bool
		if h, b, fresh = d.clientHeader(b, 16); h == nil {
			continue
		}
		size := binary.LittleEndian.Uint32(h)
		if size < 16 || size > 48<<20 {
			d.cOff = true
			return
		}
		d.cskip = size - 16
		var body []byte
		if fresh { // the header started here: its body is at hand
			body = b[:min(len(b), int(size-16))]
		}
		e.mongoRequest(c, d, int32(binary.LittleEndian.Uint32(h[4:])), binary.LittleEndian.Uint32(h[12:]), body, ts)
	}
}

// mongoRequest queues a request: body is its body's start (nil when not
// at hand).
func (e *Engine) mongoRequest(c *flowtable.Conn, d *dbState, id int32, op uint32, body []byte, ts int64) {
	if op == mongoMsg && len(body) >= 4 && binary.LittleEndian.Uint32(body)&2 != 0 {
		return // moreToCome: no reply (an unacknowledged write)
	}
	if op != mongoMsg && op != mongoQuery && op != mongoCompressed {
		return
	}
	r := kafkaReq{corr: id}
	block := false
	d.bye = false
	it := bsonIter{b: mongoCommandDoc(op, body)}
	if it.open() {
		for i := 0; ; i++ {
			t, k, v, ok := it.next()
			if !ok {
				break
			}
			switch {
			case i == 0:
				r.key = int16(e.dbName(k))
				if t == 0x02 && len(v) > 0 {
					r.ver = int16(e.dbName(v)) // the collection
				}
				if mongoAuthCmd(k) {
					d.auth, d.ready = true, false
				}
				block = string(k) == "getMore"     // a tailable cursor's (a change stream's) waits
				d.bye = string(k) == "endSessions" // the client's goodbye
			case string(k) == "$db" && t == 0x02:
				e.mongoDB(d, v)
			case string(k) == "maxAwaitTimeMS":
				block = true // a monitor's hello, answered when the topology changes or the time is up
			case string(k) == "speculativeAuthenticate" && t == 0x03:
				d.auth, d.ready = true, false
				e.mongoLogin(d, v)
			case string(k) == "payload" && t == 0x05 && r.key > 0 && string(e.dbNames[r.key-1]) == "saslStart":
				e.mongoUser(d, v)
			}
		}
	}
	d.queue(r)
	if !d.pend {
		d.pend, d.pendAt = true, uint32(min((ts-c.First)/1e6, 1<<32-1))
	}
	d.block = block
}

// mongoDB notes the database a request names ($db).
func (e *Engine) mongoDB(d *dbState, name []byte) {
	if d.dbname == 0 || !bytes.Equal(e.dbNames[d.dbname-1], cut(name, 64)) {
		d.dbname = e.dbName(name)
	}
}

// mongoLogin reads a hello's speculativeAuthenticate: the login's
// database and, in SCRAM's first message, the user.
func (e *Engine) mongoLogin(d *dbState, doc []byte) {
	it := bsonIter{b: doc}
	if !it.open() {
		return
	}
	for {
		t, k, v, ok := it.next()
		if !ok {
			return
		}
		switch {
		case string(k) == "payload" && t == 0x05:
			e.mongoUser(d, v)
		case string(k) == "db" && t == 0x02:
			e.mongoDB(d, v)
		}
	}
}

// mongoUser reads the user from a SCRAM client-first message:
// "n,,n=USER,r=NONCE" (a ',' in the name is written "=2C").
func (e *Engine) mongoUser(d *dbState, p []byte) {
	if len(p) < 5 || (p[0] != 'n' && p[0] != 'y' && p[0] != 'p') {
		return
	}
	i := bytes.Index(p, []byte(",n="))
	if i < 0 {
		return
	}
	u := p[i+3:]
	if j := bytes.IndexByte(u, ','); j >= 0 {
		u = u[:j]
	}
	if len(u) > 0 {
		d.user = e.dbName(u)
	}
}

// mongoWalk walks the server's replies: a 32-bit size, then the rest of
// the header and the body.
func (e *Engine) mongoWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		if d.st == dbSkip {
			b, _ = d.pass(b)
			continue
		}
		fresh := d.hdrN == 0 // the size starts here: the reply is at hand
		var whole bool
		if b, whole = gather(d.hdr[:4], &d.hdrN, b); !whole {
			return
		}
		size := binary.LittleEndian.Uint32(d.hdr[:4])
		if size < 16 || size > 48<<20 {
			d.st = dbOff
			return
		}
		if fresh {
			e.mongoReply(c, fs, d, b[:min(len(b), int(size-4))], ts)
		}
		d.st, d.skip = dbSkip, size-4
	}
}

// mongoReply reads a reply, b from its requestID on (cut when the
// segment ends first).
func (e *Engine) mongoReply(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	if len(b) < 12 {
		return
	}
	to, op := int32(binary.LittleEndian.Uint32(b[4:])), binary.LittleEndian.Uint32(b[8:])
	var req kafkaReq
	for d.kqN > 0 {
		r := d.kq[0]
		copy(d.kq[:], d.kq[1:d.kqN])
		d.kqN--
		if r.corr == to {
			req = r
			break
		}
		// An earlier request without a reply: dropped.
	}
	if op != mongoMsg && op != mongoReply {
		return
	}
	doc := mongoCommandDoc(op, b[12:])
	it := bsonIter{b: doc}
	if !it.open() {
		return
	}
	okv, okSeen, done := int64(0), false, false
	var code int32
	var wdoc, setName []byte
	var lo []byte // a member at a loopback address
	for {
		t, k, v, ok := it.next()
		if !ok {
			break
		}
		switch string(k) {
		case "ok":
			okv, okSeen = bsonNum(t, v)
		case "code":
			if n, ok := bsonNum(t, v); ok {
				code = int32(n)
			}
		case "done":
			done = t == 0x08 && len(v) == 1 && v[0] == 1
		case "writeConcernError":
			if t == 0x03 && wdoc == nil {
				wdoc = v
			}
		case "writeErrors":
			if t == 0x04 && wdoc == nil {
				a := bsonIter{b: v}
				if a.open() {
					if t, _, v, ok := a.next(); ok && t == 0x03 {
						wdoc = v
					}
				}
			}
		case "setName":
			if t == 0x02 {
				setName = v
			}
		case "hosts", "passives":
			if t == 0x04 && lo == nil {
				a := bsonIter{b: v}
				if a.open() {
					for {
						t, _, v, ok := a.next()
						if !ok {
							break
						}
						if t == 0x02 && loopbackHost(hostOf(v)) {
							lo = v
							break
						}
					}
				}
			}
		}
	}
	var cmd, coll []byte
	if req.key > 0 {
		cmd = e.dbNames[req.key-1]
	}
	if req.ver > 0 {
		coll = e.dbNames[req.ver-1]
	}
	if lo != nil && setName != nil && !c.Resp().IsLoopback() {
		e.mongoLoopback(c, fs, d, setName, lo, ts)
	}
	hello := string(cmd) == "hello" || string(cmd) == "isMaster" || string(cmd) == "ismaster"
	login := mongoAuthCmd(cmd) || (d.auth && !d.ready && hello)
	if okSeen && cmd != nil && !hello && !mongoAuthCmd(cmd) {
		d.auth, d.ready = false, true // a command of the session: the login (if any) is over
	}
	switch {
	case !okSeen:
		return
	case okv == 1:
		if !d.auth || (mongoAuthCmd(cmd) && done) {
			d.auth, d.ready = false, true
		}
		if wdoc == nil {
			return
		}
		code, _, _ = mongoErrOf(wdoc) // a write's error; the command itself succeeded
	default:
		wdoc = doc
	}
	k := mongoKind(code)
	if k < 0 || (mongoProbe(cmd) && !login) || !d.first(k) {
		return
	}
	_, _, msg := mongoErrOf(wdoc)
	ev := e.problemEvent(c, fs, NoteDBError, ts)
	if ev == nil {
		return
	}
	ev.B = append(ev.B, "MongoDB server "...)
	ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
	if login {
		d.ready = false
		ev.B = append(ev.B, " refused the login of client "...)
		ev.B = c.Orig().AppendTo(ev.B)
		ev.B = e.appendUserDB(ev.B, d)
	} else {
		ev.B = append(ev.B, " failed the "...)
		if cmd != nil {
			ev.B = appendText(ev.B, cmd)
			ev.B = append(ev.B, " command"...)
		} else {
			ev.B = append(ev.B, "command"...)
		}
		ev.B = append(ev.B, " of client "...)
		ev.B = c.Orig().AppendTo(ev.B)
		ev.B = e.appendUserDB(ev.B, d)
		if coll != nil {
			ev.B = append(ev.B, " on collection "...)
			ev.B = appendText(ev.B, coll)
		}
	}
	ev.B = append(ev.B, ": error "...)
	ev.B = jsonw.Int(ev.B, int64(code))
	ev.B = append(ev.B, ' ')
	ev.B = append(ev.B, mongoErrs[k].name...)
	if len(msg) > 0 {
		ev.B = append(ev.B, " \\\""...)
		ev.B = appendText(ev.B, cut(msg, 160))
		ev.B = append(ev.B, "\\\""...)
	}
	ev.B = append(ev.B, ": "...)
	hint := mongoErrs[k].hint
	if code == 13 && bytes.Contains(msg, []byte("requires authentication")) {
		hint = "the client did not log in (no user and password in its connection string, or a Secret holding them not mounted), and the server requires a login"
	}
	ev.B = appendText(ev.B, []byte(hint))
	var num [12]byte
	e.mongoEventEnd(ev, fs, d, jsonw.Int(num[:0], int64(code)), mongoErrs[k].name, cmd, coll, msg)
}

// hostOf returns the host of "HOST:PORT" ("[V6]:PORT").
func hostOf(hp []byte) []byte {
	if len(hp) > 0 && hp[0] == '[' {
		if i := bytes.IndexByte(hp, ']'); i > 0 {
			return hp[1:i]
		}
	}
	if i := bytes.LastIndexByte(hp, ':'); i >= 0 && bytes.IndexByte(hp[:i], ':') < 0 {
		return hp[:i]
	}
	return hp
}

// mongoEventEnd ends a MongoDB DB_ERROR with its side and db object.
func (e *Engine) mongoEventEnd(ev *Buffer, fs *flowState, d *dbState, code []byte, name string, cmd, coll, msg []byte) {
	ev.B = appendSide(ev.B, "server")
	ev.B = append(ev.B, `,"db":{"system":"mongodb","code":"`...)
	ev.B = append(ev.B, code...)
	ev.B = append(ev.B, `","code_name":"`...)
	ev.B = append(ev.B, name...)
	ev.B = append(ev.B, '"')
	if cmd != nil {
		ev.B = append(ev.B, `,"command":`...)
		ev.B = jsonw.Bytes(ev.B, cmd)
	}
	if coll != nil {
		ev.B = append(ev.B, `,"collection":`...)
		ev.B = jsonw.Bytes(ev.B, coll)
	}
	if len(msg) > 0 {
		ev.B = append(ev.B, `,"message":`...)
		ev.B = jsonw.Bytes(ev.B, cut(msg, 200))
	}
	ev.B = e.appendUserDBJSON(ev.B, d)
	ev.B = append(ev.B, '}')
	e.eventEndPcap(ev, fs)
}

// mongoLoopback reports a replica set whose hello lists a member at a
// loopback address.
func (e *Engine) mongoLoopback(c *flowtable.Conn, fs *flowState, d *dbState, set, member []byte, ts int64) {
	if !d.first(mongoLoopbackKind) {
		return
	}
	ev := e.problemEvent(c, fs, NoteDBError, ts)
	if ev == nil {
		return
	}
	ev.B = append(ev.B, "MongoDB server "...)
	ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
	ev.B = append(ev.B, " told client "...)
	ev.B = c.Orig().AppendTo(ev.B)
	ev.B = append(ev.B, " that a member of replica set "...)
	ev.B = appendText(ev.B, cut(set, 64))
	ev.B = append(ev.B, " is at "...)
	ev.B = appendText(ev.B, cut(member, 64))
	ev.B = append(ev.B, ": a loopback address, which for the client is itself: the replica set was initiated with localhost (rs.initiate() with its members' host set to localhost or 127.0.0.1), so a client that discovers the set (any connection string without directConnection=true) connects to its own host and fails there (Connection refused, a server selection timeout): set each member's host to a name the clients resolve (its headless Service's pod name)"...)
	e.mongoEventEnd(ev, fs, d, []byte("MEMBER_LOOPBACK"), "MEMBER_LOOPBACK", []byte("hello"), nil, cut(member, 64))
}
