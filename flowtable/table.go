package flowtable

import "math/bits"

// chunkSize is the number of connections allocated at once; the slab grows
// by chunks up to the table's limit and never moves a connection.
const chunkSize = 1024

// Wheel geometry: 4096 slots of 250 ms span about 17 minutes; deadlines
// further out are parked in their slot and re-checked when it comes round.
const (
	wheelSlots = 4096
	wheelTick  = int64(250e6) // ns
)

// TimerLate is how late after its deadline a connection's timer may run:
// Expire visits a connection up to one tick early, and one found not due
// yet waits for the next tick.
const TimerLate = wheelTick

// Table is one worker's connection table.
type Table struct {
	// slots: 0 = empty, else disp<<28 | tag<<24 | index+1. disp is the
	// distance from the connection's home slot (15 = 15 or more); tag is
	// the top 4 bits of its hash. A probe compares both before touching a
	// Conn (a cache miss each): only connections with the same home slot
	// and tag get that far, about one lookup in forty. disp also lets a
	// removal shift the rest of a probe run back without rehashing the
	// keys it moves, each of which would be another cache miss. 4-byte
	// slots keep the table at 5.3 to 10.7 bytes per connection.
	slots    []uint32
	mask     uint64
	maxSlots int
	chunks   [][]Conn
	free     []int32
	n        int
	max      int

	wheel    [wheelSlots]int32
	wheelNow int64 // next tick to process
	curTick  int64 // tick being processed while inExpire
	inExpire bool
	started  bool

	// Full counts inserts refused because the table was full.
	Full uint64
}

// New returns a table that holds at most maxFlows connections. Its slot
// array starts small and doubles with the number of live connections (load
// factor <= 0.75: 4-byte slots with an 8-bit tag keep probes within a cache
// line or two, and a slot costs at most 10.7 bytes per connection), so a
// worker watching a few thousand connections probes a few dozen KiB that
// stay in cache, not an array sized for the limit.
func New(maxFlows int) *Table {
	maxFlows = min(max(maxFlows, 16), MaxFlows)
	maxSlots := 1 << bits.Len(uint(maxFlows*2-1))
	n := min(maxSlots, initialSlots)
	t := &Table{slots: make([]uint32, n), mask: uint64(n - 1), maxSlots: maxSlots, max: maxFlows}
	for i := range t.wheel {
		t.wheel[i] = -1
	}
	return t
}

// initialSlots is the slot array's starting size.
const initialSlots = 4096

// MaxFlows is the most connections one table holds (a slot has 24 bits
// for the index).
const MaxFlows = 1<<24 - 1

const (
	idxMask  = 1<<24 - 1
	dispMax  = 15 // a stored disp of 15 means 15 or more
	dispMask = dispMax << 28
)

// slot packs an entry d slots past its home.
func slot(h uint64, d uint64, idx int32) uint32 {
	return slotTag(h, d) | uint32(idx+1)
}

// slotTag is what the slot of a key with hash h, d slots past its home,
// holds above the index.
func slotTag(h uint64, d uint64) uint32 {
	return uint32(min(d, dispMax))<<28 | uint32(h>>60)<<24
}

func slotIndex(s uint32) int32 { return int32(s&idxMask) - 1 }

// grow doubles the slot array and re-inserts every entry by its key's
// hash (rare: the array doubles with the live connections).
func (t *Table) grow() {
	old := t.slots
	t.slots = make([]uint32, 2*len(old))
	t.mask = uint64(len(t.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		h := t.At(slotIndex(s)).Key.Hash()
		i, d := h&t.mask, uint64(0)
		for t.slots[i] != 0 {
			i, d = (i+1)&t.mask, d+1
		}
		t.slots[i] = slot(h, d, slotIndex(s))
	}
}

// Len returns the number of live connections.
func (t *Table) Len() int { return t.n }

// Max returns the table's capacity.
func (t *Table) Max() int { return t.max }

// At returns the connection with slab index i.
func (t *Table) At(i int32) *Conn {
	u := uint32(i) // unsigned: the division is a shift
	return &t.chunks[u/chunkSize][u%chunkSize]
}

// Lookup finds the connection with key k and hash h.
func (t *Table) Lookup(k *Key, h uint64) *Conn {
	want := slotTag(h, 0) // what a slot of k holds above the index
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return nil
		}
		if s&^idxMask == want {
			if c := t.At(slotIndex(s)); c.Key == *k {
				return c
			}
		}
		if want < dispMask {
			want += 1 << 28 // one slot further from home
		}
	}
}

// Insert creates a connection for key k. It returns nil when the table is
// full. The caller initialises the connection with Init.
func (t *Table) Insert(k *Key, h uint64) *Conn {
	if t.n >= t.max {
		t.Full++
		return nil
	}
	var idx int32
	if len(t.free) > 0 {
		idx = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	} else {
		total := len(t.chunks) * chunkSize
		if t.n >= total {
			t.chunks = append(t.chunks, make([]Conn, chunkSize))
			for j := chunkSize - 1; j >= 1; j-- {
				t.free = append(t.free, int32(total+j))
			}
			idx = int32(total)
		} else {
			idx = t.free[len(t.free)-1]
			t.free = t.free[:len(t.free)-1]
		}
	}
	c := t.At(idx)
	*c = Conn{Key: *k, idx: idx, wnext: -1, wprev: -1}
	if 4*(t.n+1) > 3*len(t.slots) && len(t.slots) < t.maxSlots {
		t.grow()
	}
	i, d := h&t.mask, uint64(0)
	for t.slots[i] != 0 {
		i, d = (i+1)&t.mask, d+1
	}
	t.slots[i] = slot(h, d, idx)
	t.n++
	return c
}

// Remove deletes c from the table (backward-shift deletion: no tombstones).
func (t *Table) Remove(c *Conn) {
	t.unschedule(c)
	i := c.Key.Hash() & t.mask
	for {
		s := t.slots[i]
		if s == 0 {
			return // not present
		}
		if slotIndex(s) == c.idx {
			break
		}
		i = (i + 1) & t.mask
	}
	// Shift later entries of the probe run back into the hole: an entry
	// d slots past its home may move back up to d slots, so it moves
	// into the hole unless its home lies after the hole.
	j := i
	for {
		j = (j + 1) & t.mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		d := uint64(s >> 28)
		if d == dispMax {
			// 15 or more: only the key knows (rare at load <= 0.75).
			d = (j - t.At(slotIndex(s)).Key.Hash()) & t.mask
		}
		if back := (j - i) & t.mask; d >= back {
			t.slots[i] = uint32(min(d-back, dispMax))<<28 | s&^dispMask
			i = j
		}
	}
	t.slots[i] = 0
	t.free = append(t.free, c.idx)
	c.dead = true
	t.n--
}

// Schedule makes fn of Expire see c no later than deadline (ns). A
// connection is in at most one slot; an earlier deadline moves it.
func (t *Table) Schedule(c *Conn, deadline int64) {
	tick := deadline / wheelTick
	// Never into a tick already processed (or being processed: a
	// callback rescheduling its connection), or it would wait a whole
	// revolution of the wheel.
	if t.started && tick < t.wheelNow {
		tick = t.wheelNow
	}
	if t.inExpire && tick <= t.curTick {
		tick = t.curTick + 1
	}
	if c.wtick != 0 {
		if tickBefore(c.wtick, tick) {
			return // already due earlier; Expire re-checks
		}
		t.unschedule(c)
	}
	if uint32(tick) == 0 {
		tick++ // 0 means "not in the wheel" (once every 34 years)
	}
	s := int32(tick % wheelSlots)
	c.wtick = uint32(tick)
	c.wprev = -1
	c.wnext = t.wheel[s]
	if c.wnext >= 0 {
		t.At(c.wnext).wprev = c.idx
	}
	t.wheel[s] = c.idx
}

// tickBefore reports whether stored tick w is at or before tick (serial
// arithmetic: deadlines are far less than 2^31 ticks apart).
func tickBefore(w uint32, tick int64) bool { return int32(w-uint32(tick)) <= 0 }

func (t *Table) unschedule(c *Conn) {
	if c.wtick == 0 {
		return
	}
	if c.wprev >= 0 {
		t.At(c.wprev).wnext = c.wnext
	} else {
		t.wheel[c.wtick%wheelSlots] = c.wnext
	}
	if c.wnext >= 0 {
		t.At(c.wnext).wprev = c.wprev
	}
	c.wtick, c.wnext, c.wprev = 0, -1, -1
}

// Expire advances the wheel to now and calls fn for every connection whose
// scheduled tick has passed. fn must either Remove the connection or
// Schedule it again.
func (t *Table) Expire(now int64, fn func(c *Conn)) {
	nowTick := now / wheelTick
	if !t.started {
		t.started = true
		t.wheelNow = nowTick
		return
	}
	if nowTick < t.wheelNow {
		return // time went backwards (or this tick is done): wait
	}
	if nowTick-t.wheelNow > wheelSlots {
		t.wheelNow = nowTick - wheelSlots
	}
	// The current tick is processed too: a callback may see a connection
	// up to one tick early and re-checks its real deadline.
	t.inExpire = true
	defer func() { t.inExpire = false }()
	for ; t.wheelNow <= nowTick; t.wheelNow++ {
		t.curTick = t.wheelNow
		s := int32(t.wheelNow % wheelSlots)
		for idx := t.wheel[s]; idx >= 0; {
			c := t.At(idx)
			next := c.wnext
			if tickBefore(c.wtick, t.wheelNow) {
				t.unschedule(c)
				fn(c)
			}
			idx = next
		}
	}
}

// Oldest returns the connection due soonest in the wheel, which is the
// one idle the longest among those with the same timeout; nil if none.
// Used to evict when the table is full.
func (t *Table) Oldest() *Conn {
	for i := int64(0); i < wheelSlots; i++ {
		if idx := t.wheel[(t.wheelNow+i)%wheelSlots]; idx >= 0 {
			return t.At(idx)
		}
	}
	return nil
}

// Each calls fn for every live connection (for flushing at capture end).
func (t *Table) Each(fn func(c *Conn)) {
	for ci := range t.chunks {
		ch := t.chunks[ci]
		for i := range ch {
			if !ch[i].dead && ch[i].Key != (Key{}) {
				fn(&ch[i])
			}
		}
	}
}
