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
// TLS 1.3 servers send session tickets right after the handshake, while
// the client's first request is on its way, and a ticket cannot be told
// from a small answer: such a first request counts as answered, and
// only later requests on the connection (a pool's) or servers that send
// no tickets are judged. TLS 1.2 puts its tickets inside the handshake.
//
// Only HTTP clients are judged: ALPN offering http/1.1 or h2, or, for
// clients that offer none (Python's urllib, Node's https, Java's
// HttpURLConnection), port 443 or 8443. One-way protocols over TLS
// (syslog, MQTT publishes) send without expecting an answer. A client
// still waiting is not reported: inside TLS a long poll, held open by
// the server on purpose, cannot be told from a hang.

// tlsData notes client application data of c at ts over its established
// TLS connection.
func (r *reqCache) tlsData(c *flowtable.Conn, ts int64) {
	l := r.any(c)
	switch {
	case l != nil && !l.tls:
		return // the slot holds this connection's CONNECT request
	case l != nil && l.srv == c.Size(1):
		l.last = ts // more of the request in progress
		return
	}
	n := uint8(1)
	if l != nil {
		n = max(l.n+1, l.n) // requests on the connection so far (saturating)
	}
	l = &r.slot[uint32(c.Index())%reqSlots]
	*l = reqLine{idx: c.Index(), first: c.First, at: ts, last: ts, srv: c.Size(1), n: n, tls: true}
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
	tls13 := false
	if t := e.tlsOf(fs); t != nil {
		tls13 = t.tls13
	} else if s := e.sumOf(fs); s != nil {
		tls13 = s.version == 0x0304 || s.version>>8 == 0x7f
	}
	return !tls13 || !alertSized(int(b[3])<<8|int(b[4]))
}

// tlsBye notes a client alert (its close_notify, as it gives up) of c's
// established TLS connection at ts.
func (r *reqCache) tlsBye(c *flowtable.Conn, ts int64) {
	if l := r.any(c); l != nil && l.tls && l.bye == 0 && l.srv == c.Size(1) {
		l.bye = ts
	}
}

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

// tlsUnanswered returns, for c's client closing at ts, how long its
// last request inside TLS had waited without a byte of answer, and how
// many requests the connection had carried.
func (e *Engine) tlsUnanswered(c *flowtable.Conn, fs *flowState, ts int64) (waited int64, n int, ok bool) {
	if fs.service != svcSSL || !e.tlsEstablished(fs) {
		return 0, 0, false
	}
	l := e.reqs.any(c)
	if l == nil || !l.tls || !e.tlsHTTP(c, fs) {
		return 0, 0, false
	}
	end := ts
	if l.bye != 0 && ts-l.bye <= byeGap {
		end = l.bye // it gave up with its close_notify
	} else if c.Size(1) != l.srv {
		return 0, 0, false
	}
	if end-l.last < minNoResponse {
		return 0, 0, false
	}
	return end - l.last, int(l.n), true
}

// tlsGaveUp reports, for c's client closing at ts, a request inside TLS
// left without an answer (TLS_NO_RESPONSE), and whether it was one.
func (e *Engine) tlsGaveUp(c *flowtable.Conn, fs *flowState, ts int64) bool {
	waited, n, ok := e.tlsUnanswered(c, fs, ts)
	if !ok || e.q(fs).events&(1<<NoteTLSNoResponse) != 0 {
		return false
	}
	e.tlsNoResponse(c, fs, waited, n, ts)
	return true
}

// tlsNoResponse reports a client that closed its TLS connection after
// waiting, waited, for an answer to its n-th request.
func (e *Engine) tlsNoResponse(c *flowtable.Conn, fs *flowState, waited int64, n int, ts int64) {
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
	if n > 1 {
		b.B = append(b.B, ", though the server had answered its earlier requests on this connection"...)
	}
	b.B = append(b.B, hangHint...)
	b.B = append(b.B, "; the request itself is encrypted"...)
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
