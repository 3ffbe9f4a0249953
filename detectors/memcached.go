package detectors

import (
	"bytes"
	"encoding/binary"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Memcached, the cache in front of many web applications and of Grafana's
// Loki, Mimir and Tempo, fails quietly: most clients count a failed write
// as a miss and go on, recomputing the value every time. Its answers say
// why in the clear:
//
//   - text protocol: "SERVER_ERROR object too large for cache" (an item
//     over -I, 1 MB by default), "SERVER_ERROR out of memory storing
//     object" (-m full and no eviction: -M), "ERROR Too many open
//     connections" (-c reached; sent at accept, then the connection
//     closed), "CLIENT_ERROR ..." (a command the server could not read),
//     "ERROR" (a command it does not know);
//   - binary protocol (a 24-byte header, magic 0x81 in answers): the
//     status of an answer (value too large, out of memory, a SASL login
//     refused, unknown command, busy, temporary failure).
//
// The server's stream is walked line by line, a VALUE's (or meta VA's)
// data block skipped by its size, so data never passes for an error.
// Reported as DB_ERROR (db.system memcached), each kind once per
// connection; recognised on port 11211 by the client's first command, on
// any port by the connection-limit answer.

// Memcached's kinds of error (dbState.sent's bits).
const (
	mcTooLarge = iota
	mcNoMemory
	mcMaxConns
	mcClientError
	mcUnknown
	mcServerError
	mcAuth
	mcBusy
)

var mcHints = [...]string{
	mcTooLarge:    "the item is larger than the server's item size limit (-I, item_size_max: 1 MB by default): it is not stored, and clients that take the error for a miss compute it again on every request",
	mcNoMemory:    "the server's memory (-m) is full and it may not evict to make room (-M, or nothing old enough to evict in the item's size class): writes fail until items expire",
	mcMaxConns:    "the server's connection limit (-c, maxconns: 1024 by default) is reached: it answers each new connection with this error and closes it; clients that open a connection per request, or many pods' pools, exhaust it",
	mcClientError: "the server could not read the client's command: a key over 250 bytes or with spaces or control characters, a data block that does not match its announced size, a line too long",
	mcUnknown:     "the server does not know the command (meta commands need memcached 1.6; a client speaking another protocol)",
	mcServerError: "the server failed the command",
	mcAuth:        "the server refused the client's SASL login: a wrong user name or password, or a mechanism it does not offer",
	mcBusy:        "the server is busy or failing temporarily and asks the client to retry",
}

// mcClientStart reports whether b, a client's first segment to port, is
// a Memcached command: a text command, or a binary request (magic 0x80).
func mcClientStart(b []byte, port uint16) bool {
	if port != 11211 || len(b) < 4 {
		return false
	}
	if b[0] == 0x80 {
		return len(b) >= 24 && b[4] <= 20 && binary.BigEndian.Uint32(b[8:]) <= 1<<30
	}
	if bytes.IndexByte(b, '\n') < 0 {
		return false
	}
	w := b
	if i := bytes.IndexAny(b, " \r"); i > 0 {
		w = b[:i]
	}
	switch string(w) {
	case "get", "gets", "gat", "gats", "set", "add", "replace", "append", "prepend", "cas", "delete", "incr", "decr",
		"touch", "stats", "version", "flush_all", "verbosity", "mg", "ms", "md", "ma", "mn", "me", "quit":
		return true
	}
	return false
}

// mcRefusal reports whether b, a server's first bytes before its client
// sent any, is Memcached refusing a connection over its limit.
func mcRefusal(b []byte) bool {
	return bytes.HasPrefix(b, []byte("ERROR Too many open connections"))
}

// mcClient notes the size of the client's storage command that segment
// b starts (the error of a write names it), in the text or the binary
// protocol.
func (e *Engine) mcClient(d *dbState, b []byte) {
	if len(b) >= 24 && b[0] == 0x80 {
		d.zip = true                                                                                                                      // the binary protocol
		if op := b[1]; (op >= 0x01 && op <= 0x03) || (op >= 0x11 && op <= 0x13) || op == 0x0e || op == 0x0f || op == 0x19 || op == 0x1a { // set, add, replace, append, prepend and their quiet forms
			d.mcSize = binary.BigEndian.Uint32(b[8:]) - uint32(binary.BigEndian.Uint16(b[2:])) - uint32(b[4])
		}
		return
	}
	// set|add|replace|append|prepend KEY FLAGS EXPTIME BYTES; cas adds
	// its unique after them.
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	var f [6][]byte
	n := 0
	for rest := line; n < len(f); n++ {
		rest = bytes.TrimLeft(rest, " ")
		i := bytes.IndexAny(rest, " \r")
		if i < 0 {
			i = len(rest)
		}
		if i == 0 {
			break
		}
		f[n], rest = rest[:i], rest[i:]
	}
	switch string(f[0]) {
	case "set", "add", "replace", "append", "prepend", "cas":
		if n >= 5 {
			d.mcSize = uint32(min(atoiBytes(f[4]), 1<<31))
		}
	case "ms": // meta set: ms KEY DATALEN FLAGS*
		if n >= 3 {
			d.mcSize = uint32(min(atoiBytes(f[2]), 1<<31))
		}
	}
}

// atoiBytes reads a decimal number (digits only; -1 if none).
func atoiBytes(b []byte) int {
	if len(b) == 0 || len(b) > 10 {
		return -1
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return -1
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

// mcWalk walks the server's answers: lines, and the data blocks VALUE
// and VA lines announce (text); 24-byte headers and bodies (binary).
func (e *Engine) mcWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		if d.st == dbSkip {
			b, _ = d.pass(b)
			continue
		}
		if d.zip && (d.lnN > 0 || b[0] == 0x81) {
			// A binary answer's header, gathered in ln. (A server past
			// its connection limit answers a binary client in text.)
			var whole bool
			if b, whole = gather(d.ln[:24], &d.lnN, b); !whole {
				return
			}
			h := d.ln[:24]
			body := binary.BigEndian.Uint32(h[8:])
			if st := binary.BigEndian.Uint16(h[6:]); st != 0 {
				var text []byte
				if k := int(h[4]) + int(binary.BigEndian.Uint16(h[2:])); int(body) > k && len(b) >= int(body) {
					text = b[k:body] // the status's message
				}
				e.mcBinaryError(c, fs, d, st, text, ts)
			}
			if body > 0 {
				d.st, d.skip = dbSkip, body
			}
			continue
		}
		// A text line: its first 7 bytes in hdr, an error's first 64 in
		// ln, the data size a VALUE or VA line announces in num.
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		prev := d.hdrN
		d.hdrN += uint8(copy(d.hdr[d.hdrN:], part))
		if d.hdrN >= 5 && (string(d.hdr[:5]) == "SERVE" || string(d.hdr[:5]) == "CLIEN" || string(d.hdr[:5]) == "ERROR") {
			if d.lnN == 0 && prev > 0 {
				// The line began in an earlier segment: its start is
				// in hdr.
				d.lnN = uint8(copy(d.ln[:], d.hdr[:prev]))
			}
			d.lnN += uint8(copy(d.ln[d.lnN:], part))
		}
		if d.hdrN >= 2 && d.hdr[0] == 'V' && d.hdr[1] == 'A' {
			// VALUE KEY FLAGS BYTES [CAS], or VA BYTES FLAGS*.
			want := uint8(3)
			if d.hdrN >= 3 && d.hdr[2] == ' ' {
				want = 1
			}
			for _, ch := range part {
				switch {
				case ch == ' ':
					d.reqs++
				case d.reqs == want && ch >= '0' && ch <= '9' && d.num < 1<<30:
					d.num = d.num*10 + uint32(ch-'0')
				}
			}
		}
		if i < 0 {
			return // the line goes on in the next segment
		}
		b = b[i+1:]
		line := bytes.TrimRight(d.ln[:d.lnN], "\r")
		switch {
		case d.hdrN >= 2 && d.hdr[0] == 'V' && d.hdr[1] == 'A':
			d.st, d.skip = dbSkip, d.num+2
		case d.lnN > 0:
			e.mcTextError(c, fs, d, line, ts)
		}
		d.hdrN, d.lnN, d.reqs, d.num = 0, 0, 0, 0
	}
}

// mcTextError reports an error line of the text protocol.
func (e *Engine) mcTextError(c *flowtable.Conn, fs *flowState, d *dbState, line []byte, ts int64) {
	code, msg := line, []byte(nil)
	if i := bytes.IndexByte(line, ' '); i > 0 {
		code, msg = line[:i], line[i+1:]
	}
	k := mcUnknown
	switch string(code) {
	case "SERVER_ERROR":
		k = mcServerError
		switch {
		case bytes.Contains(msg, []byte("too large")):
			k = mcTooLarge
		case bytes.Contains(msg, []byte("out of memory")):
			k = mcNoMemory
		}
	case "CLIENT_ERROR":
		k = mcClientError
	case "ERROR":
		if bytes.Contains(msg, []byte("Too many open connections")) {
			k = mcMaxConns
		}
	default:
		return
	}
	e.mcEvent(c, fs, d, k, code, msg, ts)
}

// mcBinaryError reports a binary answer's error status.
func (e *Engine) mcBinaryError(c *flowtable.Conn, fs *flowState, d *dbState, st uint16, text []byte, ts int64) {
	k := -1
	switch st {
	case 0x0003: // value too large
		k = mcTooLarge
	case 0x0082: // out of memory
		k = mcNoMemory
	case 0x0020: // authentication error
		k = mcAuth
	case 0x0081: // unknown command
		k = mcUnknown
	case 0x0004, 0x0083, 0x0084: // invalid arguments, not supported, internal error
		k = mcServerError
		if st == 0x0004 {
			k = mcClientError
		}
	case 0x0085, 0x0086: // busy, temporary failure
		k = mcBusy
	}
	if k < 0 {
		return // not found, exists, not stored, non-numeric: the data's answers
	}
	var code [6]byte
	copy(code[:], "0x0000")
	const hex = "0123456789abcdef"
	for i := 0; i < 4; i++ {
		code[5-i] = hex[st>>(4*i)&0xf]
	}
	e.mcEvent(c, fs, d, k, code[:], text, ts)
}

// mcEvent writes a Memcached DB_ERROR of kind k: code is the error line's
// first word (or the binary status), msg the rest.
func (e *Engine) mcEvent(c *flowtable.Conn, fs *flowState, d *dbState, k int, code, msg []byte, ts int64) {
	if !d.first(k) {
		return
	}
	ev := e.problemEvent(c, fs, NoteDBError, ts)
	if ev == nil {
		return
	}
	size := d.mcSize
	ev.B = append(ev.B, "Memcached server "...)
	ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
	switch {
	case k == mcMaxConns:
		ev.B = append(ev.B, " refused the connection of client "...)
	case k == mcAuth:
		ev.B = append(ev.B, " refused the login of client "...)
	case (k == mcTooLarge || k == mcNoMemory) && size > 0:
		ev.B = append(ev.B, " failed a write of "...)
		ev.B = appendUint(ev.B, uint64(size))
		ev.B = append(ev.B, " bytes from client "...)
	default:
		ev.B = append(ev.B, " answered client "...)
	}
	ev.B = c.Orig().AppendTo(ev.B)
	bin := bytes.HasPrefix(code, []byte("0x")) // a binary answer's status
	ev.B = append(ev.B, " with "...)
	if bin {
		ev.B = append(ev.B, "status "...) // the binary protocol's
	}
	ev.B = appendText(ev.B, code)
	if len(msg) > 0 && bin {
		ev.B = append(ev.B, " \\\""...)
		ev.B = appendText(ev.B, cut(msg, 120))
		ev.B = append(ev.B, "\\\""...)
	} else if len(msg) > 0 {
		ev.B = append(ev.B, ' ')
		ev.B = appendText(ev.B, cut(msg, 120))
	}
	ev.B = append(ev.B, ": "...)
	ev.B = append(ev.B, mcHints[k]...)
	ev.B = appendSide(ev.B, "server")
	ev.B = append(ev.B, `,"db":{"system":"memcached","code":`...)
	ev.B = jsonw.Bytes(ev.B, code)
	if len(msg) > 0 {
		ev.B = append(ev.B, `,"message":`...)
		ev.B = jsonw.Bytes(ev.B, cut(msg, 200))
	}
	if (k == mcTooLarge || k == mcNoMemory) && size > 0 {
		ev.B = append(ev.B, `,"bytes":`...)
		ev.B = appendUint(ev.B, uint64(size))
	}
	ev.B = append(ev.B, '}')
	e.eventEndPcap(ev, fs)
}
