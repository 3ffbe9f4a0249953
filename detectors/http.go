package detectors

import (
	"bytes"
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// maxHeaderBlock bounds the first request's header block that is searched.
const maxHeaderBlock = 8192

type httpState struct {
	buf  []byte
	cur  seqCursor
	done bool    // the first request was searched (or there is no search)
	h2   bool    // HTTP/2 with prior knowledge: see h2.go
	h2c  *h2Conn // its frames and tables: see h2c.go
}

var methods = [...]string{"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// isHTTPRequest reports whether b starts with an HTTP/1.x request line.
func isHTTPRequest(b []byte) bool {
	for _, m := range methods {
		if len(b) >= len(m) && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// httpSegment accumulates the client's first request (in sequence order)
// until its header block ends, then searches it once.
func (e *Engine) httpSegment(c *flowtable.Conn, fs *flowState, p *decode.Packet, ts int64) {
	h := e.httpOf(fs)
	if h.done {
		return
	}
	b, gap := h.cur.take(p.Seq, p.Payload)
	if gap {
		h.done = true // give up rather than search a broken block
		e.pools.http.put(h.buf)
		h.buf = nil
		return
	}
	if len(b) == 0 {
		return
	}
	room := maxHeaderBlock - len(h.buf)
	if len(b) > room {
		b = b[:room]
	}
	if h.h2 {
		h.buf = append(h.buf, b...)
		e.h2Segment(c, fs, ts)
		return
	}
	start := max(0, len(h.buf)-3)
	h.buf = append(h.buf, b...)
	end := bytes.Index(h.buf[start:], []byte("\r\n\r\n"))
	if end < 0 && len(h.buf) < maxHeaderBlock {
		return
	}
	block := h.buf
	if end >= 0 {
		block = h.buf[:start+end+2]
	}
	h.done = true
	e.searchHeaders(c, fs, block, ts)
	e.pools.http.put(h.buf) // the request was searched: the buffer goes back
	h.buf = nil
}

// searchLater searches a later request on a keep-alive connection, from
// the segment that starts it: clients that pool connections (Node's fetch, Go, Java,
// browsers) send the searched header on a connection an earlier request
// opened.
//
// A header block the segment does not end (large cookies or tokens before
// the searched header, a reverse proxy's pooled connection to the pod,
// segments a NIC without TSO cut at the MTU) is gathered like the first
// request's: httpSegment takes the segments that follow, in sequence
// order, until the block ends, then searches it whole.
func (e *Engine) searchLater(c *flowtable.Conn, fs *flowState, h *httpState, p *decode.Packet, ts int64) {
	seg := p.Payload
	if end := bytes.Index(seg, []byte("\r\n\r\n")); end >= 0 {
		e.searchHeaders(c, fs, seg[:end+2], ts)
		return
	}
	if i := indexFold(seg, e.search); len(seg) >= maxHeaderBlock || i >= 0 && bytes.IndexByte(seg[i:], '\n') >= 0 {
		e.searchHeaders(c, fs, seg, ts) // the matching line is whole
		return
	}
	h.done = false
	h.buf = append(e.pools.http.get()[:0], seg...)
	h.cur = seqCursor{next: p.Seq + uint32(len(seg)), init: true}
}

// seqCursor follows one direction's byte stream in sequence order.
type seqCursor struct {
	next uint32
	init bool
}

// take returns the bytes of a segment at seq that are new to the stream
// (none for a retransmission), or gap when bytes before it are missing.
func (s *seqCursor) take(seq uint32, b []byte) (_ []byte, gap bool) {
	if !s.init {
		s.init, s.next = true, seq
	}
	off := int32(seq - s.next)
	if off > 0 {
		return nil, true
	}
	if off < 0 {
		if int(-off) >= len(b) {
			return nil, false
		}
		b = b[-off:]
	}
	s.next += uint32(len(b))
	return b, false
}

// h2Segment looks for the first request's complete header block in the
// HTTP/2 client stream gathered so far, decodes it and searches it once.
func (e *Engine) h2Segment(c *flowtable.Conn, fs *flowState, ts int64) {
	h := e.httpOf(fs)
	final := len(h.buf) >= maxHeaderBlock
	if e.h2 == nil {
		e.h2 = newH2Decoder(maxHeaderBlock)
		e.h2frag = make([]byte, 0, maxHeaderBlock)
		e.h2req = make([]byte, 0, 2*maxHeaderBlock)
		e.h2tab.buf = make([]byte, 0, 2*hpackDefaultMax)
	}
	frag, st := h2HeaderBlock(h.buf, e.h2frag[:0], final)
	if st == h2More {
		return
	}
	h.done = true
	if st == h2Done {
		// The first block starts with the encoder's empty table. A
		// malformed field ends it: those before it are searched.
		e.h2tab.reset(hpackDefaultMax)
		_ = e.h2.decode(frag, &e.h2tab)
		req := e.h2.request(e.h2req[:0])
		e.searchHeaders(c, fs, req, ts)
	}
	e.pools.http.put(h.buf)
	h.buf = nil
}

// splitRequestLine splits "METHOD URI VERSION" (any part may be empty).
func splitRequestLine(line []byte) (method, uri, version []byte) {
	method, rest, _ := bytes.Cut(line, []byte(" "))
	uri, version, _ = bytes.Cut(rest, []byte(" "))
	return method, uri, version
}

// appendRequest writes "METHOD URI", escaped for a JSON string.
func appendRequest(dst, method, uri []byte) []byte {
	dst = appendText(dst, method)
	dst = append(dst, ' ')
	return appendText(dst, uri)
}

// indexFold returns the index of needle (already lower case) in hay,
// ignoring ASCII case, or -1.
func indexFold(hay, needle []byte) int {
	if len(needle) == 0 {
		return -1
	}
	n0 := needle[0]
	for i := 0; i+len(needle) <= len(hay); i++ {
		if lowerByte(hay[i]) != n0 {
			continue
		}
		j := 1
		for ; j < len(needle); j++ {
			if lowerByte(hay[i+j]) != needle[j] {
				break
			}
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

func lowerByte(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 32
	}
	return b
}

// sensitive headers whose values are never written out.
var sensitive = [...][]byte{[]byte("authorization"), []byte("proxy-authorization"), []byte("cookie"), []byte("set-cookie")}

// searchHeaders looks for the searched text in a request's header block
// (HTTP/2: its decoded fields written out as HTTP/1.x) and reports a
// match.
func (e *Engine) searchHeaders(c *flowtable.Conn, fs *flowState, block []byte, ts int64) {
	if i := indexFold(block, e.search); i >= 0 {
		e.headerMatch(c, fs, block, i, ts)
	}
}

func (e *Engine) headerMatch(c *flowtable.Conn, fs *flowState, block []byte, at int, ts int64) {
	fs.set(fTracked)
	e.p(fs).trackUntil = ts + e.track
	e.keepPcap(c, fs, NoteHTTPHeaderMatch, ts)
	reqLine := block
	if i := bytes.IndexByte(block, '\n'); i >= 0 {
		reqLine = block[:i]
	}
	reqLine = bytes.TrimRight(reqLine, "\r")
	method, uri, version := splitRequestLine(reqLine)
	var host []byte
	for _, line := range bytes.Split(block, []byte("\n")) {
		if len(line) > 5 && indexFold(line[:5], []byte("host:")) == 0 {
			host = bytes.TrimSpace(line[5:])
			break
		}
	}
	ls := bytes.LastIndexByte(block[:at], '\n') + 1
	le := bytes.IndexByte(block[at:], '\n')
	line := block[ls:]
	if le >= 0 {
		line = block[ls : at+le]
	}
	line = bytes.TrimRight(line, "\r")
	redacted := false
	if colon := bytes.IndexByte(line, ':'); colon > 0 {
		name := bytes.TrimSpace(line[:colon])
		for _, s := range sensitive {
			if len(name) == len(s) && indexFold(name, s) == 0 {
				line = line[:colon+1]
				redacted = true
			}
		}
	}
	b := e.eventStart(c, NoteHTTPHeaderMatch, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " sent "...)
	b.B = appendRequest(b.B, method, uri)
	if string(version) == "HTTP/2" {
		b.B = append(b.B, " over HTTP/2 (h2c)"...)
	}
	b.B = append(b.B, " to "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " with the searched text in header \\\""...)
	b.B = appendText(b.B, line)
	if redacted {
		b.B = append(b.B, " [redacted]"...)
	}
	b.B = append(b.B, "\\\"; tracking the connection"...)
	b.B = appendSide(b.B, "client")
	b.B = append(b.B, `,"http":{"method":`...)
	b.B = jsonw.Bytes(b.B, method)
	b.B = append(b.B, `,"host":`...)
	b.B = jsonw.Bytes(b.B, host)
	b.B = append(b.B, `,"uri":`...)
	b.B = jsonw.Bytes(b.B, uri)
	if len(version) > 0 {
		b.B = append(b.B, `,"version":`...)
		b.B = jsonw.Bytes(b.B, version)
	}
	b.B = append(b.B, `,"header":`...)
	if redacted {
		b.B = append(b.B, '"')
		b.B = jsonw.Escaped(b.B, line)
		b.B = append(b.B, ` [redacted]"`...)
	} else {
		b.B = jsonw.Bytes(b.B, line)
	}
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// emptyReply reports a server that closed (FIN) a connection whose
// client had sent an HTTP request, without sending a byte: what curl
// calls "Empty reply from server" (a reset is a TCP_RESET).
func (e *Engine) emptyReply(c *flowtable.Conn, fs *flowState, ts int64) {
	b := e.problemEvent(c, fs, NoteHTTPEmptyReply, ts)
	if b == nil {
		return
	}
	if _, at, _ := e.reqs.get(c); at != 0 && ts-at >= minNoResponse {
		// Not at once: it waited, then gave up on the request.
		b.B = appendServerDid(b.B, c, " closed the connection without answering the HTTP request of client ", " (an empty reply), ")
		b.B = appendDurationWords(b.B, ts-at)
		b.B = append(b.B, " after it: "...)
		b.B = append(b.B, slowCloseHint...)
	} else if h := e.httpOf(fs); h != nil && h.h2c != nil {
		b.B = appendServerDid(b.B, c, " closed the connection without answering the HTTP/2 connection preface (PRI *) of client ",
			" (h2c, or gRPC without TLS; an empty reply): it does not speak cleartext HTTP/2 on this port (a TLS port, an HTTP/1.1-only server, or a service mesh sidecar requiring mTLS?), or it failed before answering (a TCP proxy whose upstream refused)")
	} else if name := wellKnownPort(c.RespPort()); name != "" {
		b.B = appendServerDid(b.B, c, " closed the connection without answering the HTTP request of client ", " (an empty reply): port ")
		b.B = appendUint(b.B, uint64(c.RespPort()))
		b.B = append(b.B, " is "...)
		b.B = append(b.B, name...)
		b.B = append(b.B, "'s usual port, and such a server drops a request it cannot parse: an HTTP client pointed at the wrong port? (check the Service's port and targetPort)"...)
	} else {
		b.B = appendServerDid(b.B, c, " closed the connection without answering the HTTP request of client ",
			" (an empty reply): it may not speak plain HTTP on this port (a TLS port, or a service mesh sidecar requiring mTLS?), or it failed before answering (a TCP proxy whose upstream refused)")
		b.B = append(b.B, proxyExpectedHint...)
	}
	b.B = appendSide(b.B, "server")
	e.eventEndPcap(b, fs)
}

// lastUnanswered returns the request of c's keep-alive connection, whose
// server is closing it (FIN) at ts, if the server answered earlier
// requests but not this one, though it had received it: the FIN
// acknowledges all the client sent. (In the keep-alive race the
// server's FIN left before the request came, and does not acknowledge
// it; the server's kernel resets it.) The request must be at least
// closeAfterReq old: a capture that put a request after its answer
// (packets reordered across queues) would otherwise show an answer
// before its request and a close right after it.
func (e *Engine) lastUnanswered(c *flowtable.Conn, ts int64) []byte {
	req, at, srv := e.reqs.get(c)
	if req == nil || c.Size(1) == 0 || srv != c.Size(1) || c.Unacked(0) != 0 || ts-at < closeAfterReq {
		return nil
	}
	return req
}

// slowCloseHint explains a server closing a connection a while after the
// client's first bytes, without a byte of answer.
const slowCloseHint = "the server, or an upstream behind it, failed or did not answer in time: a TCP proxy's or TLS passthrough's connect timeout (its upstream down or filtered), an application's own timeout, or a handler that aborted"

// closeAfterReq: see lastUnanswered.
const closeAfterReq = int64(50 * time.Millisecond)

// keepAliveEmptyReply reports a server that closed its keep-alive
// connection without answering its last request, req: the client gets
// an empty reply or an EOF (Go: "EOF", Python: RemoteDisconnected);
// clients retry it on a new connection only if it is idempotent.
func (e *Engine) keepAliveEmptyReply(c *flowtable.Conn, fs *flowState, req []byte, ts int64) {
	b := e.problemEvent(c, fs, NoteHTTPEmptyReply, ts)
	if b == nil {
		return
	}
	method, uri, _ := splitRequestLine(req)
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " closed the connection without answering "...)
	b.B = appendRequest(b.B, method, uri)
	b.B = append(b.B, " from client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, ", after answering its earlier requests on this keep-alive connection (an empty reply: the client gets an EOF, and retries on a new connection only an idempotent request): the server failed or gave up on this request, or a proxy's timeout closed the connection"...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"http":{`...)
	b.B = appendMethodURI(b.B, method, uri)
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// reqCache remembers the last HTTP/1.x request line of recent
// connections, so that an error response can name the request it
// answers, without memory per connection: a slot per slab index (modulo
// the cache size), checked against the connection's first packet time.
// A collision only loses the request line.
type reqCache struct {
	slot [reqSlots]reqLine
	// pre marks TLS connections whose server sent its HTTP/2 preface
	// before the client's first request (see tlswait.go), by slab index
	// and first packet time, as slot does.
	pre [reqSlots]preMark
}

type preMark struct {
	idx   int32
	first int64
}

const (
	reqSlots   = 1024
	reqLineMax = 120
)

type reqLine struct {
	idx   int32
	n     uint8
	sse   bool   // it asked for an event stream (Accept: text/event-stream)
	ws    bool   // it asked to upgrade to WebSocket (Sec-WebSocket-Key)
	tls   bool   // a request inside TLS (see tlsData): n counts them, line is empty
	bye   int64  // TLS: when the client sent an alert (its close_notify), the request unanswered
	alert int64  // TLS: when the client last sent an alert, answered or not
	tk    uint16 // TLS: the length of the records that may be session tickets (see serverData)
	tkn   uint8  // how many came
	tkpre uint8  // of them, before the request (1: a first request sent between two tickets)
	tks   uint8  // tkNone, tkTickets, tkAnswer
	sal   uint16 // TLS: bytes of the server's alerts (its close_notify) since the request
	first int64  // the connection's first packet time
	at    int64  // when the request was sent
	last  int64  // when the client last sent bytes of it (its body)
	srv   uint64 // the server's byte count then
	sfin  int64  // when the server closed (its FIN) before the client did (0: it has not)
	sLast int64  // TLS: when the server's last segment came, and its length
	sLen  uint16
	// HTTP/2 inside TLS (see tlswait.go): h2c, it may be there (h2Cand);
	// h2, it is (ALPN said so, or a record of an empty frame's size came);
	// sack, the server has sent its preface (its SETTINGS); sctl, bytes of
	// the server's control frames since the request; spre, its preface's
	// bytes if they came after the request.
	// maybe, the request may be none (h2Control); cpad and spad, the
	// client or server pads its records (Java), cplain and splain, it
	// does not (each known from its first empty frame).
	h2c, h2, sack, maybe       bool
	cpad, spad, cplain, splain bool
	sctl, spre                 uint16
	segs                       uint8 // TLS: the client's data segments of the request (saturating)
	srst                       int64 // TLS, HTTP/2: when the server may have reset the request (h2ServerReset)
	reset                      bool  // it did, and that was reported
	resp                       respTrack
	line                       [reqLineMax]byte
}

func (r *reqCache) put(c *flowtable.Conn, payload []byte, ts int64) {
	l := &r.slot[uint32(c.Index())%reqSlots]
	// Server-sent events: the server may send nothing, not even its
	// headers, until the first event. (Only the request's first segment
	// is looked at.)
	l.sse = indexFold(payload, []byte("text/event-stream")) >= 0
	// Sec-WebSocket-Key, as browsers and most libraries write it, Go's
	// canonical Sec-Websocket-Key, or in lower case.
	l.ws = bytes.Contains(payload, []byte("ocket-Key")) || bytes.Contains(payload, []byte("ocket-key"))
	if i := bytes.IndexAny(payload, "\r\n"); i >= 0 {
		payload = payload[:i]
	}
	if l.idx != c.Index() || l.first != c.First || l.n == 0 {
		l.resp = respTrack{} // the slot changes hands
	}
	if l.idx != c.Index() || l.first != c.First {
		l.sfin = 0
	}
	l.idx, l.first, l.at, l.last, l.srv, l.tls = c.Index(), c.First, ts, ts, c.Size(1), false
	l.n = uint8(copy(l.line[:], payload))
	l.resp.start(c)
}

// serverClosed notes the server's FIN at ts on c, the client still open:
// a request the client sends after it is reset (resetAfterClose).
func (r *reqCache) serverClosed(c *flowtable.Conn, ts int64) {
	if l := r.any(c); l != nil && l.sfin == 0 {
		l.sfin = ts
	}
}

// more notes more client bytes of c's last request (its body) at ts.
func (r *reqCache) more(c *flowtable.Conn, ts int64) {
	if l := r.of(c); l != nil {
		l.last = ts
	}
}

// get returns c's last request line, when it was sent and the server's
// byte count then, or nil.
func (r *reqCache) get(c *flowtable.Conn) ([]byte, int64, uint64) {
	l := r.of(c)
	if l == nil {
		return nil, 0, 0
	}
	return l.line[:l.n], l.at, l.srv
}

// sentBy returns when the client last sent bytes of c's last request (0
// if it is not known), and whether it asked for an event stream.
func (r *reqCache) sentBy(c *flowtable.Conn) (int64, bool) {
	l := r.of(c)
	if l == nil {
		return 0, false
	}
	return l.last, l.sse
}

// minNoResponse is the shortest wait for an answer reported when a
// client gives up on an HTTP request.
const minNoResponse = int64(time.Second)

// unanswered returns the last request of an HTTP/1.x connection whose
// server has sent no byte since, and how long the client has waited for
// it at ts (false if it is not that, or the wait is under
// minNoResponse). On a keep-alive connection that is a later request
// the server left hanging after answering the earlier ones.
func (e *Engine) unanswered(c *flowtable.Conn, fs *flowState, ts int64) ([]byte, int64, bool) {
	if fs.service != svcHTTP || c.Size(0) == 0 {
		return nil, 0, false
	}
	req, _, srv := e.reqs.get(c)
	// The wait runs from the request's last byte: a body being uploaded
	// is not a wait.
	at, sse := e.reqs.sentBy(c)
	if req == nil || sse || c.Size(1) != srv || ts-at < minNoResponse {
		return nil, 0, false
	}
	if _, uri, _ := splitRequestLine(req); isLongPoll(uri) {
		return nil, 0, false
	}
	return req, ts - at, true
}

// A plaintext HTTP/1.x request that has had no byte of answer, its
// connection open and its client waiting, for hangSoFar is reported
// then, as a hang so far (a client without a timeout, as Go's
// http.Client, Python's requests and Node's http are by default, would
// wait forever and never close); at the capture's end, after hangAtEnd.
const (
	hangSoFar = int64(30 * time.Second)
	hangAtEnd = int64(10 * time.Second)
)

// httpDeadlines returns when c's pending HTTP/1.x request will have
// waited hangSoFar for a byte of answer, and when its answer in progress,
// of known length, will have been silent hangSoFar (0: none, or already
// reported). One look at c's request-cache slot serves both, on every
// packet of the connection.
func (e *Engine) httpDeadlines(c *flowtable.Conn, fs *flowState) (hang, stall int64) {
	if fs.service != svcHTTP {
		return 0, 0
	}
	l := e.reqs.of(c)
	if l == nil {
		return 0, 0
	}
	events, size := e.q(fs).events, c.Size(1)
	if events&(1<<NoteHTTPNoResponse) == 0 && l.srv == size && l.last != 0 && !l.sse {
		hang = l.last + hangSoFar
	}
	if events&(1<<NoteHTTPResponseStalled) == 0 && l.resp.rs == rsLength && int64(size) < l.resp.next {
		stall = l.resp.last + hangSoFar
	}
	return hang, stall
}

// clientWaits reports whether c's client is waiting for the server to
// answer: both sides still connected, and everything the client sent
// acknowledged by the server. Bytes not acknowledged are waiting to be
// sent, not for an answer (a server that stopped reading: its zero
// window is TCP_ZERO_WINDOW's).
func (e *Engine) clientWaits(c *flowtable.Conn, fs *flowState) bool {
	return !c.E[0].DidClose && !c.E[1].DidClose && !closed(c) && c.Unacked(0) == 0 && e.q(fs).zeroFrom[1] == 0
}

// stillWaiting reports c's HTTP/1.x request if, at ts, it has waited at
// least least without a byte of answer, its client still waiting.
func (e *Engine) stillWaiting(c *flowtable.Conn, fs *flowState, ts, least int64, atEnd bool) {
	if fs.service != svcHTTP || e.q(fs).events&(1<<NoteHTTPNoResponse) != 0 || !e.clientWaits(c, fs) {
		return
	}
	if h := e.httpOf(fs); h != nil && h.h2c != nil {
		return
	}
	how := waitSoFar
	if atEnd {
		how = waitAtEnd
	}
	if req, waited, ok := e.unanswered(c, fs, ts); ok && waited >= least {
		if !atEnd {
			// Reported as of its deadline, not the timer's run: the
			// same with any number of workers.
			ts, waited = ts-(waited-least), least
		}
		e.noResponse(c, fs, req, waited, ts, how)
	}
}

// longPollParams are query parameters with which a client asks the
// server to hold its request until something changes: Consul's and
// Nomad's blocking queries (index, wait), etcd v2's wait, Kubernetes
// watches (watch, timeoutSeconds).
var longPollParams = [...]string{"wait=", "index=", "watch=", "timeoutseconds="}

// isLongPoll reports whether uri's query asks the server to hold the
// request: the client ending it unanswered is its own business (a
// restart, a cancelled watch), not a server that hangs.
func isLongPoll(uri []byte) bool {
	_, q, ok := bytes.Cut(uri, []byte("?"))
	for ok {
		var param []byte
		param, q, ok = bytes.Cut(q, []byte("&"))
		for _, p := range longPollParams {
			if len(param) >= len(p) && indexFold(param[:len(p)], []byte(p)) == 0 {
				return true
			}
		}
	}
	return false
}

// How an HTTP request without an answer is reported.
const (
	waitGaveUp = iota // the client closed (FIN) after waiting
	waitSoFar         // still waiting, hangSoFar reached
	waitAtEnd         // still waiting when the capture ended
)

// noResponse reports a client that waited for an answer to its HTTP
// request without getting a byte: it closed (FIN) the connection, its
// timeout having fired while the server, or something behind it, hung;
// or (how) it is still waiting.
func (e *Engine) noResponse(c *flowtable.Conn, fs *flowState, req []byte, waited, ts int64, how int) {
	b := e.problemEvent(c, fs, NoteHTTPNoResponse, ts)
	if b == nil {
		return
	}
	method, uri, _ := splitRequestLine(req)
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	if how != waitGaveUp {
		b.B = append(b.B, " has waited "...)
		b.B = appendDurationWords(b.B, waited)
		b.B = append(b.B, " so far for an answer to "...)
		b.B = appendRequest(b.B, method, uri)
		b.B = append(b.B, " from server "...)
		b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
		b.B = append(b.B, ", without a byte of it"...)
		if c.Size(1) > 0 {
			b.B = append(b.B, " (the server had answered the earlier requests on this keep-alive connection)"...)
		}
		b.B = append(b.B, ", the connection still open"...)
		if how == waitAtEnd {
			b.B = append(b.B, " when the capture ended"...)
		}
		b.B = append(b.B, ": the server, or an upstream behind it, hangs, and a client without a timeout waits for ever (a slow endpoint that is working takes this long too)"...)
		b.B = appendNoResponseFields(b.B, method, uri, "", waited)
		b.B = append(b.B, `,"so_far":true`...)
		e.eventEndPcap(b, fs)
		return
	}
	b.B = append(b.B, " gave up on "...)
	b.B = appendRequest(b.B, method, uri)
	b.B = append(b.B, " to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, ": it closed the connection after waiting "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " without a byte of answer"...)
	if c.Size(1) > 0 {
		b.B = append(b.B, ", though the server had answered the earlier requests on this keep-alive connection"...)
	}
	b.B = append(b.B, hangHint...)
	b.B = appendNoResponseFields(b.B, method, uri, "", waited)
	e.eventEndPcap(b, fs)
}

// hangHint ends the message of a request left without an answer.
const hangHint = " (the server, or an upstream behind it, hangs; the client's timeout is about that long)"

// appendMethodURI writes "method":M,"uri":U (both null when method is
// empty: the request was not seen).
func appendMethodURI(dst, method, uri []byte) []byte {
	if len(method) == 0 {
		return append(dst, `"method":null,"uri":null`...)
	}
	dst = append(dst, `"method":`...)
	dst = jsonw.Bytes(dst, method)
	dst = append(dst, `,"uri":`...)
	return jsonw.Bytes(dst, uri)
}

// appendNoResponseFields ends an HTTP_NO_RESPONSE event: its side, the
// request (version set for HTTP/2) and the wait.
func appendNoResponseFields(dst, method, uri []byte, version string, waited int64) []byte {
	dst = appendSide(dst, "server")
	dst = append(dst, `,"http":{`...)
	dst = appendMethodURI(dst, method, uri)
	if version != "" {
		dst = append(dst, `,"version":"`...)
		dst = append(dst, version...)
		dst = append(dst, '"')
	}
	dst = append(dst, `},"waited_ms":`...)
	return jsonw.Millis(dst, waited)
}

// serverErrorStatus returns the status code of a 5xx HTTP/1.x status line
// at the start of b, or 0.
func serverErrorStatus(b []byte) int {
	if code := statusLine(b); errorStatus(code, b) {
		return code
	}
	return 0
}

// errorStatus reports whether code, the status of the answer starting b,
// is reported as HTTP_SERVER_ERROR on its own: a 5xx, a rate limit or a
// request over a limit.
func errorStatus(code int, b []byte) bool {
	switch {
	case code >= 500 || code == 429 || code == 413 || code == 414 || code == 431:
		return true
	case code == 400 && (bytes.Contains(b, []byte("Header Or Cookie Too Large")) || bytes.Contains(b, []byte("Header Fields Too Large"))):
		// nginx answers 400, not 431, to a header over its buffers.
		return true
	}
	return false
}

// errorAnswer reports the start of an answer, code its status, that
// says something failed: an HTTP/1.x answer to an HTTP/2 preface, a
// 5xx or a limit, a forward proxy's refusal, a TLS port's 400 to plain
// HTTP, a refused WebSocket upgrade.
func (e *Engine) errorAnswer(c *flowtable.Conn, fs *flowState, b []byte, code int, ts int64) {
	switch h := e.httpOf(fs); {
	case h != nil && h.h2c != nil && h.h2c.d[1].got == uint64(len(b)):
		// The server's first bytes: an HTTP/1.x answer to the HTTP/2
		// connection preface.
		e.h2PrefaceRefused(c, fs, b, code, ts)
	case errorStatus(code, b) || e.proxyRefusal(c, code) || code == 400 && plainToTLS(b):
		e.serverError(c, fs, b, code, ts)
	case e.wsRefused(c, code):
		e.wsRefusal(c, fs, b, code, ts)
	}
}

// statusLine returns the status code of an HTTP/1.x status line at the
// start of b, or 0.
func statusLine(b []byte) int {
	if len(b) < 13 || string(b[:7]) != "HTTP/1." || b[8] != ' ' || b[9] < '1' || b[9] > '5' ||
		b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' || (b[12] != ' ' && b[12] != '\r') {
		return 0
	}
	return int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0')
}

// proxyRefusal reports whether code is a 403 or 407 answering c's
// CONNECT, or a request in absolute form (GET http://host/... through
// HTTP_PROXY): a forward proxy refused the tunnel or the request (its
// egress rules, or credentials).
func (e *Engine) proxyRefusal(c *flowtable.Conn, code int) bool {
	if code != 403 && code != 407 {
		return false
	}
	req, _, _ := e.reqs.get(c)
	return bytes.HasPrefix(req, []byte("CONNECT ")) || proxyForm(req)
}

// proxyForm reports whether a request line's target is in absolute form,
// as clients send it to a forward proxy for plain HTTP.
func proxyForm(req []byte) bool {
	_, uri, _ := splitRequestLine(req)
	return len(uri) > 7 && (string(uri[:7]) == "http://" || string(uri[:7]) == "HTTP://")
}

// plainToTLSSays are what servers answer, with a 400, to plain HTTP on
// a port that speaks TLS: Go's net/http (and so Traefik, Caddy, most Go
// services), nginx, Apache httpd, Tomcat.
var plainToTLSSays = [...]string{
	"HTTP request to an HTTPS server",
	"plain HTTP request was sent to HTTPS port",
	"plain HTTP to an SSL-enabled server port",
	"combination of host and port requires TLS",
}

// plainToTLS reports whether b, a 400 answer, says the request was
// plain HTTP sent to a TLS port.
func plainToTLS(b []byte) bool {
	for _, s := range plainToTLSSays {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// slowCheck reports, as HTTP_SLOW_RESPONSE, the start of an answer that
// came e.slow or more after its request's last byte (its body's, for an
// upload): the "hangs sometimes" of a slow server or dependency, which
// the client waited out. Not for event streams, WebSocket upgrades and
// long-polls (they wait by design), nor when the request was already
// reported unanswered, nor for answers reported as errors (their msg
// gives the wait). Plaintext HTTP/1.x only: inside TLS the URI that
// tells a long-poll is hidden.
func (e *Engine) slowCheck(c *flowtable.Conn, fs *flowState, p *decode.Packet, code int, ts int64) {
	l := e.reqs.of(c)
	if l == nil || l.tls || l.sse || l.ws || c.Size(1)-uint64(len(p.Payload)) != l.srv {
		return // not the first bytes of the answer to the last request
	}
	waited := ts - l.last
	if waited < e.slow || e.q(fs).events&(1<<NoteHTTPNoResponse|1<<NoteHTTPSlowResponse) != 0 {
		return
	}
	method, uri, _ := splitRequestLine(l.line[:l.n])
	if isLongPoll(uri) || errorStatus(code, p.Payload) {
		return
	}
	e.slowEvent(c, fs, method, uri, code, cut(statusReason(p.Payload), 64), false, waited, ts)
}

// slowEvent reports the answer to METHOD URI, with status code (and
// reason), that came waited after the request: HTTP_SLOW_RESPONSE.
func (e *Engine) slowEvent(c *flowtable.Conn, fs *flowState, method, uri []byte, code int, reason []byte, h2c bool, waited, ts int64) {
	b := e.problemEvent(c, fs, NoteHTTPSlowResponse, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " answered "...)
	b.B = appendRequestOf(b.B, c, method, uri)
	b.B = append(b.B, " only "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " after the request, with "...)
	b.B = appendStatus(b.B, code, reason)
	if h2c {
		b.B = append(b.B, " over HTTP/2 (h2c): the client waited that long for the response headers"...)
	} else {
		b.B = append(b.B, ": the client waited that long for the first byte"...)
	}
	b.B = append(b.B, "; the server, or an upstream behind it, was slow (a slow query or dependency, CPU throttling, a full worker pool or connection pool); a client with a shorter timeout would have given up"...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"http":{`...)
	b.B = appendMethodURI(b.B, method, uri)
	b.B = append(b.B, `,"status_code":`...)
	b.B = appendUint(b.B, uint64(code))
	b.B = append(b.B, '}')
	b.B = append(b.B, `,"waited_ms":`...)
	b.B = jsonw.Millis(b.B, waited)
	e.eventEndPcap(b, fs)
}

// appendRequestOf writes "METHOD URI from client ADDR", or "a request of
// client ADDR" when the request is not known.
func appendRequestOf(dst []byte, c *flowtable.Conn, method, uri []byte) []byte {
	if len(method) > 0 {
		dst = appendRequest(dst, method, uri)
		dst = append(dst, " from "...)
	} else {
		dst = append(dst, "a request of "...)
	}
	dst = append(dst, "client "...)
	return c.Orig().AppendTo(dst)
}

// appendStatus writes a status code and its reason phrase.
func appendStatus(dst []byte, code int, reason []byte) []byte {
	dst = appendUint(dst, uint64(code))
	if len(reason) > 0 {
		dst = append(dst, ' ')
		dst = appendText(dst, reason)
	}
	return dst
}

// wsRefused reports whether code, the status of an answer to c's last
// request, refuses the WebSocket upgrade that request asked for: not 101
// Switching Protocols (nor a 5xx or a limit, which errorStatus reports).
func (e *Engine) wsRefused(c *flowtable.Conn, code int) bool {
	if code < 200 || code >= 500 {
		return false
	}
	l := e.reqs.of(c)
	return l != nil && l.ws
}

// wsRefusedHint says why a server answers a WebSocket upgrade with code.
func wsRefusedHint(code int) string {
	const strip = "a proxy or ingress before the server that does not forward the Upgrade and Connection headers (nginx: proxy_http_version 1.1, proxy_set_header Upgrade $http_upgrade and Connection \\\"upgrade\\\"; ingress-nginx forwards them)"
	switch {
	case code == 426:
		return "the server behind got the request without its Upgrade header, and requires one: " + strip
	case code < 400:
		return "the server answered it as an ordinary request: the upgrade did not reach a WebSocket server: " + strip + ", or a path that something else serves"
	case code == 401 || code == 403:
		return "the server refused the handshake: its authentication, or its Origin check (the page's origin is not one it allows)"
	case code == 404:
		return "nothing serves WebSockets at that path: a wrong path, or a route or ingress rule that does not lead to the WebSocket server"
	case code == 400:
		return "the server refused the handshake: a path it does not serve WebSockets on, or a WebSocket header missing or wrong (Sec-WebSocket-Key, Sec-WebSocket-Version; " + strip + ")"
	}
	return "the server refused the handshake"
}

// wsRefusal reports a WebSocket upgrade answered with code.
func (e *Engine) wsRefusal(c *flowtable.Conn, fs *flowState, status []byte, code int, ts int64) {
	req, _, _ := e.reqs.get(c)
	method, uri, _ := splitRequestLine(req)
	d := answerDetail(status, code)
	d.hint, d.ws = wsRefusedHint(code), true
	e.serverErrorEvent(c, fs, method, uri, code, statusReason(status), "", ts, d)
}

// serverErrorHint says what a 5xx status usually means.
func serverErrorHint(code int) string {
	switch code {
	case 500:
		return "the application failed while handling the request"
	case 502:
		return "a proxy or gateway got no valid answer from its upstream (refused, reset, or not HTTP)"
	case 503:
		return "the service was unavailable: no healthy instance behind it, overloaded, or in maintenance"
	case 504:
		return "a proxy or gateway timed out waiting for its upstream"
	case 403:
		return "the forward proxy refused to open a tunnel to that destination: its access rules (an egress allow-list) do not permit it"
	case 407:
		return "the forward proxy requires authentication: the client sent no valid Proxy-Authorization (check the credentials in its proxy settings, e.g. HTTPS_PROXY)"
	case 501:
		return "the server does not implement the request's method (or a feature it asked for, such as a Transfer-Encoding)"
	case 505:
		return "the server does not support the request's HTTP version"
	case 413:
		return "the request's body was larger than the server, or a proxy or ingress before it, accepts: ingress-nginx's proxy-body-size (nginx's client_max_body_size, 1 MB by default), an Envoy or gateway body limit, the application's own; raise that limit, or send less"
	case 414:
		return "the request's URI was longer than the server, or a proxy or ingress before it, accepts (nginx's large_client_header_buffers, 8 KB a line by default); send long parameters in a body instead"
	case 400, 431:
		return "the request's headers, most often its cookies or a large token, were larger than the server, or a proxy or ingress before it, accepts: ingress-nginx's large-client-header-buffers (nginx: 8 KB a line by default), Node's max-http-header-size (16 KB), Go's MaxHeaderBytes (1 MB); raise that limit, or send fewer or smaller cookies"
	case 429:
		return "the server, or a proxy or ingress in front of it, rate-limited the client: it sheds load or enforces a quota (ingress-nginx's limit-rps, Envoy's rate limit, kube-apiserver's API Priority and Fairness); the client should back off and retry later"
	}
	return "a failure on the server side"
}

// serverError reports the first 5xx response of an HTTP/1.x connection.
func (e *Engine) serverError(c *flowtable.Conn, fs *flowState, status []byte, code int, ts int64) {
	req, _, _ := e.reqs.get(c)
	method, uri, _ := splitRequestLine(req)
	d := answerDetail(status, code)
	if line := plainToTLSLine(status); line != nil {
		d.hint = plainToTLSHint
		if len(d.said) == 0 {
			d.said = line // Go's answer has no Content-Type
		}
	}
	if l := e.reqs.of(c); l != nil && e.slow > 0 && ts-l.last >= e.slow && c.Size(1)-uint64(len(status)) == l.srv {
		d.waited = ts - l.last
	}
	if (code == 403 || code == 407) && proxyForm(req) {
		d.proxy, d.hint = true, "the forward proxy refused to forward the request to that destination: its access rules (an egress allow-list) do not permit it"
		if code == 407 {
			d.hint = "the forward proxy requires authentication: the client sent no valid Proxy-Authorization (check the credentials in its proxy settings, e.g. HTTP_PROXY)"
		}
	}
	e.serverErrorEvent(c, fs, method, uri, code, statusReason(status), "", ts, d)
}

// h2PrefaceRefused reports the HTTP/1.x answer of a server to an HTTP/2
// client's connection preface: grpc-go's "frame too large, note that the
// frame header looked like an HTTP/1.1 header", grpc-js's "Protocol
// error", curl's "Weird server reply".
func (e *Engine) h2PrefaceRefused(c *flowtable.Conn, fs *flowState, status []byte, code int, ts int64) {
	if h := e.httpOf(fs); h != nil && h.h2c != nil {
		h.h2c.h1Answer = true
	}
	d := answerDetail(status, code)
	d.hint = h2PrefaceHint
	if line := plainToTLSLine(status); line != nil {
		d.hint = plainToTLSHint
		if len(d.said) == 0 {
			d.said = line
		}
	}
	e.serverErrorEvent(c, fs, []byte("PRI"), []byte("*"), code, statusReason(status), "", ts, d)
}

// plainToTLSLine returns the line of a plainToTLS answer that says so.
func plainToTLSLine(b []byte) []byte {
	for _, s := range plainToTLSSays {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			start := bytes.LastIndexByte(b[:i], '\n') + 1
			end := i + len(s)
			if j := bytes.IndexAny(b[end:], "\r\n<"); j >= 0 {
				end += j
			} else {
				end = len(b)
			}
			return cut(bytes.TrimSpace(b[start:end]), 200)
		}
	}
	return nil
}

// errDetail is what an error answer's header and body say about it.
type errDetail struct {
	server     []byte // its Server header: who answered (envoy, a sidecar; nginx, an ingress)
	retryAfter []byte // a 429's or 503's Retry-After
	said       []byte // a plain-text body's first line, or a JSON body's "message"
	saidJSON   bool   // said is a JSON string's inside: its escapes are decoded when written
	// hint replaces serverErrorHint's when the answer says the client
	// spoke the wrong protocol; the event's side is then the client.
	hint   string
	proxy  bool  // with hint: a forward proxy refused a plain request (side server)
	ws     bool  // the answer refused a WebSocket upgrade (hint says why; side server)
	waited int64 // the answer came this long after its request (set when that is slow)
}

const (
	plainToTLSHint = "the client sent plain HTTP to a port that speaks TLS: use https:// (the client's URL or its service's port name), or the port that serves plain HTTP"
	h2PrefaceHint  = "the client spoke HTTP/2 with prior knowledge (h2c, or gRPC without TLS: its connection preface, PRI *) and the server answered in HTTP/1.x: it does not speak cleartext HTTP/2 on this port (an HTTP/1.1-only server or ingress, or a port that expects TLS); use TLS to the server's HTTP/2 port, or enable h2c on it (an ingress's gRPC backend protocol)"
)

// answerDetail reads, from the first segment of an error answer, its
// Server and Retry-After headers and, when the body starts there, what it
// says in plain text (Envoy: "no healthy upstream", "upstream connect
// error or disconnect/reset before headers. reset reason: connection
// failure"; Go's http.Error) or as a JSON "message" (the Kubernetes API's
// Status, most JSON APIs); an HTML page says nothing more than its status.
func answerDetail(b []byte, code int) errDetail {
	var d errDetail
	d.server = cut(headerValue(b, "server"), 40)
	if code == 429 || code == 503 {
		d.retryAfter = cut(headerValue(b, "retry-after"), 32)
	}
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return d
	}
	body := b[i+4:]
	ct := headerValue(b, "content-type")
	switch {
	case len(ct) >= 10 && bytes.EqualFold(ct[:10], []byte("text/plain")):
		if j := bytes.IndexAny(body, "\r\n"); j >= 0 {
			body = body[:j]
		}
		d.said = cut(bytes.TrimSpace(body), 200)
	case len(ct) >= 9 && bytes.EqualFold(ct[:9], []byte("text/html")):
		d.said = cut(htmlSays(body, b[9:12]), 200)
	case bytes.Contains(ct, []byte("json")):
		d.said, d.saidJSON = cut(jsonSays(body, statusReason(b)), 200), true
	}
	if st := bytes.TrimSpace(statusRest(b)); bytes.EqualFold(d.said, st) || bytes.EqualFold(d.said, statusReason(b)) {
		d.said = nil // Go's http.Error(w, http.StatusText(code)): only the status again
	}
	return d
}

// jsonKeys are the fields a JSON error answer puts its explanation in,
// most telling first: "message" (the Kubernetes API's Status, gRPC
// gateways, Fastify, NestJS, Spring Boot when it includes it), "detail"
// (RFC 9457 problem details: ASP.NET, FastAPI, Django REST), "reason"
// (Elasticsearch and OpenSearch: error.reason), "error_description"
// (OAuth), "error" (a string: Spring Boot's, when it is more than the
// status's reason phrase), "title" (problem details).
var jsonKeys = [...]string{`"message"`, `"detail"`, `"reason"`, `"error_description"`, `"error"`, `"title"`}

// jsonSays returns the string value of the first of jsonKeys that body
// (a JSON error answer, or its start) holds, skipping one that only
// repeats reason (the status line's phrase); nil if none.
func jsonSays(body, reason []byte) []byte {
	for _, k := range jsonKeys {
		for rest := body; ; {
			i := bytes.Index(rest, []byte(k))
			if i < 0 {
				break
			}
			rest = rest[i+len(k):]
			v := bytes.TrimLeft(rest, " \t\r\n")
			if len(v) == 0 || v[0] != ':' {
				continue // the word as a value, not a key
			}
			v = bytes.TrimLeft(v[1:], " \t\r\n")
			if len(v) == 0 || v[0] != '"' {
				continue // not a string: an object (Elasticsearch's "error") or a number
			}
			v = v[1:]
			end := len(v)
			for j := 0; j < len(v); j++ {
				if v[j] == '\\' {
					j++
					continue
				}
				if v[j] == '"' {
					end = j
					break
				}
			}
			if v = bytes.TrimSpace(v[:end]); len(v) > 0 && !bytes.EqualFold(v, reason) {
				return v
			}
		}
	}
	return nil
}

// jsonUnescape appends to dst the text of s, the inside of a JSON
// string, with its escapes decoded (\" \\ \/ \n \t, \uXXXX of ASCII; other
// \u escapes and control characters become '?'): the Kubernetes API's
// messages quote names ("failed calling webhook \"validate.example\"").
func jsonUnescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'n', 'r', 't':
			dst = append(dst, ' ')
		case 'u':
			r := rune(0)
			if i+4 < len(s) {
				for _, h := range s[i+1 : i+5] {
					r = r<<4 | rune(unhex(h))
				}
				i += 4
			} else {
				i = len(s) // cut inside the escape
			}
			if r >= 0x20 && r < 0x7f {
				dst = append(dst, byte(r))
			} else {
				dst = append(dst, '?')
			}
		default: // " \ / and anything else: the character itself
			dst = append(dst, s[i])
		}
	}
	return dst
}

// statusRest returns the status line of b after its version: "431
// Request Header Fields Too Large".
func statusRest(b []byte) []byte {
	if len(b) < 9 {
		return nil
	}
	b = b[9:]
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return b
}

// statusReason returns the reason phrase of the HTTP/1.x status line that
// starts b.
func statusReason(b []byte) []byte {
	line := b
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		line = b[:i]
	}
	if len(line) > 13 {
		return line[13:]
	}
	return nil
}

// htmlSays returns the first text of an HTML error page that says more
// than its status (code, the status line's three digits) or a server's
// name and version: HAProxy's "No server is available to handle this
// request.", "The server didn't respond in time."; nothing from nginx's
// pages, which only repeat their status.
func htmlSays(body, code []byte) []byte {
	for len(body) > 0 {
		if body[0] == '<' {
			i := bytes.IndexByte(body, '>')
			if i < 0 {
				return nil
			}
			body = body[i+1:]
			continue
		}
		i := bytes.IndexByte(body, '<')
		if i < 0 {
			i = len(body)
		}
		text := bytes.TrimSpace(body[:i])
		body = body[i:]
		if len(text) >= 10 && bytes.IndexByte(text, ' ') >= 0 && !bytes.Contains(text, code) {
			return text
		}
	}
	return nil
}

// cut returns b's first n bytes at most.
func cut(b []byte, n int) []byte { return b[:min(len(b), n)] }

// headerValue returns the value of header name (lower case) in the
// HTTP/1.x header that starts b, as far as b holds it, or nil.
func headerValue(b []byte, name string) []byte {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(b)
	}
	for line := range bytes.SplitSeq(b[:end], []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(k, []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// serverErrorEvent writes HTTP_SERVER_ERROR for a 5xx answer to the
// request method uri (empty if not seen); version is set for HTTP/2.
func (e *Engine) serverErrorEvent(c *flowtable.Conn, fs *flowState, method, uri []byte, code int, reason []byte, version string, ts int64, d errDetail) {
	reason = reason[:min(len(reason), 64)]
	b := e.problemEvent(c, fs, NoteHTTPServerError, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	if len(d.server) > 0 {
		b.B = append(b.B, " ("...)
		b.B = appendText(b.B, d.server)
		b.B = append(b.B, ')')
	}
	b.B = append(b.B, " answered "...)
	if d.ws {
		b.B = append(b.B, "the WebSocket upgrade "...)
	}
	b.B = appendRequestOf(b.B, c, method, uri)
	b.B = append(b.B, " with "...)
	b.B = appendStatus(b.B, code, reason)
	if version == "HTTP/2" {
		b.B = append(b.B, " over HTTP/2 (h2c)"...)
	}
	if d.ws {
		b.B = append(b.B, " instead of 101 Switching Protocols"...)
	}
	if d.waited > 0 {
		b.B = append(b.B, ", "...)
		b.B = appendDurationWords(b.B, d.waited)
		b.B = append(b.B, " after the request"...)
	}
	if len(d.retryAfter) > 0 {
		b.B = append(b.B, " (Retry-After: "...)
		b.B = appendText(b.B, d.retryAfter)
		b.B = append(b.B, ')')
	}
	if len(d.said) > 0 {
		b.B = append(b.B, `, saying \"`...) // quotes inside msg, a JSON string
		if d.saidJSON {
			var tmp [200]byte
			b.B = appendText(b.B, jsonUnescape(tmp[:0], d.said))
		} else {
			b.B = appendText(b.B, d.said)
		}
		b.B = append(b.B, `\"`...)
	}
	b.B = append(b.B, ": "...)
	if d.ws || d.proxy {
		b.B = append(b.B, d.hint...)
		b.B = appendSide(b.B, "server")
	} else if d.hint != "" {
		b.B = append(b.B, d.hint...)
		b.B = appendSide(b.B, "client") // the server says the client is wrong
	} else {
		b.B = append(b.B, serverErrorHint(code)...)
		b.B = appendSide(b.B, "server")
	}
	b.B = append(b.B, `,"http":{`...)
	b.B = appendMethodURI(b.B, method, uri)
	if version != "" {
		b.B = append(b.B, `,"version":"`...)
		b.B = append(b.B, version...)
		b.B = append(b.B, '"')
	}
	b.B = append(b.B, `,"status_code":`...)
	b.B = appendUint(b.B, uint64(code))
	b.B = append(b.B, `,"status_msg":`...)
	b.B = jsonw.Bytes(b.B, reason)
	if d.ws {
		b.B = append(b.B, `,"upgrade":"websocket"`...)
	}
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}
