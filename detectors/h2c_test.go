package detectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// h2cConversation builds both byte streams of an h2c connection with
// x/net's HPACK encoders (one per direction, tables kept across blocks,
// as Go's and grpc-go's peers do): two gRPC calls that fail in their
// trailers, with a padded and prioritised HEADERS split by a
// CONTINUATION, padded DATA, and a server PUSH_PROMISE whose block adds
// entries to the server's table.
func h2cConversation(t testing.TB) (cli, srv []byte) {
	var cb, sb bytes.Buffer
	ce, se := hpack.NewEncoder(&cb), hpack.NewEncoder(&sb)
	block := func(enc *hpack.Encoder, buf *bytes.Buffer, kv ...string) []byte {
		buf.Reset()
		for i := 0; i < len(kv); i += 2 {
			if err := enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
				t.Fatal(err)
			}
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	req := func(path string) []byte {
		return block(ce, &cb, ":method", "POST", ":scheme", "http", ":path", path, ":authority", "svc.ns:50051",
			"content-type", "application/grpc", "te", "trailers", "user-agent", "grpc-go/1.85.0", "grpc-timeout", "1499873u")
	}
	cli = append(cli, h2Preface...)
	cli = append(cli, h2frame(0x4, 0, 0, nil)...) // SETTINGS
	// Stream 1: HEADERS (PADDED|PRIORITY, 3 bytes of padding) + CONTINUATION.
	b1 := req("/pkg.Svc/A")
	p := append([]byte{3, 0, 0, 0, 0, 16}, b1[:5]...)
	cli = append(cli, h2frame(h2Headers, h2Padded|h2Priority, 1, append(p, 0, 0, 0))...)
	cli = append(cli, h2frame(h2Continuation, h2EndHeaders, 1, b1[5:])...)
	cli = append(cli, h2frame(0x0, h2EndStream|h2Padded, 1, append([]byte{2, 0, 0, 0, 0, 0}, 0, 0))...) // DATA
	cli = append(cli, h2frame(h2Headers, h2EndHeaders, 3, req("/pkg.Svc/B"))...)
	cli = append(cli, h2frame(0x0, h2EndStream, 3, make([]byte, 5))...)

	srv = append(srv, h2frame(0x4, 0, 0, nil)...)
	srv = append(srv, h2frame(h2Headers, h2EndHeaders, 1, block(se, &sb, ":status", "200", "content-type", "application/grpc"))...)
	srv = append(srv, h2frame(0x0, 0, 1, make([]byte, 16000))...)
	srv = append(srv, h2frame(0x0, 0, 1, make([]byte, 4000))...)
	srv = append(srv, h2frame(h2Headers, h2EndHeaders|h2EndStream, 1, block(se, &sb, "grpc-status", "14", "grpc-message", "no%20backend"))...)
	pp := block(se, &sb, ":method", "GET", ":path", "/pushed", "x-filler", strings.Repeat("f", 300))
	srv = append(srv, h2frame(h2PushPromise, h2EndHeaders|h2Padded, 1, append(append([]byte{4, 0, 0, 0, 2}, pp...), 0, 0, 0, 0))...)
	srv = append(srv, h2frame(h2Headers, h2EndHeaders, 3, block(se, &sb, ":status", "200", "content-type", "application/grpc"))...)
	srv = append(srv, h2frame(h2Headers, h2EndHeaders|h2EndStream, 3, block(se, &sb, "grpc-status", "13", "grpc-message", "boom", "x-filler", strings.Repeat("f", 300)))...)
	return cli, srv
}

// h2cReplay sends cli then srv in chunks of n bytes (the server's
// chunk number skip is left out: a capture gap) and returns the GRPC_ERROR
// and HTTP_SERVER_ERROR events as text.
func h2cReplay(t testing.TB, cli, srv []byte, n, skip int) []string {
	// The client's first segment holds at least the preface, as real
	// clients send it (the service is recognised by it).
	segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	first := min(len(cli), max(n, len(h2Preface)))
	segs = append(segs, seg{true, "A", cli[:first], 1e3})
	for i := first; i < len(cli); i += n {
		segs = append(segs, seg{true, "A", cli[i:min(i+n, len(cli))], 1e3})
	}
	for i, k := 0, 0; i < len(srv); i, k = i+n, k+1 {
		flags := "A"
		if k == skip {
			flags = "G"
		}
		segs = append(segs, seg{false, flags, srv[i:min(i+n, len(srv))], 1e3})
	}
	segs = append(segs, seg{true, "AF", nil, 1e6}, seg{false, "AF", nil, 1e6}, seg{true, "A", nil, 1e6})
	out := replay(t.(*testing.T), 50051, segs)
	var got []string
	for _, l := range out.lines {
		var ev struct {
			Note string
			Side string
			GRPC map[string]any
			HTTP map[string]any
		}
		if json.Unmarshal(l, &ev) != nil || ev.Note == "" {
			continue
		}
		switch ev.Note {
		case "GRPC_ERROR":
			got = append(got, fmt.Sprintf("%s %s %v %v %v %q", ev.Note, ev.Side, ev.GRPC["method"], ev.GRPC["status"], ev.GRPC["status_name"], ev.GRPC["message"]))
		case "HTTP_SERVER_ERROR":
			got = append(got, fmt.Sprintf("%s %v %v", ev.Note, ev.HTTP["uri"], ev.HTTP["status_code"]))
		}
	}
	sort.Strings(got)
	return got
}

// TestH2CTrailers: both calls' failures are read whatever the segment
// sizes, through padding, priority, CONTINUATION, DATA and a
// PUSH_PROMISE (its block changes the server's table: missing it would
// misread the second call's trailers).
func TestH2CTrailers(t *testing.T) {
	cli, srv := h2cConversation(t)
	want := []string{
		`GRPC_ERROR server /pkg.Svc/A 14 UNAVAILABLE "no backend"`,
		`GRPC_ERROR server /pkg.Svc/B 13 INTERNAL "boom"`,
	}
	for _, n := range []int{1, 7, 1400, 1 << 20} {
		if got := h2cReplay(t, cli, srv, n, -1); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("segments of %d bytes: events\n%s\nwant\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestH2CGap: a server segment missing from the capture stops that
// direction's reader: what comes after is not misread.
func TestH2CGap(t *testing.T) {
	cli, srv := h2cConversation(t)
	for skip := 0; skip*1400 < len(srv); skip++ {
		for _, g := range h2cReplay(t, cli, srv, 1400, skip) {
			if g != `GRPC_ERROR server /pkg.Svc/A 14 UNAVAILABLE "no backend"` {
				t.Errorf("gap at segment %d: %s", skip, g)
			}
		}
	}
}

// TestHPACKTable: eviction by size, an entry larger than the table,
// compaction of the entries' bytes, and size updates.
func TestHPACKTable(t *testing.T) {
	var tab hpackTable
	tab.buf = make([]byte, 0, 128)
	tab.reset(100)
	tab.add([]byte("a"), []byte("1")) // 34
	tab.add([]byte("b"), []byte("2")) // 68
	tab.add([]byte("c"), []byte("3")) // 102 > 100: a goes
	if n, v, ok := tab.at(1); !ok || string(n) != "c" || string(v) != "3" {
		t.Fatalf("newest = %q %q %v", n, v, ok)
	}
	if _, _, ok := tab.at(3); ok || len(tab.ents) != 2 || tab.size != 68 {
		t.Fatalf("%d entries, size %d", len(tab.ents), tab.size)
	}
	for i := 0; i < 50; i++ { // compaction keeps the bytes within cap
		tab.add([]byte(fmt.Sprint("k", i)), []byte("vv"))
		if n, _, _ := tab.at(1); string(n) != fmt.Sprint("k", i) {
			t.Fatalf("step %d: newest %q", i, n)
		}
	}
	tab.add(make([]byte, 80), nil) // larger than the table: empties it
	if len(tab.ents) != 0 || tab.size != 0 {
		t.Fatalf("%d entries after an oversized one", len(tab.ents))
	}
	tab.add([]byte("x"), []byte("y"))
	if !tab.setMax(0) || len(tab.ents) != 0 {
		t.Fatal("size update to 0 keeps entries")
	}
	if tab.setMax(hpackMaxTable + 1) {
		t.Fatal("size update past the limit accepted")
	}
}

// FuzzH2C: arbitrary bytes on both sides of h2c connections (one
// engine, a new connection per input) never panic.
func FuzzH2C(f *testing.F) {
	cli, srv := h2cConversation(f)
	f.Add(cli, srv, uint16(1400))
	f.Add(cli[:40], srv[:30], uint16(3))
	var st Stats
	e := NewEngine(DefaultConfig(), 0, &discard{}, &st)
	port := uint16(0)
	f.Fuzz(func(t *testing.T, cli, srv []byte, n uint16) {
		// At most ~256 segments, so that building them (gopacket) does
		// not dominate: one byte a segment over 64 KiB made a run do
		// ~20 executions a second, this thousands.
		if len(cli) > 1<<15 || len(srv) > 1<<15 {
			return
		}
		port++
		m := max(int(n%2000)+1, (len(cli)+len(srv))/256)
		segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
		segs = append(segs, seg{true, "A", append([]byte(h2Preface), cli[:min(len(cli), m)]...), 1e3})
		for i := min(len(cli), m); i < len(cli); i += m {
			segs = append(segs, seg{true, "A", cli[i:min(i+m, len(cli))], 1e3})
		}
		for i := 0; i < len(srv); i += m {
			segs = append(segs, seg{false, "A", srv[i:min(i+m, len(srv))], 1e3})
		}
		segs = append(segs, seg{true, "AR", nil, 1e3})
		replayInto(t, e, 1024+port%60000, 50051, segs)
	})
}

// TestH2CGaveUp: gRPC calls without response headers are reported when
// the client cancels them (RST_STREAM CANCEL), the server cancels them, or
// the client closes the connection, at their deadline (grpc-timeout),
// however short; a call cancelled without one, or before it, was ended by
// the application (a watch torn down looks the same). Never when the
// capture lost some of the server's bytes (its answer may be among them).
func TestH2CGaveUp(t *testing.T) {
	request := func(timeout string) []byte {
		var cb bytes.Buffer
		enc := hpack.NewEncoder(&cb)
		name := "grpc-timeout"
		if t, ok := strings.CutPrefix(timeout, "envoy:"); ok {
			name, timeout = "x-envoy-expected-rq-timeout-ms", t
		}
		for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/pkg.Svc/Slow"}, {":authority", "svc"}, {"content-type", "application/grpc"}, {name, timeout}} {
			if kv[1] != "" {
				enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
			}
		}
		req := append([]byte(h2Preface), h2frame(0x4, 0, 0, nil)...)
		return append(req, h2frame(h2Headers, h2EndHeaders, 1, cb.Bytes())...)
	}
	rst := h2frame(h2RSTStream, 0, 1, []byte{0, 0, 0, h2Cancel})
	settings := h2frame(0x4, 0, 0, nil)
	cases := []struct {
		name    string
		timeout string
		tail    []seg
		want    string
	}{
		{"cancelled at its 1.5 s deadline", "1499873u", []seg{{true, "A", rst, 1.5e9}, {true, "AF", nil, 1e6}}, "its deadline of 1.5 s (grpc-timeout) expired; it cancelled the stream"},
		{"closed at its 2 s deadline", "2S", []seg{{true, "AF", nil, 2e9}}, "expired and it closed the connection after waiting 2.0 s"},
		{"server cancelled at the 1.5 s deadline", "1500m", []seg{{false, "A", rst, 1.5e9}, {true, "AF", nil, 1e6}}, "the server cancelled the stream at that deadline"},
		{"cancelled at its 0.5 s deadline", "500m", []seg{{true, "A", rst, 0.5e9}, {true, "AF", nil, 1e6}}, "its deadline of 500 ms (grpc-timeout) expired; it cancelled the stream (RST_STREAM CANCEL) after waiting 501 ms"},
		{"cancelled at 0.5 s, deadline 2 s", "2S", []seg{{true, "A", rst, 0.5e9}, {true, "AF", nil, 1e6}}, ""},
		{"cancelled without a deadline", "", []seg{{true, "A", rst, 3e9}, {true, "AF", nil, 1e6}}, ""},
		{"closed without a deadline", "", []seg{{true, "AF", nil, 3e9}}, ""},
		{"cancelled before its deadline", "10S", []seg{{true, "A", rst, 3e9}, {true, "AF", nil, 1e6}}, ""},
		{"Envoy cancelled at its 15 s route timeout", "envoy:15000", []seg{{true, "A", rst, 15e9}, {true, "AF", nil, 1e6}}, "its deadline of 15.0 s (Envoy's route timeout, x-envoy-expected-rq-timeout-ms) expired; it cancelled the stream"},
		{"Envoy cancelled before its route timeout", "envoy:15000", []seg{{true, "A", rst, 3e9}, {true, "AF", nil, 1e6}}, ""},
		{"server bytes lost", "2S", []seg{{false, "G", make([]byte, 100), 1e6}, {true, "AF", nil, 2e9}}, ""},
	}
	for _, tc := range cases {
		hs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", request(tc.timeout), 1e3}, {false, "A", settings, 1e6}}
		out := replay(t, 50051, append(hs, tc.tail...))
		var got []string
		for _, l := range out.lines {
			if bytes.Contains(l, []byte(`"note":"HTTP_NO_RESPONSE"`)) {
				got = append(got, string(l))
			}
		}
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: unexpected %s", tc.name, got[0])
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want) || !strings.Contains(got[0], "gRPC call POST /pkg.Svc/Slow") ||
			!strings.Contains(got[0], `"grpc":{"method":"/pkg.Svc/Slow","timeout_ms":`)):
			t.Errorf("%s: got %q, want one event saying %q", tc.name, got, tc.want)
		}
	}
}

// TestGRPCTimeout: grpc-timeout values (gRPC over HTTP/2: up to 8 digits
// and a unit).
func TestGRPCTimeout(t *testing.T) {
	for v, want := range map[string]int64{
		"1499873u": 1499873000, "2S": 2e9, "1500m": 1.5e9, "1M": 60e9, "1H": 3600e9, "100n": 100,
		"99999999H": math.MaxInt64, "": 0, "S": 0, "12": 0, "1x": 0, "123456789S": 0, "-1S": 0,
	} {
		if got := grpcTimeout([]byte(v)); got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
	for v, want := range map[string]int64{"15000": 15e9, "0": 0, "": 0, "1.5": 0, "12345678901": 0} {
		if got := envoyTimeout([]byte(v)); got != want {
			t.Errorf("envoy %q: %d, want %d", v, got, want)
		}
	}
}

// TestH2CSteadyStateAllocs: once a worker's h2c states and decoder exist,
// following gRPC connections (calls, trailers, errors, close) allocates
// nothing per packet: the one allocation per connection is the name of
// its focused pcap (planPcap, once per problem connection, as for every
// note).
func TestH2CSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; run go test without -race")
	}
	cli, srv := h2cConversation(t)
	conv := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
		{true, "A", cli, 1e3}, {false, "A", srv[:9000], 1e3}, {false, "A", srv[9000:], 1e3},
		{true, "AF", nil, 1e6}, {false, "AF", nil, 1e6}, {true, "A", nil, 1e6}}
	n := steadyAllocs(t, 50051, conv)
	if n > 1 {
		t.Errorf("%v allocations per failing h2c connection, want at most 1 (its pcap name)", n)
	}
}

// TestH2CErrorFrames: a server's RST_STREAM with an error names the call;
// NO_ERROR and CANCEL from the server, and GOAWAY NO_ERROR (a graceful
// close, e.g. max connection age), are not problems.
func TestH2CErrorFrames(t *testing.T) {
	var cb bytes.Buffer
	enc := hpack.NewEncoder(&cb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/pkg.Svc/Busy"}, {":authority", "svc"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	req := append([]byte(h2Preface), h2frame(0x4, 0, 0, nil)...)
	req = append(req, h2frame(h2Headers, h2EndHeaders, 1, cb.Bytes())...)
	code := func(c byte) []byte { return []byte{0, 0, 0, c} }
	goaway := func(c byte, debug string) []byte {
		return h2frame(h2GoAway, 0, 0, append([]byte{0, 0, 0, 1, 0, 0, 0, c}, debug...))
	}
	cases := []struct {
		name string
		srv  []byte
		want string
	}{
		{"REFUSED_STREAM", h2frame(h2RSTStream, 0, 1, code(7)), `reset HTTP/2 stream 1 (POST /pkg.Svc/Busy) of client 198.18.0.2 with REFUSED_STREAM over h2c`},
		{"PROTOCOL_ERROR GOAWAY", goaway(1, "bad header"), `closed its HTTP/2 connection with client 198.18.0.2 with GOAWAY PROTOCOL_ERROR \"bad header\" over h2c`},
		{"RST NO_ERROR", h2frame(h2RSTStream, 0, 1, code(0)), ""},
		{"RST CANCEL", h2frame(h2RSTStream, 0, 1, code(8)), ""},
		{"GOAWAY NO_ERROR", goaway(0, "max_age"), ""},
	}
	for _, tc := range cases {
		out := replay(t, 50051, []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
			{true, "A", req, 1e3}, {false, "A", append(h2frame(0x4, 0, 0, nil), tc.srv...), 1e6}, {true, "AF", nil, 1e6}, {false, "AF", nil, 1e6}})
		var got []string
		for _, l := range out.lines {
			if bytes.Contains(l, []byte(`"note":"HTTP2_ERROR"`)) {
				got = append(got, string(l))
			}
		}
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: unexpected %s", tc.name, got[0])
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want) || !strings.Contains(got[0], `"side":"server"`)):
			t.Errorf("%s: got %q, want one event with %q", tc.name, got, tc.want)
		}
	}
}

// TestH2CDeadlineCrossing: a grpc-go client cancels its call at the
// deadline while the server's own copy of it answers DEADLINE_EXCEEDED;
// the two cross on the wire. One call, one event: the client's
// HTTP_NO_RESPONSE. Had the server's answer come first, its GRPC_ERROR
// alone would tell it.
func TestH2CDeadlineCrossing(t *testing.T) {
	var cb, sb bytes.Buffer
	ce, se := hpack.NewEncoder(&cb), hpack.NewEncoder(&sb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/pkg.Svc/Slow"}, {":authority", "svc"}, {"content-type", "application/grpc"}, {"grpc-timeout", "2999870u"}} {
		ce.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	for _, kv := range [][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "4"}, {"grpc-message", "context deadline exceeded"}} {
		se.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	req := append([]byte(h2Preface), h2frame(0x4, 0, 0, nil)...)
	req = append(req, h2frame(h2Headers, h2EndHeaders, 1, cb.Bytes())...)
	trailers := h2frame(h2Headers, h2EndHeaders|h2EndStream, 1, sb.Bytes())
	rst := h2frame(h2RSTStream, 0, 1, []byte{0, 0, 0, h2Cancel})
	for _, order := range []string{"client first", "server first"} {
		tail := []seg{{true, "A", rst, 3e9}, {false, "A", trailers, 200e3}}
		want := "HTTP_NO_RESPONSE"
		if order == "server first" {
			tail = []seg{{false, "A", trailers, 3e9}, {true, "A", rst, 200e3}}
			want = "GRPC_ERROR"
		}
		hs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", req, 1e3}, {false, "A", h2frame(0x4, 0, 0, nil), 1e6}}
		out := replay(t, 50051, append(append(hs, tail...), seg{true, "AF", nil, 1e6}))
		var notes []string
		for _, l := range out.lines {
			if n := noteOf(l); n != "" {
				notes = append(notes, n)
			}
		}
		if strings.Join(notes, ",") != want {
			t.Errorf("%s: events %v, want one %s", order, notes, want)
		}
	}
}

// steadyAllocs returns the allocations one connection of conv, to port,
// costs once 20 earlier ones warmed the engine up (each connection
// starts after the previous one expired: its state is reused).
func steadyAllocs(t *testing.T, port uint16, conv []seg) float64 {
	var runs [][]builtPacket
	ts := int64(1e18)
	for i := 0; i < 60; i++ {
		p := buildSegs(t, ts, uint16(20000+i), port, conv)
		ts = p[len(p)-1].ts + 60e9
		runs = append(runs, p)
	}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, &discard{}, &st)
	feed := func(ps []builtPacket) {
		for _, p := range ps {
			e.Packet(p.ts, 1, p.data, len(p.data))
		}
	}
	for _, r := range runs[:20] {
		feed(r)
	}
	next := 20
	return testing.AllocsPerRun(39, func() {
		feed(runs[next])
		next++
	})
}
