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
// HttpURLConnection), a port whose number ends in 443 (443, 4443, 6443
// (kube-apiserver), 8443, 9443 (admission webhooks), 10443: the
// convention for HTTPS besides 443) or the kubelet's 10250. One-way
// protocols over TLS (syslog on 6514, MQTT publishes on 8883) send
// without expecting an answer. A client
// still waiting is not reported: inside TLS a long poll, held open by
// the server on purpose, cannot be told from a hang.

// tlsData notes client application data of c at ts over its established
// TLS connection; pre is the length of the one ticket-sized record the
// server sent after the handshake and before it, if any (ticketBefore);
// h2c and h2 are the connection's h2Cand, maybe tells a record that may
// be no request (h2Control).
func (r *reqCache) tlsData(c *flowtable.Conn, ts int64, pre uint16, h2c, h2, maybe bool) {
	l := r.any(c)
	switch {
	case l != nil && !l.tls:
		return // the slot holds this connection's CONNECT request
	case l != nil && l.tls && (l.silent(c.Size(1)) || l.prefaceCrossed(c.Size(1), ts)):
		l.last = ts // more of the request in progress
		l.maybe = l.maybe && maybe
		l.segs = max(l.segs+1, l.segs)
		return
	}
	n, sfin, sack, pads := uint8(1), int64(0), r.preSent(c), [4]bool{}
	if l != nil {
		n = max(l.n+1, l.n) // requests on the connection so far (saturating)
		sfin, h2, sack = l.sfin, h2 || l.h2, true
		pads = [4]bool{l.cpad, l.spad, l.cplain, l.splain}
	}
	l = &r.slot[uint32(c.Index())%reqSlots]
	*l = reqLine{idx: c.Index(), first: c.First, at: ts, last: ts, srv: c.Size(1), n: n, tls: true, sfin: sfin,
		h2c: h2c, h2: h2c && h2, sack: sack, maybe: maybe, segs: 1, cpad: pads[0], spad: pads[1], cplain: pads[2], splain: pads[3]}
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
// but session tickets since l's request inside TLS began (and, over
// HTTP/2, its preface and control frames).
func (l *reqLine) silent(size uint64) bool { return l.silentAs(size, l.h2) }

// prefaceCrossed reports whether the client's data at ts, on a connection
// that may carry HTTP/2, is the next after its preface, at once, with only the
// server's preface and session tickets since: its first request's
// HEADERS (curl sends them in a record of their own), not a request
// after an answer.
func (l *reqLine) prefaceCrossed(size uint64, ts int64) bool {
	if !l.h2c || l.n != 1 || l.segs != 1 || ts-l.at >= prefaceGap {
		return false
	}
	if l.tks == tkTickets {
		size -= uint64(l.tkn-l.tkpre) * (uint64(l.tk) + 5)
	}
	return l.silentAs(size, true)
}

// prefaceGap bounds the time from a client's HTTP/2 preface to the
// HEADERS of its first request.
const prefaceGap = int64(100 * time.Millisecond)

// silentAs is silent, with HTTP/2 inside (h2) or not.
func (l *reqLine) silentAs(size uint64, h2 bool) bool {
	if l.reset {
		return false // the server reset it: an answer of a kind
	}
	size -= uint64(l.sal) // a close_notify is no answer
	if l.h2c {
		size -= uint64(l.sctl)
	}
	if h2 {
		size -= uint64(l.spre)
	}
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
	if l := e.reqs.any(c); l != nil && l.tls && !l.maybe && l.silent(c.Size(1)) && (anyClient || e.tlsHTTP(c, fs)) {
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
	if l.h2c {
		k := h2Records(b, tls13, l.spad)
		if k&tlsH2Sig != 0 {
			l.h2, l.spad, l.splain = true, l.spad || (k&tlsH2Pad != 0 && !l.splain), l.splain || k&tlsH2Pad == 0
		}
		switch {
		case k&tlsH2Ctl != 0 && int(l.sctl)+len(b) <= 1<<16-1:
			l.sctl += uint16(len(b))
			l.sack = true // a server sends its SETTINGS first
			return
		case k&tlsH2Small != 0 && !l.sack && l.n == 1:
			l.spre, l.sack = uint16(len(b)), true
			return
		}
		// Session tickets and control frames in one segment (Node's
		// server sends its two tickets with its SETTINGS).
		if ctl, size, n := h2Rest(b, tls13, l.spad); ctl > 0 && n > 0 && int(l.sctl)+ctl <= 1<<16-1 {
			l.sctl += uint16(ctl)
			l.sack = true
			l.tickets(size, n, ts, tls13)
			return
		}
	}
	size, n := sameRecords(b)
	l.tickets(size, n, ts, tls13)
}

// tickets notes n records of size bytes from the server at ts, which may
// be session tickets following the connection's first request.
func (l *reqLine) tickets(size uint16, n int, ts int64, tls13 bool) {
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
const trailerGap = int64(250 * time.Millisecond)

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
	return httpsPort(c.RespPort())
}

// httpsPort reports whether port p is, by convention, HTTPS (see above).
func httpsPort(p uint16) bool { return p%1000 == 443 || p == 10250 }

// tlsUnanswered returns, for c's client closing at ts, its last request
// inside TLS if it had waited at least minNoResponse without an answer,
// and how long.
func (e *Engine) tlsUnanswered(c *flowtable.Conn, fs *flowState, ts int64) (*reqLine, int64) {
	if fs.service != svcSSL || !e.tlsEstablished(fs) {
		return nil, 0
	}
	l := e.reqs.any(c)
	if l == nil || !l.tls || l.maybe || !e.tlsHTTP(c, fs) {
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
	e.tlsNoResponse(c, fs, l, waited, ts, false)
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
// waiting, waited, for an answer to its request l; or, over HTTP/2
// (cancelled), that cancelled the request and kept the connection.
func (e *Engine) tlsNoResponse(c *flowtable.Conn, fs *flowState, l *reqLine, waited, ts int64, cancelled bool) {
	if l.srst != 0 {
		e.serverResetEvent(c, fs, l)
		return
	}
	b := e.problemEvent(c, fs, NoteTLSNoResponse, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " gave up on its request to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	switch {
	case cancelled:
		b.B = append(b.B, " over HTTP/2 inside TLS: after waiting "...)
	case l.h2:
		b.B = append(b.B, " over HTTP/2 inside TLS: it closed the connection after waiting "...)
	default:
		b.B = append(b.B, " over TLS: it closed the connection after waiting "...)
	}
	b.B = appendDurationWords(b.B, waited)
	if cancelled {
		b.B = append(b.B, " without an answer it cancelled the request (an HTTP/2 RST_STREAM, told by its size) and kept the connection"...)
	} else {
		b.B = append(b.B, " without a byte of answer"...)
	}
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
	const frames = "HTTP/2 frames that answer nothing (its SETTINGS, acknowledgements, WINDOW_UPDATEs, PINGs)"
	switch {
	case l.h2 && l.tks == tkTickets:
		return append(dst, ": all the server sent after the request were its session tickets and "+frames...)
	case l.h2 && l.sctl+l.spre > 0:
		return append(dst, ": all the server sent after the request were "+frames...)
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

// HTTP/2 inside TLS. A client that offered h2 and HTTP/1.1 in ALPN (a
// browser, curl, Go's, Java's or Node's HTTP client) may be speaking
// HTTP/2, and then both sides send frames that answer nothing: the
// server's preface (its SETTINGS, which may cross the client's first
// request), SETTINGS acknowledgements, WINDOW_UPDATEs, PINGs. Read as
// answers, they hid a request left unanswered; read as requests, the
// client's made an idle connection's close look like giving up on one.
// They are told by their records' sizes: an empty frame (a SETTINGS
// acknowledgement) is 9 bytes, a WINDOW_UPDATE or RST_STREAM 13, a PING
// 17, and TLS adds 17 (TLS 1.3; 33 from Java, which pads every record
// with 16 bytes) or 16 to 24 (TLS 1.2's AEAD ciphers, the only ones
// HTTP/2 allows). A request's or an answer's HEADERS are larger, except
// a request repeated on a connection whose header table holds all of its
// fields: such a request is not followed.
//
// Whether HTTP/2 is inside is known from a TLS 1.2 ServerHello's ALPN;
// in TLS 1.3 from a record of an empty frame's size (no HTTP/1.x message
// is 9 bytes). A client that gives up on a request over HTTP/2 cancels
// it (RST_STREAM; Go's client adds a PING) and keeps the connection; it
// is reported then, once the request waited at least minNoResponse with
// nothing but control frames from the server.

// h2Records' verdicts on a segment.
const (
	tlsH2Ctl    = 1 << iota // only records of control frames
	tlsH2Sig                // a record of an empty frame's size (TLS 1.3)
	tlsH2Pad                // that record padded with 16 bytes, as Java pads (TLS 1.3)
	tlsH2Cancel             // a record of RST_STREAM's (or WINDOW_UPDATE's) size
	tlsH2Pair               // a record of Go's RST_STREAM and PING in one
	tlsH2Small              // only records the size of a server's preface
)

// h2 frame payloads (without TLS): the largest record of control frames
// (a SETTINGS acknowledgement with two WINDOW_UPDATEs, 35, is not
// counted), RST_STREAM with Go's PING, and the largest server preface
// (SETTINGS with up to 8 parameters, a WINDOW_UPDATE, room to spare).
const (
	h2CtlMax = 26
	h2Pair30 = 13 + 17
	h2PreMax = 9 + 6*8 + 13 + 12
)

// h2Records classifies segment b, whole application-data records of an
// established TLS connection (0 for anything else), by the payload sizes
// its records may carry; pad tells a sender known to pad its TLS 1.3
// records with 16 bytes.
func h2Records(b []byte, tls13, pad bool) (k uint8) {
	k = tlsH2Ctl | tlsH2Small
	for len(b) > 0 {
		if len(b) < 5 || b[0] != recAppData {
			return 0
		}
		l := int(b[3])<<8 | int(b[4])
		if l+5 > len(b) {
			return 0
		}
		b = b[5+l:]
		lo, hi := l-24, l-16 // TLS 1.2: GCM's or CCM's 24 bytes, ChaCha20's 16
		if tls13 {
			lo = l - 17
			if pad {
				lo -= 16
			}
			hi = lo
			if lo == 9+16 && !pad {
				k |= tlsH2Sig | tlsH2Pad
				continue
			}
		}
		switch {
		case tls13 && lo == 9:
			k |= tlsH2Sig
		case lo == 13 || hi == 13:
			k |= tlsH2Cancel
		case lo == h2Pair30 || hi == h2Pair30:
			k |= tlsH2Pair
			continue
		}
		if lo > h2CtlMax {
			k &^= tlsH2Ctl
		}
		if lo > h2PreMax {
			k &^= tlsH2Small
		}
	}
	if k&tlsH2Ctl == 0 {
		k &^= tlsH2Cancel | tlsH2Pair
	}
	return k
}

// javaGoaway reports whether client segment b, from a client known to
// pad its TLS 1.3 records as Java does, is one record of the GOAWAY
// Java's HttpClient sends when it retires a connection (debug data
// "Requested by user"): its goodbye, not a request, though larger than
// any control frame. It may keep the connection open long after.
func javaGoaway(b []byte) bool {
	return len(b) == 5+h2JavaGoaway+17+16 && b[0] == recAppData && int(b[3])<<8|int(b[4]) == h2JavaGoaway+17+16
}

// h2JavaGoaway is the size of Java's GOAWAY frame: the frame header, the
// last stream and error code, and "Requested by user".
const h2JavaGoaway = 9 + 8 + 17

// h2Rest splits segment b, whole application-data records, into the
// bytes of its records of control frames' sizes (ctl) and the others,
// which must be of one size (n of size bytes; n 0 if there are none, -1
// if they differ or b is not whole records).
func h2Rest(b []byte, tls13, pad bool) (ctl int, size uint16, n int) {
	for len(b) > 0 {
		if len(b) < 5 || b[0] != recAppData {
			return 0, 0, -1
		}
		l := int(b[3])<<8 | int(b[4])
		if l+5 > len(b) {
			return 0, 0, -1
		}
		if h2Records(b[:5+l], tls13, pad)&tlsH2Ctl != 0 {
			ctl += 5 + l
		} else if n == 0 || uint16(l) == size {
			size, n = uint16(l), n+1
		} else {
			return 0, 0, -1
		}
		b = b[5+l:]
	}
	return ctl, size, n
}

// preSent reports whether c's server sent its HTTP/2 preface before the
// client's first request (notePreface).
func (r *reqCache) preSent(c *flowtable.Conn) bool {
	m := &r.pre[uint32(c.Index())%reqSlots]
	return m.idx == c.Index() && m.first == c.First
}

// notePreface notes server segment b of c's established TLS connection,
// which may carry HTTP/2, before the client's first request: records of
// a preface's size are its preface (session tickets are larger).
func (r *reqCache) notePreface(c *flowtable.Conn, b []byte, tls13 bool) {
	if h2Records(b, tls13, false)&tlsH2Small != 0 {
		r.pre[uint32(c.Index())%reqSlots] = preMark{idx: c.Index(), first: c.First}
	}
}

// h2Of returns fs's h2Cand.
func (e *Engine) h2Of(fs *flowState) (cand, sure bool) {
	if t := e.tlsOf(fs); t != nil {
		return t.h2Cand()
	}
	if s := e.sumOf(fs); s != nil {
		return s.h2Cand()
	}
	return false, false
}

// What h2Control made of a client segment.
const (
	tlsH2Data  = iota // data: a request or more of one
	tlsH2Frame        // control frames, no request
	tlsH2Maybe        // Go's RST_STREAM and PING, or a request's HEADERS of that size
)

// h2Control notes client segment b at ts of c's established TLS
// connection if it holds only HTTP/2 control frames, and reports a
// request the client cancels after waiting for an answer.
//
// Go's client sends a PING with each RST_STREAM, in a record the size of
// a short HEADERS frame (a request repeated on the connection, its
// fields all in the header table). After an answer it is taken as a
// request that may be one (reqLine.maybe): reported only if the client
// cancels it in turn.
func (e *Engine) h2Control(c *flowtable.Conn, fs *flowState, b []byte, ts int64) int {
	l := e.reqs.any(c)
	if l == nil || !l.tls || !l.h2c {
		return tlsH2Data // the client's first record, its preface, starts a request
	}
	k := h2Records(b, e.tls13(fs), l.cpad)
	if k&tlsH2Ctl == 0 && l.cpad && javaGoaway(b) {
		return tlsH2Frame
	}
	if k&tlsH2Ctl == 0 {
		if l.srst != 0 && l.silent(c.Size(1)) {
			e.serverResetEvent(c, fs, l) // the next request: the reset stood
		}
		return tlsH2Data
	}
	if k&tlsH2Sig != 0 {
		l.h2, l.cpad, l.cplain = true, l.cpad || (k&tlsH2Pad != 0 && !l.cplain), l.cplain || k&tlsH2Pad == 0
	}
	if k&(tlsH2Cancel|tlsH2Pair) == 0 || !l.h2 {
		return tlsH2Frame
	}
	if !l.silent(c.Size(1)) {
		if k&tlsH2Pair != 0 {
			return tlsH2Maybe
		}
		return tlsH2Frame // a WINDOW_UPDATE, or a stream cancelled after its answer began
	}
	if ts-l.last < minNoResponse || e.q(fs).events&(1<<NoteTLSNoResponse) != 0 || !e.tlsHTTP(c, fs) {
		return tlsH2Frame
	}
	l.maybe = false
	e.tlsNoResponse(c, fs, l, ts-l.last, ts, true)
	return tlsH2Frame
}

// h2ServerReset notes, for server segment b at ts of c's established
// TLS connection, what may be HTTP/2's RST_STREAM ending l's request,
// which had waited at least minNoResponse without an answer: the
// server's application failed (Go's net/http aborts a handler's stream
// so) or gave up. A WINDOW_UPDATE has the same size, and a server whose
// handler reads an upload late sends one after such a silence, then its
// answer; so the reset is reported only if nothing followed it from the
// server when the client closes or sends its next request
// (serverResetEvent).
func (e *Engine) h2ServerReset(c *flowtable.Conn, fs *flowState, l *reqLine, b []byte, ts int64) {
	if !l.h2 || l.maybe || l.srst != 0 || ts-l.last < minNoResponse || e.q(fs).events&(1<<NoteTLSNoResponse) != 0 ||
		len(b) < 5 || int(b[3])<<8|int(b[4])+5 != len(b) || h2Records(b, e.tls13(fs), l.spad)&tlsH2Cancel == 0 ||
		!l.silent(c.Size(1)-uint64(len(b))) || !e.tlsHTTP(c, fs) {
		return
	}
	l.srst = ts
}

// serverResetEvent reports the server's reset of l's request
// (h2ServerReset), nothing having come from the server since but
// control frames.
func (e *Engine) serverResetEvent(c *flowtable.Conn, fs *flowState, l *reqLine) {
	waited, at := l.srst-l.last, l.srst
	l.srst, l.reset = 0, true
	if e.q(fs).events&(1<<NoteTLSNoResponse) != 0 {
		return
	}
	if ev := e.problemEvent(c, fs, NoteTLSNoResponse, at); ev != nil {
		ev.B = append(ev.B, "server "...)
		ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
		ev.B = append(ev.B, " reset the request of client "...)
		ev.B = c.Orig().AppendTo(ev.B)
		ev.B = append(ev.B, " over HTTP/2 inside TLS "...)
		ev.B = appendDurationWords(ev.B, waited)
		ev.B = append(ev.B, " after it, without an answer (an HTTP/2 RST_STREAM, told by its size): the client gets a stream error (curl: 'HTTP/2 stream was not closed cleanly'); the server's application failed or gave up on the request (Go's net/http resets a handler's stream when it panics or aborts)"...)
		ev.B = e.appendNoAnswerWhy(ev.B, l)
		ev.B = append(ev.B, "; the request itself is encrypted"...)
		e.endTLSNoResponse(ev, c, fs, waited)
	}
}
