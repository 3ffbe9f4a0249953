package detectors

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/dlltagent/dlltagent/internal/pcapio"
)

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
	frames := loadFrames(b, "../testdata/corpus/arkime/tests/pcap/openssl-tls1_2.pcap")
	frames = append(frames, loadFrames(b, "../testdata/corpus/zeek/testing/btest/Traces/http/get.pcap")...)
	var st Stats
	e := NewEngine(DefaultConfig(), 0, &discard{}, &st)
	base := frames[0].ts
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		f := &frames[i%len(frames)]
		if i%len(frames) == 0 {
			n++
		}
		e.Packet(f.ts-base+int64(n)*3600e9, f.link, f.data, f.orig)
	}
}
