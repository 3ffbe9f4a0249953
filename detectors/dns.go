package detectors

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/dlltagent/dlltagent/decode"
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
	qend    int // offset just past the first question (its type and class)
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
			h.qend = end + 4
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
		e.searchNext(c.Orig(), c.Resp(), c.OrigPort(), name[:h.n], h.qtype, ts)
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
	if ((sent > 1 && ts-first >= lateAnswer) || (sent == 1 && ts-first >= slowAnswer)) && !optionalQuery(h.qtype, name[:h.n], -1) {
		// Whatever the answer: in a search-list walk the late one is
		// often an NXDOMAIN step, and the stall is the user's problem.
		e.dnsLate(c, fromOrig, name[:h.n], h.qtype, rcode, sent, ts-first, ts)
	}
	server, client, port := c.Resp(), c.Orig(), c.OrigPort()
	if fromOrig {
		server, client, port = client, server, c.RespPort()
	}
	if sent == 0 {
		first = ts // the query came before the capture
	}
	if h.flags&0x0200 != 0 {
		e.tc[e.tcNext] = dnsTC{client: client, port: port, ts: ts}
		e.tcNext = (e.tcNext + 1) % recentTC
	}
	q := dnsLookup{client: client, port: port, sent: first, ts: ts}
	q.label, q.name = nameHashes(name[:h.n])
	if h.qdcount > 0 {
		e.answered(q, server, h.qtype)
	}
	if rcode == 0 && h.qdcount == 1 && (h.qtype == 1 || h.qtype == 28) && h.flags&0x7a00 == 0 {
		// A standard query's complete answer (opcode QUERY, not
		// truncated) for an address.
		switch n, ok := answerRecords(msg, &h); {
		case !ok:
		case n > 0:
			e.addressAnswered(q)
		default:
			e.noData(c, q, server, name[:h.n], h.qtype)
		}
		return
	}
	if rcode == 0 && h.qdcount == 1 && (h.qtype == 1 || h.qtype == 28) && h.flags&0x7a00 == 0x0200 {
		// Truncated (TC): the client should ask again over TCP, but the
		// addresses that fit count. musl before 1.2.4 (Alpine) never
		// asks over TCP and uses them; its other type's NODATA is no
		// failed lookup.
		if n, ok := answerRecords(msg, &h); ok && n > 0 {
			e.addressAnswered(q)
		}
		return
	}
	if rcode != 2 && rcode != 3 && rcode != 5 {
		return
	}
	if optionalQuery(h.qtype, name[:h.n], int(rcode)) {
		e.St.OptionalDNS.Add(1)
		return
	}
	b := e.eventBuild(c, NoteDNSError, ts) // held: see nxHold
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
	if e.cfg.Names != nil {
		// A copy: the name's array must not escape for every message.
		e.hintName = append(e.hintName[:0], name[:h.n]...)
		b.B = e.cfg.Names.AppendDNSHint(b.B, e.hintName, client, rcode == 3)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendDNS(b.B, name[:h.n], h.qtype, int(rcode))
	e.eventFinish(b)
	e.holdDNS(c, NoteDNSError, 0, rcode, h.qtype, q, server, name[:h.n], b)
}

// optionalQuery says whether a failed query (rcode, -1 for no answer) is
// one whose failure clients expect and get over, so that reporting it
// would cry wolf:
//   - SVCB and HTTPS records (RFC 9460) are hints: browsers ask for them
//     beside every address lookup, for "_PORT._https.NAME" when the port
//     is not 443, which nearly never exists (NXDOMAIN), and go on with
//     the addresses, which are judged on their own;
//   - most addresses have no reverse name: a PTR's NXDOMAIN (its
//     SERVFAIL or silence, which stalls the servers that look up their
//     clients' names, is still reported);
//   - gRPC's resolvers look up "_grpc_config.NAME" (TXT, the service
//     config) and "_grpclb._tcp.NAME" (SRV, a balancer) for every target,
//     and use the addresses when they do not exist.
func optionalQuery(qtype uint16, name []byte, rcode int) bool {
	switch qtype {
	case 64, 65:
		return true
	case 12:
		return rcode == 3
	case 16:
		return rcode == 3 && hasPrefixFold(name, "_grpc_config.")
	case 33:
		return rcode == 3 && hasPrefixFold(name, "_grpclb._tcp.")
	}
	return false
}

// answerRecords counts the records of the first question's type in the
// answer section of msg (a CNAME chain's aliases are not counted); ok is
// false when the message is cut short.
func answerRecords(msg []byte, h *dnsHeader) (n int, ok bool) {
	off := h.qend
	for i := 1; i < int(h.qdcount); i++ {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return 0, false
		}
		off += 4
	}
	an := int(binary.BigEndian.Uint16(msg[6:8]))
	for i := 0; i < an; i++ {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return n, false
		}
		if binary.BigEndian.Uint16(msg[off:off+2]) == h.qtype {
			n++
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:off+10]))
		if off > len(msg) {
			return n, false
		}
	}
	return n, true
}

// skipName returns the offset past the (possibly compressed) name at off,
// or -1.
func skipName(msg []byte, off int) int {
	for off < len(msg) {
		switch l := int(msg[off]); {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0:
			return off + 2
		case l&0xc0 != 0:
			return -1
		default:
			off += 1 + l
		}
	}
	return -1
}

// nxHold is an NXDOMAIN (or NODATA, SERVFAIL, REFUSED) event not reported
// yet.
//
// A resolver with a search list (every Kubernetes pod: "<ns>.svc.cluster.local
// svc.cluster.local cluster.local", ndots:5) tries name.<suffix> for each
// suffix and the name itself, each on a new socket, and most of those
// answers are NXDOMAIN on the way to the one that resolves: every external
// lookup would be several DNS_ERRORs. When the same client asks the same
// server for a name with the same first label within nxWindow of the
// answer, the NXDOMAIN was a step of such a walk and is dropped; otherwise
// it is reported (a lookup that fails for good ends with an NXDOMAIN
// nothing follows). The walk's steps are sharded to one worker offline (by
// address pair); live, a step that lands on another worker is reported.
//
// Nor is a lookup that got an address a failure: clients ask for A and
// AAAA together, and some servers (dnsmasq for a name it has only an IPv4
// address for) answer NXDOMAIN for the other type. A held event is
// dropped when a query of the same lookup got an address for the name
// (sameLookup), before it or while it is held; it stays held while such
// a query is unanswered (a slow upstream), up to the DNS timeout.
//
// A SERVFAIL or REFUSED is held for the walk too (Go's and Chromium's
// resolvers walk on past them, glibc's past a SERVFAIL), but an address
// for the other type does not excuse it (lookupFails).
type nxHold struct {
	dnsLookup
	server netip.Addr
	idx    int32 // the connection (slab index and first packet time)
	first  int64
	last   int64 // the lookup's last answer: another type's, answered later (its first copy lost), counts
	note   uint8
	rcode  uint8 // DNS_ERROR: NXDOMAIN, SERVFAIL or REFUSED (0 for NODATA)
	types  uint8 // NODATA: the address types answered empty (1 A, 2 AAAA)
	qtype  uint16
	b      *Buffer // the finished event line, not yet rate-limited
	text   nameText
}

// lookupFails says whether a query's rcode fails the client's lookup
// even when another query of it got an address: musl's getaddrinfo
// fails on a SERVFAIL (EAI_AGAIN) or a REFUSED (EAI_FAIL) of either A or
// AAAA. Only a search-list walk going on past them (Go's resolver,
// Chromium's, glibc's after a SERVFAIL) says they were no failure.
func lookupFails(rcode uint8) bool { return rcode == 2 || rcode == 5 }

// nxWindow is how soon a search-list walk asks for its next name after an
// NXDOMAIN (glibc and musl ask at once, well under a millisecond).
const nxWindow = int64(250e6)

// dnsLookup is one query of a client's and its answer, as far as telling
// the queries of one lookup from the next lookup's goes.
type dnsLookup struct {
	client      netip.Addr
	port        uint16 // the client's
	sent, ts    int64  // the query first sent, its answer
	label, name uint64 // hashes of the name's first label and of the name (nameHashes)
}

// sameLookup says whether two answered queries for one name belong to
// one lookup: they were in flight together or one was asked right after
// the other's answer (clients ask for A and AAAA at once: glibc, musl
// and Java on one socket; Go on two, from two goroutines, the second
// often sent a fraction of a millisecond after the first is answered),
// or they were asked one after the other on one socket (glibc's
// single-request option) within resolvedWindow. A lookup that follows a
// failed one, as another process asks (tens of milliseconds later at
// the least) or a client retries, is none of these.
func sameLookup(a, b *dnsLookup) bool {
	if a.client != b.client {
		return false
	}
	if gap := max(a.sent-b.ts, b.sent-a.ts); gap <= siblingGap {
		return true // in flight together, or nearly
	}
	d := a.ts - b.ts
	return a.port == b.port && d <= resolvedWindow && -d <= resolvedWindow
}

// siblingGap is how long after one query of a lookup is answered its
// sibling may still be sent from another socket.
const siblingGap = int64(10e6)

// resolvedWindow bounds how far apart one socket's queries of a lookup
// are answered.
const resolvedWindow = int64(2e9)

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
// NXDOMAIN it follows; and a held failure waits for the client's other
// queries for the same name.
type recentQuery struct {
	client, server netip.Addr
	label, name    uint64
	ts             int64
	port           uint16 // the client's
	qtype          uint16
	answered       bool
}

const recentQueries = 64

// holdDNS keeps the finished event b (note NoteDNSError or NoteDNSNoData)
// until its lookup is known to have failed.
func (e *Engine) holdDNS(c *flowtable.Conn, note int, types uint8, rcode uint8, qtype uint16, q dnsLookup, server netip.Addr, name []byte, b *Buffer) {
	for i := range e.rq {
		if r := &e.rq[i]; r.label == q.label && r.name != q.name && r.ts >= q.ts && r.ts-q.ts <= nxWindow && r.client == q.client && r.server == server {
			PutBuffer(b) // its next step was already seen
			e.St.SearchNX.Add(1)
			return
		}
	}
	for i := range e.rn {
		if r := &e.rn[i]; r.name == q.name && r.ts != 0 && sameLookup(r, &q) && !lookupFails(rcode) {
			PutBuffer(b) // another query of the lookup got an address
			return
		}
	}
	for i := range e.nx {
		if h := &e.nx[i]; h.name == q.name && h.server == server && h.qtype == qtype && h.note == uint8(note) && h.rcode == rcode && sameLookup(&h.dnsLookup, &q) {
			// The resolver asked again and got the same answer (glibc
			// re-sends a query refused or failed, up to its attempts):
			// one lookup, one event.
			h.last = max(h.last, q.ts)
			PutBuffer(b)
			return
		}
	}
	for i := range e.nx {
		if h := &e.nx[i]; h.name == q.name && h.server == server && sameLookup(&h.dnsLookup, &q) {
			// The same lookup's other type, answered later (its query
			// re-sent): the walk goes on from this answer, not the first.
			h.last = max(h.last, q.ts)
		}
	}
	if len(e.nx) == cap(e.nx) {
		e.releaseNX(0)
	}
	e.nx = append(e.nx, nxHold{dnsLookup: q, server: server, idx: c.Index(), first: c.First, last: q.ts, note: uint8(note), types: types, rcode: rcode, qtype: qtype, b: b})
	e.nx[len(e.nx)-1].text.set(name)
}

// addressAnswered notes that q got an address for its name: held
// failures of the same lookup are dropped.
func (e *Engine) addressAnswered(q dnsLookup) {
	e.rn[e.rnNext] = q
	e.rnNext = (e.rnNext + 1) % len(e.rn)
	for i := 0; i < len(e.nx); {
		if h := &e.nx[i]; h.name == q.name && sameLookup(&h.dnsLookup, &q) && !lookupFails(h.rcode) {
			PutBuffer(h.b)
			e.nx = append(e.nx[:i], e.nx[i+1:]...)
			continue
		}
		i++
	}
}

// answered marks the client's remembered queries for a's name and qtype
// to server answered.
func (e *Engine) answered(a dnsLookup, server netip.Addr, qtype uint16) {
	for i := range e.rq {
		if q := &e.rq[i]; q.name == a.name && q.qtype == qtype && q.client == a.client && q.server == server && q.ts <= a.ts {
			q.answered = true
		}
	}
}

// waiting says whether held event h should wait for an unanswered query
// of its lookup: one for the same name sent before h's answer, or on
// the same socket.
func (e *Engine) waiting(h *nxHold, now int64) bool {
	if now-h.ts >= e.dnsTO {
		return false
	}
	for i := range e.rq {
		if q := &e.rq[i]; q.name == h.name && !q.answered && q.client == h.client && (q.ts <= h.ts+siblingGap || q.port == h.port) && now-q.ts < e.dnsTO {
			return true
		}
	}
	return false
}

// noData handles an answer without any record of the address type asked
// for (NOERROR, NODATA): the name exists but has no such address. Clients
// ask for A and AAAA together, so the lookup failed only if the other
// type found nothing either (or was not asked for): the event is held as
// an NXDOMAIN is, and one event covers both types.
func (e *Engine) noData(c *flowtable.Conn, q dnsLookup, server netip.Addr, name []byte, qtype uint16) {
	var bit uint8 = 1
	if qtype == 28 {
		bit = 2
	}
	types := bit
	for i := range e.nx {
		if h := &e.nx[i]; h.note == NoteDNSNoData && h.name == q.name && sameLookup(&h.dnsLookup, &q) {
			if h.types&bit != 0 {
				return // the same answer again
			}
			// The other type's answer was empty too: one event for both.
			types |= h.types
			q.sent = min(q.sent, h.sent)
			PutBuffer(h.b)
			e.nx = append(e.nx[:i], e.nx[i+1:]...)
			break
		}
	}
	b := e.eventBuild(c, NoteDNSNoData, q.ts)
	b.B = append(b.B, "DNS server "...)
	b.B = server.AppendTo(b.B)
	if types == 3 {
		b.B = append(b.B, " answered the A and AAAA queries for "...)
		b.B = appendText(b.B, name)
		b.B = append(b.B, " with no address (NOERROR, empty answers: NODATA): the name exists but has no address record, so the client's lookup failed"...)
	} else {
		b.B = append(b.B, " answered "...)
		b.B = appendText(b.B, name)
		b.B = append(b.B, " ("...)
		b.B = append(b.B, QtypeName(qtype)...)
		b.B = append(b.B, ") with no address (NOERROR, empty answer: NODATA), and no other query of the client's lookup got one: the name exists but has no "...)
		if bit == 1 {
			b.B = append(b.B, "IPv4"...)
		} else {
			b.B = append(b.B, "IPv6"...)
		}
		b.B = append(b.B, " address record, so the lookup failed"...)
	}
	b.B = appendSide(b.B, "server")
	if types == 3 {
		qtype = 1 // both: named A, whichever came last
	}
	b.B = appendDNS(b.B, name, qtype, rcodeNoData)
	e.eventFinish(b)
	e.holdDNS(c, NoteDNSNoData, types, 0, qtype, q, server, name, b)
}

// searchNext drops the held failures that the query for name from client
// to server continues (a search-list walk), and remembers the query.
func (e *Engine) searchNext(client, server netip.Addr, port uint16, name []byte, qtype uint16, ts int64) {
	label, full := nameHashes(name)
	e.rq[e.rqNext] = recentQuery{client: client, server: server, label: label, name: full, ts: ts, port: port, qtype: qtype}
	e.rqNext = (e.rqNext + 1) % recentQueries
	for i := 0; i < len(e.nx); {
		h := &e.nx[i]
		if h.label == label && h.name != full && h.client == client && h.server == server && ts >= h.ts && ts-h.last <= nxWindow &&
			!e.walksAgain(h, name, full) {
			PutBuffer(h.b)
			e.St.SearchNX.Add(1)
			e.nx = append(e.nx[:i], e.nx[i+1:]...)
			continue
		}
		i++
	}
}

// walksAgain says whether the query for name (hash full) starts another
// walk rather than going on with held event h's: name is h's name with
// a suffix, and the client asked for it within a second before h's
// answer. A walk that ends with the bare name (fewer dots than ndots)
// never asks a name twice, and the next lookup of the same name starts
// over with its first suffix: nslookup and host walk once for A, then
// again for AAAA; two processes look up the same name one after the
// other. (A walk that starts with the bare name, ndots or more dots, goes
// on with the first suffix too: it is told apart by that name not having
// been asked just before.)
func (e *Engine) walksAgain(h *nxHold, name []byte, full uint64) bool {
	held := h.text.b[:h.text.n]
	if h.text.cut || len(name) <= len(held) || name[len(held)] != '.' || !equalFold(name[:len(held)], held) {
		return false
	}
	for i := range e.rq {
		if r := &e.rq[i]; r.name == full && r.client == h.client && r.server == h.server && r.ts < h.ts && h.ts-r.ts <= int64(time.Second) {
			return true
		}
	}
	return false
}

// expireNX reports the held events nothing continued or resolved within
// nxWindow and that wait for no other query (all of them when final).
func (e *Engine) expireNX(now int64, final bool) {
	for i := 0; i < len(e.nx); {
		h := &e.nx[i]
		if !final {
			if now-h.last <= nxWindow {
				break // held in time order: the rest are younger (or wait a little longer)
			}
			if e.waiting(h, now) {
				i++
				continue
			}
		}
		e.releaseNX(i)
	}
}

// releaseNX reports held event i (rate-limited now, as it goes out).
func (e *Engine) releaseNX(i int) {
	h := e.nx[i]
	e.nx = append(e.nx[:i], e.nx[i+1:]...)
	if c := e.tab.At(h.idx); c.First == h.first {
		e.p(e.state(c)).events |= 1 << h.note
	}
	if !e.rl.allowDNS(e, int(h.note), h.server, h.text.b[:h.text.n], h.ts) {
		PutBuffer(h.b)
		return
	}
	if c := e.tab.At(h.idx); c.First == h.first {
		// The line is finished: its pcap goes in before the closing
		// brace. Its packets run to the lookup's last answer.
		fs := e.state(c)
		e.keepPcap(c, fs, int(h.note), h.last)
		e.tab.Schedule(c, e.deadline(c, fs)) // for dnsPcapNow
		if name := e.q(fs).pcapName; name != "" && len(h.b.B) >= 2 {
			h.b.B = append(h.b.B[:len(h.b.B)-2], `,"pcap":`...)
			h.b.B = jsonw.String(h.b.B, name)
			h.b.B = append(h.b.B, '}', '\n')
		}
	}
	e.eventSend(h.b)
}

// dnsPcapNow writes, at now, the pcap of a UDP DNS flow with a problem
// once no query on it is pending and it has been quiet dnsPcapQuiet: its
// lookups are over (a resolver re-sending the other type's query does so
// at once), and the file need not wait the flow's idle timeout (a
// minute) holding a buffer. Events of those lookups released later name
// the same file; a later lookup's (a resolver that reuses its socket:
// c-ares, nginx, CoreDNS's forwarding) gets one of its own (keepPcap).
func (e *Engine) dnsPcapNow(c *flowtable.Conn, fs *flowState, now int64) {
	if c.Proto() == decode.ProtoUDP && fs.pc.tail != 0 && !fs.has(fPcapDone) && e.dnsOf(fs) == nil && now-c.Last >= dnsPcapQuiet {
		e.p(fs).pcapUpTo = c.Last
		e.writePcap(c, fs)
	}
}

// dnsPcapQuiet is how long a UDP DNS flow with a problem and no query
// pending stays silent before its pcap is written.
const dnsPcapQuiet = int64(time.Second)

// dnsKeep is how much of a DNS message over UDP is kept for a pcap (in
// the recent ring, then the tail a DNS event starts): the header, the
// question and the first records (the rest is cut, its length recorded).
const dnsKeep = 1024

// dnsLate reports a query answered only after the client re-sent it:
// the name resolved, seconds late (glibc re-sends after 5 s, musl after
// 2.5 s). In Kubernetes this is most often the conntrack race that drops
// one of the parallel A and AAAA queries sent from one socket.
func (e *Engine) dnsLate(c *flowtable.Conn, fromOrig bool, name []byte, qtype uint16, rcode uint8, sent uint8, delay, ts int64) {
	b := e.dnsEventStart(c, NoteDNSLateAnswer, name, ts)
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
	if sent == 1 {
		b.B = append(b.B, " after it was sent, and the client had not re-sent it: the server, or the upstream it forwards to, is slow (CoreDNS forwarding to a slow or distant resolver, an authoritative server timing out on the way), and every lookup of the name waits that long"...)
	} else {
		b.B = append(b.B, " after it was first sent, once the client had sent it "...)
		b.B = appendUint(b.B, uint64(sent))
		b.B = append(b.B, " times: the earlier copies or their answers were lost (parallel A and AAAA queries racing in conntrack, an overloaded DNS server, or packet loss)"...)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendDNS(b.B, name, qtype, int(rcode))
	b.B = appendLate(b.B, uint64(sent), delay)
	fs := e.state(c)
	e.keepPcap(c, fs, NoteDNSLateAnswer, ts)
	e.eventEndPcap(b, fs)
}

// slowAnswer is the least delay of an answer to a query sent once that
// is reported as late: DNS answers in milliseconds, a cached name in
// microseconds; a second is a lookup every user of the name waits on.
const slowAnswer = int64(1e9)

// rcodeNoData is appendDNS's rcode for a NOERROR answer without the
// records asked for.
const rcodeNoData = -2

func appendDNS(dst []byte, name []byte, qtype uint16, rcode int) []byte {
	dst = append(dst, `,"dns":{"query":`...)
	dst = jsonw.Bytes(dst, name)
	dst = append(dst, `,"qtype":`...)
	dst = jsonw.Uint(dst, uint64(qtype))
	dst = append(dst, `,"qtype_name":`...)
	dst = jsonw.String(dst, QtypeName(qtype))
	if rcode == rcodeNoData {
		dst = append(dst, `,"rcode":0,"rcode_name":"NODATA"`...)
	} else if rcode >= 0 {
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
		if optionalQuery(q.qtype, q.name[:q.n], -1) {
			e.St.OptionalDNS.Add(1)
			continue
		}
		b := e.dnsEventStart(c, NoteDNSError, q.name[:q.n], now)
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
		at := now // the pcap is named by the deadline's time
		if !final {
			at = q.last + e.dnsTO
		}
		e.keepPcap(c, fs, NoteDNSError, at)
		e.eventEndPcap(b, fs)
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

// dnsTC is a truncated answer (TC) to a client's socket: the resolver
// asks again over TCP, and glibc closes the UDP socket at once, so the
// answer to its other query bounces (ICMP port unreachable).
type dnsTC struct {
	client netip.Addr
	port   uint16
	ts     int64
}

const recentTC = 16

// truncatedTo reports whether client's socket port got a truncated
// answer within the DNS timeout before ts.
func (e *Engine) truncatedTo(client netip.Addr, port uint16, ts int64) bool {
	for i := range e.tc {
		if t := &e.tc[i]; t.port == port && t.client == client && t.ts <= ts && ts-t.ts < e.dnsTO {
			return true
		}
	}
	return false
}

// queryAge returns how long before ts client's socket port last sent a
// query (0: none remembered).
func (e *Engine) queryAge(client netip.Addr, port uint16, ts int64) int64 {
	var last int64
	for i := range e.rq {
		if q := &e.rq[i]; q.port == port && q.client == client && q.ts <= ts && q.ts > last {
			last = q.ts
		}
	}
	if last == 0 {
		return 0
	}
	return ts - last
}

// askedOthers reports whether client's socket port sent a query to a
// server other than server within the DNS timeout before ts: a resolver
// that asks all its servers at once from one socket (musl) closes it on
// the first answers, and the slower server's bounce.
func (e *Engine) askedOthers(client netip.Addr, port uint16, server netip.Addr, ts int64) bool {
	for i := range e.rq {
		if q := &e.rq[i]; q.port == port && q.client == client && q.server != server && q.ts <= ts && ts-q.ts < e.dnsTO {
			return true
		}
	}
	return false
}

// minResolverTimeout is less than any resolver waits for an answer
// before it gives up (glibc, musl, Go and dig wait 5 s by default;
// Kubernetes pods' options timeout:1 at the least): a DNS answer bounced
// sooner came to a socket closed for another reason.
const minResolverTimeout = int64(500e6)
