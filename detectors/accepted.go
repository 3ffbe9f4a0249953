package detectors

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/dlltagent/dlltagent/flowtable"
)

// A SYN left unanswered while the same client's connection to that port
// sits accepted and unserved is no firewall's doing: the port is open to
// that client, and the server too slow to take connections off its
// queue (its listen backlog full), or something on the way drops some.
// The accepted connection is most often analysed by another worker
// (flows are sharded by their own ports), so a worker publishes in
// Shared the connections its servers accepted and then left without a
// byte until their SYN timeout (accPubAt): the SYN-ACK's time, and when
// the server first spoke or the connection ended, if it did. Healthy
// connections, answered sooner, cost nothing but a flag; the
// publication happens in the timer the first SYN already set.
//
// An unanswered SYN is judged (holdNoAnswer) once every worker is
// TimerLate past its own SYN timeout: by then every connection due to be
// published by that time was, and what the verdict reads is stated in
// packet times, so it does not depend on the number of workers.

// accSlots is how many published connections each worker keeps: the
// oldest goes first.
const accSlots = 256

// acceptEntry is a published connection. seq is odd while its worker
// writes it.
type acceptEntry struct {
	seq    atomic.Uint64
	key    atomic.Uint64 // client, server and port (sibKey)
	at     atomic.Int64  // the SYN-ACK
	pub    atomic.Int64  // when it was due to be published (accPubAt)
	served atomic.Int64  // the server's first byte (0: none yet)
	ended  atomic.Int64  // when the connection closed or went idle (0: not yet)
}

// flowState.more bits.
const (
	accWatch uint8 = 1 << iota // accepted, the server silent so far
	accPub                     // published (and still silent)
	fHeld                      // a verdict on the connection is held (heldVerdict)
	fSynData                   // a SYN carried data (TCP Fast Open)
	fProxied                   // the client began with a PROXY protocol header (proxyproto.go)
)

// acceptedWindow bounds how far from an unanswered SYN an accepted
// connection of the same client and port is looked for.
const acceptedWindow = 60 * int64(time.Second)

// accPubAt is when c, accepted and silent, is published: when its first
// SYN's silence would have been judged (synJudge), a timer it already
// has.
func (e *Engine) accPubAt(c *flowtable.Conn) int64 {
	base := c.FirstSYN()
	if base == 0 {
		base = c.SynAckTS()
	}
	return base + e.synJudge
}

// accRing is this worker's share of Shared's published connections.
func (e *Engine) accRing() *[accSlots]acceptEntry {
	return &e.sh.acc[e.worker%len(e.sh.acc)]
}

// publishAccepted publishes c, accepted and silent until now.
func (e *Engine) publishAccepted(c *flowtable.Conn, fs *flowState) {
	fs.more = fs.more&^accWatch | accPub
	a := &e.accRing()[e.accNext]
	e.accNext = (e.accNext + 1) % accSlots
	a.seq.Add(1)
	a.key.Store(sibKey(c))
	a.at.Store(c.SynAckTS())
	a.pub.Store(e.accPubAt(c))
	a.served.Store(0)
	a.ended.Store(0)
	a.seq.Add(1)
}

// accDone notes that c's server spoke at ts (served) or c ended then:
// c is no longer watched, and its entry, if published, says when.
func (e *Engine) accDone(c *flowtable.Conn, fs *flowState, served bool, ts int64) {
	pub := fs.more&accPub != 0
	fs.more &^= accWatch | accPub
	if !pub {
		return
	}
	key, at := sibKey(c), c.SynAckTS()
	ring := e.accRing()
	for i := range ring {
		a := &ring[i]
		if a.key.Load() != key || a.at.Load() != at {
			continue
		}
		a.seq.Add(1)
		if served {
			a.served.Store(ts)
		} else {
			a.ended.Store(ts)
		}
		a.seq.Add(1)
		return
	}
}

// PublishAccepted publishes every connection accepted and silent so far,
// at the end of the capture: offline, before the workers' final
// barrier, so that the last verdicts see them all.
func (e *Engine) PublishAccepted() {
	e.tab.Each(func(c *flowtable.Conn) {
		if fs := e.state(c); fs.more&accWatch != 0 {
			e.publishAccepted(c, fs)
		}
	})
}

// accEndTS is when c, ending now, was gone: an idle one at its idle
// timeout, one closed, replaced by a new connection on its ports or
// evicted at its last packet (the engine's clock runs by batches: its
// time would depend on them).
func (e *Engine) accEndTS(c *flowtable.Conn) int64 {
	if !closed(c) && e.now-c.Last >= e.idleTCP {
		return c.Last + e.idleTCP
	}
	return c.Last
}

// acceptedNear returns how long before firstSYN (negative: after) the
// same client's connection to the same server and port was accepted,
// the nearest within acceptedWindow that was due to be published by
// tc and still open and silent then. final: at the end of the capture,
// any published connection silent to the end.
func (s *Shared) acceptedNear(key uint64, firstSYN, tc int64, final bool) (int64, bool) {
	best, ok := int64(0), false
	until := tc
	if final {
		until = math.MaxInt64
	}
	for w := range s.acc {
		for i := range s.acc[w] {
			a := &s.acc[w][i]
			if a.key.Load() != key {
				continue
			}
			at, pub, served, ended, read := a.read(key)
			if !read || (!final && pub > tc) {
				continue
			}
			if (served != 0 && served <= until) || (ended != 0 && ended <= until) {
				continue
			}
			if d := firstSYN - at; max(d, -d) <= acceptedWindow && (!ok || max(d, -d) < max(best, -best)) {
				best, ok = d, true
			}
		}
	}
	return best, ok
}

// read returns a consistent copy of a (false if it is being rewritten
// for another connection, or stays busy).
func (a *acceptEntry) read(key uint64) (at, pub, served, ended int64, ok bool) {
	for range 64 {
		s := a.seq.Load()
		if s&1 != 0 {
			continue
		}
		k := a.key.Load()
		at, pub, served, ended = a.at.Load(), a.pub.Load(), a.served.Load(), a.ended.Load()
		if a.seq.Load() == s {
			return at, pub, served, ended, k == key
		}
	}
	return 0, 0, 0, 0, false
}

// holdNoAnswer sets c's unanswered SYN, judged at at, aside until every
// worker has analysed the capture TimerLate past it, with what its event
// says as of then; at the capture's end (final) it is reported at once.
func (e *Engine) holdNoAnswer(c *flowtable.Conn, fs *flowState, at int64, final bool) {
	h := heldVerdict{idx: c.Index(), first: c.First, kind: heldNoAnswer, at: at, due: at + flowtable.TimerLate, syns: uint32(c.E[0].Pkts()), synSpan: c.SynTS() - c.FirstSYN(), final: final}
	if final {
		e.noAnswerReport(c, h)
		return
	}
	e.holdVerdict(fs, h)
}
