package detectors

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Database errors (DB_ERROR): PostgreSQL's ErrorResponse and Redis's
// error replies travel in the clear unless the connection was upgraded to
// TLS. They say exactly why a pod "cannot connect" to its database (a
// wrong password, a pg_hba.conf without a rule for the pod, a database
// not created yet, no connection slot left) or why its queries fail (a
// read-only replica after a failover, a statement timeout, maxmemory).
//
// The server's messages are framed (PostgreSQL: a type byte and a 32-bit
// length; Redis: lines and length-prefixed bulk strings), so the server's
// stream is walked frame by frame across segments, and an error is read
// only where a frame starts: bytes inside a value are never taken for
// one. A capture gap stops the walk (the frames cannot be found again).

// dbState is a PostgreSQL, MySQL or Redis connection's state
// (Engine.dbs): 120 bytes, only for those connections.
type dbState struct {
	seen   int64 // server stream offset walked to
	heldTS int64
	skip   uint32 // bytes of the current frame still to pass
	num    uint32 // Redis: a bulk length being read; AMQP: frames read
	sent   uint32 // errors reported, a bit per kind (pgKind, myKind, the rk constants): each once per connection
	pendAt uint32 // when the pending request was sent: ms from the connection's first packet
	user   uint16 // the client's user and database names (PostgreSQL, MySQL), interned (Engine.dbNames) + 1; 0: unknown
	dbname uint16
	kind   uint8    // svcPostgres, svcRedis, svcMySQL, svcAMQP
	st     uint8    // the walk's state (dbFrame...)
	hdrN   uint8    // PostgreSQL: bytes of a message header held in hdr
	reqs   uint8    // PostgreSQL: SSLRequest/GSSENCRequest answers due (one byte each)
	ready  bool     // the startup is over (PostgreSQL: ReadyForQuery; MySQL: the first OK)
	zip    bool     // MySQL: the client asked for compression (not followed after the startup); AMQP: the broker is RabbitMQ
	sslNo  bool     // PostgreSQL: the server answered 'N' to the client's SSLRequest
	lnN    uint8    // bytes held in ln
	held   int8     // Redis: the kind of an error held (-1 none), see redisError; its line is in ln
	auth   bool     // Redis: the client sent AUTH or HELLO after the held error
	pend   bool     // the client sent a request (not its goodbye) the server has not answered a byte of
	block  bool     // the pending request may wait by design: a Redis blocking command (BLPOP, XREAD BLOCK, WAIT)
	repl   bool     // PostgreSQL: a replication session (the client's status updates get no answer)
	bye    bool     // the client's last message was its goodbye (Terminate, COM_QUIT, QUIT, MongoDB's endSessions)
	mcSize uint32   // Memcached: the data size of the client's last storage command
	hdr    [7]byte  // a frame header being read: PostgreSQL's 5 bytes, MySQL's 4, AMQP's 7
	ln     [64]byte // the start of an error cut by a segment's end, or (Redis) of the error held
	// Kafka (kafka.go): the client's requests are walked too.
	cseen int64                // client stream offset walked to
	cskip uint32               // bytes of the current request still to pass
	chdrN uint8                // bytes of a request header held in chdr
	cOff  bool                 // the client walk is lost (a capture gap)
	kqN   uint8                // outstanding requests in kq
	chdr  [16]byte             // a request header being read (Kafka's 12 bytes, MongoDB's 16)
	kq    [kafkaQueue]kafkaReq // outstanding requests, oldest first
}

// Walk states.
const (
	dbFrame   uint8 = iota // at a frame's start
	dbSkip                 // inside a frame: skip bytes
	dbLine                 // Redis: inside a line, up to its LF
	dbBulkLen              // Redis: reading a bulk string's length
	dbOff                  // lost (a capture gap, or not the protocol)
	dbHold                 // PostgreSQL: inside an ErrorResponse cut by a segment's end: kept in ln
	dbErrLine              // Redis: inside an error line cut by a segment's end: kept in ln
)

// bulkNull marks a null bulk string's length ("$-1").
const bulkNull = 1 << 31

// maxDBEvents is how many DB_ERROR events one connection may write (a
// pooled connection meets a statement timeout today, a read-only replica
// tomorrow); the rate limiter folds floods across connections.
const maxDBEvents = 8

// PostgreSQL startup-phase request codes (protocol 3.0, SSLRequest,
// GSSENCRequest).
const (
	pgProto3   = 196608
	pgSSLReq   = 80877103
	pgGSSENC   = 80877104
	pgMaxStart = 10000
)

// pgClientStart reports whether b, a client's first segment, is a
// PostgreSQL startup message, SSLRequest or GSSENCRequest (each sent
// alone: its length is the segment's).
func pgClientStart(b []byte) bool {
	if len(b) < 8 || int(binary.BigEndian.Uint32(b)) != len(b) || len(b) > pgMaxStart {
		return false
	}
	switch binary.BigEndian.Uint32(b[4:]) {
	case pgSSLReq, pgGSSENC:
		return len(b) == 8
	case pgProto3:
		return len(b) > 8 && b[len(b)-1] == 0
	}
	return false
}

// respClientStart reports whether b starts a Redis command in RESP: an
// array of bulk strings ("*2\r\n$3\r\nGET\r\n...").
// redisRefusal reports whether b, a server's first bytes before its
// client sent any, is the error Redis sends a client it will not serve
// and closes: "-ERR max number of clients reached", or protected mode's
// "-DENIED Redis is running in protected mode ...".
func redisRefusal(b []byte) bool {
	return bytes.HasPrefix(b, []byte("-ERR max number of clients reached")) || bytes.HasPrefix(b, []byte("-DENIED Redis is running in protected mode"))
}

func respClientStart(b []byte) bool {
	if len(b) < 8 || b[0] != '*' {
		return false
	}
	i := 1
	for i < len(b) && i < 8 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i > 1 && i+3 <= len(b) && b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '$'
}

func (e *Engine) dbOf(fs *flowState) *dbState {
	if fs.pk != pkDB {
		return nil
	}
	return e.dbs.at(fs.px)
}

func (e *Engine) newDB(fs *flowState, kind uint8) *dbState {
	e.dropProto(fs)
	h, d := e.dbs.get()
	*d = dbState{kind: kind, held: -1}
	fs.pk, fs.px = pkDB, h
	return d
}

// The commands that authenticate a Redis connection, as a RESP bulk
// string (lower case).
var redisAUTH, redisHELLO = []byte("\r\nauth\r\n"), []byte("\r\nhello\r\n")

// dbClient reads a client segment of a PostgreSQL connection: the
// startup message's user and database, and the requests the server
// answers with one byte.
func (e *Engine) dbClient(c *flowtable.Conn, d *dbState, b []byte, ts int64) {
	switch d.kind { // asynchronous: a publish gets no answer, so no request pends
	case svcMemcached: // (a noreply command gets none either)
		e.mcClient(d, b)
		return
	case svcAMQP:
		e.amqpClient(d, b)
		return
	case svcNATS:
		e.natsClient(d, b)
		return
	}
	if dbReplication(d.kind, b) {
		// A replica's stream: its acknowledgements get no answer.
		d.repl = true
	}
	d.bye = dbGoodbye(d.kind, b)
	switch {
	case d.bye:
		d.pend = false
	case dbNoReply(d.kind, b):
	case len(b) >= 4 && !d.pend: // every request is longer than a keep-alive probe's byte
		d.pend, d.pendAt = true, uint32(min((ts-c.First)/1e6, 1<<32-1))
		d.block = d.kind == svcRedis && redisBlocking(b)
	}
	if d.kind == svcRedis && d.held >= 0 && (indexFold(b, redisAUTH) >= 0 || indexFold(b, redisHELLO) >= 0) {
		d.auth = true
	}
	if d.kind == svcMySQL {
		e.myClient(d, b)
		return
	}
	if d.kind != svcPostgres || !pgClientStart(b) {
		return
	}
	switch binary.BigEndian.Uint32(b[4:]) {
	case pgSSLReq, pgGSSENC:
		d.reqs++
	case pgProto3:
		for p := b[8:]; len(p) > 1; {
			k := bytes.IndexByte(p, 0)
			if k < 0 {
				break
			}
			key, rest := p[:k], p[k+1:]
			v := bytes.IndexByte(rest, 0)
			if v < 0 {
				break
			}
			switch string(key) {
			case "user":
				d.user = e.dbName(rest[:v])
			case "database":
				d.dbname = e.dbName(rest[:v])
			case "replication":
				d.repl = true
			}
			p = rest[v+1:]
		}
	}
}

// dbGoodbye reports whether b is a client's last message, which the
// server answers by closing: PostgreSQL's Terminate, MySQL's COM_QUIT,
// Redis's QUIT (or SHUTDOWN, which stops the server).
func dbGoodbye(kind uint8, b []byte) bool {
	switch kind {
	case svcPostgres:
		return len(b) == 5 && b[0] == 'X'
	case svcMySQL:
		return len(b) == 5 && b[3] == 0 && b[4] == 1
	case svcRedis:
		return indexFold(b, redisQUIT) >= 0 || indexFold(b, redisSHUTDOWN) >= 0
	}
	return false
}

var redisQUIT, redisSHUTDOWN = []byte("quit\r\n"), []byte("shutdown")

// dbNoReply reports whether b is a request the server does not answer:
// MySQL's COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA (go-sql-driver
// closes every statement it prepared).
func dbNoReply(kind uint8, b []byte) bool {
	if kind != svcMySQL || len(b) < 5 || b[3] != 0 || int(b[0])|int(b[1])<<8|int(b[2])<<16 != len(b)-4 {
		return false
	}
	return b[4] == 0x19 || b[4] == 0x18
}

// dbReplication reports whether b starts a replica's session: MySQL's
// COM_BINLOG_DUMP or COM_BINLOG_DUMP_GTID, Redis's PSYNC, SYNC or
// REPLCONF (PostgreSQL's is named in its startup message).
func dbReplication(kind uint8, b []byte) bool {
	switch kind {
	case svcMySQL:
		return len(b) > 4 && b[3] == 0 && (b[4] == 0x12 || b[4] == 0x1e)
	case svcRedis:
		return indexFold(b, redisPSYNC) >= 0 || indexFold(b, redisREPLCONF) >= 0 || indexFold(b, redisSYNC) >= 0 ||
			indexFold(b, redisREPLY) >= 0 // CLIENT REPLY OFF or SKIP: commands without replies
	}
	return false
}

var redisPSYNC, redisREPLCONF, redisSYNC, redisREPLY = []byte("psync"), []byte("replconf"), []byte("\nsync\r"), []byte("\nreply\r")

// kindClosed is CLOSED_DURING_QUERY's and QUERY_ABANDONED's bit in
// dbState.sent: the session ends with either.
const kindClosed = 30

// redisBlocking reports whether the command b starts is one that waits
// by design until there is something to answer: the list and sorted-set
// blocking pops, XREAD and XREADGROUP with BLOCK, WAIT and WAITAOF.
func redisBlocking(b []byte) bool {
	name := b
	if len(b) > 0 && b[0] == '*' { // *N CRLF $L CRLF NAME CRLF
		i := bytes.IndexByte(b, '\n')
		if i < 0 || i+1 >= len(b) || b[i+1] != '$' {
			return false
		}
		name = b[i+1:]
		j := bytes.IndexByte(name, '\n')
		if j < 0 {
			return false
		}
		name = name[j+1:]
	}
	if k := bytes.IndexAny(name, " \r"); k >= 0 {
		name = name[:k]
	}
	if len(name) > 16 {
		return false
	}
	var up [16]byte
	for i, ch := range name {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		up[i] = ch
	}
	switch string(up[:len(name)]) {
	case "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF":
		return true
	case "XREAD", "XREADGROUP":
		return indexFold(b, redisBLOCK) >= 0
	}
	return false
}

var redisBLOCK = []byte("block")

// dbResetHint appends, to a TCP_RESET of a logged-in database session,
// what the reset most likely means: from the server, the session was
// idle (an idle timeout), or a request waited (the server or a proxy
// ended it mid-query); from the client, a request it abandoned.
func (e *Engine) dbResetHint(dst []byte, c *flowtable.Conn, fs *flowState, side int, ts int64) []byte {
	d := e.dbOf(fs)
	if d == nil || d.repl || d.st == dbOff || (d.kind != svcRedis && !d.ready) {
		return dst
	}
	if side == 0 {
		if !d.pend {
			return dst
		}
		dst = append(dst, ": a request had waited "...)
		dst = appendDurationWords(dst, max(ts-(c.First+int64(d.pendAt)*1e6), 0))
		return append(dst, " for its answer: the client abandoned it (its timeout fired, or it was stopped or exited with the answer unread)"...)
	}
	if d.pend {
		dst = append(dst, ": a request had waited "...)
		dst = appendDurationWords(dst, max(ts-(c.First+int64(d.pendAt)*1e6), 0))
		return append(dst, " without an answer: the server's process died or was killed (a crash, an out-of-memory kill, an administrator's KILL), or a proxy between timed out"...)
	}
	return append(dst, ": the session was idle; most often an idle timeout ended it (MySQL's and MariaDB's wait_timeout, PostgreSQL's idle_session_timeout, Redis's timeout, a proxy's or load balancer's idle timeout), else the server restarted: a client pool must close idle sessions sooner, or check them before use"...)
}

// dbGaveUp reports a client that closed (FIN) its session while waiting,
// at least a second, for the answer to a request: its timeout (a
// context deadline, a driver's query or read timeout, PGCONNECT_TIMEOUT
// during the login) fired before the server answered, which may still be
// working on it. Not for a request that waits by design (a Redis
// blocking command) nor a replication session.
func (e *Engine) dbGaveUp(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || !d.pend || d.block || d.repl || d.st == dbOff || c.E[1].FINs() != 0 {
		return
	}
	waited := ts - (c.First + int64(d.pendAt)*1e6)
	if waited < minNoResponse || !d.first(kindClosed) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	if d.kind == svcRedis || d.ready {
		b.B = append(b.B, " gave up on its request to "...)
	} else {
		b.B = append(b.B, " gave up on its login to "...)
	}
	system, server := dbSystem(d.kind)
	b.B = append(b.B, server...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " and closed the connection after waiting "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " without a byte of answer"...)
	if d.kind == svcRedis || d.ready {
		b.B = append(b.B, ": its timeout (a context deadline, the driver's query or read timeout) is shorter than the server took, or it was stopped; the server may still be running the query (a slow query, a lock wait, a server busy or paused)"...)
	} else {
		b.B = append(b.B, ": its connect timeout fired during the login (a pooler waiting for a server connection, an overloaded server, an authentication backend that hangs)"...)
	}
	b.B = appendSide(b.B, "client")
	e.dbWaitEnd(b, fs, d, system, "QUERY_ABANDONED", waited)
}

// dbSystem names a database kind: its db.system and how msg calls its
// server.
func dbSystem(kind uint8) (system, server string) {
	switch kind {
	case svcMySQL:
		return "mysql", "MySQL server "
	case svcRedis:
		return "redis", "Redis server "
	case svcMongo:
		return "mongodb", "MongoDB server "
	case svcMemcached:
		return "memcached", "Memcached server "
	}
	return "postgresql", "PostgreSQL server "
}

// dbWaitEnd ends a CLOSED_DURING_QUERY or QUERY_ABANDONED event: the db
// object and how long the request had waited.
func (e *Engine) dbWaitEnd(b *Buffer, fs *flowState, d *dbState, system, code string, waited int64) {
	b.B = append(b.B, `,"db":{"system":"`...)
	b.B = append(b.B, system...)
	b.B = append(b.B, `","code":"`...)
	b.B = append(b.B, code...)
	b.B = append(b.B, '"')
	if d.kind != svcRedis { // Redis has no login phase
		b.B = e.appendUserDBJSON(b.B, d)
	}
	b.B = append(b.B, `},"waited_ms":`...)
	b.B = appendUint(b.B, uint64(waited/1e6))
	e.eventEndPcap(b, fs)
}

// dbServerClosed reports a server that closed (FIN) a logged-in session
// while the client waited for the answer to a request the server had
// acknowledged, without a byte of answer or an error: what libpq calls
// "server closed the connection unexpectedly", MySQL's clients "Lost
// connection to server during query" (2013), Redis's an EOF. A server
// closing an idle session (its idle timeout) is not this: no request
// waits then, and a client that reuses the session meets a reset
// (TCP_RESET, "after it had closed").
func (e *Engine) dbServerClosed(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || !d.pend || d.repl || d.st == dbOff || (d.kind != svcRedis && !d.ready) || c.Unacked(0) != 0 || !d.first(kindClosed) {
		return
	}
	waited := max(ts-(c.First+int64(d.pendAt)*1e6), 0)
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	// says is written as is: its quotes are escaped for JSON.
	system, server := dbSystem(d.kind)
	says := `\"server closed the connection unexpectedly\"`
	switch d.kind {
	case svcMySQL:
		says = `error 2013 \"Lost connection to server during query\" (MariaDB's KILL of a connection ends it this way too)`
	case svcRedis:
		says = `an EOF, \"Connection closed by server\" (Redis itself closes a client past its client-output-buffer-limit, or on CLIENT KILL)`
	}
	b.B = append(b.B, server...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " closed the connection of client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, " "...)
	b.B = appendDurationWords(b.B, waited)
	b.B = append(b.B, " after its request, without an answer or an error: the server process died (a crash, or an out-of-memory kill), the server restarted or failed over, or a proxy or pooler in between closed it (its timeout); the client sees "...)
	b.B = append(b.B, says...)
	b.B = appendSide(b.B, "server")
	e.dbWaitEnd(b, fs, d, system, "CLOSED_DURING_QUERY", waited)
}

// dbServer walks a server segment of a PostgreSQL or Redis connection.
func (e *Engine) dbServer(c *flowtable.Conn, fs *flowState, d *dbState, p *decode.Packet, ts int64) {
	d.pend = false
	if d.st == dbOff {
		return
	}
	off := c.StreamOffset(1, p.Seq)
	b := p.Payload
	end := off + int64(len(b))
	switch {
	case off < 0:
		d.st = dbOff
		return
	case end <= d.seen:
		return // a retransmission
	case off < d.seen:
		b = b[d.seen-off:]
	case off > d.seen:
		d.st = dbOff // bytes missing: the frames are lost
		return
	}
	d.seen = end
	switch d.kind {
	case svcPostgres:
		e.pgWalk(c, fs, d, b, ts)
	case svcRedis:
		e.redisWalk(c, fs, d, b, ts)
	case svcMySQL:
		e.myWalk(c, fs, d, b, ts)
	case svcAMQP:
		e.amqpWalk(c, fs, d, b, ts)
	case svcNATS:
		e.natsWalk(c, fs, d, b, ts)
	case svcKafka:
		e.kafkaWalk(c, fs, d, b, ts)
	case svcMongo:
		e.mongoWalk(c, fs, d, b, ts)
	case svcMemcached:
		e.mcWalk(c, fs, d, b, ts)
	}
}

// pgWalk walks PostgreSQL backend messages: a type byte, a 32-bit length
// (itself included) and the body; and the single bytes ('S', 'N', 'G')
// answering SSLRequest and GSSENCRequest.
func (e *Engine) pgWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		if d.st == dbSkip || d.st == dbHold {
			var held []byte
			if b, held = d.pass(b); held != nil {
				e.pgError(c, fs, d, held, ts)
			}
			continue
		}
		if d.reqs > 0 && d.hdrN == 0 {
			d.reqs--
			switch b[0] {
			case 'N':
				d.sslNo = true
			case 'S', 'G':
				d.st = dbOff // TLS or GSSAPI encryption follows
				return
			default:
				d.st = dbOff // an old server's ErrorResponse: not followed
				return
			}
			b = b[1:]
			continue
		}
		var whole bool
		if b, whole = gather(d.hdr[:5], &d.hdrN, b); !whole {
			return
		}
		l := binary.BigEndian.Uint32(d.hdr[1:])
		if l < 4 || l > 1<<30 {
			d.st = dbOff
			return
		}
		d.st, d.skip = dbSkip, l-4
		switch d.hdr[0] {
		case 'E':
			if len(b) >= int(l-4) {
				e.pgError(c, fs, d, b[:l-4], ts)
			} else {
				d.st, d.lnN = dbHold, 0 // the rest comes in the next segments
			}
		case 'Z':
			d.ready, d.pend = true, false
		case 'R':
			if l >= 8 && len(b) >= 4 && !d.ready {
				if a := binary.BigEndian.Uint32(b); a == 0 || a == 12 {
					// AuthenticationOk or SASLFinal: the client now
					// waits for the server (a pooler for a server
					// connection) to say it is ready.
					d.pend, d.pendAt = true, uint32(min((ts-c.First)/1e6, 1<<32-1))
				}
			}
		}
		if d.skip == 0 {
			d.st = dbFrame
		}
	}
}

// lineEnd keeps in ln (its first 64 bytes) an error line that goes on
// in b, and returns it, its CR trimmed, with what follows it; ok is false
// when the line goes on in the next segment.
func (d *dbState) lineEnd(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		d.lnN += uint8(copy(d.ln[d.lnN:], b))
		return nil, nil, false
	}
	d.lnN += uint8(copy(d.ln[d.lnN:], b[:i]))
	return bytes.TrimRight(d.ln[:d.lnN], "\r"), b[i+1:], true
}

// pass passes b's bytes of the current frame (PostgreSQL's and MySQL's
// messages, Redis's bulk strings): skipped (dbSkip), or kept in ln
// (dbHold: an error cut by a segment's end). It returns what is left of
// b and, when a kept error is now whole, the error.
func (d *dbState) pass(b []byte) (rest, held []byte) {
	n := min(int(d.skip), len(b))
	if d.st == dbHold {
		d.lnN += uint8(copy(d.ln[d.lnN:], b[:n]))
	}
	b, d.skip = b[n:], d.skip-uint32(n)
	if d.skip == 0 {
		if d.st == dbHold {
			held = d.ln[:d.lnN]
		}
		d.st = dbFrame
	}
	return b, held
}

// pgError reads an ErrorResponse's fields (a type byte and a
// NUL-terminated string each) and reports the error when it says the
// connection or the environment failed, not the query's data.
func (e *Engine) pgError(c *flowtable.Conn, fs *flowState, d *dbState, body []byte, ts int64) {
	var sev, code, msg []byte
	for len(body) > 1 && body[0] != 0 {
		f := body[0]
		k := bytes.IndexByte(body[1:], 0)
		v := body[1:]
		if k >= 0 {
			v = v[:k]
		}
		switch f {
		case 'S':
			if sev == nil {
				sev = v
			}
		case 'V': // not localised (9.6+)
			sev = v
		case 'C':
			code = v
		case 'M':
			msg = v
		}
		if k < 0 {
			break
		}
		body = body[k+2:]
	}
	if len(code) != 5 || !pgReportable(sev, code, msg) || !d.first(pgKind(code)) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	hint, relayed := pgbouncerHint(code, msg)
	pooler := hint != "" || relayed != ""
	if pooler {
		b.B = append(b.B, "PgBouncer "...)
	} else {
		b.B = append(b.B, "PostgreSQL server "...)
		hint = pgHint(code, msg)
	}
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	switch {
	case !d.ready:
		b.B = append(b.B, " refused client "...)
	case pooler || string(sev) == "FATAL" || string(sev) == "PANIC":
		b.B = append(b.B, " ended the session of client "...)
	default:
		b.B = append(b.B, " failed a query of client "...)
	}
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, ": "...)
	b.B = appendText(b.B, sev)
	b.B = append(b.B, ' ')
	b.B = append(b.B, code...)
	b.B = append(b.B, ' ')
	b.B = appendText(b.B, msg[:min(len(msg), 200)])
	if relayed != "" {
		b.B = append(b.B, ": PgBouncer's own login to the PostgreSQL server behind it failed, and it passed the server's error on: "...)
		hint = pgHint([]byte(relayed), msg)
	} else if hint != "" {
		b.B = append(b.B, ": "...)
	}
	b.B = append(b.B, hint...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"postgresql"`...)
	if pooler {
		b.B = append(b.B, `,"pooler":"pgbouncer"`...)
	}
	b.B = e.appendUserDBJSON(b.B, d)
	b.B = append(b.B, `,"severity":`...)
	b.B = jsonw.Bytes(b.B, sev)
	b.B = append(b.B, `,"code":`...)
	b.B = jsonw.Bytes(b.B, code)
	b.B = append(b.B, `,"message":`...)
	b.B = jsonw.Bytes(b.B, msg[:min(len(msg), 200)])
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// dbName interns a user or database name (at most 64 bytes kept) and
// returns its id + 1, or 0 when maxDBNames are taken.
func (e *Engine) dbName(b []byte) uint16 {
	b = b[:min(len(b), 64)]
	if id, ok := e.dbNameID[string(b)]; ok {
		return id
	}
	if len(e.dbNames) >= maxDBNames {
		return 0
	}
	if e.dbNameID == nil {
		e.dbNameID = make(map[string]uint16)
	}
	e.dbNames = append(e.dbNames, append([]byte(nil), b...))
	id := uint16(len(e.dbNames))
	e.dbNameID[string(b)] = id
	return id
}

// maxDBNames bounds the user and database names a worker keeps.
const maxDBNames = 4096

// appendUserDB appends " (user U, database D)" (AMQP: "vhost V") when
// known.
func (e *Engine) appendUserDB(dst []byte, d *dbState) []byte {
	if d.user == 0 && d.dbname == 0 {
		return dst
	}
	dst = append(dst, " ("...)
	if d.user > 0 {
		dst = append(dst, "user "...)
		dst = appendText(dst, e.dbNames[d.user-1])
	}
	if d.dbname > 0 {
		if d.user > 0 {
			dst = append(dst, ", "...)
		}
		if d.kind == svcAMQP {
			dst = append(dst, "vhost "...)
		} else {
			dst = append(dst, "database "...)
		}
		dst = appendText(dst, e.dbNames[d.dbname-1])
	}
	return append(dst, ')')
}

// appendUserDBJSON appends the db object's user, database (AMQP: vhost)
// and phase.
func (e *Engine) appendUserDBJSON(dst []byte, d *dbState) []byte {
	if d.user > 0 {
		dst = append(dst, `,"user":`...)
		dst = jsonw.Bytes(dst, e.dbNames[d.user-1])
	}
	if d.dbname > 0 {
		if d.kind == svcAMQP {
			dst = append(dst, `,"vhost":`...)
		} else {
			dst = append(dst, `,"database":`...)
		}
		dst = jsonw.Bytes(dst, e.dbNames[d.dbname-1])
	}
	if d.ready {
		return append(dst, `,"phase":"session"`...)
	}
	return append(dst, `,"phase":"startup"`...)
}

// pgReportable reports whether an error of severity sev and SQLSTATE
// code is a problem of the connection or the environment. FATAL and
// PANIC end the session: always. Among ERRORs, the classes of connection
// failures (08), authorization (28), a missing database (3D), rollbacks
// (40: deadlocks, serialization failures), resources (53), operator
// intervention (57: statement timeouts, shutdowns), system errors (58)
// and internal errors (XX), plus a write in a read-only transaction (a
// replica), a missing privilege, a lock not available, and a prepared
// statement missing or already there (a pooler in transaction mode under
// a driver that prepares statements: pgx, JDBC, asyncpg). Errors of the
// query's own data or text (a duplicate key, a syntax error) are the
// application's answers, not reported.
func pgReportable(sev, code, msg []byte) bool {
	switch string(sev) {
	case "FATAL", "PANIC":
		return true
	case "ERROR":
	default:
		return false
	}
	switch string(code[:2]) {
	case "08", "28", "3D", "40", "53", "57", "58", "XX":
		return true
	}
	switch string(code) {
	case "25006", "42501", "55P03", "55006":
		return true
	case "26000", "42P05":
		return bytes.HasPrefix(msg, []byte("prepared statement"))
	}
	return false
}

// pgHint says what an error usually means.
func pgHint(code, msg []byte) string {
	switch string(code) {
	case "28P01":
		return "wrong password, or the role's password changed"
	case "28000":
		if bytes.Contains(msg, []byte("pg_hba.conf")) {
			return "no pg_hba.conf rule lets this client in (its address, user, database, or TLS or not)"
		}
		return "the role does not exist or may not log in"
	case "3D000":
		return "the database does not exist (a wrong name, or not created yet)"
	case "53300":
		return "the server has no connection slot left (max_connections): too many clients, or pools too large"
	case "53100", "53200":
		return "the server ran out of disk or memory"
	case "57P01":
		return "an administrator, a restart or a failover terminated the session (pg_terminate_backend, a fast shutdown)"
	case "57P02", "57P03":
		return "the server is starting up, shutting down, crashed or in recovery"
	case "57014":
		return "the statement ran past statement_timeout, or was cancelled"
	case "25006":
		return "a write on a read-only transaction: a hot standby (replica), or default_transaction_read_only"
	case "25P03":
		return "the session sat idle inside a transaction past idle_in_transaction_session_timeout"
	case "40P01":
		return "a deadlock between transactions"
	case "40001":
		return "a serialization failure: the transaction must be retried"
	case "42501":
		return "the role lacks a privilege"
	case "55P03":
		return "a lock was not available (lock_timeout or NOWAIT)"
	case "26000", "42P05":
		if bytes.HasPrefix(msg, []byte("prepared statement")) {
			return "the driver's prepared statement is missing on this server connection, or one of its name is already there: the classic cause is a pooler in transaction mode (PgBouncer's pool_mode=transaction without max_prepared_statements) giving the client's statements different server connections; use session pooling, or turn the driver's statement cache off (pgx: QueryExecModeExec or simple protocol; JDBC: prepareThreshold=0)"
		}
		return ""
	case "08P01":
		return "a protocol violation: the client does not speak PostgreSQL's protocol as the server expects"
	}
	return ""
}

// kindTLSNotOffered is TLS_NOT_OFFERED's bit in dbState.sent, above every
// error kind of the three protocols (pgKind, myKind, the rk constants).
const kindTLSNotOffered = 31

// pgSSLRefused reports, at the client's close, a client that asked for
// TLS (SSLRequest), heard 'N' (the server has no TLS) and closed without
// going on in plaintext: libpq's "server does not support SSL, but SSL
// was required" (sslmode=require and above).
func (e *Engine) pgSSLRefused(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || d.kind != svcPostgres || !d.sslNo || d.reqs != 0 || d.user != 0 || d.dbname != 0 || c.Size(1) != 1 || !d.first(kindTLSNotOffered) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " requires TLS, and PostgreSQL server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " does not offer it (it answered N to the client's SSLRequest): the client gave up (libpq: server does not support SSL, but SSL was required)"...)
	b.B = appendSide(b.B, "client")
	b.B = append(b.B, `,"db":{"system":"postgresql","phase":"startup","code":"TLS_NOT_OFFERED"}`...)
	e.eventEndPcap(b, fs)
}

// redisWalk walks Redis replies (RESP2 and RESP3): lines typed by their
// first byte, bulk strings ($, and RESP3's ! and =) whose length line is
// followed by that many bytes and a CRLF. Aggregates (*, %, ~, >, |) are
// lines too: their elements follow as frames of their own.
func (e *Engine) redisWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		switch d.st {
		case dbSkip:
			b, _ = d.pass(b)
		case dbLine:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return
			}
			b, d.st = b[i+1:], dbFrame
		case dbBulkLen:
			i := 0
			for ; i < len(b) && b[i] != '\r' && b[i] != '\n'; i++ {
				switch x := b[i]; {
				case x == '-':
					d.num = bulkNull // "$-1": no body
				case x >= '0' && x <= '9' && d.num == bulkNull:
				case x >= '0' && x <= '9' && d.num < 1<<29:
					d.num = d.num*10 + uint32(x-'0')
				default:
					d.st = dbOff
					return
				}
			}
			if i == len(b) {
				return // the length goes on in the next segment
			}
			if d.num == bulkNull {
				b, d.st = b[i:], dbLine
				continue
			}
			// The line's end, then the body and its CRLF.
			d.st, d.skip = dbSkip, d.num+2
			if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
				b = b[i+j+1:]
				continue
			}
			d.skip++ // the LF is in the next segment
			return
		case dbErrLine:
			line, rest, ok := d.lineEnd(b)
			if !ok {
				return
			}
			e.redisError(c, fs, d, line, ts)
			b, d.st = rest, dbFrame
		case dbFrame:
			switch b[0] {
			case '-':
				i := bytes.IndexByte(b, '\n')
				if i < 0 && d.held >= 0 {
					// ln holds the held error: this one is judged on
					// what this segment has of it.
					e.redisError(c, fs, d, bytes.TrimRight(b[1:], "\r"), ts)
					d.st = dbLine
					return
				}
				if i < 0 {
					// The line goes on in the next segment.
					d.st, d.lnN = dbErrLine, uint8(copy(d.ln[:], b[1:]))
					return
				}
				e.redisError(c, fs, d, bytes.TrimRight(b[1:i], "\r"), ts)
				d.st = dbLine
			case '$', '!', '=':
				d.st, d.num = dbBulkLen, 0
				b = b[1:]
				d.answered()
			case '+', ':', '*', '%', '~', '>', '|', '_', ',', '#', '(':
				d.st = dbLine
				d.answered()
			default:
				d.st = dbOff
				return
			}
		default:
			return
		}
	}
}

// redisError reports an error reply that says the connection or the
// server's state failed, not the command (an unknown command, a wrong
// type, a script's own error, a cluster redirection are the application's
// answers: clients probe with HELLO and CLIENT SETINFO, and fall back).
func (e *Engine) redisError(c *flowtable.Conn, fs *flowState, d *dbState, line []byte, ts int64) {
	hint, k := redisHint(redisCode(line), line)
	if hint == "" || (k == rkNoAuth && d.sent&(1<<rkWrongPass) != 0) {
		// NOAUTH after a failed AUTH is its consequence.
		return
	}
	if k == rkWrongPass {
		d.held = -1 // a NOAUTH before is its consequence too
	}
	if k == rkNoAuth || k == rkNoPassword {
		// Held: redis-cli asks COMMAND DOCS before the AUTH its user
		// types, and a client may send a password a server does not
		// ask for and go on. Reported when the connection closes, or
		// when the same error comes again a second later, unless the
		// client authenticated after it and got an answer.
		switch {
		case d.held != int8(k):
			d.held, d.auth, d.heldTS = int8(k), false, ts
			d.lnN = uint8(copy(d.ln[:], line))
			return
		case ts-d.heldTS < heldFor:
			return
		}
		d.held = -1
	}
	e.redisEvent(c, fs, d, line, ts)
}

// redisCode returns an error line's first word: its code.
func redisCode(line []byte) []byte {
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		return line[:i]
	}
	return line
}

// answered drops a held error when the server answers a command: after
// the client authenticated (NOAUTH), or at all (a password it did not
// need).
func (d *dbState) answered() {
	if d.held >= 0 && (d.auth || d.held == rkNoPassword) {
		d.held = -1
	}
}

// heldFor is how long a held Redis error waits for its repetition.
const heldFor = int64(1e9)

// dbClosed reports a held Redis error when its connection closes.
func (e *Engine) dbClosed(c *flowtable.Conn, fs *flowState, ts int64) {
	d := e.dbOf(fs)
	if d == nil || d.held < 0 {
		return
	}
	d.held = -1
	e.redisEvent(c, fs, d, d.ln[:d.lnN], ts)
}

// redisEvent writes a Redis error's DB_ERROR (once per kind and
// connection).
func (e *Engine) redisEvent(c *flowtable.Conn, fs *flowState, d *dbState, line []byte, ts int64) {
	code := redisCode(line)
	hint, k := redisHint(code, line)
	if !d.first(k) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	line = line[:min(len(line), 200)]
	if k == rkDenied {
		if i := bytes.Index(line, []byte(". ")); i >= 0 {
			line = line[:i+1] // its first sentence; the rest is advice
		}
	}
	b.B = append(b.B, "Redis server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " answered client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " with the error "...)
	b.B = appendText(b.B, bytes.TrimRight(line, ".")) // "...required.: the server..." reads badly
	b.B = append(b.B, ": "...)
	b.B = append(b.B, hint...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"redis","code":`...)
	b.B = jsonw.Bytes(b.B, code[:min(len(code), 32)])
	b.B = append(b.B, `,"message":`...)
	b.B = jsonw.Bytes(b.B, line)
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// first reports whether an error of kind k is the connection's first of
// its kind, and counts it; a client retrying on one connection (go-redis
// retries READONLY) makes one event, and a connection at most
// maxDBEvents.
func (d *dbState) first(k int) bool {
	if d.sent&(1<<k) != 0 || bits.OnesCount32(d.sent) >= maxDBEvents { // a bit per event written
		return false
	}
	d.sent |= 1 << k
	return true
}

// pgKind numbers a SQLSTATE for dbState.sent.
func pgKind(code []byte) int {
	for i, c := range pgCodes {
		if c == string(code) {
			return i
		}
	}
	return len(pgCodes)
}

var pgCodes = [...]string{"28P01", "28000", "3D000", "53300", "53100", "53200", "57P01", "57P02", "57P03",
	"57014", "25006", "25P03", "40P01", "40001", "42501", "55P03", "08P01", "26000", "42P05"}

// Redis error kinds (dbState.sent).
const (
	rkNoAuth = iota
	rkWrongPass
	rkNoPerm
	rkReadOnly
	rkLoading
	rkMasterDown
	rkMisconf
	rkOOM
	rkBusy
	rkClusterDown
	rkNoReplicas
	rkMaxClients
	rkNoPassword
	rkProtocol
	rkDenied
)

// redisHint says what an error reply usually means, and its kind; ""
// when it is not reported.
func redisHint(code, line []byte) (string, int) {
	switch string(code) {
	case "NOAUTH":
		return "the server requires a password (requirepass or ACL) and the client sent none", rkNoAuth
	case "WRONGPASS":
		return "wrong password or user name (AUTH)", rkWrongPass
	case "NOPERM":
		return "the ACL user may not run this command or touch this key", rkNoPerm
	case "READONLY":
		return "a write reached a read-only replica: the client is connected to a replica (a failover, or the wrong endpoint)", rkReadOnly
	case "LOADING":
		return "the server is still loading its dataset after a restart", rkLoading
	case "MASTERDOWN":
		return "the replica lost its link to the master and serves no stale data", rkMasterDown
	case "MISCONF":
		return "the server cannot save its snapshot (RDB) and refuses writes", rkMisconf
	case "OOM":
		return "the server reached maxmemory and its policy evicts nothing", rkOOM
	case "BUSY":
		return "a script or function has run too long and blocks the server", rkBusy
	case "CLUSTERDOWN":
		return "the cluster is down: some hash slots are not served", rkClusterDown
	case "DENIED":
		return "Redis runs in protected mode: it has no password and is bound to all interfaces, so it refuses clients from other hosts; set a password (requirepass), or bind it to the addresses clients use and turn protected-mode off", rkDenied
	case "NOREPLICAS":
		return "not enough replicas acknowledge writes (min-replicas-to-write)", rkNoReplicas
	case "ERR":
		switch {
		case bytes.Contains(line, []byte("max number of clients")):
			return "the server has no connection slot left (maxclients)", rkMaxClients
		case bytes.Contains(line, []byte("invalid password")), bytes.Contains(line, []byte("invalid username-password")):
			return "wrong password (AUTH)", rkWrongPass
		case bytes.Contains(line, []byte("without any password configured")):
			return "the client sends a password the server does not ask for: it is configured for another server", rkNoPassword
		case bytes.HasPrefix(line, []byte("ERR Protocol error")):
			return "the client does not speak Redis's protocol (or sent a malformed request)", rkProtocol
		}
	}
	return "", 0
}

// connKey names a connection of the worker's table for as long as it
// lives: its slot and its first packet's time.
type connKey struct {
	idx   uint32
	first int64
}

func keyOf(c *flowtable.Conn) connKey { return connKey{uint32(c.Index()), c.First} }

// dbTLSConn is a PostgreSQL or MySQL connection upgraded to TLS, during
// its login (Engine.dbTLS).
type dbTLSConn struct {
	cliAt uint64 // the client's byte count when the server last sent data
	srvAt uint64 // the server's byte count when the client last sent data
	kind  uint8  // svcPostgres, svcMySQL
	srv   bool   // the server sent data since the TLS handshake began
	bye   bool   // the server's close_notify came right after its answer, the client silent since
}

// markDBTLS remembers that c, a PostgreSQL or MySQL connection (kind),
// goes on in TLS: its errors are encrypted, but how its login ends is
// not. It is remembered for dbLogin.
func (e *Engine) markDBTLS(c *flowtable.Conn, kind uint8) {
	if e.dbTLS == nil {
		e.dbTLS = make(map[connKey]dbTLSConn)
	}
	if len(e.dbTLS) < maxDBTLS {
		e.dbTLS[keyOf(c)] = dbTLSConn{kind: kind}
	}
}

// dbTLSData notes a data segment of n bytes from side side of a
// connection markDBTLS remembers, and forgets those past their login. A
// server's segment counts only when it holds more than a close_notify:
// the server's own close_notify, answering a client's Terminate, may come
// before the client's reset.
func (e *Engine) dbTLSData(c *flowtable.Conn, side, n int, ts int64) {
	k := keyOf(c)
	v, ok := e.dbTLS[k]
	switch {
	case !ok:
	case ts-c.First > dbLogin:
		delete(e.dbTLS, k)
	case side == 1 && n > maxCloseNotify:
		v.cliAt, v.srv = c.Size(0), true
		e.dbTLS[k] = v
	case side == 1 && v.srv && c.Size(0) == v.cliAt && n != 35 && closeNotifyOnly(uint64(n)):
		// Its close_notify (not a small message: a ReadyForQuery is 28
		// bytes, an OK packet 33; 35 is a TLS 1.2 ReadyForQuery too): it
		// ends the session it just answered (Node's pg then sends its
		// Terminate).
		v.bye = true
		e.dbTLS[k] = v
	case side == 1:
	default:
		v.srvAt = c.Size(1)
		e.dbTLS[k] = v
	}
}

// maxDBTLS bounds the connections markDBTLS remembers (a worker's
// TLS-upgraded database connections; more are not judged).
const maxDBTLS = 1 << 16

// dbLogin is how long after a connection's first packet a TLS-upgraded
// database login may take: TCP, the SSLRequest or greeting, the TLS
// handshake and the password exchange are a few round trips.
const dbLogin = int64(1500e6)

// dbTLSQuit reports a PostgreSQL or MySQL server that closed a
// TLS-upgraded connection first, within dbLogin of its start: it refused
// the client at login. A client ends its session itself (PostgreSQL's
// Terminate, MySQL's COM_QUIT, then its FIN): a server that closes first
// has ended or refused it.
func (e *Engine) dbTLSQuit(c *flowtable.Conn, fs *flowState, ts int64) {
	if len(e.dbTLS) == 0 {
		return
	}
	// It answered the client's last message (an ERR, an ErrorResponse),
	// not just with a close_notify: the client had not quit (COM_QUIT and
	// Terminate get no answer).
	if v, ok := e.dbTLS[keyOf(c)]; ok && c.Size(1)-v.srvAt > maxCloseNotify {
		e.dbTLSLogin(c, fs, v.kind, ts, true)
	}
}

// dbTLSGaveUp reports a client that closed a TLS-upgraded PostgreSQL or
// MySQL connection within dbLogin of its start, having sent nothing but
// a close_notify since the server last spoke: a refused login (libpq and
// pgx close at once on a FATAL, while the server's own close is still on
// its way). A client that ends its session sends a last message first
// (Terminate, COM_QUIT), a record 3 bytes longer than a close_notify.
// Or the server's close_notify came right after its answer, before the
// client said anything more: the server ended the session it had just
// answered (Node's pg sends its Terminate only then).
func (e *Engine) dbTLSGaveUp(c *flowtable.Conn, fs *flowState, ts int64) bool {
	if len(e.dbTLS) == 0 || fs.service != svcSSL {
		return false
	}
	v, ok := e.dbTLS[keyOf(c)]
	if !ok || !v.srv || !(v.bye || closeNotifyOnly(c.Size(0)-v.cliAt)) {
		return false
	}
	return e.dbTLSLogin(c, fs, v.kind, ts, v.bye)
}

// dbClientEnded reports whether a client's reset of a plain database
// session follows its goodbye (PostgreSQL's Terminate, MySQL's COM_QUIT,
// Redis's QUIT, MongoDB's endSessions): it ended the session, and reset
// rather than closed (the Node.js MongoDB driver does, with the
// endSessions reply unread).
func (e *Engine) dbClientEnded(fs *flowState) bool {
	d := e.dbOf(fs)
	return d != nil && d.bye
}

// dbTLSEnded reports whether a client's reset of a TLS-upgraded
// PostgreSQL or MySQL connection, within dbLogin of its start, follows
// the end of its session: it sent more than a close_notify after the
// server last answered (a Terminate or COM_QUIT, and its close_notify),
// and the server's own close_notify, unread, made its kernel reset
// instead of closing (libpq on a fast link).
func (e *Engine) dbTLSEnded(c *flowtable.Conn, fs *flowState) bool {
	if len(e.dbTLS) == 0 || fs.service != svcSSL {
		return false
	}
	v, ok := e.dbTLS[keyOf(c)]
	return ok && v.srv && c.Size(0)-v.cliAt > maxCloseNotify
}

// closeNotifyOnly reports whether n bytes of TLS records are nothing or
// one close_notify alert: 24 bytes in TLS 1.3 (35 from Java, which pads
// records), 31 in TLS 1.2 with AES-GCM, 23 with ChaCha20-Poly1305. A
// 5-byte message (Terminate, COM_QUIT) makes a record 3 bytes longer.
func closeNotifyOnly(n uint64) bool {
	switch n {
	case 0, 23, 24, 31, 35:
		return true
	}
	return false
}

// maxCloseNotify is more than any close_notify record takes.
const maxCloseNotify = 40

// dbTLSLogin writes the DB_ERROR of a login refused inside TLS (kind:
// svcPostgres, svcMySQL; the callers found the connection in
// Engine.dbTLS), closed by the server (byServer) or by the client after
// its answer.
func (e *Engine) dbTLSLogin(c *flowtable.Conn, fs *flowState, kind uint8, ts int64, byServer bool) bool {
	if ts-c.First > dbLogin || !e.tlsEstablished(fs) || e.q(fs).events&(1<<NoteDBError) != 0 {
		return false
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return true
	}
	name, system, why := "PostgreSQL", "postgresql", "a wrong password, no pg_hba.conf entry for it, no such database or role, or no connection slot left"
	if kind == svcMySQL {
		name, system, why = "MySQL", "mysql", "a wrong password or user, no access to the database, or no connection slot left"
	}
	if byServer {
		b.B = append(b.B, name...)
		b.B = append(b.B, " server "...)
		b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
		b.B = append(b.B, " ended the TLS session of client "...)
		b.B = c.Orig().AppendTo(b.B)
		b.B = append(b.B, " itself, "...)
		b.B = appendDurationWords(b.B, ts-c.First)
		b.B = append(b.B, " after it began, right after answering the client's last message"...)
	} else {
		b.B = append(b.B, "client "...)
		b.B = c.Orig().AppendTo(b.B)
		b.B = append(b.B, " closed its TLS connection to "...)
		b.B = append(b.B, name...)
		b.B = append(b.B, " server "...)
		b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
		b.B = append(b.B, ' ')
		b.B = appendDurationWords(b.B, ts-c.First)
		b.B = append(b.B, " after it began, right after the server's answer and without ending its session"...)
	}
	b.B = append(b.B, ": the server most likely refused its login ("...)
	b.B = append(b.B, why...)
	b.B = append(b.B, "); the error is encrypted"...)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"`...)
	b.B = append(b.B, system...)
	b.B = append(b.B, `","phase":"startup","code":"LOGIN_REFUSED_ENCRYPTED"}`...)
	if t := e.tlsOf(fs); t != nil {
		b.B = e.appendTLS(b.B, c, t, false)
	} else if s := e.sumOf(fs); s != nil {
		b.B = e.appendTLSSummary(b.B, s, false)
	}
	e.eventEndPcap(b, fs)
	return true
}
