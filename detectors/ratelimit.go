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
	start int64
	count uint32
	supp  uint32
}

// rateLimiter lets through EventBurst events per (note, destination) per
// window and folds the rest into one summary event per window, so a scan
// or flood yields counted summaries rather than a line per packet.
type rateLimiter struct {
	burst     uint32
	window    int64
	e         [rlSlots]rlEntry
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
}

func rlHash(note int, dst netip.Addr) uint64 {
	var k [17]byte
	a := dst.As16()
	copy(k[:16], a[:])
	k[16] = byte(note)
	return xxhash.Sum64(k[:])
}

func (r *rateLimiter) allow(e *Engine, note int, dst netip.Addr, ts int64) bool {
	en := &r.e[rlHash(note, dst)%rlSlots]
	switch {
	case !en.used || int(en.note) != note || en.dst != dst:
		if en.used && en.supp > 0 {
			e.summary(en, ts)
		}
		*en = rlEntry{used: true, note: int8(note), dst: dst, start: ts}
	case ts-en.start >= r.window:
		if en.supp > 0 {
			e.summary(en, ts)
		}
		en.start, en.count, en.supp = ts, 0, 0
	}
	en.count++
	if en.count > r.burst {
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
			e.summary(en, now)
			en.start, en.count, en.supp = now, 0, 0
		}
	}
}

func (r *rateLimiter) flushAll(e *Engine) {
	for i := range r.e {
		en := &r.e[i]
		if en.used && en.supp > 0 {
			e.summary(en, e.now)
			en.supp = 0
		}
	}
}

// summary writes one netevent counting the events folded for en.
func (e *Engine) summary(en *rlEntry, ts int64) {
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
	b.B = en.dst.Unmap().AppendTo(b.B)
	b.B = append(b.B, " since "...)
	b.B = jsonw.Seconds(b.B, en.start)
	b.B = append(b.B, ` were summarised (rate limit)","summary":true,"suppressed":`...)
	b.B = jsonw.Uint(b.B, uint64(en.supp))
	b.B = append(b.B, `,"id.resp_h":`...)
	b.B = jsonw.Addr(b.B, en.dst.Unmap())
	e.eventEnd(b)
}
