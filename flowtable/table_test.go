package flowtable

import (
	"math/rand"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/dlltagent/dlltagent/decode"
)

func tuple(i int) decode.Tuple {
	return decode.Tuple{
		Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), Dst: netip.AddrFrom4([4]byte{198, 19, 0, 1}),
		SrcPort: uint16(10000 + i%50000), DstPort: 443, Proto: decode.ProtoTCP,
	}
}

func TestKeySymmetric(t *testing.T) {
	a := tuple(7)
	b := decode.Tuple{Src: a.Dst, Dst: a.Src, SrcPort: a.DstPort, DstPort: a.SrcPort, Proto: a.Proto}
	ka, sa := MakeKey(&a)
	kb, sb := MakeKey(&b)
	if ka != kb || sa == sb || ka.Hash() != kb.Hash() {
		t.Fatalf("key not direction-free: %v %v", sa, sb)
	}
}

func TestInsertLookupRemove(t *testing.T) {
	tab := New(5000)
	var conns []*Conn
	for i := 0; i < 5000; i++ {
		tu := tuple(i)
		k, _ := MakeKey(&tu)
		c := tab.Insert(&k, k.Hash())
		if c == nil {
			t.Fatalf("insert %d failed", i)
		}
		conns = append(conns, c)
	}
	tu := tuple(99999)
	k, _ := MakeKey(&tu)
	if tab.Insert(&k, k.Hash()) != nil || tab.Full != 1 {
		t.Fatal("table accepted more than its limit")
	}
	// Remove every other one; the rest must still be found (backward
	// shift deletion keeps probe chains intact).
	for i := 0; i < 5000; i += 2 {
		tab.Remove(conns[i])
	}
	for i := 0; i < 5000; i++ {
		tu := tuple(i)
		k, _ := MakeKey(&tu)
		c := tab.Lookup(&k, k.Hash())
		if (i%2 == 0) != (c == nil) {
			t.Fatalf("lookup %d after removals: %v", i, c)
		}
	}
	if tab.Len() != 2500 {
		t.Fatalf("len %d", tab.Len())
	}
	n := 0
	tab.Each(func(*Conn) { n++ })
	if n != 2500 {
		t.Fatalf("Each saw %d", n)
	}
}

func TestWheel(t *testing.T) {
	tab := New(100)
	var fired []int
	for i := 0; i < 10; i++ {
		tu := tuple(i)
		k, _ := MakeKey(&tu)
		c := tab.Insert(&k, k.Hash())
		tab.Schedule(c, int64(i+1)*1e9)
	}
	tab.Expire(0, func(*Conn) {})
	tab.Expire(5e9+1, func(c *Conn) { fired = append(fired, int(c.Index())); tab.Remove(c) })
	if len(fired) != 5 {
		t.Fatalf("fired %v, want the 5 due by 5 s", fired)
	}
	// A deadline far beyond the wheel's span waits for its turn.
	tu := tuple(50)
	k, _ := MakeKey(&tu)
	c := tab.Insert(&k, k.Hash())
	tab.Schedule(c, 3600e9)
	got := 0
	tab.Expire(1200e9, func(c *Conn) {
		if c.Index() == 10 {
			got++
		}
		tab.Schedule(c, 3600e9)
	})
	if got > 1 {
		t.Fatal("far deadline fired early more than once")
	}
}

// TestWheelRescheduleSameTick: a callback that finds its connection not
// yet due and reschedules it within the tick being processed must see it
// again on the next tick, not a revolution later.
func TestWheelRescheduleSameTick(t *testing.T) {
	tab := New(16)
	tu := tuple(1)
	k, _ := MakeKey(&tu)
	c := tab.Insert(&k, k.Hash())
	deadline := int64(3e9 + 200e6) // late within its 250 ms tick
	tab.Expire(0, func(*Conn) {})
	tab.Schedule(c, deadline)
	fired := int64(0)
	for now := int64(0); now < 10e9 && fired == 0; now += 10e6 {
		tab.Expire(now, func(c *Conn) {
			if now >= deadline {
				fired = now
				return
			}
			tab.Schedule(c, deadline)
		})
	}
	if fired == 0 || fired > deadline+300e6 {
		t.Fatalf("fired at %d, deadline %d", fired, deadline)
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	tab := New(4096)
	keys := make([]Key, 1000)
	for i := range keys {
		tu := tuple(i)
		keys[i], _ = MakeKey(&tu)
	}
	// Warm: grow the slab once.
	for i := range keys {
		tab.Remove(tab.Insert(&keys[i], keys[i].Hash()))
	}
	i := 0
	n := testing.AllocsPerRun(10000, func() {
		k := &keys[i%len(keys)]
		h := k.Hash()
		c := tab.Lookup(k, h)
		if c == nil {
			c = tab.Insert(k, h)
		} else {
			tab.Remove(c)
		}
		i++
	})
	if n != 0 {
		t.Fatalf("%v allocs per lookup/insert/remove", n)
	}
}

func BenchmarkTable(b *testing.B) {
	tab := New(1 << 16)
	keys := make([]Key, 1<<15)
	for i := range keys {
		tu := tuple(i)
		keys[i], _ = MakeKey(&tu)
		tab.Insert(&keys[i], keys[i].Hash())
	}
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := &keys[i&(len(keys)-1)]
			if tab.Lookup(k, k.Hash()) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("insert_remove", func(b *testing.B) {
		b.ReportAllocs()
		extra := tuple(60000)
		k, _ := MakeKey(&extra)
		h := k.Hash()
		for i := 0; i < b.N; i++ {
			tab.Remove(tab.Insert(&k, h))
		}
	})
	// churn: connections end in random order while new ones start, as
	// in a capture; a removal shifts the probe run after it.
	// 24,000 live in 32,768 slots (load 0.73, the most before a grow).
	b.Run("churn", func(b *testing.B) {
		const live = 24000
		tab := New(1 << 20)
		pool := make([]Key, 1<<16)
		for i := range pool {
			tu := tuple(100000 + i*3)
			pool[i], _ = MakeKey(&tu)
		}
		conns := make([]*Conn, live)
		for i := range conns {
			conns[i] = tab.Insert(&pool[i], pool[i].Hash())
		}
		x, next := uint64(2), live
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			x ^= x << 13 // xorshift: a victim anywhere among the live
			x ^= x >> 7
			x ^= x << 17
			v := int(x % live)
			tab.Remove(conns[v])
			k := &pool[next&(len(pool)-1)]
			for n := 0; tab.Lookup(k, k.Hash()) != nil && n < len(pool); n++ {
				next++
				k = &pool[next&(len(pool)-1)]
			}
			next++
			conns[v] = tab.Insert(k, k.Hash())
		}
	})
}

// BenchmarkTableDefaultLimit: a worker at the default limit (1M flows)
// watching 16k live connections, looked up in random order, as a live
// capture does: the slot array follows the live count, not the limit.
func BenchmarkTableDefaultLimit(b *testing.B) {
	tab := New(1 << 20)
	keys := make([]Key, 1<<14)
	for i := range keys {
		tu := tuple(i * 7919)
		keys[i], _ = MakeKey(&tu)
		tab.Insert(&keys[i], keys[i].Hash())
	}
	order := rand.New(rand.NewSource(1)).Perm(len(keys))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := &keys[order[i&(len(keys)-1)]]
		if tab.Lookup(k, k.Hash()) == nil {
			b.Fatal("miss")
		}
	}
}

// TestChurnAgainstMap: random inserts and removals across several slot
// array doublings agree with a map.
func TestChurnAgainstMap(t *testing.T) {
	tab := New(40000)
	rnd := rand.New(rand.NewSource(3))
	live := map[int]*Conn{}
	for op := 0; op < 200000; op++ {
		i := rnd.Intn(60000)
		tu := tuple(i * 7)
		k, _ := MakeKey(&tu)
		c := tab.Lookup(&k, k.Hash())
		if (c != nil) != (live[i] != nil) || (c != nil && c != live[i]) {
			t.Fatalf("op %d: lookup %d = %p, want %p", op, i, c, live[i])
		}
		switch {
		case c != nil && rnd.Intn(3) == 0:
			tab.Remove(c)
			delete(live, i)
		case c == nil:
			if c = tab.Insert(&k, k.Hash()); c != nil {
				live[i] = c
			} else if len(live) < 40000 {
				t.Fatalf("insert refused with %d live", len(live))
			}
		}
	}
	if tab.Len() != len(live) {
		t.Fatalf("len %d, want %d", tab.Len(), len(live))
	}
	checkSlots(t, tab)
}

// checkSlots verifies every slot's displacement and tag against its key's
// hash, and that no empty slot lies between an entry and its home.
func checkSlots(t *testing.T, tab *Table) {
	t.Helper()
	n := 0
	for i, s := range tab.slots {
		if s == 0 {
			continue
		}
		n++
		h := tab.At(slotIndex(s)).Key.Hash()
		d := (uint64(i) - h) & tab.mask
		if want := slot(h, d, slotIndex(s)); s != want {
			t.Fatalf("slot %d = %#x, want %#x (displacement %d)", i, s, want, d)
		}
		for j := h & tab.mask; j != uint64(i); j = (j + 1) & tab.mask {
			if tab.slots[j] == 0 {
				t.Fatalf("slot %d: empty slot %d between it and its home", i, j)
			}
		}
	}
	if n != tab.Len() {
		t.Fatalf("%d slots used, %d live", n, tab.Len())
	}
}

// TestLongProbeRun: 40 keys with one home slot (displacements past the
// 4 bits a slot stores) are found, and removed in any order, with the
// slots consistent after each step.
func TestLongProbeRun(t *testing.T) {
	tab := New(1000) // 4096 slots
	var keys []Key
	for i := 0; len(keys) < 40 && i < 1<<24; i++ {
		tu := tuple(i)
		k, _ := MakeKey(&tu)
		if k.Hash()&tab.mask == 77 {
			keys = append(keys, k)
		}
	}
	if len(keys) < 40 {
		t.Fatalf("found only %d keys with home 77", len(keys))
	}
	conns := make([]*Conn, len(keys))
	for i := range keys {
		conns[i] = tab.Insert(&keys[i], keys[i].Hash())
	}
	checkSlots(t, tab)
	for _, i := range rand.New(rand.NewSource(5)).Perm(len(keys)) {
		tab.Remove(conns[i])
		conns[i] = nil
		checkSlots(t, tab)
		for j := range keys {
			if c := tab.Lookup(&keys[j], keys[j].Hash()); (c != nil) != (conns[j] != nil) {
				t.Fatalf("after removing %d: key %d found=%v", i, j, c != nil)
			}
		}
	}
}

// TestWheelTickWrap: ticks are stored modulo 2^32; deadlines on both
// sides of a wrap (and on the tick that is 0 modulo 2^32) still fire in
// order.
func TestWheelTickWrap(t *testing.T) {
	tab := New(100)
	wrap := int64(1<<32) * wheelTick
	start := wrap - 2*wheelTick
	tab.Expire(start, func(*Conn) {})
	var fired []int32
	for i, d := range []int64{wrap + 3*wheelTick, wrap, wrap - wheelTick} {
		tu := tuple(i)
		k, _ := MakeKey(&tu)
		tab.Schedule(tab.Insert(&k, k.Hash()), d)
	}
	for now := start; now <= wrap+4*wheelTick; now += wheelTick / 2 {
		tab.Expire(now, func(c *Conn) { fired = append(fired, c.Index()); tab.Remove(c) })
	}
	if len(fired) != 3 || fired[0] != 2 || fired[1] != 1 || fired[2] != 0 {
		t.Fatalf("fired %v, want [2 1 0]", fired)
	}
}

// TestLayout: the per-connection budget (issue: at most 256 bytes per
// connection beyond pcap buffers) is Conn, the detectors' state and a
// table slot; Conn's share is 200.
func TestLayout(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 200 {
		t.Errorf("Conn is %d bytes, budget 200", n)
	}
	if n := unsafe.Sizeof(Endpoint{}); n != 44 {
		t.Errorf("Endpoint is %d bytes, want 44", n)
	}
	var ep Endpoint
	ep.addData(1<<32 - 1)
	ep.addData(2)
	if ep.dataBytes() != 1<<32+1 {
		t.Errorf("data bytes across 2^32: %d", ep.dataBytes())
	}
}

// TestCounters: packet and byte counts past 32 bits, and times kept as
// offsets when an earlier packet moves First.
func TestCounters(t *testing.T) {
	var ep Endpoint
	ep.pktsLo = 1<<32 - 1
	ep.ipLo = 1<<32 - 100
	ep.count(1500)
	if ep.Pkts() != 1<<32 || ep.IPBytes() != 1<<32+1400 {
		t.Errorf("pkts %d bytes %d", ep.Pkts(), ep.IPBytes())
	}
	c := Conn{First: 10_000_500, Last: 10_000_500}
	c.syn = c.offset(10_000_500)
	c.synAck = c.offset(12_345_678)
	c.moveFirst(7_000_000)
	if c.SynTS() != 10_000_000 || c.SynAckTS() != 12_345_000 || c.AckTS() != 0 {
		t.Errorf("times after moving First: %d %d %d", c.SynTS(), c.SynAckTS(), c.AckTS())
	}
}
