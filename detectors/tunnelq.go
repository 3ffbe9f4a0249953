package detectors

import (
	"math"
	"time"
)

// Live, with several workers, the kernel's fanout hashes a tunnelled
// packet on its outer header, and the two directions of a connection
// inside VXLAN or Geneve travel in two outer flows (each node picks its
// own source port): a SYN may sit in one worker's ring block while its
// SYN-ACK, or the reset answering it, is read from another's. Forwarding
// alone would let the owner see the answer first. So every tunnelled
// packet, forwarded or the owner's own, waits in the owner's hold queue
// for tunnelHold and is analysed in capture-time order: longer than the
// ring's block timeout (10 ms), after which the kernel hands a block over
// however full, and the poll that follows.
const (
	tunnelHold     = 40 * time.Millisecond
	tunnelHoldMax  = 16 << 20 // bytes held at most; past it the oldest go at once
	tunnelHoldPkts = 1 << 16
)

type holdQueue struct {
	q     []Forwarded // sorted by TS from head
	head  int
	bytes int
}

// hold queues a copy of a tunnelled frame for worker w (live, several
// workers).
func (e *Engine) hold(w int, ts int64, link int, frame []byte, origLen int) {
	bp := fwdPool.Get().(*[]byte)
	*bp = append((*bp)[:0], frame...)
	f := Forwarded{TS: ts, Link: link, OrigLen: origLen, Data: bp, Hold: true}
	if w != e.worker {
		select {
		case e.fwdPeers[w] <- f:
			return
		default: // the owner is behind: analysed here instead
		}
	}
	e.enqueue(f)
}

// enqueue inserts f in capture-time order: each source (this worker's
// ring, each peer) is in order, so it goes at or near the end.
func (e *Engine) enqueue(f Forwarded) {
	h := &e.tunq
	h.q = append(h.q, f)
	for i := len(h.q) - 1; i > h.head && h.q[i-1].TS > h.q[i].TS; i-- {
		h.q[i-1], h.q[i] = h.q[i], h.q[i-1]
	}
	h.bytes += len(*f.Data)
	for h.bytes > tunnelHoldMax || len(h.q)-h.head > tunnelHoldPkts {
		e.releaseHeld(h.q[h.head].TS)
	}
}

// releaseHeld analyses the held packets captured at or before cutoff.
func (e *Engine) releaseHeld(cutoff int64) {
	h := &e.tunq
	for h.head < len(h.q) && h.q[h.head].TS <= cutoff {
		f := h.q[h.head]
		h.q[h.head] = Forwarded{}
		h.head++
		h.bytes -= len(*f.Data)
		e.packet(f.TS, f.Link, *f.Data, f.OrigLen, false)
		fwdPool.Put(f.Data)
	}
	if h.head == len(h.q) {
		h.q, h.head = h.q[:0], 0
	} else if h.head > 1024 && h.head > len(h.q)/2 {
		n := copy(h.q, h.q[h.head:])
		clear(h.q[n:])
		h.q, h.head = h.q[:n], 0
	}
}

// releaseDue analyses the held packets that have waited tunnelHold by
// the clock now (all of them when now is math.MaxInt64).
func (e *Engine) releaseDue(now int64) {
	if len(e.tunq.q) == 0 {
		return
	}
	if now != math.MaxInt64 {
		now -= int64(tunnelHold)
	}
	e.releaseHeld(now)
}
