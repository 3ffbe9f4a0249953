package detectors

import (
	"net/netip"

	"github.com/cespare/xxhash/v2"

	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// rlSlots is the size of the rate limiter's table; colliding keys evict
// each other (after reporting what they suppressed).
const rlSlots = 1024

type rlEntry struct {
	used  bool
	note  int8
	dst   netip.Addr
	name  uint64 // a DNS name's entry: its hash (nameHashes); 0 for the destination's
	start int64
	count uint32
	supp  uint32
}

// nameText is a DNS name kept for a summary (cut at 64 bytes).
type nameText struct {
	n   uint8
	cut bool
	b   [64]byte
}

func (t *nameText) set(name []byte) { t.n, t.cut = uint8(copy(t.b[:], name)), len(name) > len(t.b) }

// dnsNameShare divides the burst for each DNS name's own budget, and
// dnsServerShare multiplies it for all names of one server: one server
// (the cluster's DNS) answers every name of a pod, and one noisy name
// (a sidecar asking for a name that does not exist, a browser's
// background lookups) must not hide the others' failures.
const (
	dnsNameShare   = 4
	dnsServerShare = 5
)

// rateLimiter lets through EventBurst events per (note, destination) per
// window and folds the rest into one summary event per window, so a scan
// or flood yields counted summaries rather than a line per packet.
type rateLimiter struct {
	burst     uint32
	window    int64
	e         [rlSlots]rlEntry
	texts     []nameText // each slot's DNS name, for its summary (apart: read only then)
	lastFlush int64
}

func (r *rateLimiter) init(burst int, window int64) {
	if burst <= 0 {
		burst = 20
	}
	if window <= 0 {
		window = 10e9
	}
	r.burst, r.window = uint32(burst), window
	r.texts = make([]nameText, rlSlots)
}

func rlHash(note int, dst netip.Addr) uint64 {
	var k [17]byte
	a := dst.As16()
	copy(k[:16], a[:])
	k[16] = byte(note)
	return xxhash.Sum64(k[:])
}

func (r *rateLimiter) allow(e *Engine, note int, dst netip.Addr, ts int64) bool {
	en, _ := r.entry(e, rlHash(note, dst), note, dst, 0, ts)
	return r.take(e, en, r.burst)
}

// allowDNS rate-limits a DNS event about name: each name has its own
// budget (a quarter of the burst), and all names of one server share a
// larger one, so a flood of random names is still folded.
func (r *rateLimiter) allowDNS(e *Engine, note int, server netip.Addr, name []byte, ts int64) bool {
	_, h := nameHashes(name)
	h |= 1 // never 0: 0 marks a destination's entry
	en, i := r.entry(e, rlHash(note, server)^h, note, server, h, ts)
	if en.count == 0 {
		r.texts[i].set(name)
	}
	if !r.take(e, en, max(1, r.burst/dnsNameShare)) {
		return false
	}
	all, _ := r.entry(e, rlHash(note, server), note, server, 0, ts)
	return r.take(e, all, r.burst*dnsServerShare)
}

// entry returns the limiter's entry for (note, dst, name), opening a new
// window when the last one is over; an entry of another key in its slot
// is evicted after its summary.
func (r *rateLimiter) entry(e *Engine, h uint64, note int, dst netip.Addr, name uint64, ts int64) (*rlEntry, int) {
	i := int(h % rlSlots)
	en := &r.e[i]
	switch {
	case !en.used || int(en.note) != note || en.dst != dst || en.name != name:
		if en.used && en.supp > 0 {
			e.summary(en, &r.texts[i], ts)
		}
		*en = rlEntry{used: true, note: int8(note), dst: dst, name: name, start: ts}
	case ts-en.start >= r.window:
		if en.supp > 0 {
			e.summary(en, &r.texts[i], ts)
		}
		en.start, en.count, en.supp = ts, 0, 0
	}
	return en, i
}

// take counts one event against en: false once burst are spent.
func (r *rateLimiter) take(e *Engine, en *rlEntry, burst uint32) bool {
	en.count++
	if en.count > burst {
		en.supp++
		e.St.Suppressed.Add(1)
		return false
	}
	return true
}

func (r *rateLimiter) maybeFlush(e *Engine, now int64) {
	if now-r.lastFlush < r.window {
		return
	}
	r.lastFlush = now
	for i := range r.e {
		en := &r.e[i]
		if en.used && en.supp > 0 && now-en.start >= r.window {
			e.summary(en, &r.texts[i], now)
			en.start, en.count, en.supp = now, 0, 0
		}
	}
}

func (r *rateLimiter) flushAll(e *Engine) {
	for i := range r.e {
		en := &r.e[i]
		if en.used && en.supp > 0 {
			e.summary(en, &r.texts[i], e.now)
			en.supp = 0
		}
	}
}

// summary writes one netevent counting the events folded for en.
func (e *Engine) summary(en *rlEntry, text *nameText, ts int64) {
	b := GetBuffer(KindEvent)
	b.B = append(b.B, `{"ts":`...)
	b.B = jsonw.Seconds(b.B, ts)
	b.B = append(b.B, `,"note":"`...)
	b.B = append(b.B, noteNames[en.note]...)
	b.B = append(b.B, `","msg":"`...)
	b.B = jsonw.Uint(b.B, uint64(en.supp))
	b.B = append(b.B, " more "...)
	b.B = append(b.B, noteNames[en.note]...)
	b.B = append(b.B, " events for "...)
	if en.name != 0 {
		b.B = appendText(b.B, text.b[:text.n])
		if text.cut {
			b.B = append(b.B, "..."...)
		}
		b.B = append(b.B, " from DNS server "...)
	}
	b.B = en.dst.Unmap().AppendTo(b.B)
	b.B = append(b.B, " since "...)
	b.B = jsonw.Seconds(b.B, en.start)
	b.B = append(b.B, ` were summarised (rate limit)","summary":true,"suppressed":`...)
	b.B = jsonw.Uint(b.B, uint64(en.supp))
	b.B = append(b.B, `,"id.resp_h":`...)
	b.B = jsonw.Addr(b.B, en.dst.Unmap())
	if e.cfg.Names != nil {
		if j := e.cfg.Names.Lookup(en.dst); j != nil {
			b.B = append(b.B, `,"k8s.resp":`...)
			b.B = append(b.B, j...)
		}
	}
	if en.name != 0 && !text.cut {
		b.B = append(b.B, `,"dns":{"query":"`...)
		b.B = appendText(b.B, text.b[:text.n])
		b.B = append(b.B, `"}`...)
	}
	e.eventEnd(b)
}
