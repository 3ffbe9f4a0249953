package detectors

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Responses over HTTP/2 with prior knowledge (h2c): gRPC and other HTTP/2
// services inside a cluster. Every header block of both directions is
// HPACK-decoded, in order, each direction with its own dynamic table
// (the encoder's entries outlive the block that adds them, so skipping
// one block would misread the rest). DATA is skipped by its length. The
// client's blocks name the calls (method and path, per stream); the
// server's report
//
//   - a 5xx :status (HTTP_SERVER_ERROR, as for HTTP/1.x), and
//   - a non-zero grpc-status in trailers, or in a trailers-only response
//     (GRPC_ERROR), with grpc-message;
//
// a call the client gave up on, at least 1 s after sending it, before any
// response headers came on its stream (HTTP_NO_RESPONSE): cancelled with
// RST_STREAM (a gRPC deadline), or the connection closed (curl -m); and
// HTTP/2 error frames (HTTP2_ERROR): a server's RST_STREAM with an error
// code (not NO_ERROR or CANCEL), either side's GOAWAY with one (gRPC's
// ENHANCE_YOUR_CALM "too_many_pings").
//
// The state (1 KiB, plus two tables and two block buffers sized by what
// the connection sends: 1 to 4 KiB for gRPC) exists only for h2c
// connections, from a per-worker free list. A gap in the capture, a block
// over h2cBlockMax or a table over hpackMaxTable stops the direction: its
// table would no longer be the encoder's.

// HTTP/2 frame types and flags read here besides those of h2.go.
const (
	h2PushPromise = 0x5
	h2RSTStream   = 0x3
	h2GoAway      = 0x7
	h2Data        = 0x0
	h2EndStream   = 0x1
	h2Cancel      = 0x8 // error code CANCEL
)

// h2cBlockMax bounds a gathered header block (HEADERS and CONTINUATION
// frames): the default SETTINGS_MAX_FRAME_SIZE.
const h2cBlockMax = 16 << 10

// h2cCalls is how many recent calls a connection remembers by stream.
const h2cCalls = 8

// h2cMaxEvents bounds the GRPC_ERROR and HTTP_NO_RESPONSE events of one
// connection.
const h2cMaxEvents = 8

// h2Dir reads one direction's frames.
type h2Dir struct {
	tab     hpackTable
	blk     []byte // header block being gathered
	cur     seqCursor
	got     uint64 // bytes read
	left    uint32 // payload bytes of the current frame still to come
	hdr     [9]byte
	hdrN    uint8
	typ     uint8
	flags   uint8
	sid     uint32
	frameAt int           // where the current frame's payload starts in blk
	collect bool          // the current frame's payload belongs to a header block
	ctl     [8 + 100]byte // RST_STREAM's error code; GOAWAY's last stream, code, debug data
	ctlN    uint8
	inBlock bool // a header block is open (no END_HEADERS yet)
	push    bool // the open block is a PUSH_PROMISE's
	endStr  bool // the open block's HEADERS ended its stream
	blkSid  uint32
	preface int // client: preface bytes still to skip
	dead    bool
}

// h2Call is a request seen on a stream.
type h2Call struct {
	sid      uint32
	grpc     bool
	answered bool  // response headers came (or the call was reported)
	gaveUp   bool  // reported as given up on (HTTP_NO_RESPONSE)
	at       int64 // when the request was sent
	timeout  int64 // gRPC: the client's deadline, 0 if none
	envoy    bool  // the deadline is Envoy's route timeout, not grpc-timeout
	n        uint8
	line     [110]byte // "METHOD PATH"
}

// h2Conn is an h2c connection's state.
type h2Conn struct {
	d     [2]h2Dir
	calls [h2cCalls]h2Call
	next  int
	evs   int
	// h1Answer: the server answered the connection preface in HTTP/1.x
	// (reported as HTTP_SERVER_ERROR); what the client then sends (its
	// GOAWAY) and the server's reset of it follow from that.
	h1Answer bool
}

// newH2Conn returns a state whose buffers grow with what the connection
// sends (header blocks are usually a few hundred bytes, gRPC's tables
// under 1 KiB); they are kept when the state is reused.
func newH2Conn() *h2Conn { return &h2Conn{} }

func (h *h2Conn) reset() {
	for i := range h.d {
		d := &h.d[i]
		*d = h2Dir{tab: d.tab, blk: d.blk[:0]}
		d.tab.reset(hpackDefaultMax)
	}
	h.d[0].preface = len(h2Preface)
	h.calls, h.next, h.evs, h.h1Answer = [h2cCalls]h2Call{}, 0, 0, false
}

// h2cSegment feeds a segment of an h2c connection to its reader.
func (e *Engine) h2cSegment(c *flowtable.Conn, fs *flowState, h *h2Conn, side int, p *decode.Packet, ts int64) {
	d := &h.d[side]
	if d.dead {
		return
	}
	b, gap := d.cur.take(p.Seq, p.Payload)
	if gap {
		d.dead = true // the frames and the table are lost
		return
	}
	d.got += uint64(len(b))
	for len(b) > 0 && !d.dead {
		if d.preface > 0 {
			n := min(len(b), d.preface)
			if string(b[:n]) != h2Preface[len(h2Preface)-d.preface:][:n] {
				d.dead = true
				return
			}
			b, d.preface = b[n:], d.preface-n
			continue
		}
		if d.hdrN < 9 {
			n := copy(d.hdr[d.hdrN:], b)
			d.hdrN += uint8(n)
			b = b[n:]
			if d.hdrN < 9 {
				return
			}
			d.frameStart()
			if d.left == 0 && !d.dead {
				e.h2cFrameEnd(c, fs, h, side, ts)
			}
			continue
		}
		n := min(len(b), int(d.left))
		if d.collect {
			d.blk = append(d.blk, b[:n]...)
		} else if d.typ == h2RSTStream || d.typ == h2GoAway {
			d.ctlN += uint8(copy(d.ctl[d.ctlN:], b[:n]))
		}
		b, d.left = b[n:], d.left-uint32(n)
		if d.left == 0 {
			e.h2cFrameEnd(c, fs, h, side, ts)
		}
	}
}

// frameStart reads the frame header in d.hdr.
func (d *h2Dir) frameStart() {
	d.left = uint32(d.hdr[0])<<16 | uint32(d.hdr[1])<<8 | uint32(d.hdr[2])
	d.typ, d.flags = d.hdr[3], d.hdr[4]
	d.sid = (uint32(d.hdr[5])<<24 | uint32(d.hdr[6])<<16 | uint32(d.hdr[7])<<8 | uint32(d.hdr[8])) & 0x7fffffff
	switch {
	case d.inBlock:
		if d.typ != h2Continuation || d.sid != d.blkSid {
			d.dead = true // nothing may interleave a header block
			return
		}
	case d.typ == h2Headers || d.typ == h2PushPromise:
		d.inBlock, d.blkSid, d.blk = true, d.sid, d.blk[:0]
		d.push = d.typ == h2PushPromise
		d.endStr = d.typ == h2Headers && d.flags&h2EndStream != 0
	case d.typ == h2Continuation:
		d.dead = true
		return
	}
	d.collect = d.inBlock
	d.frameAt = len(d.blk)
	d.ctlN = 0
	if d.collect && len(d.blk)+int(d.left) > h2cBlockMax {
		d.dead = true
	}
}

// h2cFrameEnd finishes the current frame: a complete header block is
// decoded and read.
func (e *Engine) h2cFrameEnd(c *flowtable.Conn, fs *flowState, h *h2Conn, side int, ts int64) {
	d := &h.d[side]
	d.hdrN = 0
	if !d.collect {
		switch {
		case d.typ == h2RSTStream && d.ctlN == 4:
			code := binary.BigEndian.Uint32(d.ctl[:4])
			if side == 0 && code == h2Cancel {
				if k := h.call(d.sid); k != nil && !k.answered {
					e.h2cGaveUp(c, fs, h, k, ts, gaveUpCancel)
				}
			} else if side == 1 && code != 0 && code != h2Cancel {
				e.h2Error(c, fs, h, side, "RST_STREAM", code, d.sid, nil, ts)
			} else if k := h.call(d.sid); side == 1 && k != nil && !k.answered {
				if code == h2Cancel {
					// gRPC servers enforce the client's deadline
					// (grpc-timeout) too, and may cancel first.
					e.h2cGaveUp(c, fs, h, k, ts, gaveUpServerCancel)
				}
				k.answered = true // the server ended the stream: no longer a wait
			}
		case side == 0 && d.typ == h2Data:
			if k := h.call(d.sid); k != nil && !k.answered {
				k.at = ts // a waited answer is timed from the request's last byte
			}
		case d.typ == h2GoAway && d.ctlN >= 8:
			if code := binary.BigEndian.Uint32(d.ctl[4:8]); code != 0 {
				last := binary.BigEndian.Uint32(d.ctl[:4]) & 0x7fffffff
				e.h2Error(c, fs, h, side, "GOAWAY", code, last, d.ctl[8:d.ctlN], ts)
			}
		}
		return
	}
	if d.typ != h2Continuation {
		// Strip the pad length, promised stream or priority, and padding.
		p := d.blk[d.frameAt:]
		pad := 0
		if d.flags&h2Padded != 0 {
			if len(p) < 1 {
				d.dead = true
				return
			}
			pad, p = int(p[0]), p[1:]
		}
		skip := 0
		if d.typ == h2PushPromise {
			skip = 4
		} else if d.flags&h2Priority != 0 {
			skip = 5
		}
		if len(p) < skip+pad {
			d.dead = true
			return
		}
		p = p[skip : len(p)-pad]
		d.blk = d.blk[:d.frameAt+copy(d.blk[d.frameAt:], p)]
	}
	if d.flags&h2EndHeaders == 0 {
		return
	}
	d.inBlock = false
	if e.h2c == nil {
		e.h2c = newH2Decoder(4 * h2cBlockMax)
	}
	dec := e.h2c
	if dec.decode(d.blk, &d.tab) != nil {
		d.dead = true
		return
	}
	if d.push {
		return // a promised request: only its table entries matter
	}
	if side == 0 {
		h.request(dec, d.blkSid, ts)
		if e.search != nil && e.q(fs).events&(1<<NoteHTTPHeaderMatch) == 0 && e.h2req != nil {
			// Every stream: clients multiplex calls on one connection
			// (the first block, searched by h2Segment too, matches
			// there first).
			req := dec.request(e.h2req[:0])
			e.searchHeaders(c, fs, req, ts)
		}
		return
	}
	e.h2cResponse(c, fs, h, dec, d.blkSid, d.endStr, ts)
}

// request remembers the call a client block opens.
func (h *h2Conn) request(dec *h2Decoder, sid uint32, ts int64) {
	method, ok := dec.field(":method")
	if !ok {
		return // trailers
	}
	path, _ := dec.field(":path")
	ct, _ := dec.field("content-type")
	k := h.add(sid, method, path, ts)
	k.grpc = len(ct) >= 16 && string(ct[:16]) == "application/grpc"
	k.timeout, k.envoy = 0, false
	if k.grpc {
		if v, ok := dec.field("grpc-timeout"); ok {
			k.timeout = grpcTimeout(v)
		} else if v, ok := dec.field("x-envoy-expected-rq-timeout-ms"); ok {
			// An Envoy in front sends its route timeout upstream in
			// this header, and cancels the stream when it fires.
			k.timeout, k.envoy = envoyTimeout(v), true
		}
	}
}

// add remembers a call on stream sid, sent at ts.
func (h *h2Conn) add(sid uint32, method, path []byte, ts int64) *h2Call {
	k := &h.calls[h.next]
	h.next = (h.next + 1) % h2cCalls
	*k = h2Call{sid: sid, at: ts}
	n := copy(k.line[:], method)
	if n < len(k.line) {
		k.line[n] = ' '
		n++
		n += copy(k.line[n:], path)
	}
	k.n = uint8(n)
	return k
}

// h2cUpgrade follows an HTTP/1.1 connection whose server answered 101
// Switching Protocols to "Upgrade: h2c" (RFC 7540 section 3.2; curl
// --http2 and Java's HttpClient ask for it on http:// URLs, Go's h2c
// handler, Jetty, Tomcat and Netty grant it) with the h2c reader: the
// upgrading request is stream 1, answered in HTTP/2 after the 101, and
// the client's connection preface comes next. p is the server segment
// that starts with the 101.
func (e *Engine) h2cUpgrade(c *flowtable.Conn, fs *flowState, p *decode.Packet, ts int64) {
	i := bytes.Index(p.Payload, crlfcrlf[:])
	if i < 0 || indexFold(p.Payload[:i+2], []byte("\nupgrade: h2c\r\n")) < 0 {
		return
	}
	h := e.httpOf(fs)
	if h == nil {
		h = e.newHTTP(fs)
	}
	if h.h2c != nil {
		return
	}
	h.h2, h.done = true, true // the first request was searched as HTTP/1.1
	h.h2c = e.getH2Conn()
	n := i + 4
	d := &h.h2c.d[1]
	// The server's frames start after the 101's header: what it sent
	// before counts as read.
	d.cur = seqCursor{init: true, next: p.Seq + uint32(n)}
	d.got = c.Size(1) - uint64(len(p.Payload)-n)
	if req, at, _ := e.reqs.get(c); req != nil {
		method, uri, _ := splitRequestLine(req)
		h.h2c.add(1, method, uri, at)
	}
	if n < len(p.Payload) {
		rest := *p
		rest.Seq, rest.Payload = p.Seq+uint32(n), p.Payload[n:]
		e.h2cSegment(c, fs, h.h2c, 1, &rest, ts)
	}
}

// call returns the request of stream sid, if remembered.
func (h *h2Conn) call(sid uint32) *h2Call {
	for i := range h.calls {
		if k := &h.calls[i]; k.sid == sid && k.n > 0 {
			return k
		}
	}
	return nil
}

// h2cResponse reads a server block: a response's headers, or trailers.
func (e *Engine) h2cResponse(c *flowtable.Conn, fs *flowState, h *h2Conn, dec *h2Decoder, sid uint32, endStream bool, ts int64) {
	var method, path []byte
	gaveUp := false
	var waited int64 // how long a plain (not gRPC) request waited for its first answer
	if k := h.call(sid); k != nil {
		method, path, _ = splitRequestLine(k.line[:k.n])
		if !k.answered && !k.grpc {
			waited = ts - k.at
		}
		k.answered = true
		gaveUp = k.gaveUp
	}
	if st, ok := dec.field(":status"); ok {
		code := statusCode(st)
		switch {
		case (code >= 500 && code <= 599) || code == 429 || code == 413 || code == 414 || code == 431:
		case e.slow > 0 && waited >= e.slow && code >= 200 && e.q(fs).events&(1<<NoteHTTPNoResponse|1<<NoteHTTPSlowResponse) == 0 && !isLongPoll(path):
			// Not for an event stream, whose headers may wait for its
			// first event. (A gRPC server stream sends its headers
			// lazily too: gRPC calls are not judged.)
			if ct, _ := dec.field("content-type"); !bytes.HasPrefix(ct, []byte("text/event-stream")) {
				e.slowEvent(c, fs, method, path, code, nil, true, waited, ts)
			}
		}
	}
	if st, ok := dec.field(":status"); ok && e.q(fs).events&(1<<NoteHTTPServerError) == 0 {
		if code := statusCode(st); (code >= 500 && code <= 599) || code == 429 || code == 413 || code == 414 || code == 431 {
			var d errDetail
			if v, ok := dec.field("server"); ok {
				d.server = cut(v, 40)
			}
			if v, ok := dec.field("retry-after"); ok && (code == 429 || code == 503) {
				d.retryAfter = cut(v, 32)
			}
			e.serverErrorEvent(c, fs, method, path, code, nil, "HTTP/2", ts, d)
		}
	}
	gs, ok := dec.field("grpc-status")
	if !ok || !endStream {
		return
	}
	code := statusCode(gs)
	if code <= 0 || h.evs >= h2cMaxEvents {
		return
	}
	if gaveUp && (code == 1 || code == 4) {
		// The server's own copy of the deadline fired as the client's
		// cancel crossed it on the wire: the HTTP_NO_RESPONSE already
		// told this call's story.
		return
	}
	h.evs++
	msg, _ := dec.field("grpc-message")
	e.grpcError(c, fs, path, code, msg, ts)
}

// missedServer reports whether some of the server's bytes were not read:
// a gap the reader saw, or bytes the client acknowledged that the capture
// never had (the sequence-space size counts those).
func (h *h2Conn) missedServer(c *flowtable.Conn) bool {
	return h.d[1].dead || c.Size(1) > h.d[1].got
}

// h2cClosed: the client closed an h2c connection; its calls still
// without an answer after minNoResponse were given up on.
func (e *Engine) h2cClosed(c *flowtable.Conn, fs *flowState, h *h2Conn, ts int64) {
	if h.missedServer(c) {
		return // the server's answers may be in what the capture missed
	}
	for i := range h.calls {
		if k := &h.calls[i]; k.n > 0 && !k.answered {
			e.h2cGaveUp(c, fs, h, k, ts, gaveUpClose)
		}
	}
}

// How a call without an answer ended.
const (
	gaveUpCancel       = iota // the client cancelled its stream
	gaveUpServerCancel        // the server cancelled it at the call's deadline
	gaveUpClose               // the client closed the connection
)

// h2cGaveUp reports call k, ended without response headers. A gRPC call
// is reported when it ended at its deadline (grpc-timeout), however short:
// the application saw DEADLINE_EXCEEDED. Without a deadline, or before it,
// the application ended the call itself, and a server-streaming call (a
// subscription, a watch) that had nothing to send yet looks the same on
// the wire as a unary call left waiting: not reported. Other requests
// count when they waited at least minNoResponse, as over HTTP/1.
func (e *Engine) h2cGaveUp(c *flowtable.Conn, fs *flowState, h *h2Conn, k *h2Call, ts int64, how int) {
	waited := ts - k.at
	if h.evs >= h2cMaxEvents || h.missedServer(c) {
		return
	}
	if k.grpc {
		if k.timeout == 0 || waited < k.timeout-k.timeout/10 {
			return
		}
	} else if _, uri, _ := splitRequestLine(k.line[:k.n]); waited < minNoResponse || isLongPoll(uri) {
		return
	}
	k.answered, k.gaveUp = true, true
	h.evs++
	b := e.problemEvent(c, fs, NoteHTTPNoResponse, ts)
	if b == nil {
		return
	}
	method, uri, _ := splitRequestLine(k.line[:k.n])
	what := "call "
	if !k.grpc {
		what = "request "
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " gave up on "...)
	if k.grpc {
		b.B = append(b.B, "gRPC "...)
	}
	b.B = append(b.B, what...)
	b.B = appendRequest(b.B, method, uri)
	b.B = append(b.B, " over h2c to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	if k.grpc {
		b.B = append(b.B, ": its deadline of "...)
		b.B = appendDurationWords(b.B, k.timeout)
		if k.envoy {
			b.B = append(b.B, " (Envoy's route timeout, x-envoy-expected-rq-timeout-ms) expired"...)
		} else {
			b.B = append(b.B, " (grpc-timeout) expired"...)
		}
		if how == gaveUpClose {
			b.B = append(b.B, " and"...)
		} else {
			b.B = append(b.B, ';')
		}
	} else {
		b.B = append(b.B, ':')
	}
	switch how {
	case gaveUpCancel:
		b.B = append(b.B, " it cancelled the stream (RST_STREAM CANCEL) after waiting "...)
	case gaveUpServerCancel:
		if k.grpc {
			b.B = append(b.B, " the server cancelled the stream at that deadline (RST_STREAM CANCEL: gRPC servers enforce it too) after "...)
		} else {
			b.B = append(b.B, " the server cancelled the stream (RST_STREAM CANCEL) after "...)
		}
	default:
		b.B = append(b.B, " it closed the connection after waiting "...)
	}
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " without response headers"...)
	if k.grpc {
		b.B = append(b.B, " (the application saw DEADLINE_EXCEEDED; the server, or something it waits on, is slow or hangs)"...)
	} else {
		b.B = append(b.B, hangHint...)
	}
	b.B = appendNoResponseFields(b.B, method, uri, "HTTP/2", waited)
	if k.grpc {
		b.B = append(b.B, `,"grpc":{"method":`...)
		b.B = jsonw.Bytes(b.B, uri)
		b.B = append(b.B, `,"timeout_ms":`...)
		b.B = jsonw.Millis(b.B, k.timeout)
		b.B = append(b.B, '}')
	}
	e.eventEndPcap(b, fs)
}

// h2ErrorCodes are HTTP/2's error codes (RFC 9113 §7) with what each
// usually means when a peer sends it.
var h2ErrorCodes = [...]struct{ name, hint string }{
	1:  {"PROTOCOL_ERROR", "it judged the other side's HTTP/2 malformed (a header it refuses, a bad frame; gRPC clients report \\\"stream terminated by RST_STREAM\\\" or UNAVAILABLE)"},
	2:  {"INTERNAL_ERROR", "it failed internally"},
	3:  {"FLOW_CONTROL_ERROR", "the other side broke HTTP/2 flow control"},
	4:  {"SETTINGS_TIMEOUT", "its SETTINGS were not acknowledged in time"},
	5:  {"STREAM_CLOSED", "a frame came on a stream already closed"},
	6:  {"FRAME_SIZE_ERROR", "a frame was larger than it accepts (a message or header over its limit)"},
	7:  {"REFUSED_STREAM", "it refused the stream before processing it (too many concurrent streams, or shutting down): safe to retry"},
	9:  {"COMPRESSION_ERROR", "it could not decode the other side's HPACK headers (a header list too large, or a broken encoder)"},
	10: {"CONNECT_ERROR", "a CONNECT tunnel failed"},
	11: {"ENHANCE_YOUR_CALM", "the other side sent too much too fast (gRPC: keepalive pings more frequent than the server's policy allows; the client sees UNAVAILABLE: raise the server's keepalive MinTime or lower the client's ping rate)"},
	12: {"INADEQUATE_SECURITY", "the TLS parameters were not acceptable"},
	13: {"HTTP_1_1_REQUIRED", "it wants HTTP/1.1 for this request"},
}

// h2Error reports an HTTP/2 error frame from side: RST_STREAM on stream
// id, or GOAWAY (id is the last stream it processed) with its debug data.
func (e *Engine) h2Error(c *flowtable.Conn, fs *flowState, h *h2Conn, side int, frame string, code, id uint32, debug []byte, ts int64) {
	if h.evs >= h2cMaxEvents || h.h1Answer {
		return
	}
	h.evs++
	b := e.problemEvent(c, fs, NoteHTTP2Error, ts)
	if b == nil {
		return
	}
	name, hint := "", "an error code outside RFC 9113"
	if int(code) < len(h2ErrorCodes) && h2ErrorCodes[code].name != "" {
		name, hint = h2ErrorCodes[code].name, h2ErrorCodes[code].hint
	}
	b.B = appendWho(b.B, c, side)
	if side == 1 {
		b.B = append(b.B, ':')
		b.B = appendUint(b.B, uint64(c.RespPort()))
	}
	var k *h2Call
	if frame == "RST_STREAM" {
		b.B = append(b.B, " reset HTTP/2 stream "...)
		b.B = appendUint(b.B, uint64(id))
		if k = h.call(id); k != nil {
			b.B = append(b.B, " ("...)
			b.B = appendText(b.B, k.line[:k.n])
			b.B = append(b.B, ')')
			k.answered = true
		}
		b.B = append(b.B, " of "...)
	} else {
		b.B = append(b.B, " closed its HTTP/2 connection with "...)
	}
	b.B = appendWho(b.B, c, 1-side)
	b.B = append(b.B, " with "...)
	if frame == "GOAWAY" {
		b.B = append(b.B, "GOAWAY "...)
	}
	if name != "" {
		b.B = append(b.B, name...)
	} else {
		b.B = append(b.B, "error "...)
		b.B = appendUint(b.B, uint64(code))
	}
	debug = debug[:min(len(debug), 100)]
	if len(debug) > 0 {
		b.B = append(b.B, ` \"`...)
		b.B = appendText(b.B, debug)
		b.B = append(b.B, `\"`...)
	}
	b.B = append(b.B, " over h2c: "...)
	who, other, _, _ := sideNames(c, side)
	for { // the hint, naming "the other side"
		i := strings.Index(hint, "the other side")
		if i < 0 {
			b.B = append(b.B, hint...)
			break
		}
		b.B = append(b.B, hint[:i]...)
		b.B = append(b.B, "the "...)
		b.B = append(b.B, other...)
		hint = hint[i+len("the other side"):]
	}
	b.B = appendSide(b.B, who)
	b.B = append(b.B, `,"http2":{"frame":"`...)
	b.B = append(b.B, frame...)
	b.B = append(b.B, `","error_code":`...)
	b.B = appendUint(b.B, uint64(code))
	if name != "" {
		b.B = append(b.B, `,"error_name":"`...)
		b.B = append(b.B, name...)
		b.B = append(b.B, '"')
	}
	if frame == "RST_STREAM" {
		b.B = append(b.B, `,"stream":`...)
	} else {
		b.B = append(b.B, `,"last_stream":`...)
	}
	b.B = appendUint(b.B, uint64(id))
	if k != nil {
		method, uri, _ := splitRequestLine(k.line[:k.n])
		b.B = append(b.B, ',')
		b.B = appendMethodURI(b.B, method, uri)
	}
	if len(debug) > 0 {
		b.B = append(b.B, `,"debug":`...)
		b.B = jsonw.Bytes(b.B, debug)
	}
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// statusCode parses a decimal status of up to 3 digits, or returns -1.
func statusCode(b []byte) int {
	n, ok := decimal(b, 3)
	if !ok {
		return -1
	}
	return int(n)
}

// decimal parses 1 to maxDigits (at most 18) decimal digits.
func decimal(b []byte, maxDigits int) (int64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// grpcCodes are the gRPC status codes' names, with what each usually
// means and which side it points at.
var grpcCodes = [...]struct{ name, hint, side string }{
	1:  {"CANCELLED", "the call was cancelled, usually by the client (its deadline, or it gave up)", "client"},
	2:  {"UNKNOWN", "the server failed with an error it did not classify (often an uncaught exception in the handler)", "server"},
	3:  {"INVALID_ARGUMENT", "the server rejected the request's arguments", "server"},
	4:  {"DEADLINE_EXCEEDED", "the call's deadline passed before the server answered (the server or something it waits on is slow)", "server"},
	5:  {"NOT_FOUND", "the server did not find what the request names", "server"},
	6:  {"ALREADY_EXISTS", "what the request would create already exists", "server"},
	7:  {"PERMISSION_DENIED", "the server refused the caller's permission", "server"},
	8:  {"RESOURCE_EXHAUSTED", "a quota or limit ran out (rate limit, message size, memory)", "server"},
	9:  {"FAILED_PRECONDITION", "the server's state does not allow the operation now", "server"},
	10: {"ABORTED", "the operation was aborted (a conflict, e.g. a transaction)", "server"},
	11: {"OUT_OF_RANGE", "the request went past a valid range", "server"},
	12: {"UNIMPLEMENTED", "the server does not implement this method (wrong service version, or the call went to the wrong server)", "server"},
	13: {"INTERNAL", "the server (or its gRPC library) failed internally", "server"},
	14: {"UNAVAILABLE", "the service is unavailable (shutting down, overloaded, or a proxy could not reach a backend); clients may retry", "server"},
	15: {"DATA_LOSS", "unrecoverable data loss or corruption", "server"},
	16: {"UNAUTHENTICATED", "the call carried no valid credentials", "server"},
}

// grpcError reports a failed gRPC call.
func (e *Engine) grpcError(c *flowtable.Conn, fs *flowState, path []byte, code int, msg []byte, ts int64) {
	b := e.problemEvent(c, fs, NoteGRPCError, ts)
	if b == nil {
		return
	}
	name, hint, side := "", "an error code outside the gRPC standard set", "server"
	if code < len(grpcCodes) {
		name, hint, side = grpcCodes[code].name, grpcCodes[code].hint, grpcCodes[code].side
	}
	msg = msg[:min(len(msg), 200)]
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " failed gRPC call "...)
	if len(path) > 0 {
		b.B = appendText(b.B, path)
	} else {
		b.B = append(b.B, "(method not seen)"...)
	}
	b.B = append(b.B, " of client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " with status "...)
	b.B = appendUint(b.B, uint64(code))
	if name != "" {
		b.B = append(b.B, ' ')
		b.B = append(b.B, name...)
	}
	if len(msg) > 0 {
		b.B = append(b.B, ` \"`...)
		b.B = appendPercentDecoded(b.B, msg)
		b.B = append(b.B, `\"`...)
	}
	b.B = append(b.B, " over h2c: "...)
	b.B = append(b.B, hint...)
	b.B = appendSide(b.B, side)
	b.B = append(b.B, `,"grpc":{"method":`...)
	if len(path) > 0 {
		b.B = jsonw.Bytes(b.B, path)
	} else {
		b.B = append(b.B, "null"...)
	}
	b.B = append(b.B, `,"status":`...)
	b.B = appendUint(b.B, uint64(code))
	if name != "" {
		b.B = append(b.B, `,"status_name":"`...)
		b.B = append(b.B, name...)
		b.B = append(b.B, '"')
	}
	b.B = append(b.B, `,"message":"`...)
	b.B = appendPercentDecoded(b.B, msg)
	b.B = append(b.B, `"}`...)
	e.eventEndPcap(b, fs)
}

// appendPercentDecoded writes a grpc-message (percent-encoded UTF-8,
// gRPC's HTTP/2 protocol document) decoded and escaped for a JSON string.
func appendPercentDecoded(dst, msg []byte) []byte {
	var buf [200]byte
	n := 0
	for i := 0; i < len(msg) && n < len(buf); i++ {
		ch := msg[i]
		if ch == '%' && i+2 < len(msg) && isHex(msg[i+1]) && isHex(msg[i+2]) {
			ch = unhex(msg[i+1])<<4 | unhex(msg[i+2])
			i += 2
		}
		buf[n] = ch
		n++
	}
	return appendText(dst, buf[:n])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// grpcTimeout parses a grpc-timeout value ("1500m": up to 8 digits and a
// unit, Hours Minutes Seconds milli micro nano) into nanoseconds; 0 if
// malformed.
func grpcTimeout(v []byte) int64 {
	if len(v) < 2 {
		return 0
	}
	n, ok := decimal(v[:len(v)-1], 8)
	if !ok {
		return 0
	}
	var unit int64
	switch v[len(v)-1] {
	case 'H':
		unit = int64(time.Hour)
	case 'M':
		unit = int64(time.Minute)
	case 'S':
		unit = int64(time.Second)
	case 'm':
		unit = int64(time.Millisecond)
	case 'u':
		unit = int64(time.Microsecond)
	case 'n':
		unit = 1
	default:
		return 0
	}
	if n > math.MaxInt64/unit {
		return math.MaxInt64 // 99999999H: no deadline in practice
	}
	return n * unit
}

// envoyTimeout parses x-envoy-expected-rq-timeout-ms (decimal
// milliseconds) into nanoseconds; 0 if malformed.
func envoyTimeout(v []byte) int64 {
	n, ok := decimal(v, 10)
	if !ok {
		return 0
	}
	return n * int64(time.Millisecond)
}
