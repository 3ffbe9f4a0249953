package detectors

import (
	"encoding/binary"
	"strings"
	"testing"
)

// kbuf builds Kafka fields in their classic (not flexible) encoding.
type kbuf []byte

func (b kbuf) i16(v int16) kbuf { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func (b kbuf) i32(v int32) kbuf { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func (b kbuf) i64(v int64) kbuf { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func (b kbuf) str(s string) kbuf {
	return append(b.i16(int16(len(s))), s...)
}

// TestKafkaClassicVersions reads the errors of responses in the classic
// encoding older clients ask for (Sarama's defaults): Metadata v1 with a
// broker and a healthy topic before the failing one, Produce v3 and v8
// (its error message).
func TestKafkaClassicVersions(t *testing.T) {
	meta := kbuf{}.i32(1).i32(0).str("kafka-0.kafka-headless").i32(9092).i16(-1) // brokers (rack null)
	meta = meta.i32(0).i32(2)                                                    // controller_id, topics
	meta = append(meta.i16(0).str("orders"), 0).i32(1)                           // a healthy topic (not internal), one partition:
	meta = meta.i16(0).i32(0).i32(0).i32(1).i32(0).i32(1).i32(0)                 // error, index, leader, replicas, isr
	meta = append(meta.i16(29).str("audit"), 0).i32(0)
	r := kreader{b: meta}
	var lo kafkaBroker
	if code, topic := kafkaMetadataError(&r, 1, false, &lo); code != 29 || string(topic) != "audit" || r.bad || lo.host != nil {
		t.Errorf("metadata v1: %d %q bad %v", code, topic, r.bad)
	}
	for _, ver := range []int16{3, 8} {
		p := kbuf{}.i32(1).str("orders").i32(1).i32(0).i16(10).i64(-1).i64(-1)
		if ver >= 5 {
			p = p.i64(0)
		}
		if ver >= 8 {
			p = p.i32(0).str("The message is too large.")
		}
		p = p.i32(0) // throttle_time_ms
		r := kreader{b: p}
		code, topic, msg := kafkaProduceError(&r, ver, false)
		if code != 10 || string(topic) != "orders" || (ver >= 8) != (string(msg) == "The message is too large.") {
			t.Errorf("produce v%d: %d %q %q", ver, code, topic, msg)
		}
	}
	fetch := kbuf{}.i32(20).i16(1).i16(11).i32(1).str("kafkajs")
	if !kafkaClientStart(kbuf{}.i32(20).i16(18).i16(3).i32(1).str("sarama"), 443) || kafkaClientStart([]byte("GET / HTTP/1.1\r\nHost: x\r\n"), 9092) ||
		!kafkaClientStart(fetch, 9092) || kafkaClientStart(fetch, 443) {
		t.Error("kafkaClientStart")
	}
}

// TestKafkaSASLRefused: a broker answering SaslAuthenticate v2 (flexible:
// a tagged-fields section in the response header, a compact message) with
// SASL_AUTHENTICATION_FAILED, as Kafka since 1.0 does, after the client's
// ApiVersions and SaslHandshake.
func TestKafkaSASLRefused(t *testing.T) {
	req := func(key, ver int16, corr int32, body string) []byte {
		b := kbuf{}.i16(key).i16(ver).i32(corr).str("orders-svc")
		if ver >= 2 && key == kSaslAuthenticate {
			b = append(b, 0) // request header v2: tagged fields
		}
		b = append(b, body...)
		return kbuf{}.i32(int32(len(b))).append(b)
	}
	resp := func(corr int32, body []byte) []byte {
		b := kbuf{}.i32(corr).append(body)
		return kbuf{}.i32(int32(len(b))).append(b)
	}
	msg := "Authentication failed: Invalid username or password"
	sasl := append(kbuf{0}.i16(58), byte(len(msg)+1))                 // header tags, error_code, compact message
	sasl = append(append(sasl, msg...), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0) // auth_bytes (empty), session_lifetime_ms, tags
	var st Stats
	out := &collect{}
	e := NewEngine(DefaultConfig(), 0, out, &st)
	replayInto(t, e, 40100, 9092, []seg{
		{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
		{true, "A", req(kApiVersions, 0, 1, ""), 1e6},
		{false, "A", resp(1, kbuf{}.i16(0).i32(0)), 1e6},
		{true, "A", req(kSaslHandshake, 1, 2, "\x00\x05PLAIN"), 1e6},
		{false, "A", resp(2, kbuf{}.i16(0).i32(1).str("PLAIN")), 1e6},
		{true, "A", req(kSaslAuthenticate, 2, 3, "\x0e\x00app\x00wrongpass"), 1e6},
		{false, "A", resp(3, sasl), 1e6},
		{false, "FA", nil, 1e6}, {true, "FA", nil, 1e6},
	})
	e.Advance(e.now + 1e9)
	found := 0
	for _, l := range out.lines {
		if noteOf(l) == "DB_ERROR" {
			found++
			for _, want := range []string{`"name":"SASL_AUTHENTICATION_FAILED"`, `"api":"SaslAuthenticate"`, `"client_id":"orders-svc"`, `Invalid username or password`} {
				if !strings.Contains(string(l), want) {
					t.Errorf("no %s in %s", want, l)
				}
			}
		}
	}
	if found != 1 {
		t.Errorf("%d DB_ERROR events, want 1: %q", found, out.lines)
	}
}

func (b kbuf) append(x []byte) kbuf { return append(b, x...) }
