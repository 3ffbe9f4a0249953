package detectors

import (
	"bytes"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
)

// Protocol mismatches (PROTOCOL_MISMATCH): a client speaking one
// protocol to a port whose server speaks another, told by the first
// bytes of each side. curl's "Received HTTP/0.9 when not allowed",
// Node's "Response does not match the HTTP/1.1 protocol", psql's
// "expected authentication request from server, but received H" and
// redis-cli's "Protocol error, got \"H\" as reply type byte" are this.
// TLS clients to plain ports are TLS_HANDSHAKE_ABORTED, HTTP/2 clients
// answered in HTTP/1.x HTTP_SERVER_ERROR: their own notes say it.

// checkMismatch looks at the first bytes of side of c.
func (e *Engine) checkMismatch(c *flowtable.Conn, fs *flowState, p *decode.Packet, side int, ts int64) {
	b := p.Payload
	// The cheap tests first: this runs on every connection's first
	// segments.
	switch {
	case side == 0 && (fs.service == svcMySQL || fs.service == svcNATS) && isHTTPRequest(b) && bytes.Contains(firstLine(b), []byte(" HTTP/1.")) && e.firstBytes(c, side, b):
		// The server greeted first, as MySQL and NATS servers do.
		e.protocolMismatch(c, fs, "http", svcNames[fs.service], b, nil, ts)
	case side == 1 && fs.service == svcHTTP && len(b) >= 5 && string(b[:5]) != "HTTP/" && e.firstBytes(c, side, b) && c.Size(0) > 0 && !e.h2Client(fs):
		if k := serverKind(b); k != "text" || b[0] != '<' && b[0] > ' ' {
			// (A body without a status line, HTML, is an HTTP/0.9-style
			// answer from an HTTP server.)
			e.protocolMismatch(c, fs, "http", k, nil, b, ts)
		}
	case side == 1 && (fs.service == svcPostgres || fs.service == svcRedis || fs.service == svcAMQP) && bytes.HasPrefix(b, []byte("HTTP/1.")) && e.firstBytes(c, side, b):
		e.protocolMismatch(c, fs, svcNames[fs.service], "http", nil, b, ts)
	}
}

// firstBytes reports whether b, a segment of side, holds that side's
// first bytes.
func (e *Engine) firstBytes(c *flowtable.Conn, side int, b []byte) bool {
	return c.Size(side) == uint64(len(b))
}

// h2Client reports whether fs's client spoke HTTP/2 with prior knowledge.
func (e *Engine) h2Client(fs *flowState) bool {
	h := e.httpOf(fs)
	return h != nil && h.h2c != nil
}

// serverKind names what a server's first bytes, not HTTP/1.x, are.
func serverKind(b []byte) string {
	switch {
	case tlsRecordHeader(b):
		return "tls"
	case mysqlGreeting(b):
		return "mysql"
	}
	return [...]string{"binary", "binary", "text", "h2", "binary"}[plainKind(b[:5])]
}

// mismatchSays says what a server speaking kind is, for the msg.
var mismatchSays = map[string]string{
	"h2":         "with HTTP/2 frames: it speaks only HTTP/2 there (a gRPC server, or h2c with prior knowledge); use an HTTP/2 or gRPC client, or the port that serves HTTP/1.1",
	"tls":        "with a TLS record: the port speaks TLS; use https://",
	"mysql":      "as a MySQL server (its greeting): the port serves MySQL, not HTTP",
	"nats":       "as a NATS server (its INFO): the port serves NATS, not HTTP",
	"text":       "with text that is not HTTP: the port serves another protocol",
	"binary":     "with bytes that are not HTTP: the port serves another protocol (a database, a message broker, gRPC)",
	"postgresql": "in HTTP: the port serves HTTP, not PostgreSQL",
	"redis":      "in HTTP: the port serves HTTP, not Redis",
	"amqp":       "in HTTP: the port serves HTTP, not AMQP",
}

// mismatchClients names what a database or broker client spoke.
var mismatchClients = map[string]string{
	"postgresql": "PostgreSQL (its startup message)",
	"redis":      "Redis (RESP)",
	"amqp":       "AMQP (its protocol header)",
}

// protocolMismatch reports that c's client spoke client (its first bytes
// in req, when HTTP) and its server answered, or greeted, as server
// (its first bytes in srv, when known).
func (e *Engine) protocolMismatch(c *flowtable.Conn, fs *flowState, client, server string, req, srv []byte, ts int64) {
	b := e.problemEvent(c, fs, NoteProtocolMismatch, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	if client == "http" {
		if req == nil {
			req, _, _ = e.reqs.get(c)
		}
		b.B = append(b.B, " sent an HTTP request"...)
		if method, uri, _ := splitRequestLine(firstLine(req)); len(method) > 0 {
			b.B = append(b.B, " ("...)
			b.B = appendRequest(b.B, method, uri)
			b.B = append(b.B, ')')
		}
	} else {
		b.B = append(b.B, " spoke "...)
		b.B = append(b.B, mismatchClients[client]...)
	}
	b.B = append(b.B, " to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	if srv == nil {
		b.B = append(b.B, ", which had greeted it first "...)
	} else {
		b.B = append(b.B, ", which answered "...)
	}
	if server == "text" && srv != nil {
		b.B = append(b.B, "with text that is not HTTP, \\\""...)
		b.B = appendText(b.B, cut(firstLine(srv), 80))
		b.B = append(b.B, "\\\": the port serves another protocol"...)
	} else if server == "http" && srv != nil {
		b.B = append(b.B, "in HTTP ("...)
		b.B = appendText(b.B, cut(statusRest(srv), 40))
		b.B = append(b.B, ')')
		b.B = append(b.B, mismatchSays[client][len("in HTTP"):]...)
	} else {
		b.B = append(b.B, mismatchSays[server]...)
	}
	b.B = append(b.B, "; check the port the client uses (a Service's port and targetPort, the URL's scheme)"...)
	b.B = appendSide(b.B, "client")
	b.B = append(b.B, `,"mismatch":{"client":"`...)
	b.B = append(b.B, client...)
	b.B = append(b.B, `","server":"`...)
	b.B = append(b.B, server...)
	b.B = append(b.B, `"}`...)
	e.eventEndPcap(b, fs)
}

// firstLine returns b up to its first CR or LF.
func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

// wellKnownPort names the server that usually listens on port, for
// servers that close silently on a request they cannot parse.
func wellKnownPort(port uint16) string {
	switch port {
	case 3306:
		return "MySQL"
	case 5432:
		return "PostgreSQL"
	case 6379:
		return "Redis"
	case 27017:
		return "MongoDB"
	case 9092:
		return "Kafka"
	case 5672:
		return "RabbitMQ (AMQP)"
	case 11211:
		return "memcached"
	case 2181:
		return "ZooKeeper"
	}
	return ""
}
