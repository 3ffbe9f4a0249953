package detectors

import (
	"bytes"
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/dlltagent/dlltagent/internal/pcapio"
)

// TestStateLayout: the detectors' share of the 256-byte per-connection
// budget (flowtable.TestLayout has Conn's 200; the table slots 5.3 to 10.7; a
// settled TLS handshake's summary 12: at most 255).
func TestStateLayout(t *testing.T) {
	if n := unsafe.Sizeof(flowState{}); n > 32 {
		t.Errorf("flowState is %d bytes, budget 32", n)
	}
	if n := unsafe.Sizeof(tlsSummary{}); n > 12 {
		t.Errorf("tlsSummary is %d bytes, budget 12", n)
	}
}

// TestSlab: handles are stable, 1-based and reused.
func TestSlab(t *testing.T) {
	var s slab[int64]
	var hs []uint32
	for i := 0; i < 3*slabChunk; i++ {
		h, p := s.get()
		*p = int64(i)
		hs = append(hs, h)
	}
	first := s.at(hs[0])
	s.put(hs[5])
	if h, p := s.get(); h != hs[5] || *p != 5 {
		t.Errorf("reuse: handle %d value %d, want %d 5", h, *p, hs[5])
	}
	if hs[0] != 1 || s.at(hs[0]) != first || *s.at(hs[len(hs)-1]) != 3*slabChunk-1 {
		t.Errorf("handles moved or misnumbered")
	}
}

type discard struct{ n int }

func (d *discard) Send(b *Buffer) bool {
	d.n++
	PutBuffer(b)
	return true
}

type frame struct {
	ts   int64
	link int
	data []byte
	orig int
}

func loadFrames(t testing.TB, path string) []frame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapio.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	var rec pcapio.Record
	for {
		if err := r.Next(&rec); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{rec.TS, rec.LinkType, append([]byte(nil), rec.Data...), rec.OrigLen})
	}
	return out
}

// healthyFrames loads real healthy TLS 1.2, TLS 1.3 and HTTP connections.
func healthyFrames(t testing.TB) []frame {
	var frames []frame
	for _, p := range []string{
		"../testdata/corpus/arkime/tests/pcap/openssl-tls1_2.pcap",
		"../testdata/corpus/arkime/tests/pcap/curl-enabled-tls13.pcap",
		"../testdata/corpus/zeek/testing/btest/Traces/http/get.pcap",
	} {
		frames = append(frames, loadFrames(t, p)...)
	}
	return frames
}

// TestEngineSteadyStateAllocs replays healthy TLS, HTTP and DNS
// connections through one engine, each replay an hour later so every
// connection is new and the previous ones expire and are written: once
// warm, the packet path (decode, flow table, detectors, record encoding)
// allocates nothing.
func TestEngineSteadyStateAllocs(t *testing.T) {
	frames := healthyFrames(t)
	out := &discard{}
	var st Stats
	cfg := DefaultConfig()
	cfg.MaxFlows = 4096
	e := NewEngine(cfg, 0, out, &st)
	base := frames[0].ts
	round := int64(0)
	replay := func() {
		round++
		for _, f := range frames {
			e.Packet(f.ts-base+round*3600e9, f.link, f.data, f.orig)
		}
		e.Advance(frames[len(frames)-1].ts - base + round*3600e9) // as the capture loops do
	}
	for i := 0; i < 5; i++ {
		replay()
	}
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items); run go test without -race")
	}
	if n := testing.AllocsPerRun(20, replay); n != 0 {
		t.Fatalf("%v allocations per replay of %d packets", n, len(frames))
	}
	if out.n == 0 || st.Flows.Load() == 0 {
		t.Fatal("nothing was produced")
	}
}

func BenchmarkEngine(b *testing.B) {
	// A TLS 1.2 and an HTTP connection, each capture rebased to follow
	// the previous one, replayed round after round as new connections
	// (IPv4 addresses' low bytes XOR the round) a span later: connections
	// open, close, linger and are written as in live traffic, and the
	// flow-table timer wheel turns tick by tick. (Replaying rounds an
	// hour apart, as before, made every round sweep the whole wheel:
	// 40% of the measured time.)
	var frames []frame
	var at int64
	for _, p := range []string{"../testdata/corpus/arkime/tests/pcap/openssl-tls1_2.pcap", "../testdata/corpus/zeek/testing/btest/Traces/http/get.pcap"} {
		fs := loadFrames(b, p)
		base := fs[0].ts
		for i := range fs {
			fs[i].ts += at - base
		}
		at = fs[len(fs)-1].ts + 10e6
		frames = append(frames, fs...)
	}
	for _, f := range frames {
		if d := f.data; f.link != 1 || len(d) < 34 || d[12] != 8 || d[13] != 0 {
			b.Fatal("want IPv4 over Ethernet frames")
		}
	}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, &discard{}, &st)
	b.ReportAllocs()
	b.ResetTimer()
	round := 0
	for i := 0; i < b.N; i++ {
		j := i % len(frames)
		if j == 0 {
			round++
		}
		f := &frames[j]
		d := f.data
		x0, x1 := byte(round>>8), byte(round)
		d[28], d[29], d[32], d[33] = d[28]^x0, d[29]^x1, d[32]^x0, d[33]^x1
		e.Packet(f.ts+int64(round)*at, f.link, d, f.orig)
		d[28], d[29], d[32], d[33] = d[28]^x0, d[29]^x1, d[32]^x0, d[33]^x1
	}
}

// TestDurationWords: durations in msg are rounded, not cut, so a wait and
// the deadline it met read the same ("1.5 s" for 1.497 s and 1499873 µs).
func TestDurationWords(t *testing.T) {
	for d, want := range map[int64]string{
		0: "0 ms", 4e5: "0.4 ms", 6e5: "0.6 ms", 603e3: "0.6 ms", 4.9e4: "0.05 ms", 5e4: "0.1 ms", 7e3: "0.01 ms", 4e3: "0 ms", 960e3: "1 ms", 1.2e6: "1 ms", 250e6: "250 ms", 999.4e6: "999 ms", 999.6e6: "1.0 s",
		1.497e9: "1.5 s", 1.499873e9: "1.5 s", 1.44e9: "1.4 s", 2.96e9: "3.0 s", 59.96e9: "60.0 s", -5: "0 ms",
	} {
		if got := string(appendDurationWords(nil, d)); got != want {
			t.Errorf("%d: %q, want %q", d, got, want)
		}
	}
}
