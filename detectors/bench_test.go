package detectors

import (
	"runtime"
	"testing"

	"github.com/dlltagent/dlltagent/flowtable"
)

// clientHello is a TLS 1.3 ClientHello record with SNI and versions.
var clientHelloRec = func() []byte {
	sni := "api.bench.test"
	ext := []byte{0, 0, 0, byte(len(sni) + 5), 0, byte(len(sni) + 3), 0, 0, byte(len(sni))}
	ext = append(ext, sni...)
	ext = append(ext, 0, 43, 0, 5, 4, 3, 4, 3, 3)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}()

func BenchmarkTLSClientHello(b *testing.B) {
	var t tlsState
	pools := &bufPools{hello: bufPool{size: maxHelloKeep}, ooo: bufPool{size: maxHeldBytes}}
	b.ReportAllocs()
	b.SetBytes(int64(len(clientHelloRec)))
	for i := 0; i < b.N; i++ {
		t.reset(pools)
		var ev tlsEvents
		t.segment(0, 1, clientHelloRec, 1, &ev)
	}
	if t.sniLen == 0 {
		b.Fatal("SNI not parsed")
	}
}

func BenchmarkTLSAppRecords(b *testing.B) {
	seg := make([]byte, 0, 16*1029)
	for i := 0; i < 16; i++ {
		seg = append(seg, 23, 3, 3, 4, 0)
		seg = append(seg, make([]byte, 1024)...)
	}
	var t tlsState
	t.reset(&bufPools{hello: bufPool{size: maxHelloKeep}, ooo: bufPool{size: maxHeldBytes}})
	t.est = true
	var ev tlsEvents
	seq := uint32(1)
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for i := 0; i < b.N; i++ {
		t.segment(1, seq, seg, 1, &ev)
		seq += uint32(len(seg))
	}
}

func BenchmarkHeaderSearch(b *testing.B) {
	block := []byte("GET /api/v1/items/123 HTTP/1.1\r\nHost: svc.bench.test\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 5d2f1c\r\nX-Pepe: 42\r\n\r\n")
	needle := lowerASCII([]byte("X-Pepe"))
	b.ReportAllocs()
	b.SetBytes(int64(len(block)))
	for i := 0; i < b.N; i++ {
		if indexFold(block, needle) < 0 {
			b.Fatal("not found")
		}
	}
}

// BenchmarkJSONFlowRecord encodes one TLS connection's end_flows record.
func BenchmarkJSONFlowRecord(b *testing.B) {
	frames := loadFrames(b, "../testdata/corpus/arkime/tests/pcap/openssl-tls1_2.pcap")
	var st Stats
	out := &discard{}
	e := NewEngine(DefaultConfig(), 0, out, &st)
	for _, f := range frames {
		e.Packet(f.ts, f.link, f.data, f.orig)
	}
	var conn *flowtable.Conn
	e.tab.Each(func(c *flowtable.Conn) {
		if c.Proto() == 6 {
			conn = c
		}
	})
	if conn == nil {
		b.Fatal("no connection")
	}
	fs := e.state(conn)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.writeFlow(conn, fs, endCaptureEnd)
	}
}

// BenchmarkConnMemory measures the heap each open connection costs beyond
// the fixed per-worker areas (pcap arena, SYN stash, recent ring): real
// TLS 1.2, TLS 1.3 and HTTP connections from the corpus are replayed as
// many distinct connections (both addresses' low bytes XORed with the
// copy number), all open together, and the heap growth between 2,000 and
// 22,000 copies is divided by the connections added. It counts Conn, the
// detector state, pooled protocol state still held, and the table's slots.
func BenchmarkConnMemory(b *testing.B) {
	frames := healthyFrames(b)
	base := frames[0].ts
	replay := func(e *Engine, from, to int) {
		for i := from; i < to; i++ {
			for _, f := range frames {
				d := f.data
				if len(d) < 34 || d[12] != 8 || d[13] != 0 {
					continue // IPv4 over Ethernet only
				}
				d[28] ^= byte(i >> 8)
				d[29] ^= byte(i)
				d[32] ^= byte(i >> 8)
				d[33] ^= byte(i)
				e.Packet(base+int64(i)*1000, f.link, d, f.orig)
				d[28] ^= byte(i >> 8)
				d[29] ^= byte(i)
				d[32] ^= byte(i >> 8)
				d[33] ^= byte(i)
			}
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var perConn float64
	for i := 0; i < b.N; i++ {
		var st Stats
		cfg := DefaultConfig()
		e := NewEngine(cfg, 0, &discard{}, &st)
		replay(e, 0, 2000)
		n0, h0 := st.FlowsActive.Load(), heap()
		replay(e, 2000, 22000)
		n1, h1 := st.FlowsActive.Load(), heap()
		if n1 <= n0 {
			b.Fatal("no connections added")
		}
		perConn = float64(h1-h0) / float64(n1-n0)
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perConn, "B/conn")
}
