package k8s

import (
	"net/netip"
	"testing"
)

// BenchmarkNamesLookup: what naming a record's two ends costs a worker,
// with 10,000 pod addresses known (one found, one not).
func BenchmarkNamesLookup(b *testing.B) {
	m := map[netip.Addr]named{}
	for i := 0; i < 10000; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		m[a] = named{obj: nameObject("pod", "shop", "web"), ns: "shop", pod: true}
	}
	var n Names
	n.snap.Store(&snapshot{addr: m})
	hit, miss := netip.MustParseAddr("198.18.7.7"), netip.MustParseAddr("198.19.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if n.Lookup(hit) == nil || n.Lookup(miss) != nil {
			b.Fatal("lookup")
		}
	}
}
