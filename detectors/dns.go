package detectors

import (
	"encoding/binary"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// maxPending bounds the unanswered queries remembered per flow.
const maxPending = 4

type dnsPending struct {
	used  bool
	id    uint16
	qtype uint16
	ts    int64
	n     uint8
	name  [255]byte
}

type dnsState struct {
	q [maxPending]dnsPending
}

func (d *dnsState) oldest() int64 {
	var t int64
	for i := range d.q {
		if d.q[i].used && (t == 0 || d.q[i].ts < t) {
			t = d.q[i].ts
		}
	}
	return t
}

// dnsHeader is the part of a DNS message the detector reads.
type dnsHeader struct {
	id      uint16
	flags   uint16
	qdcount uint16
	qtype   uint16
	n       int
}

// parseDNS reads the header and first question of msg into h, writing the
// query name into name. It returns false for anything that is not a
// well-formed DNS message.
func parseDNS(msg []byte, h *dnsHeader, name *[255]byte) bool {
	if len(msg) < 12 {
		return false
	}
	h.id = binary.BigEndian.Uint16(msg[0:2])
	h.flags = binary.BigEndian.Uint16(msg[2:4])
	h.qdcount = binary.BigEndian.Uint16(msg[4:6])
	h.n = 0
	if h.qdcount == 0 {
		return true
	}
	off := 12
	jumps := 0
	end := -1
	for {
		if off >= len(msg) {
			return false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			off++
			if end < 0 {
				end = off
			}
			if end+4 > len(msg) {
				return false
			}
			h.qtype = binary.BigEndian.Uint16(msg[end : end+2])
			return true
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) || jumps > 8 {
				return false
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:off+2]) & 0x3fff)
			jumps++
		case l&0xc0 != 0:
			return false
		default:
			if off+1+l > len(msg) {
				return false
			}
			if h.n > 0 && h.n < len(name) {
				name[h.n] = '.'
				h.n++
			}
			h.n += copy(name[h.n:], msg[off+1:off+1+l])
			off += 1 + l
		}
	}
}

// dnsMessage handles one DNS message sent by the originator iff fromOrig.
func (e *Engine) dnsMessage(c *flowtable.Conn, fs *flowState, msg []byte, fromOrig bool, ts int64) {
	var h dnsHeader
	var name [255]byte
	if !parseDNS(msg, &h, &name) {
		return
	}
	fs.service = svcDNS
	qr := h.flags&0x8000 != 0
	if !qr {
		if !fromOrig || h.qdcount == 0 {
			return
		}
		if fs.dns == nil {
			fs.dns = e.getDNS()
		}
		slot := 0
		for i := range fs.dns.q {
			q := &fs.dns.q[i]
			if !q.used {
				slot = i
				break
			}
			if q.id == h.id {
				return // retransmitted query: keep the first time
			}
			if q.ts < fs.dns.q[slot].ts {
				slot = i
			}
		}
		q := &fs.dns.q[slot]
		q.used, q.id, q.qtype, q.ts, q.n = true, h.id, h.qtype, ts, uint8(h.n)
		copy(q.name[:], name[:h.n])
		e.tab.Schedule(c, ts+e.dnsTO)
		return
	}
	if fs.dns != nil {
		for i := range fs.dns.q {
			if fs.dns.q[i].used && fs.dns.q[i].id == h.id {
				fs.dns.q[i].used = false
			}
		}
		e.maybeReleaseDNS(fs)
	}
	rcode := uint8(h.flags & 0x000f)
	if rcode != 2 && rcode != 3 && rcode != 5 {
		return
	}
	server := c.Resp()
	if fromOrig {
		server = c.Orig()
	}
	b := e.eventStart(c, NoteDNSError, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "DNS server "...)
	b.B = server.AppendTo(b.B)
	b.B = append(b.B, " answered "...)
	b.B = append(b.B, RcodeName(rcode)...)
	b.B = append(b.B, " for "...)
	b.B = appendText(b.B, name[:h.n])
	b.B = append(b.B, " ("...)
	b.B = append(b.B, QtypeName(h.qtype)...)
	switch rcode {
	case 3:
		b.B = append(b.B, "): the name does not exist"...)
	case 2:
		b.B = append(b.B, "): the server failed to resolve it (upstream or DNSSEC failure)"...)
	case 5:
		b.B = append(b.B, "): the server refused to answer this client"...)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendDNS(b.B, name[:h.n], h.qtype, int(rcode))
	e.eventEnd(b)
}

func appendDNS(dst []byte, name []byte, qtype uint16, rcode int) []byte {
	dst = append(dst, `,"dns":{"query":`...)
	dst = jsonw.Bytes(dst, name)
	dst = append(dst, `,"qtype":`...)
	dst = jsonw.Uint(dst, uint64(qtype))
	dst = append(dst, `,"qtype_name":`...)
	dst = jsonw.String(dst, QtypeName(qtype))
	if rcode >= 0 {
		dst = append(dst, `,"rcode":`...)
		dst = jsonw.Uint(dst, uint64(rcode))
		dst = append(dst, `,"rcode_name":`...)
		dst = jsonw.String(dst, RcodeName(uint8(rcode)))
	} else {
		dst = append(dst, `,"rcode":null,"rcode_name":"NO_ANSWER"`...)
	}
	return append(dst, '}')
}

// dnsTimeouts reports queries unanswered for the DNS timeout (or, when
// final, unanswered when the capture ended).
func (e *Engine) dnsTimeouts(c *flowtable.Conn, fs *flowState, now int64, final bool) {
	for i := range fs.dns.q {
		q := &fs.dns.q[i]
		if !q.used || (!final && now-q.ts < e.dnsTO) {
			continue
		}
		q.used = false
		b := e.eventStart(c, NoteDNSError, now)
		if b == nil {
			continue
		}
		b.B = append(b.B, "DNS server "...)
		b.B = c.Resp().AppendTo(b.B)
		b.B = append(b.B, " did not answer the query for "...)
		b.B = appendText(b.B, q.name[:q.n])
		b.B = append(b.B, " ("...)
		b.B = append(b.B, QtypeName(q.qtype)...)
		b.B = append(b.B, ") within "...)
		b.B = appendDurationWords(b.B, now-q.ts)
		if final && now-q.ts < e.dnsTO {
			b.B = append(b.B, " (capture ended)"...)
		}
		b.B = appendSide(b.B, "server")
		b.B = appendDNS(b.B, q.name[:q.n], q.qtype, -1)
		e.eventEnd(b)
	}
}

// maybeReleaseDNS hands the pending-query state (1 KiB) back to the pool
// once every query is answered or timed out: a UDP flow lingers for its
// idle timeout, and most of that time it has nothing pending.
func (e *Engine) maybeReleaseDNS(fs *flowState) {
	if fs.dns == nil || fs.dns.oldest() != 0 {
		return
	}
	e.dnsPool = append(e.dnsPool, fs.dns)
	fs.dns = nil
}

func (e *Engine) getDNS() *dnsState {
	if n := len(e.dnsPool); n > 0 {
		d := e.dnsPool[n-1]
		e.dnsPool = e.dnsPool[:n-1]
		*d = dnsState{}
		return d
	}
	return &dnsState{}
}
