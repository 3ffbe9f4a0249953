package detectors

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/dlltagent/dlltagent/decode"
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

// headSnapPayload is how much of a segment's payload the head keeps once
// the connection is past its handshakes (TLS established, the first HTTP
// request read, or 4 KiB of payload kept whole otherwise): enough for the
// record or message headers; the rest is bulk data (encrypted or not) that
// no diagnosis needs, and copying it was the largest cost per packet. The
// record keeps its original length, so Wireshark shows the cut.
const (
	headSnapPayload = 256
	headWholeBytes  = 4 << 10
)

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

// of returns c's first SYN, if the stash still holds it (its slot may
// have been taken by another connection's SYN since).
func (s *synStash) of(c *flowtable.Conn) (ts int64, frame []byte, origLen int, ok bool) {
	slot := int(c.Index()) % stashSlots
	if s.idx[slot] != c.Index()+1 || s.first[slot] != c.First {
		return 0, nil, 0, false
	}
	off := slot * stashSlotSize
	return s.ts[slot], s.data[off : off+int(s.n[slot])], int(s.orig[slot]), true
}

func (s *synStash) init() {
	s.data = make([]byte, stashSlots*stashSlotSize)
	s.idx = make([]int32, stashSlots)
	s.first = make([]int64, stashSlots)
	s.ts = make([]int64, stashSlots)
	s.n = make([]uint16, stashSlots)
	s.orig = make([]uint32, stashSlots)
}

// The recent ring is a worker's pre-trigger buffer: every TCP packet that
// neither a head nor a tail keeps (the bulk of a healthy connection, once
// its head is released) is written there cut to its headers and the start
// of its payload, linked to the same connection's previous entry. When a
// problem starts a connection's tail, the chain is walked back and the
// packets still in the ring go into the pcap first, so a reset or an alert
// in the middle of a long connection comes with the packets that led to
// it, not alone. Cost: one small sequential copy per such packet; memory:
// fixed, and 4 bytes per connection for the link.
const (
	recentBytes   = 4 << 20
	recentPayload = 64   // payload bytes kept per packet
	recentMax     = 64   // packets recovered per connection at most
	recentFirst   = 4    // of which the connection's oldest still in the ring
	recentWalk    = 4096 // links followed back at most to find the oldest

	// A released head hands its packets (the TCP handshake, the TLS
	// handshake or the first request and response), cut, to the recent
	// ring: they are the start of the connection's chain.
	headToRecent      = 48
	headToRecentBytes = 256
)

type recentRing struct {
	buf []byte
	pos uint32 // virtual write offset; wraps (len(buf) is far below 2^31)
}

// An entry: previous entry's link (uint32), frame length (uint16), pad,
// original length (uint32), owner connection index (int32), timestamp
// (int64), frame. Links are 32-bit positions that come round every 4 GiB
// written: the owner and the timestamp tell a stale link from a live one.
const recentHdr = 24

// put writes one packet of connection owner linked to prev (0 = none) and
// returns its link.
func (r *recentRing) put(prev uint32, owner int32, ts int64, frame []byte, origLen int) uint32 {
	need := (recentHdr + len(frame) + 7) &^ 7
	size := uint32(len(r.buf))
	off := r.pos % size
	if off+uint32(need) > size {
		r.pos += size - off // pad to the start
		off = 0
	}
	b := r.buf[off : int(off)+need]
	binary.LittleEndian.PutUint32(b[0:], prev)
	binary.LittleEndian.PutUint16(b[4:], uint16(len(frame)))
	binary.LittleEndian.PutUint32(b[8:], uint32(origLen))
	binary.LittleEndian.PutUint32(b[12:], uint32(owner))
	binary.LittleEndian.PutUint64(b[16:], uint64(ts))
	copy(b[recentHdr:], frame)
	v := r.pos
	r.pos += uint32(need)
	return v + 1
}

// entry returns connection c's packet behind link l and the link before
// it, or ok=false once the ring has overwritten it.
func (r *recentRing) entry(l uint32, c *flowtable.Conn) (ts int64, frame []byte, origLen int, prev uint32, ok bool) {
	if l == 0 {
		return
	}
	v := l - 1
	size := uint32(len(r.buf))
	if r.pos-v > size-recentHdr { // overwritten, at least in part
		return
	}
	b := r.buf[v%size:]
	ts = int64(binary.LittleEndian.Uint64(b[16:]))
	if int32(binary.LittleEndian.Uint32(b[12:])) != c.Index() || ts < c.First {
		return 0, nil, 0, 0, false // a stale link: the slot holds another connection's packet
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	return ts, b[recentHdr : recentHdr+n], int(binary.LittleEndian.Uint32(b[8:])), binary.LittleEndian.Uint32(b[0:]), true
}

// maxTailChunks bounds a tail ring (2 MiB / 32 KiB).
const maxTailChunks = 64

// arena is a worker's slab of fixed-size chunks for focused pcap buffers.
// The backing array is allocated once; pages are touched only when used.
type arena struct {
	mem     []byte
	free    []int32
	maxTail int
	tails   slab[tailRing]
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
// Its packet count and flags are in flowState (headPkts, fHeadClosed,
// fStashed), which keeps both 4-byte aligned without padding.
type pcapBuf struct {
	tail       uint32 // handle in arena.tails, 0 none
	head       int32  // chunk, -1 none
	headUsed   uint16 // at most chunkBytes
	wholeBytes uint16 // payload bytes kept whole in the head (saturating)
}

type tailRing struct {
	idx   [maxTailChunks]int32
	used  [maxTailChunks]int32
	start int
	n     int
}

// freeBuf gives a connection's pcap chunks back; its head takes no more.
func (e *Engine) freeBuf(fs *flowState) {
	a, pc := &e.arena, &fs.pc
	a.put(pc.head)
	pc.head, pc.headUsed = -1, 0
	fs.set(fHeadClosed)
	if pc.tail != 0 {
		t := a.tails.at(pc.tail)
		for i := 0; i < t.n; i++ {
			a.put(t.idx[(t.start+i)%maxTailChunks])
		}
		a.tails.put(pc.tail)
		pc.tail = 0
	}
}

// tailOf returns pc's tail ring (nil: none).
func (a *arena) tailOf(pc *pcapBuf) *tailRing {
	if pc.tail == 0 {
		return nil
	}
	return a.tails.at(pc.tail)
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
//
// payOff is the offset of the TCP payload in frame and payLen its captured
// length (0 when the segment carries none).
func (e *Engine) recordPacket(c *flowtable.Conn, fs *flowState, ts int64, frame []byte, origLen int, bareSYN bool, payOff, payLen int) {
	pc := &fs.pc
	if !fs.has(fHeadClosed) {
		if pc.head < 0 {
			slot := int(c.Index()) % stashSlots
			st := &e.stash
			if bareSYN && fs.headPkts == 0 {
				if fs.has(fStashed) {
					// A retransmitted SYN: the first one is kept in the
					// stash, this one in the recent ring (an unanswered
					// connection's pcap shows every SYN still there).
					if len(frame) <= 512 {
						fs.recent = e.recent.put(fs.recent, c.Index(), ts, frame, origLen)
					}
					return
				}
				if len(frame) <= stashSlotSize {
					copy(st.data[slot*stashSlotSize:], frame)
					st.idx[slot], st.first[slot], st.ts[slot] = c.Index()+1, c.First, ts
					st.n[slot], st.orig[slot] = uint16(len(frame)), uint32(origLen)
					fs.set(fStashed)
					return
				}
			}
			pc.head = e.arena.alloc()
			if pc.head < 0 {
				fs.set(fHeadClosed)
				e.St.PcapDropped.Add(uint64(len(frame)))
			} else if fs.has(fStashed) {
				fs.clear(fStashed)
				if ts, syn, orig, ok := st.of(c); ok {
					if u := putRecord(e.arena.chunk(pc.head), 0, ts, syn, orig); u >= 0 {
						pc.headUsed = uint16(u)
						fs.headPkts = min(fs.headPkts+1, 255)
					}
				}
				if fs.recent != 0 {
					e.resentToHead(c, fs)
				}
			}
		}
		if pc.head >= 0 {
			hf := frame
			if payLen > 0 {
				if e.settled(fs) {
					hf = hf[:min(len(hf), payOff+headSnapPayload)]
				} else if w := int(pc.wholeBytes) + payLen; w < 1<<16 {
					pc.wholeBytes = uint16(w)
				} else {
					pc.wholeBytes = 1<<16 - 1
				}
			}
			if len(hf) > headFrameMax {
				hf = hf[:headFrameMax]
			}
			if u := putRecord(e.arena.chunk(pc.head), int(pc.headUsed), ts, hf, origLen); u >= 0 {
				pc.headUsed = uint16(u)
				fs.headPkts = min(fs.headPkts+1, 255)
				return
			}
			fs.set(fHeadClosed)
		}
	}
	if pc.tail == 0 {
		// (A pcap written at once for a silence: the SYNs re-sent after
		// it, and a refusal's RST, are kept too, for a later event's.)
		if !fs.has(fPcapDone) || c.SynAckTS() == 0 {
			rf := frame
			if payLen > 0 {
				rf = rf[:min(len(rf), payOff+recentPayload)]
			}
			if len(rf) <= 512 {
				fs.recent = e.recent.put(fs.recent, c.Index(), ts, rf, origLen)
			}
		}
		return
	}
	e.tailPut(pc, ts, frame, origLen)
}

// chainBack returns the links of c's packets still in the recent ring,
// from link l back, newest first: at most n of them, only those at or
// before upTo. The slice is the engine's, valid until the next call.
func (e *Engine) chainBack(c *flowtable.Conn, l uint32, upTo int64, n int) []uint32 {
	links := e.links[:0]
	for len(links) < n {
		at, _, _, prev, ok := e.recent.entry(l, c)
		if !ok {
			break
		}
		if at <= upTo {
			links = append(links, l)
		}
		l = prev
	}
	e.links = links
	return links
}

// resentToHead moves the SYNs c re-sent, waiting in the recent ring, into
// its new head buffer after its first: a connection answered late has
// them in order before the answer.
func (e *Engine) resentToHead(c *flowtable.Conn, fs *flowState) {
	links := e.chainBack(c, fs.recent, math.MaxInt64, recentMax)
	fs.recent = 0
	pc := &fs.pc
	for i := len(links) - 1; i >= 0; i-- {
		ts, frame, origLen, _, _ := e.recent.entry(links[i], c)
		u := putRecord(e.arena.chunk(pc.head), int(pc.headUsed), ts, frame, origLen)
		if u < 0 {
			return
		}
		pc.headUsed = uint16(u)
		fs.headPkts = min(fs.headPkts+1, 255)
	}
}

// tailPut appends a packet to the connection's tail ring, recycling its
// oldest chunk when the ring is at its bound.
func (e *Engine) tailPut(pc *pcapBuf, ts int64, frame []byte, origLen int) {
	t := e.arena.tails.at(pc.tail)
	if t.n > 0 {
		last := (t.start + t.n - 1) % maxTailChunks
		if u := putRecord(e.arena.chunk(t.idx[last]), int(t.used[last]), ts, frame, origLen); u >= 0 {
			t.used[last] = int32(u)
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
			return
		}
		// Recycle the oldest chunk: the ring keeps the newest packets.
		ci = t.idx[t.start]
		t.start = (t.start + 1) % maxTailChunks
		t.n--
	}
	pos := (t.start + t.n) % maxTailChunks
	t.idx[pos], t.used[pos] = ci, 0
	t.n++
	if u := putRecord(e.arena.chunk(ci), 0, ts, frame, origLen); u >= 0 {
		t.used[pos] = int32(u)
	}
}

// settled reports whether the connection is past its handshakes, so the
// head keeps only the start of each segment's payload.
func (e *Engine) settled(fs *flowState) bool {
	switch fs.pk {
	case pkTLS:
		return e.tlss.at(fs.px).est
	case pkHTTP:
		if e.search != nil {
			return e.https.at(fs.px).done
		}
	}
	return fs.pc.wholeBytes >= headWholeBytes
}

// ensureTail starts a tail ring for a tracked or failing connection.
func (e *Engine) ensureTail(c *flowtable.Conn, fs *flowState) {
	if fs.pc.tail != 0 || fs.has(fPcapDone) {
		return
	}
	var t *tailRing
	fs.pc.tail, t = e.arena.tails.get()
	*t = tailRing{}
	// The packets that led here, still in the recent ring, come first:
	// the newest recentMax-recentFirst and the recentFirst oldest (for a
	// long connection, its handshake: Wireshark needs the SYNs' options
	// to follow window scaling and sequence numbers).
	links := e.chainBack(c, fs.recent, math.MaxInt64, recentWalk)
	fs.recent = 0
	if n := len(links); n > recentMax {
		copy(links[recentMax-recentFirst:], links[n-recentFirst:])
		links = links[:recentMax]
	}
	for i := len(links) - 1; i >= 0; i-- {
		ts, frame, origLen, _, _ := e.recent.entry(links[i], c)
		e.tailPut(&fs.pc, ts, frame, origLen)
	}
}

// maybeReleaseHead frees the head buffer of a connection that is past its
// handshakes, healthy and not tracked.
func (e *Engine) maybeReleaseHead(c *flowtable.Conn, fs *flowState) {
	pc := &fs.pc
	if pc.head < 0 || fs.has(fTracked) || e.q(fs).pcapName != "" || e.q(fs).events != 0 {
		return
	}
	past := false
	switch fs.pk {
	case pkTLS:
		t := e.tlss.at(fs.px)
		past = t.est && (!t.tls13 || (t.srvAfter >= 1 && t.pendingRej < 0)) || t.d[0].broken || t.d[1].broken
	case pkHTTP:
		past = e.https.at(fs.px).done && c.Size(1) > 0
	default:
		past = (c.Size(0) > 0 && c.Size(1) > 0) || fs.headPkts >= 16
	}
	if past {
		e.headToRecent(c, fs)
	}
}

// headToRecent frees c's head buffer, its packets handed to the recent
// ring, cut like the ring's other packets (the head's records are whole):
// the start of the connection stays reachable there.
func (e *Engine) headToRecent(c *flowtable.Conn, fs *flowState) {
	pc := &fs.pc
	if pc.head < 0 {
		return
	}
	h := e.arena.chunk(pc.head)[:pc.headUsed]
	for k := 0; k < headToRecent && len(h) >= pcapio.RecordHeaderLen; k++ {
		ts := int64(binary.LittleEndian.Uint32(h[0:]))*1e9 + int64(binary.LittleEndian.Uint32(h[4:]))
		n := int(binary.LittleEndian.Uint32(h[8:]))
		orig := int(binary.LittleEndian.Uint32(h[12:]))
		h = h[pcapio.RecordHeaderLen:]
		fs.recent = e.recent.put(fs.recent, c.Index(), ts, h[:min(n, headToRecentBytes)], orig)
		h = h[n:]
	}
	e.arena.put(pc.head)
	pc.head, pc.headUsed = -1, 0
	fs.set(fHeadClosed)
}

// writeStartPcap writes at once the pcap of a connection that never got
// past its first packets (a refused or unanswered SYN), which holds no
// buffer of the arena: its first SYN from the SYN stash, then its packets
// still in the recent ring (the SYNs re-sent, the RST). Written only for
// an event the rate limiter let through: a scan or a flood costs no files
// beyond those. It holds the packets up to the problem's time, ts, as the
// event tells them (SYNs re-sent later are left out), the same whenever
// the event is released; then extra (an ICMP error about it, at ts), if
// any.
func (e *Engine) writeStartPcap(c *flowtable.Conn, fs *flowState, note int, ts int64, extra []byte, extraLen int) string {
	pr := e.q(fs)
	switch {
	case pr.pcapName == "" && !fs.has(fPcapDone):
		e.planPcap(fs, note, c, ts)
		e.pcapSend(fs, e.startPcap(c, fs, e.q(fs).pcapName, ts, extra, extraLen))
		return e.q(fs).pcapName
	case int(pr.pcapNote) != note && (fs.has(fPcapDone) || pr.pcapNote == NoteTCPLateAnswer):
		// Another problem of the connection had its file written at
		// once (a silence, then a refusal or an ICMP error), or an
		// answer came after the silence this event reports (a worker
		// was behind) and is kept: this event gets a file of its own.
		return e.sendStartPcap(c, fs, pcapFileName(note, c, ts), ts, extra, extraLen)
	}
	return pr.pcapName
}

// startPcap builds the pcap file name of a connection that never got past
// its first packets (see writeStartPcap): its packets up to ts, then
// extra.
func (e *Engine) startPcap(c *flowtable.Conn, fs *flowState, name string, ts int64, extra []byte, extraLen int) *Buffer {
	b := e.pcapStart(fs, name)
	if at, syn, orig, ok := e.stash.of(c); ok && fs.has(fStashed) {
		b.B = pcapio.AppendRecord(b.B, at, syn, orig)
	}
	if pc := &fs.pc; pc.head >= 0 {
		// A SYN too large for the stash (carrying data: TCP Fast
		// Open), or the answer that came since, opened a head buffer:
		// it holds the first SYN and what followed.
		b.B = append(b.B, recordsUpTo(e.arena.chunk(pc.head)[:pc.headUsed], ts)...)
	}
	links := e.chainBack(c, fs.recent, ts, recentMax)
	for i := len(links) - 1; i >= 0; i-- {
		at, frame, origLen, _, _ := e.recent.entry(links[i], c)
		b.B = pcapio.AppendRecord(b.B, at, frame, origLen)
	}
	if len(extra) > 0 {
		b.B = pcapio.AppendRecord(b.B, ts, extra, extraLen)
	}
	return b
}

// sendStartPcap writes, beside the connection's own pcap, a file name of
// its packets up to ts (startPcap), and returns the name; "" if the sink
// refused it.
func (e *Engine) sendStartPcap(c *flowtable.Conn, fs *flowState, name string, ts int64, extra []byte, extraLen int) string {
	b := e.startPcap(c, fs, name, ts, extra, extraLen)
	if !e.out.Send(b) {
		PutBuffer(b)
		return ""
	}
	return name
}

// recordsUpTo returns the leading pcap records of h stamped at or before
// ts.
func recordsUpTo(h []byte, ts int64) []byte {
	off := 0
	for off+pcapio.RecordHeaderLen <= len(h) {
		r := h[off:]
		if int64(binary.LittleEndian.Uint32(r[0:]))*1e9+int64(binary.LittleEndian.Uint32(r[4:])) > ts {
			break
		}
		off += pcapio.RecordHeaderLen + int(binary.LittleEndian.Uint32(r[8:]))
	}
	return h[:min(off, len(h))]
}

// pcapStart opens pcap file name for fs: its name and header.
func (e *Engine) pcapStart(fs *flowState, name string) *Buffer {
	b := GetBuffer(KindPcap)
	b.Name = name
	b.B = pcapio.AppendFileHeader(b.B, int(e.ifaces[fs.link].link), 262144)
	return b
}

// pcapSend hands fs's finished pcap b to the sink and frees the
// connection's buffers.
func (e *Engine) pcapSend(fs *flowState, b *Buffer) {
	fs.set(fPcapDone)
	e.freeBuf(fs)
	if !e.out.Send(b) {
		// Refused under overload (the sink counts pcaps_dropped):
		// end_flows does not name a file that will not exist.
		PutBuffer(b)
		e.p(fs).pcapName = ""
	}
}

// problemEvent opens the event of a problem on connection c that gets a
// pcap: it names the pcap, starts the tail (with the packets that led
// here) and starts the event; nil when the rate limiter folds it.
func (e *Engine) problemEvent(c *flowtable.Conn, fs *flowState, note int, ts int64) *Buffer {
	e.keepPcap(c, fs, note, ts)
	return e.eventStart(c, note, ts)
}

// keepPcap names c's pcap for problem note at ts and starts its tail with
// the packets that led here: from now on the connection keeps every frame
// until the file is written (when it ends, or sooner: see dnsPcapNow).
func (e *Engine) keepPcap(c *flowtable.Conn, fs *flowState, note int, ts int64) {
	if fs.has(fPcapDone) && c.Proto() == decode.ProtoUDP && ts > e.q(fs).pcapUpTo {
		// The flow's file was written once its lookups went quiet, and
		// holds none of this problem's packets: a new file, from the
		// recent ring, which kept the flow's packets since.
		fs.clear(fPcapDone)
		e.p(fs).pcapName = ""
	}
	e.planPcap(fs, note, c, ts)
	e.ensureTail(c, fs)
}

// planPcap names the pcap that will be written for this connection, by
// the time of the problem (ts).
func (e *Engine) planPcap(fs *flowState, note int, c *flowtable.Conn, ts int64) {
	if e.q(fs).pcapName != "" {
		return
	}
	e.p(fs).pcapName = pcapFileName(note, c, ts)
	e.p(fs).pcapNote = int8(note)
}

// pcapFileName names the pcap of connection c's problem note at ts.
func pcapFileName(note int, c *flowtable.Conn, ts int64) string {
	b := make([]byte, 0, 80)
	b = append(b, "pcaps/"...)
	b = time.Unix(0, ts).UTC().AppendFormat(b, "20060102T150405.000Z")
	b = append(b, '_')
	b = append(b, noteNames[note]...)
	b = append(b, '_')
	b = uid(b, c)
	b = append(b, ".pcap"...)
	return string(b)
}

// writePcap sends the connection's buffered packets to the sink as one
// pcap file (head, then tail, original timestamps) and frees the buffers.
func (e *Engine) writePcap(c *flowtable.Conn, fs *flowState) {
	if e.q(fs).pcapName == "" || fs.has(fPcapDone) {
		return
	}
	pc := &fs.pc
	b := e.pcapStart(fs, e.q(fs).pcapName)
	if pc.head >= 0 {
		b.B = append(b.B, e.arena.chunk(pc.head)[:pc.headUsed]...)
	}
	if t := e.arena.tailOf(pc); t != nil {
		for i := 0; i < t.n; i++ {
			j := (t.start + i) % maxTailChunks
			b.B = append(b.B, e.arena.chunk(t.idx[j])[:t.used[j]]...)
		}
	}
	e.pcapSend(fs, b)
}
