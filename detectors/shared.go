package detectors

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dlltagent/dlltagent/flowtable"
)

// Shared is what the engines of one run share. Flows are sharded by
// their own addresses and ports, so two connections of one client to one
// server are most often analysed by different workers; a verdict on one
// that depends on the other waits until every worker has analysed the
// capture past the moment in question (Mark), which keeps offline runs
// reproducible with any number of workers.
//
// What it holds: for each client, server, port and TLS server name, when
// connections went on after their handshake (siblings). A TLS 1.3 client
// that closes right after its handshake is a rejection of the server's
// certificate (curl checks the name only then), and a client's reset
// right after one may be (GnuTLS clients), unless a sibling dialled at
// the same time went on: then the certificate was acceptable and this
// connection was a spare. Go's HTTP/2 client dials one connection per
// concurrent request to a server it has none to yet, keeps the first
// that completes and closes the others so: a close_notify and nothing
// else in TLS 1.3, no record at all in TLS 1.2.
//
// And, by worker, the connections servers accepted and then left silent
// (acc): a SYN unanswered while the same client's connection to that
// port sits accepted and unserved says the port is open and the server
// too slow to accept, not a firewall (see accepted.go).
type Shared struct {
	marks []atomic.Int64
	done  sync.WaitGroup
	acc   [][accSlots]acceptEntry
	// sib is a set of (key, 10 ms of packet time) in which a connection
	// of key went on: key tag<<48 | server name tag<<32 | bucket, 0
	// empty (sibEntry). An entry is kept at
	// least sibKeep, far longer than one worker runs ahead of another, so
	// what a verdict finds does not depend on how far the others got.
	sib [sibSlots]atomic.Uint64
}

const (
	sibSlots  = 1 << 16
	sibProbes = 8
	sibBucket = int64(10 * time.Millisecond)
	sibKeep   = int32(int64(time.Minute) / sibBucket)
)

// A sibling makes a quitting connection a spare when it went on between
// sibBefore before the quitting connection's first packet (their SYNs
// were sent together: the pool dialled both for requests made at once)
// and sibSlack after its alert (packets of two sockets may be captured a
// little out of order). A client that connected and went on before, one
// connection after the other, says nothing of this one's certificate:
// a Service's backends may serve different ones.
const (
	sibBefore = int64(100 * time.Millisecond)
	sibSlack  = int64(50 * time.Millisecond)
)

// NewShared returns the shared state of a run with this many workers.
func NewShared(workers int) *Shared {
	s := &Shared{marks: make([]atomic.Int64, max(1, workers))}
	s.acc = make([][accSlots]acceptEntry, len(s.marks))
	s.done.Add(len(s.marks))
	return s
}

// Mark says that worker w has analysed every packet it will be given up
// to ts (math.MaxInt64: all of them).
func (s *Shared) Mark(w int, ts int64) {
	if w >= 0 && w < len(s.marks) && ts > s.marks[w].Load() {
		s.marks[w].Store(ts)
	}
}

// Finish marks worker w done with its packets and waits for the others:
// offline, before its engine's Flush, so that the verdicts left waiting
// then see everything the other workers learned.
func (s *Shared) Finish(w int) {
	s.Mark(w, math.MaxInt64)
	s.done.Done()
	s.done.Wait()
}

// through returns the time up to which every worker has analysed the
// capture.
func (s *Shared) through() int64 {
	m := int64(math.MaxInt64)
	for i := range s.marks {
		m = min(m, s.marks[i].Load())
	}
	return m
}

// sibKey hashes the client, the server and its port of c.
func sibKey(c *flowtable.Conn) uint64 {
	var b [34]byte
	o, r := c.Orig().As16(), c.Resp().As16()
	copy(b[:16], o[:])
	copy(b[16:32], r[:])
	binary.BigEndian.PutUint16(b[32:], c.RespPort())
	return xxhash.Sum64(b[:])
}

// sniTag is what an entry keeps of a TLS server name (0: none known).
func sniTag(sni []byte) uint64 {
	if len(sni) == 0 {
		return 0
	}
	return xxhash.Sum64(sni)&0xffff | 1
}

// sibEntry returns the set's value for key and server name tag at bucket
// b, and its first slot: key's tag (16 bits), the name's (16), b.
func sibEntry(key, sni uint64, b uint32) (v uint64, slot uint64) {
	v = (key>>48|1)<<48 | sni<<32 | uint64(b)
	h := (key ^ uint64(b)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return v, (h ^ h>>31) % sibSlots
}

// noteSibling records that a connection of key, to server name tag sni,
// went on at ts.
func (s *Shared) noteSibling(key, sni uint64, ts int64) {
	b := uint32(ts / sibBucket)
	v, slot := sibEntry(key, sni, b)
	for i := uint64(0); i < sibProbes; {
		p := &s.sib[(slot+i)%sibSlots]
		cur := p.Load()
		switch {
		case cur == v:
			return
		case cur == 0 || int32(b-uint32(cur)) > sibKeep:
			if p.CompareAndSwap(cur, v) {
				return
			}
			// Another worker took the slot: look at it again.
		default:
			i++
		}
	}
	// Eight fresh entries in the way: this one is lost, and a spare
	// connection of key may be reported as a rejection.
}

// sibling reports whether a connection of key went on between from and
// to (in sibBucket steps): to server name tag sni, or to any when sni is
// 0.
func (s *Shared) sibling(key, sni uint64, from, to int64) bool {
	from = max(from, to-int64(30*time.Second))
	mask := ^uint64(0)
	if sni == 0 {
		mask = ^uint64(0xffff << 32)
	}
	for b := uint32(from / sibBucket); int32(b-uint32(to/sibBucket)) <= 0; b++ {
		v, slot := sibEntry(key, sni, b)
		for i := uint64(0); i < sibProbes; i++ {
			cur := s.sib[(slot+i)%sibSlots].Load()
			if cur&mask == v&mask {
				return true
			}
			if cur == 0 {
				break
			}
		}
	}
	return false
}

// wentOn notes, before it is noted as a request (reqCache.tlsData),
// that c's client sent application data after the TLS handshake: if it
// is its first, c went on (Shared). Under its server name, by which a
// rejection after a TLS 1.3 handshake is judged, and without it, for a
// reset after a handshake the engine has settled and forgotten.
func (e *Engine) wentOn(c *flowtable.Conn, fs *flowState, ts int64) {
	if e.reqs.any(c) != nil {
		return
	}
	var sni uint64
	if t := e.tlsOf(fs); t != nil {
		sni = sniTag(t.SNI())
	}
	e.sh.noteSibling(sibKey(c), sni, ts)
}

// heldVerdict is a verdict on a connection that waits until every
// worker has analysed the capture past due: a client's quit right after
// a TLS handshake (quitAlert, quitReset: was it a spare, a sibling having
// gone on?) or an unanswered SYN (heldNoAnswer: was a connection of the
// same client to that port accepted and left silent?).
type heldVerdict struct {
	idx     int32
	kind    uint8
	syns    uint32 // heldNoAnswer: the SYNs sent by at
	first   int64
	at      int64 // the client's alert or reset; the unanswered SYN's judgement (its event's time)
	due     int64
	synSpan int64 // heldNoAnswer: first SYN to last
	final   bool  // heldNoAnswer: at the capture's end
}

// What a held verdict is about.
const (
	quitAlert    = iota // TLS 1.3: an alert-sized record, then a close (rule 4)
	quitReset           // a reset, no record sent since the handshake
	heldNoAnswer        // an unanswered SYN (accepted.go)
)

// holdQuit sets c's quit aside until the other workers have analysed
// the capture up to at; with one worker it is judged at once.
func (e *Engine) holdQuit(c *flowtable.Conn, fs *flowState, kind uint8, at int64) {
	h := heldVerdict{idx: c.Index(), first: c.First, at: at, due: at + sibSlack, kind: kind}
	if len(e.sh.marks) == 1 {
		e.judgeQuit(c, fs, h)
		return
	}
	if t := e.tlsOf(fs); t != nil && kind == quitAlert {
		t.reported = true // what else happens on the connection waits for the verdict
	}
	e.holdVerdict(fs, h)
}

// holdVerdict sets h aside, oldest first.
func (e *Engine) holdVerdict(fs *flowState, h heldVerdict) {
	fs.more |= fHeld
	e.verdicts = append(e.verdicts, h)
}

// releaseVerdicts gives the held verdicts every worker has analysed past
// (all of them when final).
func (e *Engine) releaseVerdicts(final bool) {
	through := int64(math.MaxInt64)
	switch {
	case final:
	case len(e.sh.marks) == 1:
		// Alone, this worker's timers ran up to its clock (Advance
		// calls this after them).
		through = e.now
	default:
		through = e.sh.through()
	}
	n := 0
	for n < len(e.verdicts) && (final || e.verdicts[n].due < through) {
		h := e.verdicts[n]
		if c := e.tab.At(h.idx); c.First == h.first {
			fs := e.state(c)
			fs.more &^= fHeld
			e.judge(c, fs, h)
		}
		n++
	}
	e.verdicts = e.verdicts[:copy(e.verdicts, e.verdicts[n:])]
}

// endVerdicts gives c's held verdicts, if it has any, before its record
// is written: the other workers have not got that far yet.
func (e *Engine) endVerdicts(c *flowtable.Conn, fs *flowState) {
	fs.more &^= fHeld
	for i := 0; i < len(e.verdicts); {
		h := e.verdicts[i]
		if h.idx != c.Index() || h.first != c.First {
			i++
			continue
		}
		e.verdicts = append(e.verdicts[:i], e.verdicts[i+1:]...)
		e.judge(c, fs, h)
	}
}

func (e *Engine) judge(c *flowtable.Conn, fs *flowState, h heldVerdict) {
	if h.kind == heldNoAnswer {
		e.noAnswerReport(c, h)
	} else {
		e.judgeQuit(c, fs, h)
	}
}

// judgeQuit reports c's quit unless a sibling dialled with it went on:
// then c was a spare. A rejection after the handshake is told by the
// server name too; a reset, from a settled handshake that no longer
// knows it, by the addresses and port alone.
func (e *Engine) judgeQuit(c *flowtable.Conn, fs *flowState, h heldVerdict) {
	var sni uint64
	if t := e.tlsOf(fs); t != nil && h.kind == quitAlert {
		sni = sniTag(t.SNI())
	}
	if e.sh.sibling(sibKey(c), sni, c.First-sibBefore, h.at+sibSlack) {
		if t := e.tlsOf(fs); t != nil && h.kind == quitAlert {
			t.reported = true
		}
		if h.kind == quitAlert && e.q(fs).events == 0 && e.q(fs).pcapNote == NoteTLSRejectedEncrypted && !fs.has(fPcapDone) {
			e.p(fs).pcapName = "" // a spare, not a rejection: no pcap
		}
		return
	}
	if h.kind == quitAlert {
		e.tlsRejected(c, fs, h.at)
	} else {
		e.reset(c, fs, 0, h.at)
	}
}
