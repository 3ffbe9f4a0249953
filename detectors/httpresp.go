package detectors

import (
	"bytes"
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// HTTP/1.x answers that did not arrive whole. A server (or a proxy whose
// upstream failed) that closes in the middle of a body leaves the client
// with a truncated answer: curl's "transfer closed with N bytes remaining
// to read", Go's "unexpected EOF", Python's IncompleteRead. One that stops
// sending in the middle leaves the client waiting for the rest: Go's
// "Client.Timeout exceeded while reading body", or a hang. Neither showed
// before: the connection ended with FINs and the request had an answer.
//
// The server's side of the stream is followed with a few words per
// connection in its request-cache slot (no memory per connection): where
// each answer's header ends (it must be in one segment) and where its
// body ends, by Content-Length, or for a chunked body by the stream
// ending in CRLF CRLF (the last chunk, with or without trailers). A
// header split over segments (a server's cookies and security headers
// easily pass one segment's 1,400 bytes) is read line by line as its
// segments come, keeping only the start of a line a segment cut. An
// answer that runs until the connection closes, an upgrade, a CONNECT
// tunnel or missing bytes end the following (nothing is reported then).

// Response states (respTrack.rs).
const (
	rsNone    = iota // not followed
	rsHead           // the next answer starts at next
	rsLength         // a body of known length ends at next
	rsChunked        // a chunked body: complete when the stream's last bytes are CRLF CRLF
	rsHeader         // in a header that did not end in its first segment
	rsOff            // not followed any more
)

// rsHeader's flags (respTrack.hf).
const (
	hfStatus  = 1 << iota // the status line has not ended
	hfLong                // the line in progress is longer than respTrack.line
	hfChunked             // Transfer-Encoding: chunked
)

// maxHeader bounds a header followed over segments: past it the stream is
// taken for something other than HTTP.
const maxHeader = 256 << 10

type respTrack struct {
	rs   uint8
	tail [4]byte // the last bytes of a chunked body so far
	code uint16
	next int64 // rsHead: where the next answer starts; rsLength: where its body ends
	body int64 // where the current answer's body starts
	seen int64 // how far the server's stream was read in order
	last int64 // when the server last sent new bytes

	// rsHeader: the header read so far.
	hf    uint8    // flags
	hl    uint8    // bytes of the line in progress held in line
	hsize uint32   // header bytes read
	hcl   int64    // its Content-Length (-1: none yet)
	line  [48]byte // the start of the line in progress (long enough for the fields that frame a body)
}

var crlfcrlf = [4]byte{'\r', '\n', '\r', '\n'}

// start follows c's server from its next byte, unless it is followed
// already.
func (r *respTrack) start(c *flowtable.Conn) {
	if r.rs == rsNone {
		at := int64(c.Size(1))
		*r = respTrack{rs: rsHead, next: at, seen: at}
	}
}

// of returns c's request-cache slot holding an HTTP request, or nil
// when another connection holds it or it follows requests inside TLS.
func (rc *reqCache) of(c *flowtable.Conn) *reqLine {
	if l := rc.any(c); l != nil && !l.tls {
		return l
	}
	return nil
}

// any returns c's request-cache slot, or nil when another connection
// holds it.
func (rc *reqCache) any(c *flowtable.Conn) *reqLine {
	l := &rc.slot[uint32(c.Index())%reqSlots]
	if l.idx != c.Index() || l.first != c.First || l.n == 0 {
		return nil
	}
	return l
}

// response reads a server segment of an HTTP/1.x connection.
func (e *Engine) response(c *flowtable.Conn, p *decode.Packet, ts int64) {
	l := e.reqs.of(c)
	if l == nil || l.resp.rs == rsNone || l.resp.rs == rsOff {
		return
	}
	r := &l.resp
	off := c.StreamOffset(1, p.Seq)
	if off < 0 {
		r.rs = rsOff
		return
	}
	b := p.Payload
	end := off + int64(len(b))
	if end <= r.seen {
		return // a retransmission
	}
	if off < r.seen {
		b, off = b[r.seen-off:], r.seen
	}
	if off > r.seen && r.rs != rsLength {
		r.rs = rsOff // bytes missing where a header or chunk is read
		return
	}
	r.seen, r.last = end, ts
	for len(b) > 0 {
		switch r.rs {
		case rsLength:
			if end < r.next {
				return
			}
			if off > r.next {
				r.rs = rsOff // the next answer's start is missing
				return
			}
			b, off, r.rs = b[r.next-off:], r.next, rsHead
		case rsChunked:
			for _, x := range b[max(0, len(b)-4):] {
				r.tail = [4]byte{r.tail[1], r.tail[2], r.tail[3], x}
			}
			if r.tail == crlfcrlf {
				r.rs, r.next = rsHead, end
			}
			return
		case rsHead:
			n := e.responseHead(r, l, b, off)
			if n == 0 {
				if r.rs == rsHeader {
					continue // the header goes on in the next segments
				}
				return
			}
			b, off = b[n:], off+int64(n)
		case rsHeader:
			n, done := r.headerRest(b)
			if !done {
				return
			}
			r.body = off + int64(n)
			if !r.framed(l, r.hcl, r.hf&hfChunked != 0) {
				return
			}
			b, off = b[n:], off+int64(n)
		default:
			return
		}
	}
}

// responseHead reads the header of an answer starting b (at off in the
// server's stream) and returns its length, or 0 when the answer is not
// followed.
func (e *Engine) responseHead(r *respTrack, l *reqLine, b []byte, off int64) int {
	code := statusLine(b)
	if off != r.next || code == 0 {
		r.rs = rsOff
		return 0
	}
	r.code = uint16(code)
	i := bytes.Index(b, crlfcrlf[:])
	if i < 0 {
		// The header goes on past this segment: read it line by line.
		r.rs, r.hf, r.hl, r.hsize, r.hcl = rsHeader, hfStatus, 0, 0, -1
		return 0
	}
	n := i + 4
	r.body = off + int64(n)
	if cl, chunked := bodyFraming(b[:i+2]); !r.framed(l, cl, chunked) {
		return 0
	}
	return n
}

// framed sets where the answer whose header ended at r.body ends, from its
// status, the request's method and the header's Content-Length (cl, -1
// for none) or chunked coding. It returns false when the answer is not
// followed.
func (r *respTrack) framed(l *reqLine, cl int64, chunked bool) bool {
	code := int(r.code)
	method, _, _ := splitRequestLine(l.line[:l.n])
	switch {
	case code == 101 || (code/100 == 2 && string(method) == "CONNECT"):
		r.rs = rsOff // the connection speaks something else now
	case code < 200 || code == 204 || code == 304 || string(method) == "HEAD":
		r.rs, r.next = rsHead, r.body
	case chunked:
		r.rs, r.tail = rsChunked, [4]byte{}
	case cl < 0:
		r.rs = rsOff // it ends when the connection does
	case cl == 0:
		r.rs, r.next = rsHead, r.body
	default:
		r.rs, r.next = rsLength, r.body+cl
	}
	return r.rs != rsOff
}

// headerRest reads b, more of a header that did not end in its first
// segment, and returns how many bytes of b it took and whether it ended
// in them. Whole lines are read where they lie; only a line cut by the
// segment's end is copied, its start, to be joined with the rest.
func (r *respTrack) headerRest(b []byte) (int, bool) {
	n := 0
	for n < len(b) {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 {
			r.hold(b[n:])
			n = len(b)
			break
		}
		line, long := b[n:n+i], false
		n += i + 1
		if r.hl > 0 || r.hf&hfLong != 0 {
			r.hold(line)
			line, long = r.line[:r.hl], r.hf&hfLong != 0
			r.hl, r.hf = 0, r.hf&^hfLong
		}
		if r.headerLine(line, long) {
			return n, true
		}
		if r.rs != rsHeader {
			return n, false
		}
	}
	if r.hsize += uint32(n); r.hsize > maxHeader {
		r.rs = rsOff
	}
	return n, false
}

// hold appends b to the line in progress, as far as it fits.
func (r *respTrack) hold(b []byte) {
	k := copy(r.line[r.hl:], b)
	r.hl += uint8(k)
	if k < len(b) {
		r.hf |= hfLong
	}
}

// headerLine reads one line of a header (without its LF; long: only its
// start) and reports whether it was the empty line that ends the header.
func (r *respTrack) headerLine(line []byte, long bool) bool {
	if r.hf&hfStatus != 0 {
		r.hf &^= hfStatus
		return false
	}
	if !long {
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			return true
		}
	}
	cl, chunked := lineFraming(line)
	switch {
	case long && (cl != -1 || chunked || hasFieldName(line, "transfer-encoding:")):
		r.rs = rsOff // a framing field too long to read
	case cl != -1:
		r.hcl = cl
	case chunked:
		r.hf |= hfChunked
	}
	return false
}

// bodyFraming reads how header block h says its body ends: its
// Content-Length (-1: none), or chunked (Transfer-Encoding, which wins).
// One pass over the lines; only those starting with c or t are compared.
func bodyFraming(h []byte) (cl int64, chunked bool) {
	cl = -1
	for len(h) > 0 {
		line := h
		if i := bytes.IndexByte(h, '\n'); i >= 0 {
			line, h = h[:i], h[i+1:]
		} else {
			h = nil
		}
		if l, c := lineFraming(line); l != -1 {
			cl = l
		} else if c {
			chunked = true
		}
	}
	return cl, chunked
}

// lineFraming reads one header line: its Content-Length (-1: not one) or
// whether it is a Transfer-Encoding with chunked.
func lineFraming(line []byte) (cl int64, chunked bool) {
	if len(line) < 16 || (line[0]|0x20 != 'c' && line[0]|0x20 != 't') {
		return -1, false
	}
	if v, ok := fieldValue(line, "content-length:"); ok {
		return parseLength(v), false
	}
	if v, ok := fieldValue(line, "transfer-encoding:"); ok && indexFold(v, []byte("chunked")) >= 0 {
		return -1, true
	}
	return -1, false
}

// hasFieldName reports whether header line's field is name (lower case,
// with the colon).
func hasFieldName(line []byte, name string) bool {
	_, ok := fieldValue(line, name)
	return ok
}

// fieldValue returns the value of header line if its field is name
// (lower case, with the colon).
func fieldValue(line []byte, name string) ([]byte, bool) {
	if len(line) < len(name) {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		if lowerByte(line[i]) != name[i] {
			return nil, false
		}
	}
	return line[len(name):], true
}

// parseLength parses a Content-Length value (-1 if it is not one).
func parseLength(v []byte) int64 {
	v = bytes.TrimLeft(v, " \t")
	var n int64
	k := 0
	for ; k < len(v) && k < 16 && v[k] >= '0' && v[k] <= '9'; k++ {
		n = n*10 + int64(v[k]-'0')
	}
	if k == 0 || k == 16 {
		return -1
	}
	return n
}

// bodyShort returns c's answer in progress whose body is not complete, or
// nil. Chunked bodies count only when the server's stream was read in
// order up to size (a final chunk captured out of order is not missing).
func (e *Engine) bodyShort(c *flowtable.Conn, size int64) *reqLine {
	l := e.reqs.of(c)
	if l == nil {
		return nil
	}
	switch r := &l.resp; {
	case r.rs == rsLength && size < r.next:
		return l
	case r.rs == rsChunked && r.tail != crlfcrlf && r.seen == size && size >= r.body:
		return l
	}
	return nil
}

// answeredUpload returns c's last request when the server answered it
// in full (within the second before ts, unless ts is 0), and the client
// had sent a body after the request's first segment: a reset then is
// most likely the kernel's, for a socket closed with the body unread,
// and a zero window the server's not reading a body it no longer needs.
func (e *Engine) answeredUpload(c *flowtable.Conn, fs *flowState, ts int64) *reqLine {
	if fs.service != svcHTTP {
		return nil
	}
	l := e.reqs.of(c)
	if l == nil || l.tls || l.last <= l.at {
		return nil
	}
	size := int64(c.Size(1))
	if r := &l.resp; r.rs != rsHead || r.next != size || size <= int64(l.srv) || r.code == 0 || (ts != 0 && ts-r.last > int64(time.Second)) {
		return nil
	}
	return l
}

// truncated reports a server that closed (FIN) its side of an HTTP/1.x
// connection in the middle of an answer's body.
func (e *Engine) truncated(c *flowtable.Conn, fs *flowState, ts int64) {
	l := e.bodyShort(c, int64(c.Size(1)))
	if l == nil || e.q(fs).events&(1<<NoteHTTPResponseTruncated) != 0 {
		return
	}
	b := e.problemEvent(c, fs, NoteHTTPResponseTruncated, ts)
	if b == nil {
		return
	}
	b.B = appendCutAnswer(b.B, c, l, " closed the connection in the middle of its ")
	b.B = append(b.B, ", so the client got a truncated answer (curl: 'transfer closed with bytes remaining to read', Go: 'unexpected EOF', Python: IncompleteRead): the server, or an upstream behind it, failed while answering"...)
	b.B = appendSide(b.B, "server")
	b.B = appendBodyHTTP(b.B, l, int64(c.Size(1)))
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// appendCutAnswer writes "server S:P" did "200 answer to GET /x from
// client C after N of its M body bytes (Content-Length)", for c's answer
// in progress l.
func appendCutAnswer(dst []byte, c *flowtable.Conn, l *reqLine, did string) []byte {
	dst = append(dst, "server "...)
	dst = appendAddrPort(dst, c.Resp(), c.RespPort())
	dst = append(dst, did...)
	return appendAnswer(dst, c, l)
}

// appendAnswer writes "200 answer to GET /x from client C after ...".
func appendAnswer(dst []byte, c *flowtable.Conn, l *reqLine) []byte {
	method, uri, _ := splitRequestLine(l.line[:l.n])
	dst = appendUint(dst, uint64(l.resp.code))
	dst = append(dst, " answer to "...)
	dst = appendRequest(dst, method, uri)
	dst = append(dst, " from client "...)
	dst = c.Orig().AppendTo(dst)
	return appendBodyProgress(dst, &l.resp, int64(c.Size(1))-l.resp.body)
}

// appendBodyProgress writes how far r's body came: "after 32768 of its
// 131072 body bytes (Content-Length)" or "after 4096 bytes of its chunked
// body, without the last chunk".
func appendBodyProgress(dst []byte, r *respTrack, got int64) []byte {
	dst = append(dst, " after "...)
	dst = appendUint(dst, uint64(max(got, 0)))
	if r.rs == rsLength {
		dst = append(dst, " of its "...)
		dst = appendUint(dst, uint64(r.next-r.body))
		return append(dst, " body bytes (Content-Length)"...)
	}
	return append(dst, " bytes of its chunked body, without the last chunk"...)
}

// appendBodyHTTP writes the "http" object of l's incomplete answer
// (left open), size being the server's bytes.
func appendBodyHTTP(dst []byte, l *reqLine, size int64) []byte {
	r := &l.resp
	method, uri, _ := splitRequestLine(l.line[:l.n])
	dst = append(dst, `,"http":{`...)
	dst = appendMethodURI(dst, method, uri)
	dst = append(dst, `,"status_code":`...)
	dst = appendUint(dst, uint64(r.code))
	dst = append(dst, `,"body_bytes":`...)
	dst = appendUint(dst, uint64(max(size-r.body, 0)))
	if r.rs == rsLength {
		dst = append(dst, `,"content_length":`...)
		dst = appendUint(dst, uint64(r.next-r.body))
	} else {
		dst = append(dst, `,"chunked":true`...)
	}
	return dst
}

// stalled reports, at ts, an answer of known length whose server stopped
// sending before its end, everything it sent acknowledged and the
// client's window open: the client gave up (how waitGaveUp: it closed)
// or is still waiting, for at least least.
func (e *Engine) stalled(c *flowtable.Conn, fs *flowState, ts, least int64, how int) {
	l := e.bodyShort(c, int64(c.Size(1)))
	if l == nil || l.resp.rs != rsLength || e.q(fs).events&(1<<NoteHTTPResponseStalled) != 0 {
		return
	}
	r := &l.resp
	waited := ts - r.last
	if waited < least || c.Unacked(1) != 0 || e.q(fs).zeroFrom[0] != 0 {
		return
	}
	if how != waitGaveUp && (c.E[0].DidClose || c.E[1].DidClose || closed(c)) {
		return
	}
	if how == waitSoFar {
		ts, waited = r.last+least, least // as of its deadline (stillWaiting)
	}
	b := e.problemEvent(c, fs, NoteHTTPResponseStalled, ts)
	if b == nil {
		return
	}
	b.B = appendCutAnswer(b.B, c, l, " stopped sending its ")
	b.B = append(b.B, ", though everything it sent was acknowledged and the client's window was open: "...)
	if how == waitGaveUp {
		b.B = append(b.B, "the client gave up and closed the connection after waiting "...)
		b.B = appendDurationWords(b.B, waited)
		b.B = append(b.B, " for the rest (the server, or an upstream behind it, stalled mid-answer; the client's timeout is about that long)"...)
	} else {
		b.B = append(b.B, "the client has waited "...)
		b.B = appendDurationWords(b.B, waited)
		b.B = append(b.B, " so far for the rest, the connection still open"...)
		if how == waitAtEnd {
			b.B = append(b.B, " when the capture ended"...)
		}
		b.B = append(b.B, " (the server, or an upstream behind it, stalled mid-answer; a client without a timeout waits for ever)"...)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendBodyHTTP(b.B, l, int64(c.Size(1)))
	b.B = append(b.B, `},"waited_ms":`...)
	b.B = jsonw.Millis(b.B, waited)
	if how != waitGaveUp {
		b.B = append(b.B, `,"so_far":true`...)
	}
	e.eventEndPcap(b, fs)
}
