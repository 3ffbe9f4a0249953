package detectors

import (
	"bytes"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// NATS, the messaging system many Kubernetes platforms run, says in the
// clear why it refused or dropped a client: its protocol is text lines,
// and an error is a "-ERR '...'" line. The server speaks first (INFO
// {...}); messages it delivers (MSG, HMSG) end their line with the
// payload's size, and the payload follows: the walk skips it by that
// size, so a payload that holds "-ERR" is never read as an error.

// natsInfo reports whether b is a NATS server's first bytes.
func natsInfo(b []byte) bool {
	return len(b) >= 6 && string(b[:6]) == "INFO {"
}

// natsClient reads the user from the client's CONNECT (JSON; never its
// password or token).
func (e *Engine) natsClient(d *dbState, b []byte) {
	if d.user != 0 || len(b) < 9 || string(b[:8]) != "CONNECT " {
		return
	}
	if i := bytes.Index(b, natsUserKey); i >= 0 {
		u := b[i+len(natsUserKey):]
		if j := bytes.IndexByte(u, '"'); j >= 0 && j <= 64 {
			d.user = e.dbName(u[:j])
		}
	}
}

var natsUserKey = []byte(`"user":"`)

// natsWalk walks the server's lines. d.hdr[1:5] holds the current line's
// first d.reqs bytes (up to 4: its operation), d.num the last number read
// on it (a message's size ends MSG, HMSG, RMSG and LMSG lines), d.hdrN is
// 1 when the next digit starts a number.
func (e *Engine) natsWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		switch d.st {
		case dbSkip:
			b, _ = d.pass(b)
		case dbFrame:
			d.hdr[0], d.num, d.hdrN, d.reqs = b[0], 0, 1, 0
			if b[0] == '-' {
				d.st, d.lnN = dbErrLine, 0
				b = b[1:]
			} else {
				d.st = dbLine
			}
		case dbErrLine:
			line, rest, ok := d.lineEnd(b)
			if !ok {
				return
			}
			e.natsError(c, fs, d, line, ts)
			b, d.st = rest, dbFrame
		case dbLine:
			i := bytes.IndexByte(b, '\n')
			line := b
			if i >= 0 {
				line = b[:i]
			}
			// The line's first 4 bytes (its operation) in hdr[1:5], and
			// its last number: a message's size ends its line.
			for _, x := range line {
				if d.reqs < 4 {
					d.hdr[1+d.reqs] = x
					d.reqs++
				}
				switch {
				case x >= '0' && x <= '9':
					if d.hdrN == 1 {
						d.num, d.hdrN = 0, 0
					}
					if d.num < 1<<28 {
						d.num = d.num*10 + uint32(x-'0')
					}
				case x == ' ' || x == '\t':
					d.hdrN = 1
				}
			}
			if i < 0 {
				return
			}
			b, d.st = b[i+1:], dbFrame
			if op := string(d.hdr[1 : 1+d.reqs]); op == "MSG " || op == "HMSG" || op == "RMSG" || op == "LMSG" {
				d.st, d.skip = dbSkip, d.num+2 // the payload and its CRLF
			}
		default:
			return
		}
	}
}

// natsErrs are the errors named, matched by the start of the text
// between the quotes, with the code written for them (their index is
// their kind in dbState.sent); others are reported with code ERR.
var natsErrs = [...]struct{ prefix, code, hint string }{
	{"authorization violation", "AUTHORIZATION_VIOLATION", "wrong user, password, token or credentials (nkey, JWT), or none where the server requires them"},
	{"authentication timeout", "AUTHENTICATION_TIMEOUT", "the client did not send its CONNECT within the server's authorization timeout (a slow client, a TLS or proxy mismatch, or a TCP probe)"},
	{"permissions violation", "PERMISSIONS_VIOLATION", "the user may not publish or subscribe to this subject (its permissions in the server's or the account's configuration)"},
	{"maximum connections exceeded", "MAXIMUM_CONNECTIONS_EXCEEDED", "the server (or the account) has no connection left (max_connections)"},
	{"maximum payload violation", "MAXIMUM_PAYLOAD_VIOLATION", "a message over the server's max_payload"},
	{"maximum subscriptions exceeded", "MAXIMUM_SUBSCRIPTIONS_EXCEEDED", "the connection or the account has no subscription left (max_subscriptions)"},
	{"stale connection", "STALE_CONNECTION", "the client stopped answering the server's PINGs (a blocked event loop, a stalled network path)"},
	{"slow consumer", "SLOW_CONSUMER", "the client did not read its messages fast enough: the server dropped it (max_pending)"},
	{"secure connection - tls required", "TLS_REQUIRED", "the server requires TLS and the client connected in plaintext"},
	{"user authentication expired", "USER_AUTHENTICATION_EXPIRED", "the user's credentials (JWT) expired"},
	{"user authentication revoked", "USER_AUTHENTICATION_REVOKED", "the user's credentials (JWT) were revoked"},
	{"account authentication expired", "ACCOUNT_AUTHENTICATION_EXPIRED", "the account's JWT expired"},
}

const natsKindOther = len(natsErrs)

// natsError reports an -ERR line ("ERR 'text'").
func (e *Engine) natsError(c *flowtable.Conn, fs *flowState, d *dbState, line []byte, ts int64) {
	text := bytes.TrimSpace(bytes.TrimPrefix(line, []byte("ERR")))
	text = bytes.Trim(text, "'")
	k, code, hint := natsKindOther, "ERR", ""
	for i := range natsErrs {
		if hasPrefixFold(text, natsErrs[i].prefix) {
			k, code, hint = i, natsErrs[i].code, natsErrs[i].hint
			break
		}
	}
	if !d.first(k) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	text = text[:min(len(text), 200)]
	b.B = append(b.B, "NATS server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " answered client "...)
	b.B = c.Orig().AppendTo(b.B)
	if d.user > 0 {
		b.B = append(b.B, " (user "...)
		b.B = appendText(b.B, e.dbNames[d.user-1])
		b.B = append(b.B, ')')
	}
	b.B = append(b.B, " with -ERR '"...)
	b.B = appendText(b.B, text)
	b.B = append(b.B, '\'')
	if hint != "" {
		b.B = append(b.B, ": "...)
		b.B = append(b.B, hint...)
	}
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"nats","code":"`...)
	b.B = append(b.B, code...)
	b.B = append(b.B, `","message":`...)
	b.B = jsonw.Bytes(b.B, text)
	if d.user > 0 {
		b.B = append(b.B, `,"user":`...)
		b.B = jsonw.Bytes(b.B, e.dbNames[d.user-1])
	}
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// hasPrefixFold reports whether b starts with the lower-case ASCII s,
// ignoring b's case.
func hasPrefixFold(b []byte, s string) bool {
	if len(b) < len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != s[i] {
			return false
		}
	}
	return true
}
