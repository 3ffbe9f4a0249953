package detectors

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
)

func testConns(t *testing.T, n int) []*flowtable.Conn {
	tab := flowtable.New(16)
	var cs []*flowtable.Conn
	for i := 0; i < n; i++ {
		tu := decode.Tuple{Src: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), Dst: netip.AddrFrom4([4]byte{198, 19, 0, 1}),
			SrcPort: 40000, DstPort: 443, Proto: decode.ProtoTCP}
		k, _ := flowtable.MakeKey(&tu)
		c := tab.Insert(&k, k.Hash())
		c.First = 1000
		cs = append(cs, c)
	}
	return cs
}

// TestRecentRing: a connection's chain comes back newest first across
// the 32-bit position wrap; overwritten entries and links that now point
// at another connection's packet are refused.
func TestRecentRing(t *testing.T) {
	cs := testConns(t, 2)
	a, b := cs[0], cs[1]
	r := recentRing{buf: make([]byte, 4096), pos: 1<<32 - 100}
	var la uint32
	for i := 0; i < 3; i++ {
		la = r.put(la, a.Index(), int64(2000+i), []byte{byte(i), 1, 2, 3}, 60)
		r.put(0, b.Index(), 2000, []byte{9, 9}, 2) // interleaved traffic
	}
	if r.pos > 1000 {
		t.Fatalf("test did not cross the wrap: pos %d", r.pos)
	}
	for i := 2; i >= 0; i-- {
		ts, frame, orig, prev, ok := r.entry(la, a)
		if !ok || ts != int64(2000+i) || !bytes.Equal(frame, []byte{byte(i), 1, 2, 3}) || orig != 60 {
			t.Fatalf("entry %d: %v %v %v %v", i, ok, ts, frame, orig)
		}
		la = prev
	}
	if la != 0 {
		t.Fatalf("chain does not end: %d", la)
	}
	// Overwritten: a full ring of b's packets later, a's links are dead.
	first := r.put(0, a.Index(), 3000, []byte{1}, 1)
	for i := 0; i < 200; i++ {
		r.put(0, b.Index(), 3001, make([]byte, 40), 40)
	}
	if _, _, _, _, ok := r.entry(first, a); ok {
		t.Fatal("an overwritten entry was returned")
	}
	// A link that now points at b's packet (as after 4 GiB written) is
	// not a's.
	lb := r.put(0, b.Index(), 4000, []byte{7}, 1)
	if _, _, _, _, ok := r.entry(lb, a); ok {
		t.Fatal("another connection's packet was returned")
	}
}
