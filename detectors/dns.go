package detectors

import (
	"encoding/binary"
	"net/netip"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// maxPending bounds the unanswered queries remembered per flow.
const maxPending = 4

type dnsPending struct {
	used  bool
	id    uint16
	qtype uint16
	ts    int64 // first sent
	last  int64 // last sent: the timeout runs from here
	sent  uint8 // times the client sent it (saturating)
	n     uint8
	name  [255]byte
}

type dnsState struct {
	q [maxPending]dnsPending
}

// oldest returns the earliest last-sent time of the pending queries (0:
// none pending).
func (d *dnsState) oldest() int64 {
	var t int64
	for i := range d.q {
		if d.q[i].used && (t == 0 || d.q[i].last < t) {
			t = d.q[i].last
		}
	}
	return t
}

// dnsHeader is the part of a DNS message the detector reads.
type dnsHeader struct {
	id      uint16
	flags   uint16
	qdcount uint16
	qtype   uint16
	n       int
}

// parseDNS reads the header and first question of msg into h, writing the
// query name into name. It returns false for anything that is not a
// well-formed DNS message.
func parseDNS(msg []byte, h *dnsHeader, name *[255]byte) bool {
	if len(msg) < 12 {
		return false
	}
	h.id = binary.BigEndian.Uint16(msg[0:2])
	h.flags = binary.BigEndian.Uint16(msg[2:4])
	h.qdcount = binary.BigEndian.Uint16(msg[4:6])
	h.n = 0
	if h.qdcount == 0 {
		return true
	}
	off := 12
	jumps := 0
	end := -1
	for {
		if off >= len(msg) {
			return false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			off++
			if end < 0 {
				end = off
			}
			if end+4 > len(msg) {
				return false
			}
			h.qtype = binary.BigEndian.Uint16(msg[end : end+2])
			return true
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) || jumps > 8 {
				return false
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:off+2]) & 0x3fff)
			jumps++
		case l&0xc0 != 0:
			return false
		default:
			if off+1+l > len(msg) {
				return false
			}
			if h.n > 0 && h.n < len(name) {
				name[h.n] = '.'
				h.n++
			}
			h.n += copy(name[h.n:], msg[off+1:off+1+l])
			off += 1 + l
		}
	}
}

// dnsMessage handles one DNS message sent by the originator iff fromOrig.
func (e *Engine) dnsMessage(c *flowtable.Conn, fs *flowState, msg []byte, fromOrig bool, ts int64) {
	var h dnsHeader
	var name [255]byte
	if !parseDNS(msg, &h, &name) {
		return
	}
	fs.service = svcDNS
	qr := h.flags&0x8000 != 0
	if !qr {
		if !fromOrig || h.qdcount == 0 {
			return
		}
		e.searchNext(c.Orig(), c.Resp(), name[:h.n], ts)
		d := e.dnsOf(fs)
		if d == nil {
			d = e.newDNS(fs)
		}
		// A retransmission (same ID) keeps its first time and moves the
		// timeout; otherwise a free slot, else the oldest is replaced.
		slot, free := 0, -1
		for i := range d.q {
			q := &d.q[i]
			switch {
			case !q.used:
				if free < 0 {
					free = i
				}
			case q.id == h.id && q.qtype == h.qtype:
				q.last = ts
				if q.sent < 255 {
					q.sent++
				}
				e.tab.Schedule(c, ts+e.dnsTO)
				return
			case q.ts < d.q[slot].ts:
				slot = i
			}
		}
		if free >= 0 {
			slot = free
		}
		q := &d.q[slot]
		q.used, q.id, q.qtype, q.ts, q.last, q.sent, q.n = true, h.id, h.qtype, ts, ts, 1, uint8(h.n)
		copy(q.name[:], name[:h.n])
		e.tab.Schedule(c, ts+e.dnsTO)
		return
	}
	var sent uint8 // times the answered query was sent
	var first int64
	if d := e.dnsOf(fs); d != nil {
		for i := range d.q {
			if q := &d.q[i]; q.used && q.id == h.id {
				q.used = false
				sent, first = q.sent, q.ts
			}
		}
		e.maybeReleaseDNS(fs)
	}
	rcode := uint8(h.flags & 0x000f)
	if sent > 1 && ts-first >= lateAnswer {
		// Whatever the answer: in a search-list walk the late one is
		// often an NXDOMAIN step, and the stall is the user's problem.
		e.dnsLate(c, fromOrig, name[:h.n], h.qtype, rcode, sent, ts-first, ts)
	}
	if rcode != 2 && rcode != 3 && rcode != 5 {
		return
	}
	server := c.Resp()
	if fromOrig {
		server = c.Orig()
	}
	var b *Buffer
	if rcode == 3 {
		b = e.eventBuild(c, NoteDNSError, ts) // held: see nxHold
	} else if b = e.eventStart(c, NoteDNSError, ts); b == nil {
		return
	}
	b.B = append(b.B, "DNS server "...)
	b.B = server.AppendTo(b.B)
	b.B = append(b.B, " answered "...)
	b.B = append(b.B, RcodeName(rcode)...)
	b.B = append(b.B, " for "...)
	b.B = appendText(b.B, name[:h.n])
	b.B = append(b.B, " ("...)
	b.B = append(b.B, QtypeName(h.qtype)...)
	switch rcode {
	case 3:
		b.B = append(b.B, "): the name does not exist"...)
	case 2:
		b.B = append(b.B, "): the server failed to resolve it (upstream or DNSSEC failure)"...)
	case 5:
		b.B = append(b.B, "): the server refused to answer this client"...)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendDNS(b.B, name[:h.n], h.qtype, int(rcode))
	if rcode == 3 {
		client := c.Orig()
		if fromOrig {
			client = c.Resp()
		}
		e.holdNX(c, client, server, name[:h.n], b, ts)
		return
	}
	e.eventEnd(b)
}

// nxHold is an NXDOMAIN event not reported yet. A resolver with a search
// list (every Kubernetes pod: "<ns>.svc.cluster.local svc.cluster.local
// cluster.local", ndots:5) tries name.<suffix> for each suffix and the
// name itself, each on a new socket, and most of those answers are
// NXDOMAIN on the way to the one that resolves: every external lookup
// would be several DNS_ERRORs. When the same client asks the same server
// for a name with the same first label within nxWindow of the answer,
// the NXDOMAIN was a step of such a walk and is dropped; otherwise it is
// reported (a lookup that fails for good ends with an NXDOMAIN nothing
// follows). The walk's steps are sharded to one worker offline (by
// address pair); live, a step that lands on another worker is reported.
type nxHold struct {
	client, server netip.Addr
	label, name    uint64 // hashes of the first label and the name (nameHashes)
	ts             int64
	idx            int32 // the connection (slab index and first packet time)
	first          int64
	b              *Buffer // the finished event line, not yet rate-limited
}

// nxWindow is how soon a search-list walk asks for its next name after an
// NXDOMAIN (glibc and musl ask at once, well under a millisecond).
const nxWindow = int64(250e6)

const maxNXHolds = 64

// nameHashes returns case-folded hashes of name's first label and of the
// whole name. A walk's next step has the same first label and another
// name (the same name with another type is the same step).
func nameHashes(name []byte) (label, full uint64) {
	h := uint64(14695981039346656037)
	for i, c := range name {
		if c == '.' && label == 0 {
			label = h
		}
		h = (h ^ uint64(lowerByte(c))) * 1099511628211
		if i == len(name)-1 && label == 0 {
			label = h
		}
	}
	return label, h
}

// recentQuery is a query remembered for a while: live, a walk's next
// query, forwarded from another worker, may be handled before the
// NXDOMAIN it follows.
type recentQuery struct {
	client, server netip.Addr
	label, name    uint64
	ts             int64
}

const recentQueries = 64

func (e *Engine) holdNX(c *flowtable.Conn, client, server netip.Addr, name []byte, b *Buffer, ts int64) {
	e.eventFinish(b)
	label, full := nameHashes(name)
	for i := range e.rq {
		q := &e.rq[i]
		if q.label == label && q.name != full && q.ts >= ts && q.ts-ts <= nxWindow && q.client == client && q.server == server {
			PutBuffer(b) // its next step was already seen
			e.St.SearchNX.Add(1)
			return
		}
	}
	if len(e.nx) == cap(e.nx) {
		e.releaseNX(0)
	}
	e.nx = append(e.nx, nxHold{client: client, server: server, label: label, name: full, ts: ts, idx: c.Index(), first: c.First, b: b})
}

// searchNext drops the held NXDOMAINs that the query for name from client
// to server continues (a search-list walk), and remembers the query.
func (e *Engine) searchNext(client, server netip.Addr, name []byte, ts int64) {
	label, full := nameHashes(name)
	e.rq[e.rqNext] = recentQuery{client: client, server: server, label: label, name: full, ts: ts}
	e.rqNext = (e.rqNext + 1) % recentQueries
	for i := 0; i < len(e.nx); {
		h := &e.nx[i]
		if h.label == label && h.name != full && h.client == client && h.server == server && ts >= h.ts && ts-h.ts <= nxWindow {
			PutBuffer(h.b)
			e.St.SearchNX.Add(1)
			e.nx = append(e.nx[:i], e.nx[i+1:]...)
			continue
		}
		i++
	}
}

// expireNX reports the held NXDOMAINs nothing continued within nxWindow
// (all of them when final).
func (e *Engine) expireNX(now int64, final bool) {
	for len(e.nx) > 0 && (final || now-e.nx[0].ts > nxWindow) {
		e.releaseNX(0)
	}
}

// releaseNX reports held NXDOMAIN i (rate-limited now, as it goes out).
func (e *Engine) releaseNX(i int) {
	h := e.nx[i]
	e.nx = append(e.nx[:i], e.nx[i+1:]...)
	if c := e.tab.At(h.idx); c.First == h.first {
		e.p(e.state(c)).events |= 1 << NoteDNSError
	}
	if !e.rl.allow(e, NoteDNSError, h.server, h.ts) {
		PutBuffer(h.b)
		return
	}
	e.eventSend(h.b)
}

// dnsLate reports a query answered only after the client re-sent it:
// the name resolved, seconds late (glibc re-sends after 5 s, musl after
// 2.5 s). In Kubernetes this is most often the conntrack race that drops
// one of the parallel A and AAAA queries sent from one socket.
func (e *Engine) dnsLate(c *flowtable.Conn, fromOrig bool, name []byte, qtype uint16, rcode uint8, sent uint8, delay, ts int64) {
	b := e.eventStart(c, NoteDNSLateAnswer, ts)
	if b == nil {
		return
	}
	server := c.Resp()
	if fromOrig {
		server = c.Orig()
	}
	b.B = append(b.B, "DNS server "...)
	b.B = server.AppendTo(b.B)
	b.B = append(b.B, " answered the query for "...)
	b.B = appendText(b.B, name)
	b.B = append(b.B, " ("...)
	b.B = append(b.B, QtypeName(qtype)...)
	b.B = append(b.B, ") only "...)
	b.B = appendDurationWords(b.B, delay)
	b.B = append(b.B, " after it was first sent, once the client had sent it "...)
	b.B = appendUint(b.B, uint64(sent))
	b.B = append(b.B, " times: the earlier copies or their answers were lost (parallel A and AAAA queries racing in conntrack, an overloaded DNS server, or packet loss)"...)
	b.B = appendSide(b.B, "server")
	b.B = appendDNS(b.B, name, qtype, int(rcode))
	b.B = appendLate(b.B, uint64(sent), delay)
	e.eventEnd(b)
}

func appendDNS(dst []byte, name []byte, qtype uint16, rcode int) []byte {
	dst = append(dst, `,"dns":{"query":`...)
	dst = jsonw.Bytes(dst, name)
	dst = append(dst, `,"qtype":`...)
	dst = jsonw.Uint(dst, uint64(qtype))
	dst = append(dst, `,"qtype_name":`...)
	dst = jsonw.String(dst, QtypeName(qtype))
	if rcode >= 0 {
		dst = append(dst, `,"rcode":`...)
		dst = jsonw.Uint(dst, uint64(rcode))
		dst = append(dst, `,"rcode_name":`...)
		dst = jsonw.String(dst, RcodeName(uint8(rcode)))
	} else {
		dst = append(dst, `,"rcode":null,"rcode_name":"NO_ANSWER"`...)
	}
	return append(dst, '}')
}

// dnsTimeouts reports queries unanswered for the DNS timeout (or, when
// final, unanswered when the capture ended).
func (e *Engine) dnsTimeouts(c *flowtable.Conn, fs *flowState, now int64, final bool) {
	d := e.dnsOf(fs)
	for i := range d.q {
		q := &d.q[i]
		if !q.used || (!final && now-q.last < e.dnsTO) {
			continue
		}
		q.used = false
		if fs.has(fICMPSet) {
			continue // the ICMP_UNREACHABLE event already says why
		}
		b := e.eventStart(c, NoteDNSError, now)
		if b == nil {
			continue
		}
		b.B = append(b.B, "DNS server "...)
		b.B = c.Resp().AppendTo(b.B)
		b.B = append(b.B, " did not answer the query for "...)
		b.B = appendText(b.B, q.name[:q.n])
		b.B = append(b.B, " ("...)
		b.B = append(b.B, QtypeName(q.qtype)...)
		b.B = append(b.B, ") within "...)
		if final {
			b.B = appendDurationWords(b.B, now-q.ts)
		} else {
			// Timers run on packet time: say when it timed out, not
			// when the next packet showed it.
			b.B = appendDurationWords(b.B, q.last+e.dnsTO-q.ts)
		}
		if q.sent > 1 {
			b.B = append(b.B, ", though the client sent it "...)
			b.B = appendUint(b.B, uint64(q.sent))
			b.B = append(b.B, " times"...)
		}
		if final && now-q.last < e.dnsTO {
			b.B = append(b.B, " (capture ended)"...)
		}
		b.B = appendSide(b.B, "server")
		b.B = appendDNS(b.B, q.name[:q.n], q.qtype, -1)
		e.eventEnd(b)
	}
}

// maybeReleaseDNS hands the pending-query state (1 KiB) back to the pool
// once every query is answered or timed out: a UDP flow lingers for its
// idle timeout, and most of that time it has nothing pending.
func (e *Engine) maybeReleaseDNS(fs *flowState) {
	if d := e.dnsOf(fs); d == nil || d.oldest() != 0 {
		return
	}
	e.dropProto(fs)
}
