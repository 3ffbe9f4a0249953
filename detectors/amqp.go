package detectors

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// AMQP 0-9-1, RabbitMQ's protocol: the broker says in the clear why it
// refused a login or a vhost, closed a channel (a queue or exchange that
// does not exist, a permission, a declare that disagrees, an
// acknowledgement too late), closed the connection (an operator, a node
// shutting down), or stopped a publisher (a memory or disk alarm: the
// publisher just hangs). Its frames are a type byte, a channel, a 32-bit
// size, the payload and a frame-end byte; a method frame's payload starts
// with its class and method ids.

// amqpClientStart reports whether b is a client's protocol header
// ("AMQP" and four version bytes), which opens every AMQP connection.
func amqpClientStart(b []byte) bool {
	return len(b) == 8 && string(b[:4]) == "AMQP"
}

// AMQP method ids (class << 16 | method).
const (
	amqpConnStart   = 10<<16 | 10
	amqpConnStartOk = 10<<16 | 11
	amqpConnTune    = 10<<16 | 30
	amqpConnOpen    = 10<<16 | 40
	amqpConnOpenOk  = 10<<16 | 41
	amqpConnClose   = 10<<16 | 50
	amqpConnBlocked = 10<<16 | 60
	amqpChanClose   = 20<<16 | 40
)

// amqpClient reads the user (Connection.Start-Ok's PLAIN response, never
// its password) and the vhost (Connection.Open) from client segments that
// start with those frames.
func (e *Engine) amqpClient(d *dbState, b []byte) {
	if len(b) >= 11 && b[0] == 1 && string(b[7:11]) == "\x00\x0a\x00\x32" {
		d.block = true // the client's Connection.Close: the broker's close follows
	}
	if d.ready || len(b) < 12 || b[0] != 1 {
		return
	}
	size := int(binary.BigEndian.Uint32(b[3:]))
	if size < 4 || 7+size > len(b) {
		return
	}
	p := b[7 : 7+size]
	switch uint32(binary.BigEndian.Uint16(p))<<16 | uint32(binary.BigEndian.Uint16(p[2:])) {
	case amqpConnStartOk:
		d.reqs = 1 // its credentials: the broker answers with Tune, or refuses
		// client-properties (a table), mechanism, response, locale.
		p = p[4:]
		if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
			return
		}
		p = p[4+binary.BigEndian.Uint32(p):]
		if len(p) < 1 || int(p[0]) > len(p)-1 || string(p[1:1+p[0]]) != "PLAIN" {
			return
		}
		p = p[1+p[0]:]
		if len(p) < 4 || int(binary.BigEndian.Uint32(p)) > len(p)-4 {
			return
		}
		resp := p[4 : 4+binary.BigEndian.Uint32(p)] // authzid NUL user NUL password
		if i := bytes.IndexByte(resp, 0); i >= 0 {
			if j := bytes.IndexByte(resp[i+1:], 0); j >= 0 {
				d.user = e.dbName(resp[i+1 : i+1+j])
			}
		}
	case amqpConnOpen:
		if len(p) > 4 && int(p[4]) <= len(p)-5 {
			d.dbname = e.dbName(p[5 : 5+p[4]])
		}
	}
}

// amqpWalk walks the broker's frames. A broker that does not speak the
// client's protocol version answers with its own protocol header and
// closes.
func (e *Engine) amqpWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	if d.num == 0 && d.hdrN == 0 && len(b) >= 8 && string(b[:4]) == "AMQP" {
		d.st = dbOff
		e.amqpVersion(c, fs, d, b[4:8], ts)
		return
	}
	for len(b) > 0 {
		if d.st == dbSkip || d.st == dbHold {
			var held []byte
			if b, held = d.pass(b); held != nil {
				e.amqpMethod(c, fs, d, held, ts)
			}
			continue
		}
		var whole bool
		if b, whole = gather(d.hdr[:7], &d.hdrN, b); !whole {
			return
		}
		d.num++
		size := binary.BigEndian.Uint32(d.hdr[3:])
		if d.hdr[0] < 1 || d.hdr[0] > 8 || size > 1<<28 {
			d.st = dbOff // not AMQP 0-9-1
			return
		}
		d.st, d.skip = dbSkip, size+1 // and the frame-end byte
		if d.hdr[0] != 1 {
			continue
		}
		if len(b) >= int(size) {
			e.amqpMethod(c, fs, d, b[:size], ts)
		} else {
			d.st, d.lnN = dbHold, 0 // the rest comes in the next segments
		}
	}
}

// amqpMethod reads a method frame's payload (possibly cut to its first
// 64 bytes).
func (e *Engine) amqpMethod(c *flowtable.Conn, fs *flowState, d *dbState, p []byte, ts int64) {
	if len(p) < 4 {
		return
	}
	id := uint32(binary.BigEndian.Uint16(p))<<16 | uint32(binary.BigEndian.Uint16(p[2:]))
	switch id {
	case amqpConnStart:
		d.zip = bytes.Contains(p, []byte("RabbitMQ")) // the broker's product, in its server-properties
	case amqpConnTune:
		d.reqs = 0
	case amqpConnOpenOk:
		d.ready = true
	case amqpConnClose, amqpChanClose:
		if id == amqpConnClose {
			d.block = true // the broker said why it closes
		}
		if len(p) < 7 {
			return
		}
		code := binary.BigEndian.Uint16(p[4:])
		text := p[7:min(len(p), 7+int(p[6]))]
		if code == 200 { // reply-success: a normal close
			return
		}
		e.amqpClose(c, fs, d, id == amqpConnClose, code, text, ts)
	case amqpConnBlocked:
		var reason []byte
		if len(p) > 4 {
			reason = p[5:min(len(p), 5+int(p[4]))]
		}
		e.amqpBlocked(c, fs, d, reason, ts)
	}
}

// amqpCodes are the reply codes reported (their index is their kind in
// dbState.sent).
var amqpCodes = [...]struct {
	code       uint16
	name, hint string
}{
	{311, "CONTENT_TOO_LARGE", "a message over the broker's limit (max_message_size)"},
	{320, "CONNECTION_FORCED", "an operator or the broker ended the connection: rabbitmqctl close_connection, the management UI, a node shutting down or restarting (an upgrade, a failover)"},
	{402, "INVALID_PATH", "the vhost name is not valid"},
	{403, "ACCESS_REFUSED", ""}, // hint by where it came (amqpAccessHint)
	{404, "NOT_FOUND", "the exchange or queue does not exist (not declared yet, deleted, or another vhost; a passive declare asks exactly this)"},
	{405, "RESOURCE_LOCKED", "an exclusive queue is held by another connection"},
	{406, "PRECONDITION_FAILED", "a declare disagrees with the queue or exchange that exists (durable, auto-delete, arguments such as x-queue-type), an unknown delivery tag was acknowledged, or a delivery was not acknowledged within the broker's consumer_timeout"},
	{501, "FRAME_ERROR", "the client broke the protocol (a client library bug, or a channel used from several threads at once)"},
	{502, "SYNTAX_ERROR", "the client broke the protocol (a client library bug, or a channel used from several threads at once)"},
	{503, "COMMAND_INVALID", "the client broke the protocol (a client library bug, or a channel used from several threads at once)"},
	{504, "CHANNEL_ERROR", "the client used a channel that is not open (a client library bug, or a channel used from several threads at once)"},
	{505, "UNEXPECTED_FRAME", "the client broke the protocol (a client library bug, or a channel used from several threads at once)"},
	{506, "RESOURCE_ERROR", "the broker is out of a resource for this client (channel_max, or memory)"},
	{530, "NOT_ALLOWED", "the vhost does not exist, the user has no access to it, or a limit is reached (the vhost's or the user's max-connections, max-channels)"},
	{540, "NOT_IMPLEMENTED", "the client asked for something this broker does not implement"},
	{541, "INTERNAL_ERROR", "an internal error in the broker (its log says which)"},
}

// Kinds of AMQP events beyond the reply codes.
const (
	amqpKindOther   = len(amqpCodes)
	amqpKindBlocked = amqpKindOther + 1
	amqpKindLogin   = amqpKindOther + 2
	amqpKindDropped = amqpKindOther + 3
)

// amqpClose reports a broker's Connection.Close or Channel.Close with an
// error code.
func (e *Engine) amqpClose(c *flowtable.Conn, fs *flowState, d *dbState, conn bool, code uint16, text []byte, ts int64) {
	k, name, hint := amqpKindOther, "", ""
	for i := range amqpCodes {
		if amqpCodes[i].code == code {
			k, name, hint = i, amqpCodes[i].name, amqpCodes[i].hint
		}
	}
	if code == 403 {
		if conn && !d.ready {
			hint = "wrong user name or password, or a user that may not log in (RabbitMQ's guest may only log in from localhost)"
		} else {
			hint = "the user lacks the permission (configure, write or read) on this exchange or queue"
		}
	}
	if !d.first(k) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b = e.amqpBroker(b, c, d)
	switch {
	case conn && !d.ready:
		b.B = append(b.B, " refused client "...)
	case conn:
		b.B = append(b.B, " closed the connection of client "...)
	default:
		b.B = append(b.B, " closed channel "...)
		b.B = appendUint(b.B, uint64(binary.BigEndian.Uint16(d.hdr[1:])))
		b.B = append(b.B, " of client "...)
	}
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, ": "...)
	b.B = appendUint(b.B, uint64(code))
	b.B = append(b.B, ' ')
	b.B = appendText(b.B, text[:min(len(text), 200)])
	if hint != "" {
		b.B = append(b.B, ": "...)
		b.B = append(b.B, hint...)
	}
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"amqp","code":"`...)
	b.B = strconv.AppendUint(b.B, uint64(code), 10)
	b.B = append(b.B, '"')
	if name != "" {
		b.B = append(b.B, `,"code_name":"`...)
		b.B = append(b.B, name...)
		b.B = append(b.B, '"')
	}
	b.B = append(b.B, `,"message":`...)
	b.B = jsonw.Bytes(b.B, text[:min(len(text), 200)])
	b.B = e.appendUserDBJSON(b.B, d)
	if !conn {
		b.B = append(b.B, `,"channel":`...)
		b.B = appendUint(b.B, uint64(binary.BigEndian.Uint16(d.hdr[1:])))
	}
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// amqpLoginRefused reports a broker that closed the connection (FIN or
// RST) right after the client's credentials (Start-Ok), without a Tune:
// RabbitMQ refuses a login that way to clients that do not announce the
// authentication_failure_close capability (Go's amqp091-go reports it as
// "Exception (403) username or password not allowed").
func (e *Engine) amqpLoginRefused(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || d.kind != svcAMQP || d.reqs != 1 || d.ready || d.sent != 0 {
		return
	}
	e.amqpNoReason(c, fs, d, ts, amqpKindLogin, " refused client ",
		": it closed the connection right after the client's credentials, without a reason (as RabbitMQ does to clients that do not announce authentication_failure_close): wrong user name or password, or a user that may not log in (RabbitMQ's guest may only log in from localhost)",
		"LOGIN_REFUSED")
}

// amqpDropped reports a broker that closed (FIN or RST) an open
// connection without a Connection.Close from either side: RabbitMQ does
// that when the client missed its heartbeats (a blocked event loop, a
// paused process), and a node going down or a proxy's timeout looks the
// same.
func (e *Engine) amqpDropped(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || d.kind != svcAMQP || !d.ready || d.block || d.st == dbOff || c.E[0].FINs() != 0 {
		return
	}
	e.amqpNoReason(c, fs, d, ts, amqpKindDropped, " closed the connection of client ",
		" without a reason (no Connection.Close): most often the client missed its heartbeats (RabbitMQ drops a client silent for two heartbeat intervals: a blocked event loop, a long synchronous callback, a paused process), else the broker's node went down or a proxy between timed out",
		"CLOSED_WITHOUT_REASON")
}

// amqpNoReason writes a DB_ERROR for a broker that closed a connection
// without saying why (kind k, once per connection): msg is the broker,
// verb, the client, its user and vhost, then why; code goes in db.code.
func (e *Engine) amqpNoReason(c *flowtable.Conn, fs *flowState, d *dbState, ts int64, k int, verb, why, code string) {
	if !d.first(k) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b = e.amqpBroker(b, c, d)
	b.B = append(b.B, verb...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, why...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"amqp","code":"`...)
	b.B = append(b.B, code...)
	b.B = append(b.B, '"')
	b.B = e.appendUserDBJSON(b.B, d)
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// amqpBlocked reports a broker's Connection.Blocked: it stopped reading
// from a publishing connection until a resource alarm clears.
func (e *Engine) amqpBlocked(c *flowtable.Conn, fs *flowState, d *dbState, reason []byte, ts int64) {
	if !d.first(amqpKindBlocked) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b = e.amqpBroker(b, c, d)
	b.B = append(b.B, " blocked client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, " from publishing ("...)
	b.B = appendText(b.B, reason[:min(len(reason), 200)])
	b.B = append(b.B, "): the broker raised a resource alarm (its memory over vm_memory_high_watermark, or its free disk under disk_free_limit) and stops reading from every publishing connection until it clears; publishers hang meanwhile"...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"amqp","code":"BLOCKED","message":`...)
	b.B = jsonw.Bytes(b.B, reason[:min(len(reason), 200)])
	b.B = e.appendUserDBJSON(b.B, d)
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// amqpVersion reports a broker that answered the client's protocol
// header with its own: it does not speak that version (an AMQP 1.0
// client before a RabbitMQ without its AMQP 1.0 plugin).
func (e *Engine) amqpVersion(c *flowtable.Conn, fs *flowState, d *dbState, v []byte, ts int64) {
	if !d.first(amqpKindOther) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b = e.amqpBroker(b, c, d) // "AMQP broker": no Connection.Start came to name it
	b.B = append(b.B, " refused client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, ": it does not speak the client's protocol version and answered with its own, AMQP "...)
	b.B = amqpVersionText(b.B, v)
	b.B = append(b.B, ": the client speaks another AMQP (1.0, as Azure Service Bus, ActiveMQ or Qpid clients do, against a RabbitMQ without its AMQP 1.0 plugin), or another protocol version"...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"amqp","code":"VERSION","message":"AMQP `...)
	b.B = amqpVersionText(b.B, v)
	b.B = append(b.B, `"}`...)
	e.eventEndPcap(b, fs)
}

// amqpVersionText writes a protocol header's version: 0-9-1 as "0-9-1",
// 1.0's (protocol id 0, then 1, 0, 0) as "1.0.0".
func amqpVersionText(dst []byte, v []byte) []byte {
	if v[0] == 0 {
		dst = appendUint(dst, uint64(v[1]))
		dst = append(dst, '-')
		dst = appendUint(dst, uint64(v[2]))
		dst = append(dst, '-')
		return appendUint(dst, uint64(v[3]))
	}
	for i, x := range v[1:] {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = appendUint(dst, uint64(x))
	}
	return dst
}

// amqpBroker starts an AMQP event's msg with the broker's name.
func (e *Engine) amqpBroker(b *Buffer, c *flowtable.Conn, d *dbState) *Buffer {
	if d.zip {
		b.B = append(b.B, "RabbitMQ "...)
	} else {
		b.B = append(b.B, "AMQP broker "...)
	}
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	return b
}
