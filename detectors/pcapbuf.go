package detectors

import (
	"time"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/pcapio"
)

// chunkBytes is the arena's unit: a connection's head buffer is one chunk,
// its tail a ring of chunks.
const chunkBytes = 32 << 10

// minKeep is the fewest bytes of a frame worth keeping when it has to be
// cut to fit (headers and the start of the payload).
const minKeep = 128

// headFrameMax bounds the bytes of one frame copied into a head buffer:
// handshake packets are small, and a 64 KiB GSO frame of bulk data is
// kept as its first 16 KiB with its original length.
const headFrameMax = 16 << 10

// The SYN stash holds each new connection's first bare SYN (most are at
// most 128 bytes) in a fixed per-worker area, so a connection gets a head
// chunk only when a second packet comes: unanswered SYNs (scans, floods)
// never need a pcap and never touch the arena.
const (
	stashSlots    = 1 << 15
	stashSlotSize = 128
)

type synStash struct {
	data  []byte
	idx   []int32 // owner connection index + 1
	first []int64 // owner's first-packet time (tells reuse apart)
	ts    []int64
	n     []uint16
	orig  []uint32
}

func (s *synStash) init() {
	s.data = make([]byte, stashSlots*stashSlotSize)
	s.idx = make([]int32, stashSlots)
	s.first = make([]int64, stashSlots)
	s.ts = make([]int64, stashSlots)
	s.n = make([]uint16, stashSlots)
	s.orig = make([]uint32, stashSlots)
}

// maxTailChunks bounds a tail ring (2 MiB / 32 KiB).
const maxTailChunks = 64

// arena is a worker's slab of fixed-size chunks for focused pcap buffers.
// The backing array is allocated once; pages are touched only when used.
type arena struct {
	mem     []byte
	free    []int32
	maxTail int
}

func (a *arena) init(total, maxFile int) {
	n := total / chunkBytes
	if n < 4 {
		n = 4
	}
	a.mem = make([]byte, n*chunkBytes)
	a.free = make([]int32, n)
	for i := range a.free {
		a.free[i] = int32(n - 1 - i)
	}
	a.maxTail = (maxFile - pcapio.FileHeaderLen - chunkBytes) / chunkBytes
	a.maxTail = max(1, min(a.maxTail, maxTailChunks))
}

func (a *arena) alloc() int32 {
	n := len(a.free)
	if n == 0 {
		return -1
	}
	i := a.free[n-1]
	a.free = a.free[:n-1]
	return i
}

func (a *arena) put(i int32) {
	if i >= 0 {
		a.free = append(a.free, i)
	}
}

func (a *arena) chunk(i int32) []byte {
	return a.mem[int(i)*chunkBytes : (int(i)+1)*chunkBytes]
}

// pcapBuf is a connection's packet buffer: a head chunk with its first
// packets (the handshakes) and, for tracked or failing connections, a
// circular tail. Records are stored in pcap record format.
type pcapBuf struct {
	head       int32 // chunk, -1 none
	headUsed   int32
	headPkts   uint16
	headClosed bool
	tail       *tailRing
	gapPkts    uint32 // packets between head and tail that were not kept
	stashed    bool   // the first SYN waits in the SYN stash
}

type tailRing struct {
	idx   [maxTailChunks]int32
	used  [maxTailChunks]int32
	pkts  [maxTailChunks]uint32
	start int
	n     int
}

func (a *arena) freeBuf(pc *pcapBuf) {
	a.put(pc.head)
	pc.head, pc.headUsed = -1, 0
	pc.headClosed = true
	if pc.tail != nil {
		for i := 0; i < pc.tail.n; i++ {
			a.put(pc.tail.idx[(pc.tail.start+i)%maxTailChunks])
		}
		pc.tail = nil
	}
}

// putRecord appends a record to chunk c at offset used; it cuts the frame
// to fit and returns the new offset, or -1 when not even minKeep bytes fit.
func putRecord(c []byte, used int, ts int64, frame []byte, origLen int) int {
	room := len(c) - used - pcapio.RecordHeaderLen
	n := len(frame)
	if n > room {
		if room < minKeep {
			return -1
		}
		n = room
	}
	pcapio.PutRecordHeader(c[used:], ts, n, origLen)
	copy(c[used+pcapio.RecordHeaderLen:], frame[:n])
	return used + pcapio.RecordHeaderLen + n
}

// recordPacket keeps a TCP frame in the connection's buffer.
func (e *Engine) recordPacket(c *flowtable.Conn, fs *flowState, ts int64, frame []byte, origLen int, bareSYN bool) {
	pc := &fs.pc
	if !pc.headClosed {
		if pc.head < 0 {
			slot := int(c.Index()) % stashSlots
			st := &e.stash
			if bareSYN && pc.headPkts == 0 {
				if pc.stashed {
					pc.gapPkts++ // a retransmitted SYN: the first one is kept
					return
				}
				if len(frame) <= stashSlotSize {
					copy(st.data[slot*stashSlotSize:], frame)
					st.idx[slot], st.first[slot], st.ts[slot] = c.Index()+1, c.First, ts
					st.n[slot], st.orig[slot] = uint16(len(frame)), uint32(origLen)
					pc.stashed = true
					return
				}
			}
			pc.head = e.arena.alloc()
			if pc.head < 0 {
				pc.headClosed = true
				e.St.PcapDropped.Add(uint64(len(frame)))
			} else if pc.stashed {
				pc.stashed = false
				if st.idx[slot] == c.Index()+1 && st.first[slot] == c.First {
					off := slot * stashSlotSize
					if u := putRecord(e.arena.chunk(pc.head), 0, st.ts[slot], st.data[off:off+int(st.n[slot])], int(st.orig[slot])); u >= 0 {
						pc.headUsed = int32(u)
						pc.headPkts++
					}
				} else {
					pc.gapPkts++ // the stash slot was taken by another SYN
				}
			}
		}
		if pc.head >= 0 {
			hf := frame
			if len(hf) > headFrameMax {
				hf = hf[:headFrameMax]
			}
			if u := putRecord(e.arena.chunk(pc.head), int(pc.headUsed), ts, hf, origLen); u >= 0 {
				pc.headUsed = int32(u)
				pc.headPkts++
				return
			}
			pc.headClosed = true
		}
	}
	if pc.tail == nil {
		if pc.head >= 0 || fs.q().pcapName != "" {
			pc.gapPkts++
		}
		return
	}
	t := pc.tail
	if t.n > 0 {
		last := (t.start + t.n - 1) % maxTailChunks
		if u := putRecord(e.arena.chunk(t.idx[last]), int(t.used[last]), ts, frame, origLen); u >= 0 {
			t.used[last] = int32(u)
			t.pkts[last]++
			return
		}
	}
	var ci int32 = -1
	if t.n < e.arena.maxTail {
		ci = e.arena.alloc()
	}
	if ci < 0 {
		if t.n == 0 {
			e.St.PcapDropped.Add(uint64(len(frame)))
			pc.gapPkts++
			return
		}
		// Recycle the oldest chunk: the ring keeps the newest packets.
		ci = t.idx[t.start]
		pc.gapPkts += t.pkts[t.start]
		t.start = (t.start + 1) % maxTailChunks
		t.n--
	}
	pos := (t.start + t.n) % maxTailChunks
	t.idx[pos], t.used[pos], t.pkts[pos] = ci, 0, 0
	t.n++
	if u := putRecord(e.arena.chunk(ci), 0, ts, frame, origLen); u >= 0 {
		t.used[pos] = int32(u)
		t.pkts[pos] = 1
	}
}

// ensureTail starts a tail ring for a tracked or failing connection.
func (e *Engine) ensureTail(fs *flowState) {
	if fs.pc.tail == nil && !fs.pcapDone {
		fs.pc.tail = &tailRing{}
	}
}

// maybeReleaseHead frees the head buffer of a connection that is past its
// handshakes, healthy and not tracked.
func (e *Engine) maybeReleaseHead(c *flowtable.Conn, fs *flowState) {
	pc := &fs.pc
	if pc.head < 0 || fs.tracked || fs.q().pcapName != "" || fs.events != 0 {
		return
	}
	past := false
	switch {
	case fs.tls != nil:
		t := fs.tls
		past = t.est && (!t.tls13 || (t.srvAfter >= 1 && t.pendingRej < 0)) || t.d[0].broken || t.d[1].broken
	case fs.http != nil:
		past = fs.http.done && c.Size(1) > 0
	default:
		past = (c.Size(0) > 0 && c.Size(1) > 0) || pc.headPkts >= 16
	}
	if past {
		e.arena.put(pc.head)
		pc.head, pc.headUsed, pc.headClosed = -1, 0, true
	}
}

// planPcap names the pcap that will be written for this connection.
func (e *Engine) planPcap(fs *flowState, note int, c *flowtable.Conn) {
	if fs.q().pcapName != "" {
		return
	}
	ts := e.now
	b := make([]byte, 0, 80)
	b = append(b, "pcaps/"...)
	b = time.Unix(0, ts).UTC().AppendFormat(b, "20060102T150405.000Z")
	b = append(b, '_')
	b = append(b, noteNames[note]...)
	b = append(b, '_')
	b = uid(b, c)
	b = append(b, ".pcap"...)
	fs.p().pcapName = string(b)
	fs.p().pcapNote = int8(note)
}

// writePcap sends the connection's buffered packets to the sink as one
// pcap file (head, then tail, original timestamps) and frees the buffers.
func (e *Engine) writePcap(c *flowtable.Conn, fs *flowState) {
	if fs.q().pcapName == "" || fs.pcapDone {
		return
	}
	pc := &fs.pc
	b := GetBuffer(KindPcap)
	b.Name = fs.q().pcapName
	b.B = pcapio.AppendFileHeader(b.B, int(fs.link), 262144)
	if pc.head >= 0 {
		b.B = append(b.B, e.arena.chunk(pc.head)[:pc.headUsed]...)
	}
	if t := pc.tail; t != nil {
		for i := 0; i < t.n; i++ {
			j := (t.start + i) % maxTailChunks
			b.B = append(b.B, e.arena.chunk(t.idx[j])[:t.used[j]]...)
		}
	}
	fs.pcapDone = true
	e.arena.freeBuf(pc)
	if !e.out.Send(b) {
		e.St.QueueDrops.Add(1)
	}
}
