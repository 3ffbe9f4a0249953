package detectors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// dbEvents returns "NOTE code phase" for the events in out.
func dbEvents(t *testing.T, out *collect) []string {
	t.Helper()
	var got []string
	for _, e := range dbEventsByPort(t, out) {
		got = append(got, e...)
	}
	return got
}

// dbEventsByPort returns dbEvents by client port.
func dbEventsByPort(t *testing.T, out *collect) map[int][]string {
	t.Helper()
	got := map[int][]string{}
	for _, l := range out.lines {
		if noteOf(l) == "" {
			continue
		}
		var e struct {
			Port int    `json:"id.orig_p"`
			Note string `json:"note"`
			DB   struct {
				Code  string `json:"code"`
				Phase string `json:"phase"`
			} `json:"db"`
		}
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got[e.Port] = append(got[e.Port], strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Note, e.DB.Code, e.DB.Phase)))
	}
	return got
}

// splitEvery replays, from client port 20000+i into one engine, the
// conversation whose server answer (stream) is cut into two segments at
// i after the client's segments pre, for every i, and returns the
// events by i.
func splitEvery(t *testing.T, port uint16, pre []seg, stream []byte) (map[int][]string, *collect) {
	out := &collect{}
	var st Stats
	cfg := DefaultConfig()
	cfg.EventBurst = 1 << 20 // every cut is one event: none is folded
	e := NewEngine(cfg, 0, out, &st)
	for i := 0; i <= len(stream); i++ {
		replayInto(t, e, uint16(20000+i), port, splitSegs(pre, stream, i))
	}
	e.Flush()
	got := dbEventsByPort(t, out)
	byCut := map[int][]string{}
	for i := 0; i <= len(stream); i++ {
		byCut[i] = got[20000+i]
	}
	return byCut, out
}

// client returns the client's segments carrying msgs.
func client(msgs ...[]byte) []seg {
	var segs []seg
	for _, m := range msgs {
		segs = append(segs, seg{true, "A", m, 1e6})
	}
	return segs
}

// splitReplay replays a conversation whose server answer (stream) is cut
// into two segments at i, after the client's segments pre.
func splitReplay(t *testing.T, port uint16, pre []seg, stream []byte, i int, tail ...seg) *collect {
	return replay(t, port, append(splitSegs(pre, stream, i), tail...))
}

func splitSegs(pre []seg, stream []byte, i int) []seg {
	segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	segs = append(segs, pre...)
	if i > 0 {
		segs = append(segs, seg{false, "A", stream[:i], 1e6})
	}
	if i < len(stream) {
		segs = append(segs, seg{false, "A", stream[i:], 1e6})
	}
	return segs
}

// TestRedisRepliesSplitAnywhere: the server's replies are walked frame
// by frame wherever segments cut them, so error-looking bytes inside a
// value are never taken for an error, and the error reply that follows
// is read once.
func TestRedisRepliesSplitAnywhere(t *testing.T) {
	value := strings.Repeat("-NOAUTH not an error\r\n", 4)
	stream := []byte(fmt.Sprintf("+OK\r\n$%d\r\n%s\r\n*3\r\n$-1\r\n:5\r\n%%1\r\n+k\r\n$2\r\nab\r\n-READONLY You can't write against a read only replica.\r\n", len(value), value))
	req := []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	byCut, _ := splitEvery(t, 6379, client(req), stream)
	for i := 0; i <= len(stream); i++ {
		if got := byCut[i]; strings.Join(got, "|") != "DB_ERROR READONLY" {
			t.Fatalf("cut at %d (%q|%q): %v", i, stream[:i], stream[i:], got)
		}
	}
	// An unknown command, a wrong type, a redirection: the application's
	// answers. A value cut by a capture gap: nothing after it is read.
	for _, s := range []string{
		"-ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n-MOVED 3999 198.18.0.9:6381\r\n",
		"-NOSCRIPT No matching script. Please use EVAL.\r\n+OK\r\n",
	} {
		if got := dbEvents(t, splitReplay(t, 6379, client(req), []byte(s), len(s))); len(got) != 0 {
			t.Errorf("%q: %v", s, got)
		}
	}
	gap := []seg{{false, "G", []byte("$30\r\n-NOAUTH"), 1e6}, {false, "A", []byte(" 0123456789abcdef\r\n-NOAUTH x\r\n"), 1e6}}
	if got := dbEvents(t, splitReplay(t, 6379, client(req), nil, 0, gap...)); len(got) != 0 {
		t.Errorf("after a gap: %v", got)
	}
	// A failed AUTH, then NOAUTH for the next command: one event.
	auth := "-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n"
	if got := dbEvents(t, splitReplay(t, 6379, client(req), []byte(auth), 20)); strings.Join(got, "|") != "DB_ERROR WRONGPASS" {
		t.Errorf("AUTH then a command: %v", got)
	}
}

// pgMsg builds a PostgreSQL message of type typ.
func pgMsg(typ byte, body ...string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	for _, s := range body {
		b = append(b, s...)
	}
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
	return b
}

func pgStartup(params ...string) []byte {
	b := []byte{0, 0, 0, 0, 0, 3, 0, 0}
	for _, p := range params {
		b = append(append(b, p...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func pgErr(sev, code, msg string) []byte {
	return pgMsg('E', "S"+sev+"\x00V"+sev+"\x00C"+code+"\x00M"+msg+"\x00\x00")
}

// TestPostgresMessagesSplitAnywhere: the backend's messages are walked
// by their lengths wherever segments cut them: an ErrorResponse's bytes
// inside a row are not an error, the real one is read once, and only
// errors of the connection or the environment are reported.
func TestPostgresMessagesSplitAnywhere(t *testing.T) {
	start := pgStartup("user", "app", "database", "shop", "application_name", "psql")
	fake := string(pgErr("FATAL", "28P01", "fake"))
	var stream []byte
	for _, m := range [][]byte{
		pgMsg('R', "\x00\x00\x00\x00"), pgMsg('S', "server_version\x0015\x00"), pgMsg('K', "\x00\x00\x00\x01\x00\x00\x00\x02"), pgMsg('Z', "I"),
		pgMsg('T', "\x00\x01x\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00"),
		pgMsg('D', "\x00\x01", string(binary.BigEndian.AppendUint32(nil, uint32(len(fake)))), fake),
		pgMsg('C', "SELECT 1\x00"), pgMsg('Z', "I"),
		pgErr("ERROR", "23505", `duplicate key value violates unique constraint "items_pkey"`),
		pgErr("ERROR", "57014", "canceling statement due to statement timeout"), pgMsg('Z', "I"),
	} {
		stream = append(stream, m...)
	}
	req := pgMsg('Q', "select x\x00")
	byCut, out := splitEvery(t, 5432, client(start, req), stream)
	for i := 0; i <= len(stream); i++ {
		if got := byCut[i]; strings.Join(got, "|") != "DB_ERROR 57014 session" {
			t.Fatalf("cut at %d: %v", i, got)
		}
	}
	// An error cut by a segment's end keeps its first 64 bytes: the
	// message may be cut short then.
	whole := 0
	for _, l := range out.lines {
		if noteOf(l) != "" && !bytes.Contains(l, []byte(`(user app, database shop): ERROR 57014 canceling statement due to statement timeo`)) {
			t.Errorf("msg: %s", l)
		}
		if bytes.Contains(l, []byte(`ERROR 57014 canceling statement due to statement timeout: the statement ran past`)) {
			whole++
		}
	}
	if cut := len(pgErr("ERROR", "57014", "canceling statement due to statement timeout")); whole < len(stream)+1-cut {
		t.Errorf("%d whole messages of %d", whole, len(stream)+1)
	}
	// Refused at startup.
	refused := pgErr("FATAL", "28P01", `password authentication failed for user "app"`)
	if got := dbEvents(t, splitReplay(t, 5432, client(start), refused, 3, seg{false, "FA", nil, 1e6})); strings.Join(got, "|") != "DB_ERROR 28P01 startup" {
		t.Errorf("refused: %v", got)
	}
}

// TestPostgresTLSRequired: a client that asks for TLS, hears 'N' and
// closes (libpq's sslmode=require) is reported; one that goes on in
// plaintext (sslmode=prefer) is not.
func TestPostgresTLSRequired(t *testing.T) {
	sslReq := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	open := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", sslReq, 1e6}, {false, "A", []byte("N"), 1e6}}
	gaveUp := append(append([]seg{}, open...), seg{true, "FA", nil, 1e6}, seg{false, "FA", nil, 1e6})
	if got := dbEvents(t, replay(t, 5432, gaveUp)); strings.Join(got, "|") != "DB_ERROR TLS_NOT_OFFERED startup" {
		t.Errorf("gave up: %v", got)
	}
	wentOn := append(append([]seg{}, open...), seg{true, "A", pgStartup("user", "app"), 1e6},
		seg{false, "A", append(pgMsg('R', "\x00\x00\x00\x00"), pgMsg('Z', "I")...), 1e6}, seg{true, "FA", pgMsg('X'), 1e6}, seg{false, "FA", nil, 1e6})
	if got := dbEvents(t, replay(t, 5432, wentOn)); len(got) != 0 {
		t.Errorf("went on in plaintext: %v", got)
	}
}

// TestRedisNoAuthHeld: a NOAUTH is reported when the connection closes,
// or when it comes again a second later; not when the client then
// authenticates and gets answers (redis-cli's COMMAND DOCS before the
// AUTH its user types).
func TestRedisNoAuthHeld(t *testing.T) {
	cmd := func(s string) seg { return seg{true, "A", []byte(s), 1e6} }
	srv := func(s string, gap int64) seg { return seg{false, "A", []byte(s), gap} }
	open := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	noauth := "-NOAUTH Authentication required.\r\n"
	docs := cmd("*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n")
	get := cmd("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	fin := []seg{{true, "FA", nil, 1e6}, {false, "FA", nil, 1e6}}
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"closed after NOAUTH", []seg{get, srv(noauth, 1e6), fin[0], fin[1]}, "DB_ERROR NOAUTH"},
		{"authenticated after it", []seg{docs, srv(noauth, 1e6), cmd("*2\r\n$4\r\nauth\r\n$6\r\ns3cret\r\n"), srv("+OK\r\n", 1e6), get, srv("$1\r\nv\r\n", 1e6), fin[0], fin[1]}, ""},
		{"an answer without AUTH (QUIT's +OK)", []seg{get, srv(noauth, 1e6), cmd("*1\r\n$4\r\nQUIT\r\n"), srv("+OK\r\n", 1e6), fin[1], fin[0]}, "DB_ERROR NOAUTH"},
		{"again a second later, the connection open", []seg{get, srv(noauth, 1e6), get, srv(noauth, 1.5e9)}, "DB_ERROR NOAUTH"},
		{"a password the server does not ask for, then answers", []seg{cmd("*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n"), srv("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", 1e6),
			get, srv("$1\r\nv\r\n", 1e6), fin[0], fin[1]}, ""},
		{"a password the server does not ask for, then closed", []seg{cmd("*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n"), srv("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", 1e6),
			fin[0], fin[1]}, "DB_ERROR ERR"},
	} {
		got := dbEvents(t, replay(t, 6379, append(append([]seg{}, open...), tc.segs...)))
		if strings.Join(got, "|") != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzDBStream feeds a PostgreSQL, MySQL or Redis server stream, cut into three
// segments, after a client's first message, then closes the connection:
// the walkers must never panic, and a connection never writes more than
// maxDBEvents events.
func FuzzDBStream(f *testing.F) {
	f.Add([]byte("+OK\r\n$5\r\n-NOAU\r\n-READONLY x\r\n-OOM y\r\n"), 3, 12, true)
	f.Add([]byte("$-1\r\n*2\r\n$3\r\nabc\r\n!5\r\nerror\r\n-NOAUTH z\r\n"), 8, 30, true)
	var pg []byte
	for _, m := range [][]byte{pgMsg('R', "\x00\x00\x00\x00"), pgMsg('Z', "I"), pgErr("FATAL", "57P01", "terminating connection due to administrator command")} {
		pg = append(pg, m...)
	}
	f.Add(pg, 4, 20, false)
	f.Add([]byte("N"+string(pgErr("FATAL", "28P01", "x"))), 1, 9, false)
	f.Add(append(myPkt(0, "\x0a5.7\x00"), myPkt(2, "\xff\x15\x04#28000Access denied")...), 3, 14, false)
	f.Add(append(amqpFrame(1, 0, amqpMethodPayload(10, 41, "\x00")), amqpFrame(1, 3, amqpMethodPayload(20, 40, "\x01\x94\x09NOT_FOUND\x00\x32\x00\x0a"))...), 9, 17, false)
	f.Add([]byte("INFO {}\r\nMSG a 1 7\r\n-ERR x\r\n-ERR 'Stale Connection'\r\n"), 9, 30, false)
	f.Add([]byte("\x00\x00\x00\x0a\x00\x00\x00\x07\x00\x00\x00\x1d\x00\x00"), 6, 10, false) // Kafka: a response to correlation id 7
	// Memcached: text answers (a value holding an error line) and binary.
	f.Add([]byte("VALUE a 0 14\r\nSERVER_ERROR x\r\n\r\nEND\r\nSERVER_ERROR object too large for cache\r\n"), 7, 30, false)
	f.Add(append(mcBin(0x81, 0x00, 0x0001, "", "", "Not found"), mcBin(0x81, 0x01, 0x0082, "", "", "Out of memory")...), 20, 40, false)
	// MongoDB: replies to a hello and an insert.
	f.Add(append(mongoMsgOf(8, 1, bdoc{"setName", "rs0", "hosts", barr{"localhost:27017"}, "ok", float64(1)}),
		mongoMsgOf(9, 2, bdoc{"ok", float64(0), "errmsg", "not primary", "code", int32(10107), "writeErrors", barr{bdoc{"code", int32(64)}}})...), 20, 90, false)
	var st Stats
	out := &collect{}
	e := NewEngine(DefaultConfig(), 0, out, &st)
	n := 0
	f.Fuzz(func(t *testing.T, stream []byte, cut1, cut2 int, redis bool) {
		if len(stream) > 4096 {
			return
		}
		cut1 = min(max(cut1, 0), len(stream))
		cut2 = min(max(cut2, cut1), len(stream))
		port, first := uint16(5432), pgStartup("user", "app", "database", "shop")
		switch {
		case redis:
			port, first = 6379, []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
		case len(stream) > 0 && stream[0] == 0:
			// Kafka: a Metadata v1 request, correlation id 7, then a
			// Produce v8 (correlation id 8): responses are read by them.
			port, first = 9092, append([]byte("\x00\x00\x00\x0f\x00\x03\x00\x01\x00\x00\x00\x07\x00\x01a\x00\x00\x00\x00"), "\x00\x00\x00\x0a\x00\x00\x00\x08\x00\x00\x00\x08\x00\x00"...)
		case len(stream) >= 16 && binary.LittleEndian.Uint32(stream[12:]) == mongoMsg:
			// MongoDB: a hello, then an insert.
			port, first = 27017, append(mongoMsgOf(1, 0, bdoc{"hello", int32(1), "$db", "admin"}), mongoMsgOf(2, 0, bdoc{"insert", "orders", "$db", "shop"})...)
		case len(stream) > 0 && (stream[0] == 'V' || stream[0] == 0x81):
			// Memcached: a get, and a set of 2 MB (text or binary).
			port, first = 11211, []byte("get a b\r\nset k 0 0 2000000\r\n")
			if stream[0] == 0x81 {
				first = mcBin(0x80, 0x01, 0, "12345678", "k", "v")
			}
		case len(stream) > 0 && stream[0] == 1:
			// AMQP: a method frame first (Connection.Start).
			port, first = 5672, []byte("AMQP\x00\x00\x09\x01")
		case natsInfo(stream[:min(cut1, len(stream))]):
			// NATS: the server speaks first too.
			port, first = 4222, []byte("CONNECT {\"user\":\"app\"}\r\nPUB a 1\r\nx\r\n")
		case mysqlGreeting(stream[:min(cut1, len(stream))]):
			// MySQL: the server speaks first (the first cut is its
			// greeting); the client's handshake response comes after.
			port, first = 3306, myPkt(1, "\x08\x82\x00\x00\x00\x00\x00\x01\x21"+strings.Repeat("\x00", 23)+"app\x00\x00shop\x00")
		}
		n++
		cport := uint16(1024 + n%60000)
		segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
		serverFirst := port == 3306 || port == 4222
		if !serverFirst {
			segs = append(segs, seg{true, "A", first, 1e6})
		}
		for i, part := range [][]byte{stream[:cut1], stream[cut1:cut2], stream[cut2:]} {
			if len(part) > 0 {
				segs = append(segs, seg{false, "A", part, 2e8})
			}
			if i == 0 && serverFirst {
				segs = append(segs, seg{true, "A", first, 1e6})
			}
		}
		segs = append(segs, seg{true, "FA", nil, 1e6}, seg{false, "FA", nil, 1e6})
		out.lines = out.lines[:0]
		replayInto(t, e, cport, port, segs)
		e.Advance(e.now + 1e9)
		events := 0
		for _, l := range out.lines {
			if noteOf(l) == "DB_ERROR" {
				events++
			}
		}
		if events > maxDBEvents {
			t.Fatalf("%d events", events)
		}
	})
}

// myPkt builds a MySQL packet.
func myPkt(seq byte, body ...string) []byte {
	b := []byte{0, 0, 0, seq}
	for _, s := range body {
		b = append(b, s...)
	}
	n := len(b) - 4
	b[0], b[1], b[2] = byte(n), byte(n>>8), byte(n>>16)
	return b
}

// TestMySQLPacketsSplitAnywhere: MySQL's packets are walked by their
// lengths wherever segments cut them: a row of 0xff bytes (the byte an
// ERR packet starts with) is not an error, the real one is read once;
// the handshake response names the user and the database; a
// connection-time ERR packet in place of the greeting is read too.
func TestMySQLPacketsSplitAnywhere(t *testing.T) {
	greeting := myPkt(0, "\x0a10.11.6-MariaDB-0+deb12u1\x00\x01\x00\x00\x0012345678\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00123456789012\x00mysql_native_password\x00")
	caps := string(binary.LittleEndian.AppendUint32(nil, myConnectWithDB|mySecureConn|0x200))
	login := myPkt(1, caps, "\x00\x00\x00\x01\x21", strings.Repeat("\x00", 23), "app\x00\x14", strings.Repeat("p", 20), "shop\x00mysql_native_password\x00")
	ok := myPkt(2, "\x00\x00\x00\x02\x00\x00\x00")
	query := myPkt(0, "\x03select x")
	var stream []byte
	for _, m := range [][]byte{
		myPkt(1, "\x01"), myPkt(2, "\x03def\x04shop\x00\x00\x00\x01x\x00\x0c\x21\x00\xff\xff\x00\x00\xfc\x10\x00\x00\x00\x00"),
		myPkt(3, "\xfe\x00\x00\x22\x00"), myPkt(4, "\xfc\x2c\x01"+strings.Repeat("\xff", 300)), myPkt(5, "\xfe\x00\x00\x22\x00"),
		myPkt(1, "\xff\x3e\x04#23000Duplicate entry '1' for key 'PRIMARY'"),
		myPkt(1, "\xff\x0a\x05#HY000The MariaDB server is running with the --read-only option so it cannot execute this statement"),
	} {
		stream = append(stream, m...)
	}
	pre := []seg{{false, "A", greeting, 1e6}, {true, "A", login, 1e6}, {false, "A", ok, 1e6}, {true, "A", query, 1e6}}
	byCut, out := splitEvery(t, 3306, pre, stream)
	for i := 0; i <= len(stream); i++ {
		if got := byCut[i]; strings.Join(got, "|") != "DB_ERROR 1290 session" {
			t.Fatalf("cut at %d: %v", i, got)
		}
	}
	for _, l := range out.lines {
		if noteOf(l) != "" && !bytes.Contains(l, []byte(`(user app, database shop): error 1290 (HY000) The MariaDB server is running`)) {
			t.Errorf("msg: %s", l)
		}
	}
	refused := myPkt(0, "\xff\x6a\x04Host 'fd00:198:18::2' is not allowed to connect to this MariaDB server")
	srvFirst := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {false, "A", refused, 1e6}, {false, "FA", nil, 1e6}, {true, "FA", nil, 1e6}}
	if got := dbEvents(t, replay(t, 3306, srvFirst)); strings.Join(got, "|") != "DB_ERROR 1130 startup" {
		t.Errorf("refused at connect: %v", got)
	}
}

// TestPgBouncerMessages: PgBouncer's errors are named by their message,
// whatever their code (08P01 for all of them before 1.22) and severity
// (ERROR before 1.22, FATAL after); the server's login errors it relays
// get the server's meaning; prepared statements missing on a pooled
// server connection are reported; a real protocol violation keeps its
// meaning.
func TestPgBouncerMessages(t *testing.T) {
	start := pgStartup("user", "app", "database", "shop")
	ready := append(append(pgMsg('R', "\x00\x00\x00\x00"), pgMsg('S', "server_version\x0015\x00")...), pgMsg('Z', "I")...)
	for _, tc := range []struct {
		sev, code, msg string
		session        bool   // after ReadyForQuery
		want           string // in the event's msg; "" for no event
		pooler         bool
	}{
		{"ERROR", "08P01", "no more connections allowed (max_client_conn)", false, "refused client 198.18.0.2 (user app, database shop): ERROR 08P01 no more connections allowed (max_client_conn): PgBouncer has no client slot left", true},
		{"FATAL", "53300", "no more connections allowed (max_client_conn)", false, "PgBouncer has no client slot left", true},
		{"ERROR", "08P01", "query_wait_timeout", true, "ended the session of client 198.18.0.2 (user app, database shop): ERROR 08P01 query_wait_timeout: no server connection became free", true},
		{"ERROR", "08P01", "client_idle_timeout", true, "PgBouncer closed the idle client connection", true},
		{"ERROR", "08P01", "unsupported startup parameter: search_path", false, "ignore_startup_parameters", true},
		{"ERROR", "08P01", "no such database: shop", false, "[databases] section", true},
		{"ERROR", "08P01", "password authentication failed", false, "PgBouncer does not know", true},
		{"FATAL", "28P01", "password authentication failed", false, "PgBouncer does not know", true},
		{"ERROR", "08P01", "server login has been failing, try again later (server_login_retry)", false, "keeps failing", true},
		{"ERROR", "08P01", `password authentication failed for user "app"`, false, "it passed the server's error on: wrong password", true},
		{"ERROR", "08P01", `no pg_hba.conf entry for host "198.18.0.1", user "app", database "shop", no encryption`, false, "passed the server's error on: no pg_hba.conf rule", true},
		{"ERROR", "08P01", `database "shop" does not exist`, false, "passed the server's error on: the database does not exist", true},
		{"FATAL", "28P01", `password authentication failed for user "app"`, false, "PostgreSQL server 198.18.0.1:5432 refused client 198.18.0.2 (user app, database shop): FATAL 28P01 password authentication failed for user \"app\": wrong password", false},
		{"FATAL", "08P01", "invalid frontend message type 120", true, "a protocol violation", false},
		{"ERROR", "26000", `prepared statement "stmtcache_1f0c" does not exist`, true, "failed a query of client 198.18.0.2 (user app, database shop): ERROR 26000 prepared statement \"stmtcache_1f0c\" does not exist: the driver's prepared statement is missing on this server connection", false},
		{"ERROR", "42P05", `prepared statement "S_1" already exists`, true, "pool_mode=transaction", false},
		{"ERROR", "26000", `invalid statement name`, true, "", false},
		{"ERROR", "42P01", `relation "items" does not exist`, true, "", false},
	} {
		segs := client(start)
		stream := pgErr(tc.sev, tc.code, tc.msg)
		if tc.session {
			segs = append(segs, seg{false, "A", ready, 1e6}, seg{true, "A", pgMsg('Q', "select 1\x00"), 1e6})
			if tc.code == "26000" || tc.code == "42P05" || tc.code == "42P01" {
				stream = append(stream, pgMsg('Z', "I")...)
			}
		}
		for _, i := range []int{0, 7, len(stream) / 2} {
			out := splitReplay(t, 5432, segs, stream, i, seg{false, "FA", nil, 1e6})
			var got [][]byte
			for _, l := range out.lines {
				if noteOf(l) != "" {
					got = append(got, l)
				}
			}
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("%s %s cut %d: %s", tc.code, tc.msg, i, got)
				}
				continue
			}
			// A message cut by a segment's end keeps its first 64 bytes.
			if len(got) != 1 || i == 0 && !bytes.Contains(got[0], []byte(jsonText(tc.want))) || bytes.Contains(got[0], []byte(`"pooler":"pgbouncer"`)) != tc.pooler {
				t.Errorf("%s %s cut %d: want %q, pooler %v:\n%s", tc.code, tc.msg, i, tc.want, tc.pooler, got)
			}
		}
	}
}

// jsonText is s as it reads inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TestPgBouncerHintAllocs: naming an error costs no allocation.
func TestPgBouncerHintAllocs(t *testing.T) {
	msgs := [][]byte{[]byte("pgbouncer cannot connect to server"), []byte(`password authentication failed for user "app"`), []byte("remaining connection slots are reserved for roles with the SUPERUSER attribute")}
	code := []byte("08P01")
	if n := testing.AllocsPerRun(100, func() {
		for _, m := range msgs {
			pgbouncerHint(code, m)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestDBClosedDuringQuery: a server that closes a session while a
// request waits for its answer (a crash, an OOM kill, MariaDB's KILL, a
// proxy's timeout) is reported; one that closes after answering, after
// the client's goodbye, or during the login, is not.
func TestDBClosedDuringQuery(t *testing.T) {
	pgStart := pgStartup("user", "app", "database", "shop")
	pgReady := append(pgMsg('R', "\x00\x00\x00\x00"), pgMsg('Z', "I")...)
	pgQuery := pgMsg('Q', "select pg_sleep(60)\x00")
	myGreeting := myPkt(0, "\x0a5.5.5-10.11.6-MariaDB\x00", "\x01\x00\x00\x00", "abcdefgh\x00", "\xff\xf7", "\x08", "\x02\x00", "\xff\x81", "\x15", strings.Repeat("\x00", 10), "ijklmnopqrst\x00", "mysql_native_password\x00")
	myLogin := myPkt(1, "\x8d\xa6\x0f\x00", "\x00\x00\x00\x01", "\x21", strings.Repeat("\x00", 23), "app\x00", "\x00", "shop\x00")
	myOK := myPkt(2, "\x00\x00\x00\x02\x00\x00\x00")
	myQuery := myPkt(0, "\x03select sleep(60)")
	open := func(msgs ...seg) []seg {
		return append([]seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}, msgs...)
	}
	cli := func(b []byte, gap int64) seg { return seg{true, "A", b, gap} }
	srv := func(b []byte) seg { return seg{false, "A", b, 1e6} }
	for _, tc := range []struct {
		name string
		port uint16
		segs []seg
		want string // in the event's msg; "" for no event
	}{
		{"postgres, a query running", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), seg{false, "FA", nil, 2500e6}),
			`PostgreSQL server 198.18.0.1:5432 closed the connection of client 198.18.0.2 (user app, database shop) 2.5 s after its request, without an answer or an error`},
		{"postgres, closed idle", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), srv(append(pgMsg('C', "SELECT 1\x00"), pgMsg('Z', "I")...)), seg{false, "FA", nil, 10e9}), ""},
		{"postgres, a partial answer", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), srv(pgMsg('T', "\x00\x00")), seg{false, "FA", nil, 1e9}), ""},
		{"postgres, Terminate", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), srv(pgMsg('Z', "I")), cli(pgMsg('X'), 1e6), seg{false, "FA", nil, 1e6}), ""},
		{"postgres, during the login", 5432, open(cli(pgStart, 1e6), srv(pgMsg('R', "\x00\x00\x00\x0a")), cli(pgMsg('p', "x\x00"), 1e6), seg{false, "FA", nil, 1e6}), ""},
		{"mysql, a query running", 3306, open(srv(myGreeting), cli(myLogin, 1e6), srv(myOK), cli(myQuery, 1e6), seg{false, "FA", nil, 700e6}),
			`MySQL server 198.18.0.1:3306 closed the connection of client 198.18.0.2 (user app, database shop) 700 ms after its request`},
		{"mysql, a replica's binlog stream ends", 3306, open(srv(myGreeting), cli(myLogin, 1e6), srv(myOK), cli(myPkt(0, "\x12\x04\x00\x00\x00\x00\x00\x02\x00\x00\x00"), 1e6), srv(myPkt(1, "\x00event")), cli(myPkt(0, "\xefack"), 1e6), seg{false, "FA", nil, 3e9}), ""},
		{"mysql, closed idle after COM_STMT_CLOSE", 3306, open(srv(myGreeting), cli(myLogin, 1e6), srv(myOK), cli(myPkt(0, "\x19\x01\x00\x00\x00"), 1e6), seg{false, "FA", nil, 60e9}), ""},
		{"mysql, COM_QUIT", 3306, open(srv(myGreeting), cli(myLogin, 1e6), srv(myOK), cli(myPkt(0, "\x01"), 1e6), seg{false, "FA", nil, 1e6}), ""},
		{"redis, BLPOP", 6379, open(cli([]byte("*3\r\n$5\r\nBLPOP\r\n$4\r\njobs\r\n$1\r\n0\r\n"), 1e6), seg{false, "FA", nil, 3e9}),
			`Redis server 198.18.0.1:6379 closed the connection of client 198.18.0.2 3.0 s after its request`},
		{"redis, SHUTDOWN", 6379, open(cli([]byte("*1\r\n$4\r\nPING\r\n"), 1e6), srv([]byte("+PONG\r\n")), cli([]byte("*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n"), 1e6), seg{false, "FA", nil, 1e6}), ""},
		{"redis, a keep-alive probe's byte", 6379, open(cli([]byte("*1\r\n$4\r\nPING\r\n"), 1e6), srv([]byte("+PONG\r\n")), cli([]byte{0}, 60e9), seg{false, "FA", nil, 1e6}), ""},
	} {
		var got [][]byte
		for _, l := range replay(t, tc.port, tc.segs).lines {
			if noteOf(l) != "" {
				got = append(got, l)
			}
		}
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: %s", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !bytes.Contains(got[0], []byte(jsonText(tc.want))) || !bytes.Contains(got[0], []byte(`"code":"CLOSED_DURING_QUERY"`))):
			t.Errorf("%s: want %q:\n%s", tc.name, tc.want, got)
		}
	}
}

// TestDBQueryAbandoned: a client that closes its session after waiting
// at least a second for an answer is reported (its timeout fired); not
// one that waited less, one in a Redis blocking command, one that said
// goodbye, nor a replication session; during the login, a client left
// waiting after its authentication succeeded (a pooler with no server
// connection) is reported too.
func TestDBQueryAbandoned(t *testing.T) {
	pgStart := pgStartup("user", "app", "database", "shop")
	pgReady := append(pgMsg('R', "\x00\x00\x00\x00"), pgMsg('Z', "I")...)
	pgQuery := pgMsg('Q', "select pg_sleep(60)\x00")
	open := func(msgs ...seg) []seg {
		return append([]seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}, msgs...)
	}
	cli := func(b []byte, gap int64) seg { return seg{true, "A", b, gap} }
	srv := func(b []byte) seg { return seg{false, "A", b, 1e6} }
	for _, tc := range []struct {
		name string
		port uint16
		segs []seg
		want string
	}{
		{"postgres, a 5 s timeout", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), seg{true, "FA", nil, 5e9}),
			`client 198.18.0.2 (user app, database shop) gave up on its request to PostgreSQL server 198.18.0.1:5432 and closed the connection after waiting 5.0 s without a byte of answer`},
		{"postgres, the answer after the close is reset", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), seg{true, "FA", nil, 2e9}, seg{false, "A", nil, 1e6},
			seg{false, "A", append(pgMsg('C', "SELECT 1\x00"), pgMsg('Z', "I")...), 3e9}, seg{true, "R", nil, 1e6}),
			`gave up on its request to PostgreSQL server 198.18.0.1:5432 and closed the connection after waiting 2.0 s`},
		{"postgres, after 300 ms", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), seg{true, "FA", nil, 300e6}), ""},
		{"postgres, answered", 5432, open(cli(pgStart, 1e6), srv(pgReady), cli(pgQuery, 1e6), srv(pgMsg('Z', "I")), seg{true, "FA", nil, 5e9}), ""},
		{"postgres, a replication session", 5432, open(cli(pgStartup("user", "rep", "replication", "database"), 1e6), srv(pgReady), cli(pgMsg('d', "r..."), 1e6), seg{true, "FA", nil, 5e9}), ""},
		{"postgres, waiting after SASLFinal", 6432, open(cli(pgStart, 1e6), srv(pgMsg('R', "\x00\x00\x00\x0cv=abc")), seg{true, "FA", nil, 2e9}),
			`client 198.18.0.2 (user app, database shop) gave up on its login to PostgreSQL server 198.18.0.1:6432 and closed the connection after waiting 2.0 s`},
		{"postgres, asked for a password it has not", 5432, open(cli(pgStart, 1e6), srv(pgMsg('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00")), seg{true, "FA", nil, 2e9}), ""},
		{"redis, a slow script", 6379, open(cli([]byte("*3\r\n$4\r\nEVAL\r\n$4\r\nx()1\r\n$1\r\n0\r\n"), 1e6), seg{true, "FA", nil, 3e9}),
			`client 198.18.0.2 gave up on its request to Redis server 198.18.0.1:6379 and closed the connection after waiting 3.0 s`},
		{"redis, BRPOP", 6379, open(cli([]byte("*3\r\n$5\r\nbrpop\r\n$4\r\njobs\r\n$1\r\n5\r\n"), 1e6), seg{true, "FA", nil, 3e9}), ""},
		{"redis, XREAD BLOCK", 6379, open(cli([]byte("*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n$\r\n"), 1e6), seg{true, "FA", nil, 3e9}), ""},
		{"redis, a replica's acknowledgement", 6379, open(cli([]byte("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"), 1e6), srv([]byte("+FULLRESYNC abc 0\r\n")),
			cli([]byte("*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n"), 1e6), seg{true, "FA", nil, 5e9}), ""},
		{"redis, inline BLPOP", 6379, open(cli([]byte("BLPOP q 0\r\n"), 1e6), seg{true, "FA", nil, 3e9}), ""},
	} {
		var got [][]byte
		for _, l := range replay(t, tc.port, tc.segs).lines {
			if noteOf(l) != "" {
				got = append(got, l)
			}
		}
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: %s", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !bytes.Contains(got[0], []byte(jsonText(tc.want))) || !bytes.Contains(got[0], []byte(`"code":"QUERY_ABANDONED"`)) || !bytes.Contains(got[0], []byte(`"side":"client"`))):
			t.Errorf("%s: want %q:\n%s", tc.name, tc.want, got)
		}
	}
}

func amqpFrame(typ byte, ch uint16, payload string) []byte {
	b := []byte{typ, byte(ch >> 8), byte(ch), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[3:], uint32(len(payload)))
	return append(append(b, payload...), 0xce)
}

func amqpMethodPayload(class, method uint16, args string) string {
	return string([]byte{byte(class >> 8), byte(class), byte(method >> 8), byte(method)}) + args
}

// TestAMQPFramesSplitAnywhere: the broker's frames are walked by their
// sizes wherever segments cut them: a Close method's bytes inside a
// message body are not a close, the real Channel.Close is read once, a
// reply-success close is not an error.
func TestAMQPFramesSplitAnywhere(t *testing.T) {
	closeArgs := func(code uint16, text string) string {
		return string([]byte{byte(code >> 8), byte(code), byte(len(text))}) + text + "\x00\x32\x00\x0a"
	}
	fake := string(amqpFrame(1, 0, amqpMethodPayload(10, 50, closeArgs(320, "CONNECTION_FORCED - fake"))))
	var stream []byte
	for _, f := range [][]byte{
		amqpFrame(1, 0, amqpMethodPayload(10, 10, "\x00\x09\x00\x00\x00\x14\x07productS\x00\x00\x00\x08RabbitMQ\x00\x00\x00\x05PLAIN\x00\x00\x00\x05en_US")),
		amqpFrame(1, 0, amqpMethodPayload(10, 30, "\x07\xff\x00\x02\x00\x00\x00\x3c")),
		amqpFrame(1, 0, amqpMethodPayload(10, 41, "\x00")),
		amqpFrame(1, 1, amqpMethodPayload(20, 11, "\x00\x00\x00\x00")),
		amqpFrame(1, 1, amqpMethodPayload(60, 60, "\x03ctg\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x06orders")),
		amqpFrame(2, 1, "\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		amqpFrame(3, 1, fake),
		amqpFrame(8, 0, ""),
		amqpFrame(1, 1, amqpMethodPayload(20, 40, closeArgs(200, "OK"))),
		amqpFrame(1, 2, amqpMethodPayload(20, 40, closeArgs(404, "NOT_FOUND - no queue 'invoices' in vhost 'shop'"))),
	} {
		stream = append(stream, f...)
	}
	open := amqpFrame(1, 0, amqpMethodPayload(10, 40, "\x04shop\x00\x00"))
	byCut, out := splitEvery(t, 5672, client([]byte("AMQP\x00\x00\x09\x01"), open), stream)
	for i := 0; i <= len(stream); i++ {
		if got := byCut[i]; strings.Join(got, "|") != "DB_ERROR 404 session" {
			t.Fatalf("cut at %d: %v", i, got)
		}
	}
	whole := 0
	for _, l := range out.lines {
		if noteOf(l) == "" {
			continue
		}
		if !bytes.Contains(l, []byte(`RabbitMQ 198.18.0.1:5672 closed channel 2 of client 198.18.0.2 (vhost shop): 404 NOT_FOUND - no queue`)) || !bytes.Contains(l, []byte(`"channel":2`)) {
			t.Errorf("msg: %s", l)
		}
		if bytes.Contains(l, []byte(`in vhost 'shop': the exchange or queue does not exist`)) {
			whole++
		}
	}
	if whole < len(stream)-80 {
		t.Errorf("%d whole messages of %d", whole, len(stream)+1)
	}
	// A broker that does not speak the client's version answers with its
	// own protocol header.
	if got := dbEvents(t, replay(t, 5672, append(client([]byte("AMQP\x00\x01\x00\x00")), seg{false, "A", []byte("AMQP\x00\x00\x09\x01"), 1e6}, seg{false, "FA", nil, 1e6}))); strings.Join(got, "|") != "DB_ERROR VERSION" {
		t.Errorf("version: %v", got)
	}
}

// TestNATSLinesSplitAnywhere: the server's lines are walked wherever
// segments cut them, and a message's payload is skipped by its size, so
// an -ERR inside a payload is not an error; the real one is read once.
func TestNATSLinesSplitAnywhere(t *testing.T) {
	payload := "-ERR 'Authorization Violation'\r\nMSG x 1 5\r\n"
	stream := []byte("INFO {\"server_id\":\"x\",\"max_payload\":1024}\r\n+OK\r\nPING\r\n" +
		"MSG public.echo 1 " + fmt.Sprint(len(payload)) + "\r\n" + payload + "\r\n" +
		"HMSG public.echo 1 _INBOX.42 12 " + fmt.Sprint(12+len(payload)) + "\r\nNATS/1.0\r\n\r\n" + payload + "\r\n" +
		"RMSG $G public.echo " + fmt.Sprint(len(payload)) + "\r\n" + payload + "\r\n" +
		"PONG\r\n-ERR 'Permissions Violation for Publish to \"orders.new\"'\r\n")
	out := &collect{}
	var st Stats
	cfg := DefaultConfig()
	cfg.EventBurst = 1 << 20
	e := NewEngine(cfg, 0, out, &st)
	connect := []byte("CONNECT {\"user\":\"limited\",\"pass\":\"secret\"}\r\nPUB orders.new 5\r\nhello\r\n")
	// The server speaks first: its first segment holds at least "INFO {".
	const first = 6
	for i := first; i <= len(stream); i++ {
		segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
		segs = append(segs, seg{false, "A", stream[:i], 1e6})
		segs = append(segs, seg{true, "A", connect, 1e6})
		if i < len(stream) {
			segs = append(segs, seg{false, "A", stream[i:], 1e6})
		}
		replayInto(t, e, uint16(20000+i), 4222, segs)
	}
	e.Flush()
	got := dbEventsByPort(t, out)
	for i := first; i <= len(stream); i++ {
		if strings.Join(got[20000+i], "|") != "DB_ERROR PERMISSIONS_VIOLATION" {
			t.Fatalf("cut at %d: %v", i, got[20000+i])
		}
	}
	for _, l := range out.lines {
		if noteOf(l) != "" && !bytes.Contains(l, []byte(`NATS server 198.18.0.1:4222 answered client 198.18.0.2`)) {
			t.Errorf("msg: %s", l)
		}
	}
}

// TestDBResetHint: a database server's reset of a logged-in session says
// whether the session was idle (an idle timeout) or a request waited.
func TestDBResetHint(t *testing.T) {
	pgStart := pgStartup("user", "app", "database", "shop")
	pgReady := append(pgMsg('R', "\x00\x00\x00\x00"), pgMsg('Z', "I")...)
	base := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", pgStart, 1e6}, {false, "A", pgReady, 1e6}}
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"idle", append(append([]seg{}, base...), seg{false, "R", nil, 30e9}), "the session was idle; most often an idle timeout ended it"},
		{"a query waiting", append(append([]seg{}, base...), seg{true, "A", pgMsg('Q', "select 1\x00"), 1e6}, seg{false, "R", nil, 2e9}), "a request had waited 2.0 s without an answer"},
		{"the client abandons a query", append(append([]seg{}, base...), seg{true, "A", pgMsg('Q', "select 1\x00"), 1e6}, seg{true, "R", nil, 3e9}), "a request had waited 3.0 s for its answer: the client abandoned it"},
	} {
		var got [][]byte
		for _, l := range replay(t, 5432, tc.segs).lines {
			if noteOf(l) != "" {
				got = append(got, l)
			}
		}
		if len(got) != 1 || noteOf(got[0]) != "TCP_RESET" || !bytes.Contains(got[0], []byte(tc.want)) {
			t.Errorf("%s: want a TCP_RESET with %q:\n%s", tc.name, tc.want, got)
		}
	}
}

// TestAMQPDropped: a broker that ends an open connection without a
// Connection.Close from either side is reported; one closing after the
// client's Connection.Close is not.
func TestAMQPDropped(t *testing.T) {
	hello := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", []byte("AMQP\x00\x00\x09\x01"), 1e6},
		{false, "A", amqpFrame(1, 0, amqpMethodPayload(10, 41, "\x00")), 1e6}}
	dropped := append(append([]seg{}, hello...), seg{false, "RA", nil, 5e9})
	if got := dbEvents(t, replay(t, 5672, dropped)); strings.Join(got, "|") != "DB_ERROR CLOSED_WITHOUT_REASON session" {
		t.Errorf("dropped: %v", got)
	}
	bye := append(append([]seg{}, hello...), seg{true, "A", amqpFrame(1, 0, amqpMethodPayload(10, 50, "\x00\xc8\x02OK\x00\x00\x00\x00")), 1e6},
		seg{false, "A", amqpFrame(1, 0, amqpMethodPayload(10, 51, "")), 1e6}, seg{false, "FA", nil, 1e6}, seg{true, "FA", nil, 1e6})
	if got := dbEvents(t, replay(t, 5672, bye)); len(got) != 0 {
		t.Errorf("the client's close: %v", got)
	}
}
