package detectors

import (
	"bytes"
	"encoding/binary"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// MySQL and MariaDB (DB_ERROR). The server speaks first: a greeting (protocol
// 10), or an ERR packet when it will not talk to this client at all (its
// address may not connect, is blocked, or there is no connection slot).
// Every packet has a 3-byte length and a sequence number; an ERR packet's
// body starts with 0xff, which no greeting, OK, column or row packet
// does, so the server's stream is walked packet by packet as PostgreSQL's
// is.

// MySQL capability flags of the client's handshake response.
const (
	myConnectWithDB = 0x8
	myCompress      = 0x20
	mySSL           = 0x800
	myLenencAuth    = 0x200000
	mySecureConn    = 0x8000
)

// mysqlGreeting reports whether b, a server's first segment, is a MySQL
// greeting or a connection-time ERR packet, each sent alone.
func mysqlGreeting(b []byte) bool {
	if len(b) < 7 || int(b[0])|int(b[1])<<8|int(b[2])<<16 != len(b)-4 || b[3] != 0 {
		return false
	}
	switch b[4] {
	case 0x0a:
		v := b[5:min(len(b), 70)]
		i := bytes.IndexByte(v, 0)
		if i < 1 {
			return false
		}
		for _, x := range v[:i] {
			if x < 0x20 || x > 0x7e {
				return false
			}
		}
		return true
	case 0xff:
		n := binary.LittleEndian.Uint16(b[5:])
		return n >= 1000 && n < 5000
	}
	return false
}

// myClient reads the client's handshake response (sequence 1): its user,
// its database, whether it asks for compression.
func (e *Engine) myClient(d *dbState, b []byte) {
	if d.ready || len(b) < 4+32 || b[3] != 1 || int(b[0])|int(b[1])<<8|int(b[2])<<16 != len(b)-4 {
		return
	}
	body := b[4:]
	caps := binary.LittleEndian.Uint32(body)
	d.zip = caps&myCompress != 0
	p := body[32:]
	i := bytes.IndexByte(p, 0)
	if i < 0 {
		return // an SSL request: TLS follows
	}
	d.user = e.dbName(p[:i])
	p = p[i+1:]
	var n int
	switch {
	case caps&myLenencAuth != 0 && len(p) > 0 && p[0] < 0xfb:
		n, p = int(p[0]), p[1:]
	case caps&mySecureConn != 0 && len(p) > 0:
		n, p = int(p[0]), p[1:]
	default:
		n = bytes.IndexByte(p, 0) + 1
	}
	if caps&myConnectWithDB == 0 || n < 0 || n > len(p) {
		return
	}
	p = p[n:]
	if i := bytes.IndexByte(p, 0); i > 0 {
		d.dbname = e.dbName(p[:i])
	}
}

// myWalk walks the server's packets.
func (e *Engine) myWalk(c *flowtable.Conn, fs *flowState, d *dbState, b []byte, ts int64) {
	for len(b) > 0 {
		if d.st == dbSkip || d.st == dbHold {
			var held []byte
			if b, held = d.pass(b); held != nil {
				e.myError(c, fs, d, held, ts)
			}
			continue
		}
		var whole bool
		if b, whole = gather(d.hdr[:4], &d.hdrN, b); !whole {
			return
		}
		l := uint32(d.hdr[0]) | uint32(d.hdr[1])<<8 | uint32(d.hdr[2])<<16
		d.st, d.skip = dbSkip, l
		if l == 0 {
			d.st = dbFrame
			continue
		}
		if len(b) == 0 {
			// The body's first byte is in the next segment: an error
			// may start there.
			d.st, d.lnN = dbHold, 0
			return
		}
		switch b[0] {
		case 0xff:
			if len(b) >= int(l) {
				e.myError(c, fs, d, b[:l], ts)
			} else {
				d.st, d.lnN = dbHold, 0
			}
		case 0x00:
			if !d.ready && d.hdr[3] > 0 {
				d.ready = true // the first OK: authenticated
				if d.zip {
					d.st = dbOff // compressed packets from here on
					return
				}
			}
		}
	}
}

// myError reads an ERR packet (0xff, the error number, '#' and the
// SQLSTATE after the greeting, the message) and reports it when it says
// the connection or the environment failed. A packet held across
// segments (dbHold) may turn out not to be an error.
func (e *Engine) myError(c *flowtable.Conn, fs *flowState, d *dbState, body []byte, ts int64) {
	if len(body) < 3 || body[0] != 0xff {
		return
	}
	errno := binary.LittleEndian.Uint16(body[1:])
	msg := body[3:]
	var state []byte
	if len(msg) >= 6 && msg[0] == '#' {
		state, msg = msg[1:6], msg[6:]
	}
	k := myKind(errno)
	if k < 0 || !d.first(k) {
		return
	}
	b := e.problemEvent(c, fs, NoteDBError, ts)
	if b == nil {
		return
	}
	msg = msg[:min(len(msg), 200)]
	b.B = append(b.B, "MySQL server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	switch {
	case !d.ready:
		b.B = append(b.B, " refused client "...)
	default:
		b.B = append(b.B, " failed a query of client "...)
	}
	b.B = c.Orig().AppendTo(b.B)
	b.B = e.appendUserDB(b.B, d)
	b.B = append(b.B, ": error "...)
	b.B = jsonw.Uint(b.B, uint64(errno))
	if state != nil {
		b.B = append(b.B, " ("...)
		b.B = appendText(b.B, state)
		b.B = append(b.B, ')')
	}
	b.B = append(b.B, ' ')
	b.B = appendText(b.B, msg)
	b.B = append(b.B, ": "...)
	b.B = append(b.B, myErrs[k].hint...)
	b.B = e.appendProxyHostHint(b.B, c, fs, msg)
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"db":{"system":"mysql"`...)
	b.B = e.appendUserDBJSON(b.B, d)
	b.B = append(b.B, `,"code":"`...)
	b.B = jsonw.Uint(b.B, uint64(errno))
	b.B = append(b.B, '"')
	if state != nil {
		b.B = append(b.B, `,"sqlstate":`...)
		b.B = jsonw.Bytes(b.B, state)
	}
	b.B = append(b.B, `,"message":`...)
	b.B = jsonw.Bytes(b.B, msg)
	b.B = append(b.B, '}')
	e.eventEndPcap(b, fs)
}

// myErrs are the MySQL and MariaDB errors reported: the connection's or
// the environment's, not the query's (a duplicate key, a syntax error,
// a missing table are the application's). At most 32 (dbState.sent).
var myErrs = [...]struct {
	errno uint16
	hint  string
}{
	{1045, "wrong user name or password"},
	{1044, "the user may not use this database (or it does not exist)"},
	{1049, "the database does not exist (a wrong name, or not created yet)"},
	{1040, "the server has no connection slot left (max_connections): too many clients, or pools too large"},
	{1203, "the user has reached its connection limit (max_user_connections)"},
	{1226, "the user has reached one of its resource limits"},
	{1129, "the server blocks this client's address after too many failed connections (max_connect_errors); a TCP health check or load balancer probing the port counts as one; FLUSH HOSTS unblocks it"},
	{1130, "no account may connect from this client's address (the accounts' host parts do not match it)"},
	{1251, "the client does not support the authentication method the server asks for"},
	{1290, "a write on a read-only server: a replica, or read_only / super_read_only"},
	{1836, "a write on a read-only server: a replica, or read_only / super_read_only"},
	{1792, "a write in a read-only transaction"},
	{1205, "a lock wait timed out (innodb_lock_wait_timeout)"},
	{1213, "a deadlock between transactions"},
	{3024, "the statement ran past its time limit (max_execution_time)"},
	{1969, "the statement ran past its time limit (max_statement_time)"},
	{1317, "the query was interrupted (KILL QUERY, or the server)"},
	{1927, "an administrator killed the connection"},
	{4031, "the server closed the connection after it sat idle past wait_timeout: the client's pool keeps connections longer than the server does"},
	{1053, "the server is shutting down"},
	{1153, "a packet larger than max_allowed_packet"},
	{1152, "the server aborted the connection"},
	{1159, "the server timed out reading from the client (net_read_timeout)"},
	{1161, "the server timed out writing to the client (net_write_timeout)"},
	{1142, "the user lacks a privilege"},
	{1227, "the user lacks a privilege"},
	{1041, "the server is out of memory"},
	{1021, "the server's disk is full"},
	{1114, "a table is full (its disk, or its size limit)"},
}

// myKind returns errno's index in myErrs, or -1.
func myKind(errno uint16) int {
	for i := range myErrs {
		if myErrs[i].errno == errno {
			return i
		}
	}
	return -1
}
