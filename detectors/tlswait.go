package detectors

import (
	"time"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Requests inside TLS left without an answer. The request cannot be
// read, but its shape can: the client sends application data over an
// established connection and the server sends nothing back, not a byte,
// until the client gives up and closes. A request is the client's data
// from the first segment (more than a close_notify) after the server
// last spoke, or after the handshake; it is answered when the server
// sends anything after it began. Followed in the connection's
// request-cache slot, as plaintext requests are (no memory per
// connection).
//
// TLS 1.3 servers may send session tickets after the handshake, while
// the client's first request is on its way (OpenSSL's, and so nginx's,
// Envoy's, Node's and Python's, send two; Go's send theirs before the
// client's Finished, and TLS 1.2 puts them inside the handshake). A
// ticket is an encrypted record like an answer, but a server's tickets
// come as a run of records of one size (a ticket, its nonce and its
// lifetime fields have fixed lengths): a first request followed only by
// two same-sized records, within a second, and nothing else is taken as
// unanswered. A third record of that size is an answer (a ticket's size
// by chance), and a single ticket (Java's servers send one) cannot be
// told from a small answer: such a request counts as answered.
//
// Only HTTP clients are judged: ALPN offering http/1.1 or h2, or, for
// clients that offer none (Python's urllib, Node's https, Java's
// HttpURLConnection), port 443 or 8443. One-way protocols over TLS
// (syslog, MQTT publishes) send without expecting an answer. A client
// still waiting is not reported: inside TLS a long poll, held open by
// the server on purpose, cannot be told from a hang.

// tlsData notes client application data of c at ts over its established
// TLS connection; pre is the length of the one ticket-sized record the
// server sent after the handshake and before it, if any (ticketBefore).
func (r *reqCache) tlsData(c *flowtable.Conn, ts int64, pre uint16) {
	l := r.any(c)
	switch {
	case l != nil && !l.tls:
		return // the slot holds this connection's CONNECT request
	case l != nil && l.tls && l.silent(c.Size(1)):
		l.last = ts // more of the request in progress
		return
	}
	n, sfin := uint8(1), int64(0)
	if l != nil {
		n = max(l.n+1, l.n) // requests on the connection so far (saturating)
		sfin = l.sfin
	}
	l = &r.slot[uint32(c.Index())%reqSlots]
	*l = reqLine{idx: c.Index(), first: c.First, at: ts, last: ts, srv: c.Size(1), n: n, tls: true, sfin: sfin}
	if n == 1 && pre != 0 {
		l.tks, l.tk, l.tkn, l.tkpre = tkTickets, pre, 1, 1
	}
}

// ticketBefore returns, for the first request inside fs's TLS 1.3
// connection starting at ts, the length of the server's one record since
// the handshake if it may be the first of two session tickets (0 if not):
// a client quick enough sends its request between them (curl after
// OpenSSL's first ticket), and the second must not count as an answer.
func (e *Engine) ticketBefore(fs *flowState, ts int64) uint16 {
	t := e.tlsOf(fs)
	if t == nil || !t.tls13 || t.d[0].appRecs != 0 || t.d[1].appRecs != 1 || ts-t.d[1].lastEncTS > tkWindow {
		return 0
	}
	if n := t.d[1].lastEncLen; n >= tkMin && n <= tkMax {
		return uint16(n)
	}
	return 0
}

// Session tickets after a TLS 1.3 connection's first request (see above):
// records of tkMin to tkMax bytes, arriving within tkWindow of it.
const (
	tkMin    = 64
	tkMax    = 1024
	tkWindow = int64(time.Second)
)

// Ticket states (reqLine.tks).
const (
	tkNone    = iota // nothing from the server since the request
	tkTickets        // only a run of same-sized records, maybe tickets
	tkAnswer         // something else: an answer
)

// silent reports whether the server, now at size bytes, has sent nothing
// but session tickets since l's request inside TLS began.
func (l *reqLine) silent(size uint64) bool {
	size -= uint64(l.sal) // a close_notify is no answer
	return size == l.srv || (l.tks == tkTickets && l.tkn == 2 && size-l.srv == uint64(2-l.tkpre)*(uint64(l.tk)+5))
}

// freshRequest bounds, from a connection's first packet, when its first
// request inside TLS is sent for a server closing on it at once not to be
// the keep-alive race: the connection was never idle.
const freshRequest = 2 * int64(time.Second)

// fresh reports whether l is its connection's first request, sent as soon
// as the connection opened.
func (l *reqLine) fresh() bool { return l.n == 1 && l.at-l.first <= freshRequest }

// quickCloseHint explains a server closing a fresh connection over TLS as
// its first request comes, or before.
const quickCloseHint = "most often a TLS terminator or TCP proxy that could not reach its upstream (HAProxy in TCP mode, stunnel), a connection limit or an access rule; or the server's application failed"

// tlsSilent returns fs's request inside TLS if its server has sent
// nothing that answers it, for an HTTP client (any client: anyClient).
func (e *Engine) tlsSilent(c *flowtable.Conn, fs *flowState, anyClient bool) *reqLine {
	if fs.service != svcSSL || !e.tlsEstablished(fs) {
		return nil
	}
	if l := e.reqs.any(c); l != nil && l.tls && l.silent(c.Size(1)) && (anyClient || e.tlsHTTP(c, fs)) {
		return l
	}
	return nil
}

// serverData notes a server segment b of l's connection at ts, tls13
// telling the version: whether it is an alert, may be a session ticket
// following the connection's first request, or is an answer.
func (l *reqLine) serverData(b []byte, ts int64, tls13 bool) {
	if isAlert(b, tls13) && int(l.sal)+len(b) <= 1<<16-1 {
		l.sal += uint16(len(b))
		return
	}
	size, n := sameRecords(b)
	if !tls13 || l.n != 1 || n == 0 || int(l.tkn)+n > 2 || size < tkMin || size > tkMax || ts-l.at > tkWindow ||
		(l.tks == tkTickets && size != l.tk) {
		l.tks = tkAnswer
		return
	}
	l.tks, l.tk, l.tkn = tkTickets, size, l.tkn+uint8(n)
}

// isAlert reports whether segment b is one TLS alert record (in TLS 1.3
// an encrypted record of an alert's size).
func isAlert(b []byte, tls13 bool) bool {
	if len(b) < 5 || int(b[3])<<8|int(b[4])+5 != len(b) {
		return false
	}
	if tls13 {
		return b[0] == recAppData && alertSized(len(b)-5)
	}
	return b[0] == recAlert
}

// sameRecords returns the length of the application-data records b holds
// whole, and their count, if all have one length (0 records otherwise).
func sameRecords(b []byte) (size uint16, n int) {
	for len(b) > 0 {
		if len(b) < 5 || b[0] != recAppData {
			return 0, 0
		}
		k := uint16(b[3])<<8 | uint16(b[4])
		if int(k)+5 > len(b) || (n > 0 && k != size) {
			return 0, 0
		}
		size, n, b = k, n+1, b[5+int(k):]
	}
	return size, n
}

// tlsRequestData reports whether b, a client segment of fs's established
// TLS connection, carries application data rather than an alert (a
// close_notify): larger than any alert, or starting an application-data
// record that is not alert-sized (in TLS 1.3 alerts are encrypted too,
// and only their size tells them). A segment in the middle of a large
// record is larger than an alert.
func (e *Engine) tlsRequestData(fs *flowState, b []byte) bool {
	if len(b) > closeNotifyMax {
		return true
	}
	if len(b) < 6 || b[0] != recAppData {
		return false
	}
	return !e.tls13(fs) || !alertSized(int(b[3])<<8|int(b[4]))
}

// tls13 reports whether fs's TLS connection is TLS 1.3.
func (e *Engine) tls13(fs *flowState) bool {
	if t := e.tlsOf(fs); t != nil {
		return t.tls13
	}
	s := e.sumOf(fs)
	return s != nil && isTLS13(s.version)
}

// tlsBye notes a client alert (its close_notify, as it gives up) of c's
// established TLS connection at ts.
func (r *reqCache) tlsBye(c *flowtable.Conn, ts int64) {
	l := r.any(c)
	if l == nil || !l.tls {
		return
	}
	l.alert = ts
	if l.bye == 0 && l.silent(c.Size(1)) {
		l.bye = ts
	}
}

// closedAnswered reports whether c's TLS client, its last request
// answered by then, sent an alert (its close_notify) within byeGap
// before ts: it closed the connection on purpose, and a reset from it
// then only says server bytes were still unread (grpc-go's Close, with
// the server's last frames in flight). A last record sent right before
// the client's own close_notify is its goodbye (HTTP/2's GOAWAY), not a
// request waiting for an answer.
func (r *reqCache) closedAnswered(c *flowtable.Conn, ts int64) bool {
	l := r.any(c)
	// bye is set when the alert came with the request unanswered; what
	// the server sent after the alert (Go's net/http answers a
	// close_notify) does not count.
	return l != nil && l.tls && l.alert != 0 && ts-l.alert < byeGap &&
		(l.bye == 0 || l.alert-l.last < goodbyeGap)
}

// closedOnTrailer reports whether c's TLS client, resetting at ts, did so
// right after the server's last segment, a small one that followed the
// answer to its request: HTTP/2's END_STREAM or GOAWAY after the body
// (Go's server sends both after an answer with Connection: close), a
// close_notify. The client had its answer and closed; its kernel resets
// because those bytes came unread (curl over HTTP/2 does this).
func (r *reqCache) closedOnTrailer(c *flowtable.Conn, ts int64) bool {
	l := r.any(c)
	return l != nil && l.tls && l.tks == tkAnswer && l.sLast != 0 && ts-l.sLast < trailerGap &&
		l.sLen <= trailerMax && c.Size(1)-l.srv > uint64(l.sLen)
}

// trailerMax bounds a segment that is only frames with no data after an
// answer (an HTTP/2 frame header is 9 bytes; a record adds 22 with TLS
// 1.3's AEAD): an empty DATA frame ending the stream, a GOAWAY, a PING.
const trailerMax = 64

// trailerGap bounds the time from the server's last segment to the
// client's reset for the segment to be what was left unread as the
// client closed.
const trailerGap = int64(20 * time.Millisecond)

// goodbyeGap bounds the time from a client's last record to its
// close_notify for that record to be a goodbye sent as it closes.
const goodbyeGap = int64(10 * time.Millisecond)

// byeGap bounds the time from a client's close_notify to its FIN or
// reset for the close_notify to mark when it gave up: a server may answer
// the close_notify (with its own, or, as Go's net/http does when a
// handler returns, with an empty answer) before the client's FIN.
const byeGap = int64(time.Second)

// tlsEstablished reports whether fs's TLS handshake has completed.
func (e *Engine) tlsEstablished(fs *flowState) bool {
	if t := e.tlsOf(fs); t != nil {
		return t.est && !t.reported
	}
	return e.sumOf(fs) != nil
}

// tlsHTTP reports whether c's TLS client is an HTTP client (see above).
func (e *Engine) tlsHTTP(c *flowtable.Conn, fs *flowState) bool {
	if t := e.tlsOf(fs); t != nil && t.alpnHTTP {
		return true
	} else if s := e.sumOf(fs); s != nil && s.alpnHTTP() {
		return true
	}
	p := c.RespPort()
	return p == 443 || p == 8443
}

// tlsUnanswered returns, for c's client closing at ts, its last request
// inside TLS if it had waited at least minNoResponse without an answer,
// and how long.
func (e *Engine) tlsUnanswered(c *flowtable.Conn, fs *flowState, ts int64) (*reqLine, int64) {
	if fs.service != svcSSL || !e.tlsEstablished(fs) {
		return nil, 0
	}
	l := e.reqs.any(c)
	if l == nil || !l.tls || !e.tlsHTTP(c, fs) {
		return nil, 0
	}
	end := ts
	if l.bye != 0 && ts-l.bye <= byeGap {
		end = l.bye // it gave up with its close_notify
	} else if !l.silent(c.Size(1)) {
		return nil, 0
	}
	if end-l.last < minNoResponse {
		return nil, 0
	}
	return l, end - l.last
}

// tlsGaveUp reports, for c's client closing at ts, a request inside TLS
// left without an answer (TLS_NO_RESPONSE), and whether it was one.
func (e *Engine) tlsGaveUp(c *flowtable.Conn, fs *flowState, ts int64) bool {
	l, waited := e.tlsUnanswered(c, fs, ts)
	if l == nil || e.q(fs).events&(1<<NoteTLSNoResponse) != 0 {
		return false
	}
	e.tlsNoResponse(c, fs, l, waited, ts)
	return true
}

// tlsServerQuit reports, for c's server closing (FIN) at ts, a request
// inside TLS it left without an answer for at least minNoResponse
// (TLS_NO_RESPONSE), and whether it was one: the client gets an empty
// reply or an EOF. A close sooner after a request is the keep-alive race
// (the server closed an idle connection as the request came, and its
// reset of the request is reported), except for a fresh connection's
// first request: that connection was never idle, and the server failed
// it from the start (HAProxy in TCP mode with its backend down sends a
// close_notify as the request comes).
func (e *Engine) tlsServerQuit(c *flowtable.Conn, fs *flowState, ts int64) bool {
	if e.q(fs).events&(1<<NoteTLSNoResponse) != 0 {
		return false
	}
	// Any client's fresh request closed on at once is a failure; a slower
	// close is judged for HTTP clients only (see above).
	l := e.tlsSilent(c, fs, true)
	quick := l != nil && ts-l.last < minNoResponse
	if l == nil || l.bye != 0 || (quick && !l.fresh()) || (!quick && !e.tlsHTTP(c, fs)) {
		return false
	}
	b := e.problemEvent(c, fs, NoteTLSNoResponse, ts)
	if b == nil {
		return true
	}
	waited := ts - l.last
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " closed the connection "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " after the request of client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " over TLS without a byte of answer"...)
	b.B = e.appendNoAnswerWhy(b.B, l)
	if waited < minNoResponse {
		b.B = append(b.B, " (the client gets an empty reply or an EOF; so soon after the handshake, "...)
		b.B = append(b.B, quickCloseHint...)
		b.B = append(b.B, "); the request itself is encrypted"...)
	} else {
		b.B = append(b.B, " (the client gets an empty reply or an EOF: the server's application failed or gave up on the request, or a proxy's timeout closed it); the request itself is encrypted"...)
	}
	e.endTLSNoResponse(b, c, fs, waited)
	return true
}

// tlsNoResponse reports a client that closed its TLS connection after
// waiting, waited, for an answer to its request l.
func (e *Engine) tlsNoResponse(c *flowtable.Conn, fs *flowState, l *reqLine, waited, ts int64) {
	b := e.problemEvent(c, fs, NoteTLSNoResponse, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " gave up on its request to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " over TLS: it closed the connection after waiting "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " without a byte of answer"...)
	b.B = e.appendNoAnswerWhy(b.B, l)
	b.B = append(b.B, hangHint...)
	b.B = append(b.B, "; the request itself is encrypted"...)
	e.endTLSNoResponse(b, c, fs, waited)
}

// appendNoAnswerWhy adds what came from the server around request l.
func (e *Engine) appendNoAnswerWhy(dst []byte, l *reqLine) []byte {
	if l.n > 1 {
		return append(dst, ", though the server had answered its earlier requests on this connection"...)
	}
	switch {
	case l.tks == tkTickets && l.tkpre == 1 && l.tkn == 2:
		return append(dst, ": all the server sent after the request was its second session ticket, of the first one's size"...)
	case l.tks == tkTickets && l.tkpre == 0:
		return append(dst, ": all the server sent after the request were two records of one size, its session tickets"...)
	}
	return dst
}

// endTLSNoResponse ends a TLS_NO_RESPONSE event.
func (e *Engine) endTLSNoResponse(b *Buffer, c *flowtable.Conn, fs *flowState, waited int64) {
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"waited_ms":`...)
	b.B = jsonw.Millis(b.B, waited)
	if t := e.tlsOf(fs); t != nil {
		b.B = e.appendTLS(b.B, c, t, false)
	} else if s := e.sumOf(fs); s != nil {
		b.B = e.appendTLSSummary(b.B, s, false)
	}
	e.eventEndPcap(b, fs)
}
