package detectors

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// bdoc builds a BSON document from name, value pairs: string, int32,
// float64 (double), bool, bdoc (a document) or barr (an array).
type bdoc []any

type barr []any

func (d bdoc) bytes() []byte { return bsonBytes(d, false) }

func bsonBytes(kv []any, array bool) []byte {
	b := []byte{0, 0, 0, 0}
	for i := 0; i < len(kv); {
		var name string
		var v any
		if array {
			name, v = string(rune('0'+i)), kv[i]
			i++
		} else {
			name, v = kv[i].(string), kv[i+1]
			i += 2
		}
		el := func(t byte) { b = append(append(append(b, t), name...), 0) }
		switch v := v.(type) {
		case string:
			el(0x02)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)+1))
			b = append(append(b, v...), 0)
		case int32:
			el(0x10)
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case float64:
			el(0x01)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case bool:
			el(0x08)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case bdoc:
			el(0x03)
			b = append(b, v.bytes()...)
		case barr:
			el(0x04)
			b = append(b, bsonBytes(v, true)...)
		}
	}
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// mongoMsgOf builds an OP_MSG (a body section only).
func mongoMsgOf(id, to int32, doc bdoc) []byte {
	return mongoFrame(id, to, mongoMsg, append([]byte{0, 0, 0, 0, 0}, doc.bytes()...))
}

func mongoFrame(id, to int32, op uint32, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(16+len(body)))
	b = binary.LittleEndian.AppendUint32(b, uint32(id))
	b = binary.LittleEndian.AppendUint32(b, uint32(to))
	b = binary.LittleEndian.AppendUint32(b, op)
	return append(b, body...)
}

// mongoRun replays one connection to port: the client's and the server's
// messages in turn (nil: none), and returns the DB_ERROR events.
func mongoRun(t *testing.T, port uint16, msgs ...[]byte) []string {
	t.Helper()
	var st Stats
	out := &collect{}
	e := NewEngine(DefaultConfig(), 0, out, &st)
	segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	for i, m := range msgs {
		if m != nil {
			segs = append(segs, seg{i%2 == 0, "A", m, 1e6})
		}
	}
	segs = append(segs, seg{true, "FA", nil, 1e6}, seg{false, "FA", nil, 1e6})
	replayInto(t, e, 40200, port, segs)
	e.Advance(e.now + 1e9)
	var got []string
	for _, l := range out.lines {
		if noteOf(l) != "" {
			got = append(got, string(l))
		}
	}
	return got
}

var mongoHello = mongoMsgOf(1, 0, bdoc{"hello", int32(1), "$db", "admin"})

// TestMongoReplicaSetLoopback: a replica set initiated with localhost
// lists its members so in hello: a client that discovers the set
// connects to itself.
func TestMongoReplicaSetLoopback(t *testing.T) {
	reply := mongoMsgOf(9, 1, bdoc{"isWritablePrimary", true, "setName", "rs0", "hosts", barr{"localhost:27017"}, "primary", "localhost:27017", "ok", float64(1)})
	got := mongoRun(t, 30000, mongoHello, reply) // any port: told by the hello
	if len(got) != 1 || !strings.Contains(got[0], `"code":"MEMBER_LOOPBACK"`) || !strings.Contains(got[0], `replica set rs0 is at localhost:27017`) {
		t.Errorf("%q", got)
	}
	healthy := mongoMsgOf(9, 1, bdoc{"setName", "rs0", "hosts", barr{"mongo-0.mongo.db.svc.cluster.local:27017", "mongo-1.mongo.db.svc.cluster.local:27017"}, "ok", float64(1)})
	if got := mongoRun(t, 27017, mongoHello, healthy); len(got) != 0 {
		t.Errorf("healthy set: %q", got)
	}
}

// TestMongoErrors: the errors of the environment are read from failed
// commands (ok: 0), from a write's writeConcernError, and from a legacy
// OP_REPLY; an application's own (a duplicate key), a probe's
// CommandNotFound and a hello on another port than MongoDB's without
// a hello are not.
func TestMongoErrors(t *testing.T) {
	insert := mongoMsgOf(2, 0, bdoc{"insert", "orders", "ordered", true, "$db", "shop"})
	helloOK := mongoMsgOf(8, 1, bdoc{"ok", float64(1)})
	for _, c := range []struct {
		name  string
		reply []byte
		want  []string
	}{
		{"not primary", mongoMsgOf(9, 2, bdoc{"ok", float64(0), "errmsg", "not primary", "code", int32(10107), "codeName", "NotWritablePrimary"}),
			[]string{`"code":"10107"`, `"code_name":"NotWritablePrimary"`, `"command":"insert"`, `"collection":"orders"`, `"database":"shop"`, `"phase":"session"`, `on collection orders: error 10107 NotWritablePrimary \"not primary\"`}},
		{"write concern", mongoMsgOf(9, 2, bdoc{"n", int32(1), "writeConcernError", bdoc{"code", int32(64), "codeName", "WriteConcernFailed", "errmsg", "waiting for replication timed out"}, "ok", float64(1)}),
			[]string{`"code":"64"`, `"message":"waiting for replication timed out"`}},
		{"duplicate key", mongoMsgOf(9, 2, bdoc{"n", int32(0), "writeErrors", barr{bdoc{"index", int32(0), "code", int32(11000), "errmsg", "E11000 duplicate key"}}, "ok", float64(1)}), nil},
		{"write error", mongoMsgOf(9, 2, bdoc{"n", int32(0), "writeErrors", barr{bdoc{"index", int32(0), "code", int32(14031), "errmsg", "disk full"}}, "ok", int32(1)}),
			[]string{`"code_name":"OutOfDiskSpace"`}},
	} {
		got := mongoRun(t, 27017, mongoHello, helloOK, insert, c.reply)
		if len(got) != min(len(c.want), 1) {
			t.Errorf("%s: %q", c.name, got)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(got[0], w) {
				t.Errorf("%s: no %s in %s", c.name, w, got[0])
			}
		}
	}
	// mongosh asks any server for atlasVersion.
	probe := mongoMsgOf(3, 0, bdoc{"atlasVersion", int32(1), "$db", "admin"})
	notFound := mongoMsgOf(9, 3, bdoc{"ok", float64(0), "errmsg", "no such command: 'atlasVersion'", "code", int32(59), "codeName", "CommandNotFound"})
	if got := mongoRun(t, 27017, mongoHello, helloOK, probe, notFound); len(got) != 0 {
		t.Errorf("probe: %q", got)
	}
	// A transaction the server had aborted: its commit's error is
	// reported, the abort drivers send after a failure is not.
	for cmd, want := range map[string]int{"commitTransaction": 1, "abortTransaction": 0} {
		req := mongoMsgOf(3, 0, bdoc{cmd, int32(1), "$db", "admin"})
		noTxn := mongoMsgOf(9, 3, bdoc{"ok", float64(0), "errmsg", "Transaction with { txnNumber: 2 } has been aborted.", "code", int32(251), "codeName", "NoSuchTransaction"})
		if got := mongoRun(t, 27017, mongoHello, helloOK, req, noTxn); len(got) != want {
			t.Errorf("%s: %q", cmd, got)
		}
	}
	// A login whose success the server told in its hello reply
	// (speculative X.509): a later command's error is the session's.
	x509 := mongoMsgOf(1, 0, bdoc{"hello", int32(1), "speculativeAuthenticate", bdoc{"authenticate", int32(1), "mechanism", "MONGODB-X509"}, "$db", "admin"})
	x509OK := mongoMsgOf(8, 1, bdoc{"speculativeAuthenticate", bdoc{"dbname", "$external", "user", "CN=orders"}, "ok", float64(1)})
	unauth := mongoMsgOf(9, 2, bdoc{"ok", float64(0), "errmsg", "not authorized on shop to execute command { insert: \"orders\" }", "code", int32(13), "codeName", "Unauthorized"})
	if got := mongoRun(t, 27017, x509, x509OK, insert, unauth); len(got) != 1 || !strings.Contains(got[0], `"phase":"session"`) || !strings.Contains(got[0], "failed the insert command") || !strings.Contains(got[0], "roles do not allow") {
		t.Errorf("x509: %q", got)
	}
	// A driver too old for MongoDB 6.0: an insert in OP_QUERY, answered
	// in OP_REPLY (QueryFailure) with $err.
	q := append([]byte{0, 0, 0, 0}, "shop.$cmd\x00"...)
	q = append(append(q, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), bdoc{"insert", "orders"}.bytes()...)
	r := append([]byte{2, 0, 0, 0}, make([]byte, 16)...)
	r = append(r, bdoc{"$err", "Unsupported OP_QUERY command: insert. The client driver may require an upgrade.", "code", int32(352), "ok", float64(0)}.bytes()...)
	got := mongoRun(t, 27017, mongoFrame(5, 0, mongoQuery, q), mongoFrame(9, 5, mongoReply, r))
	if len(got) != 1 || !strings.Contains(got[0], `"code_name":"UnsupportedOpQueryCommand"`) || !strings.Contains(got[0], `The client driver may require an upgrade`) {
		t.Errorf("OP_QUERY: %q", got)
	}
	// Not MongoDB on another port: a find opens no connection.
	if mongoClientStart(insert, 30000) || !mongoClientStart(insert, 27017) || !mongoClientStart(mongoHello, 30000) {
		t.Error("mongoClientStart")
	}
}

// TestMongoLoginRefused: a SCRAM login refused in saslContinue after a
// hello that carried its saslStart (speculative authentication): the user
// is read from SCRAM's first message, the database is the login's.
func TestMongoLoginRefused(t *testing.T) {
	payload := "n,,n=orders-svc,r=abcdef"
	spec := []byte(bdoc{"saslStart", int32(1), "mechanism", "SCRAM-SHA-256", "db", "admin"}.bytes())
	// A binary payload element, added by hand (bdoc has no binary).
	pl := append(append([]byte{0x05}, "payload\x00"...), binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))...)
	pl = append(append(pl, 0), payload...)
	spec = append(spec[:len(spec)-1], append(pl, 0)...)
	binary.LittleEndian.PutUint32(spec, uint32(len(spec)))
	hello := bdoc{"hello", int32(1), "$db", "admin"}.bytes()
	hello = append(hello[:len(hello)-1], append(append(append([]byte{0x03}, "speculativeAuthenticate\x00"...), spec...), 0)...)
	binary.LittleEndian.PutUint32(hello, uint32(len(hello)))
	helloMsg := mongoFrame(1, 0, mongoMsg, append([]byte{0, 0, 0, 0, 0}, hello...))
	helloOK := mongoMsgOf(8, 1, bdoc{"speculativeAuthenticate", bdoc{"conversationId", int32(1), "done", false}, "ok", float64(1)})
	cont := mongoMsgOf(2, 0, bdoc{"saslContinue", int32(1), "conversationId", int32(1), "$db", "admin"})
	refused := mongoMsgOf(9, 2, bdoc{"ok", float64(0), "errmsg", "Authentication failed.", "code", int32(18), "codeName", "AuthenticationFailed"})
	got := mongoRun(t, 30000, helloMsg, helloOK, cont, refused)
	if len(got) != 1 {
		t.Fatalf("%q", got)
	}
	for _, w := range []string{`refused the login of client 198.18.0.2 (user orders-svc, database admin)`, `"code":"18"`, `"command":"saslContinue"`, `"user":"orders-svc"`, `"phase":"startup"`} {
		if !strings.Contains(got[0], w) {
			t.Errorf("no %s in %s", w, got[0])
		}
	}
}

// TestMongoSteadyStateAllocs: a healthy MongoDB session (hello, insert,
// find, endSessions) costs no allocation once its names are interned.
func TestMongoSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; run go test without -race")
	}
	conv := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
		{true, "A", mongoHello, 1e3}, {false, "A", mongoMsgOf(8, 1, bdoc{"isWritablePrimary", true, "ok", float64(1)}), 1e3},
		{true, "A", mongoMsgOf(2, 0, bdoc{"insert", "orders", "ordered", true, "$db", "shop"}), 1e3},
		{false, "A", mongoMsgOf(9, 2, bdoc{"n", int32(1), "ok", float64(1)}), 1e3},
		{true, "A", mongoMsgOf(3, 0, bdoc{"find", "orders", "$db", "shop"}), 1e3},
		{false, "A", mongoMsgOf(10, 3, bdoc{"cursor", bdoc{"firstBatch", barr{bdoc{"item", "book"}}, "id", int32(0), "ns", "shop.orders"}, "ok", float64(1)}), 1e3},
		{true, "A", mongoMsgOf(4, 0, bdoc{"endSessions", barr{}, "$db", "admin"}), 1e3},
		{false, "A", mongoMsgOf(11, 4, bdoc{"ok", float64(1)}), 1e3},
		{true, "AF", nil, 1e6}, {false, "AF", nil, 1e6}, {true, "A", nil, 1e6}}
	if n := steadyAllocs(t, 27017, conv); n != 0 {
		t.Errorf("%v allocations per healthy MongoDB session", n)
	}
}
