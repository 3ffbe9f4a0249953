package flowtable

import (
	"net/netip"

	"github.com/dlltagent/dlltagent/decode"
)

// TCP endpoint states, with Zeek's numbering (analyzer/protocol/tcp).
const (
	Inactive uint8 = iota
	SynSent
	SynAckSent
	Partial
	Established
	Closed
	Reset
)

// tooLargeSeqDelta is the sequence jump beyond which a SYN or RST is not
// trusted to move an endpoint's sequence space (as in Zeek).
const tooLargeSeqDelta = 1048576

// History bits, one set per direction (responder's shifted by 8).
const (
	histSYN     = 0x1
	histFIN     = 0x2
	histRST     = 0x4
	histFINRST  = 0x8
	histData    = 0x10
	histACK     = 0x20
	histMulti   = 0x40
	histUDPData = 0x80
)

// maxHistory bounds the history string (Zeek's letters, repeated ones
// logarithmically: real connections use under 12).
const maxHistory = 14

// Endpoint is one side of a connection (44 bytes: the per-connection
// budget is 256 bytes, detector state and table slot included).
type Endpoint struct {
	State, PrevState uint8
	DidClose         bool
	initSeq          bool
	// Zeek's scaled T and W letters are added when the retransmission
	// (zero-window) count reaches 10^rxmitExp (10^zeroExp).
	rxmitExp, zeroExp uint8
	finRST            uint8 // FIN count (low nibble) and RST count, each saturating at 15
	pktsHi            uint8 // packet count bits 32..39

	lastWraps, ackWraps uint16

	// The low 16 bits of the relative sequence numbers of the last SYN,
	// FIN and RST, for Zeek's repeated-letter rule (equality only; two
	// distinct ones 64 KiB apart exactly count as the same).
	histLastSYN, histLastFIN, histLastRST uint16

	// Retransmissions and zero windows, saturating: Zeek's letters at
	// 1, 10, 100, 1000 and 10000 of them.
	rxmit, zeroWin uint16

	ipHi uint16 // IP byte count bits 32..47

	// TCP sequence space. A UDP or ICMP endpoint has none and keeps its
	// payload byte count in startSeq (low) and lastSeq (high): see
	// dataBytes.
	startSeq uint32
	lastSeq  uint32
	ackSeq   uint32

	pktsLo, ipLo uint32
}

// Pkts returns the packets this side sent (40 bits: a connection at a
// million packets per second for 12 days).
func (ep *Endpoint) Pkts() uint64 { return uint64(ep.pktsHi)<<32 | uint64(ep.pktsLo) }

// IPBytes returns this side's IP-level bytes, as Zeek's *_ip_bytes (48
// bits: 256 TiB).
func (ep *Endpoint) IPBytes() uint64 { return uint64(ep.ipHi)<<32 | uint64(ep.ipLo) }

// FINs and RSTs return how many FINs and RSTs this side sent (at most 15).
func (ep *Endpoint) FINs() int { return int(ep.finRST & 15) }

// RSTs: see FINs.
func (ep *Endpoint) RSTs() int { return int(ep.finRST >> 4) }

func (ep *Endpoint) count(ipLen int) {
	if ep.pktsLo++; ep.pktsLo == 0 && ep.pktsHi < 255 {
		ep.pktsHi++
	}
	v := ep.IPBytes() + uint64(ipLen)
	if v < 1<<48 {
		ep.ipLo, ep.ipHi = uint32(v), uint16(v>>32)
	}
}

// dataBytes returns a UDP or ICMP endpoint's payload bytes.
func (ep *Endpoint) dataBytes() uint64 { return uint64(ep.lastSeq)<<32 | uint64(ep.startSeq) }

func (ep *Endpoint) addData(n int) {
	v := ep.dataBytes() + uint64(n)
	ep.startSeq, ep.lastSeq = uint32(v), uint32(v>>32)
}

// Conn is one connection (200 bytes). The fields below the line are owned
// by the table; the rest are maintained by Init and the Update methods.
// The addresses and ports live in Key only (Orig, Resp, OrigPort,
// RespPort).
type Conn struct {
	Key  Key
	hist [maxHistory]byte

	histLen uint8
	origIsA bool
	// Midstream is true when the connection's first packet was not a SYN
	// or SYN-ACK: it started before the capture.
	Midstream bool
	dead      bool
	histSeen  uint16

	// ---- owned by Table
	idx          int32
	wnext, wprev int32
	wtick        uint32 // wheel tick, modulo 2^32; 0: not in the wheel

	// Times other than First and Last are kept in microseconds (the
	// records' precision), as offsets that fit 32 bits:
	// zeekBack is Last - Zeek's last time (frozen once both sides
	// closed); the others are offsets from First + 1 (0: not seen) of the
	// first SYN, the last SYN before the SYN-ACK, the first SYN-ACK and
	// the originator's first ACK after it.
	zeekBack                   uint32
	firstSYN, syn, synAck, ack uint32

	First, Last int64 // first and last packet times (ns)

	E [2]Endpoint // [0] originator, [1] responder
}

// micros converts a capture time to microseconds.
func micros(ns int64) int64 { return ns / 1000 }

// offset encodes ts as a microsecond offset from First (+1, saturating).
func (c *Conn) offset(ts int64) uint32 {
	d := micros(ts) - micros(c.First) + 1
	if d < 1 {
		d = 1
	}
	return uint32(min(d, 1<<32-1))
}

// at decodes an offset (0: not seen).
func (c *Conn) at(off uint32) int64 {
	if off == 0 {
		return 0
	}
	return (micros(c.First) + int64(off) - 1) * 1000
}

// FirstSYN returns the time of the originator's first SYN (0: none).
func (c *Conn) FirstSYN() int64 { return c.at(c.firstSYN) }

// SynTS returns the time of the last SYN before the SYN-ACK (0: none):
// handshake times are what tshark calls initial_rtt, split in two.
func (c *Conn) SynTS() int64 { return c.at(c.syn) }

// SynAckTS returns the time of the first SYN-ACK (0: none).
func (c *Conn) SynAckTS() int64 { return c.at(c.synAck) }

// AckTS returns the time of the originator's first ACK after the SYN-ACK
// (0: none).
func (c *Conn) AckTS() int64 { return c.at(c.ack) }

// moveFirst makes ts (earlier than First) the connection's first time,
// keeping the offsets' times.
func (c *Conn) moveFirst(ts int64) {
	d := micros(c.First) - micros(ts)
	c.First = ts
	for _, o := range [...]*uint32{&c.firstSYN, &c.syn, &c.synAck, &c.ack} {
		if *o != 0 {
			*o = uint32(min(int64(*o)+d, 1<<32-1))
		}
	}
}

// setZeekLast sets Zeek's last time to ts (at or before Last).
func (c *Conn) setZeekLast(ts int64) {
	c.zeekBack = uint32(min(micros(c.Last)-micros(ts), 1<<32-1))
}

// Proto returns the IP protocol number.
func (c *Conn) Proto() uint8 { return c.Key[36] }

// Orig returns the originator's address.
func (c *Conn) Orig() netip.Addr {
	if c.origIsA {
		return c.Key.AddrA()
	}
	return c.Key.AddrB()
}

// Resp returns the responder's address.
func (c *Conn) Resp() netip.Addr {
	if c.origIsA {
		return c.Key.AddrB()
	}
	return c.Key.AddrA()
}

// OrigPort returns the originator's port (ICMP: type).
func (c *Conn) OrigPort() uint16 {
	if c.origIsA {
		return uint16(c.Key[32])<<8 | uint16(c.Key[33])
	}
	return uint16(c.Key[34])<<8 | uint16(c.Key[35])
}

// RespPort returns the responder's port (ICMP: code or counterpart type).
func (c *Conn) RespPort() uint16 {
	if c.origIsA {
		return uint16(c.Key[34])<<8 | uint16(c.Key[35])
	}
	return uint16(c.Key[32])<<8 | uint16(c.Key[33])
}

// Index returns the connection's slab index, stable for its lifetime;
// detectors key their per-flow state by it.
func (c *Conn) Index() int32 { return c.idx }

// Init sets up a new connection from its first packet p, whose flow tuple
// is t. It decides which side is the originator: the SYN sender; the
// receiver of a first SYN-ACK; for UDP the first sender unless it answers
// from a well-known port; otherwise (mid-stream) the higher port.
func (c *Conn) Init(p *decode.Packet, t *decode.Tuple, ts int64) {
	srcOrig := true
	switch t.Proto {
	case decode.ProtoTCP:
		f := p.TCPFlags
		switch {
		case f&decode.SYN != 0 && f&decode.ACK == 0:
		case f&decode.SYN != 0 && f&decode.ACK != 0:
			srcOrig = false
			c.addHistory('^')
		default:
			c.Midstream = true
			srcOrig = t.SrcPort >= t.DstPort
		}
	case decode.ProtoUDP:
		srcOrig = !(t.SrcPort < 1024 && t.DstPort >= 1024)
	case decode.ProtoICMP, decode.ProtoICMPv6:
		if _, two := icmpCounterpart(t.Proto, p.ICMPType); two && !isICMPRequest(t.Proto, p.ICMPType) {
			srcOrig = false
		}
	}
	_, srcIsA := MakeKey(t)
	c.origIsA = srcIsA == srcOrig
	c.First, c.Last = ts, ts
}

// FromOrig reports whether a packet whose source is the key's A side
// (srcIsA from MakeKey) was sent by the originator.
func (c *Conn) FromOrig(srcIsA bool) bool { return srcIsA == c.origIsA }

// History returns Zeek's history string.
func (c *Conn) History() []byte { return c.hist[:c.histLen] }

// Duration returns Zeek's duration in ns (frozen once both sides closed),
// to the microsecond.
func (c *Conn) Duration() int64 {
	return max(0, (micros(c.Last)-int64(c.zeekBack))*1000-c.First)
}

func (c *Conn) addHistory(code byte) {
	if int(c.histLen) < len(c.hist) {
		c.hist[c.histLen] = code
		c.histLen++
	}
}

// checkHistory adds code the first time mask is seen in that direction
// and reports whether it had been seen before.
func (c *Conn) checkHistory(orig bool, mask uint16, code byte) bool {
	if !orig {
		mask <<= 8
		code = lower(code)
	}
	if c.histSeen&mask == 0 {
		c.histSeen |= mask
		c.addHistory(code)
		return false
	}
	return true
}

func (c *Conn) scaledHistory(orig bool, code byte, counter *uint16, exp *uint8) {
	if *counter == 1<<16-1 {
		return
	}
	*counter++
	if *counter == pow10[*exp] {
		if !orig {
			code = lower(code)
		}
		c.addHistory(code)
		if *exp < uint8(len(pow10)-1) {
			*exp++
		}
	}
}

var pow10 = [...]uint16{1, 10, 100, 1e3, 1e4}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 32
	}
	return b
}

func seqDelta(a, b uint32) int32 { return int32(a - b) }

// Update accounts packet p (sent by the originator iff orig) at time ts.
// It reports whether p is a TCP retransmission: payload that does not
// advance its sender's sequence space (Zeek's T letter).
func (c *Conn) Update(p *decode.Packet, orig bool, ts int64) (rexmit bool) {
	d := 1
	if orig {
		d = 0
	}
	ep := &c.E[d]
	ep.count(p.IPLen)
	if ts > c.Last {
		// Zeek's last time stays where it is (it moves below unless
		// frozen).
		c.zeekBack = uint32(min(int64(c.zeekBack)+micros(ts)-micros(c.Last), 1<<32-1))
		c.Last = ts
	}
	if ts < c.First { // reordered capture: the record starts at the earliest packet
		c.moveFirst(ts)
	}
	switch c.Proto() {
	case decode.ProtoTCP:
		if p.Flags&decode.NoTransport == 0 {
			rexmit = c.updateTCP(p, orig, ts)
		}
	case decode.ProtoUDP:
		ep.addData(p.PayloadLen)
		c.zeekBack = 0
		if orig {
			c.checkHistory(true, histUDPData, 'D')
		} else {
			c.checkHistory(false, histUDPData, 'D')
		}
	default:
		ep.addData(p.PayloadLen)
		c.zeekBack = 0
	}
	return rexmit
}

func (c *Conn) updateTCP(p *decode.Packet, orig bool, ts int64) (rexmit bool) {
	ep, peer := &c.E[1], &c.E[0]
	if orig {
		ep, peer = peer, ep
	}
	flags := p.TCPFlags
	syn, fin, rst, ack := flags&decode.SYN != 0, flags&decode.FIN != 0, flags&decode.RST != 0, flags&decode.ACK != 0
	plen := p.PayloadLen

	// Handshake timing (what tshark calls initial_rtt, split in two).
	switch {
	case syn && !ack && orig && !rst:
		if c.synAck == 0 || c.syn == 0 {
			c.syn = c.offset(ts)
		}
	case syn && ack && !orig && !rst:
		// Also before the SYN: captures merged from two interfaces can
		// show the SYN-ACK first.
		if c.synAck == 0 {
			c.synAck = c.offset(ts)
		}
	case ack && !syn && !rst && orig:
		if c.synAck != 0 && c.ack == 0 {
			c.ack = c.offset(ts)
		}
	}
	if syn && !ack && orig && c.firstSYN == 0 {
		c.firstSYN = c.offset(ts)
	}

	segLen := plen
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}
	if rst {
		segLen -= plen
	}
	base := p.Seq
	onePast := base + uint32(segLen)
	c.initEndpoint(ep, syn, base, onePast)

	relSeq := c.relSeq(ep, base)
	c.updateHistory(orig, ep, flags, relSeq, plen)

	// Zero-window letter (W), as Zeek's update_window.
	if p.Window == 0 && !rst && !syn && peer.State != Closed && ep.State != Reset {
		c.scaledHistory(orig, 'W', &ep.zeroWin, &ep.zeroExp)
	}
	if !c.E[0].DidClose || !c.E[1].DidClose {
		c.setZeekLast(ts)
	}
	if fin && ep.finRST&15 < 15 {
		ep.finRST++
	}
	if rst && ep.finRST>>4 < 15 {
		ep.finRST += 16
	}
	if ack {
		if peer.State == Inactive {
			peer.startSeq, peer.ackSeq, peer.lastSeq = p.Ack-1, p.Ack-1, p.Ack-1
			peer.ackWraps, peer.lastWraps = 0, 0
			peer.initSeq = true
		} else if !rst {
			c.updateAckSeq(peer, p.Ack)
		}
	}
	deltaLast, rexmit := c.updateLastSeq(orig, ep, onePast, syn, fin, rst, plen)
	doClose := c.stateMachine(ep, peer, orig, flags, plen, deltaLast, base, p.Ack)
	if doClose && !ep.DidClose {
		ep.DidClose = true
	}
	return rexmit
}

func (c *Conn) initEndpoint(ep *Endpoint, syn bool, first, last uint32) {
	switch ep.State {
	case Inactive:
		if syn {
			ep.ackSeq, ep.startSeq = first, first
		} else {
			ep.ackSeq, ep.startSeq = first-1, first-1
			last = first
		}
		ep.lastSeq, ep.lastWraps, ep.ackWraps = last, 0, 0
		ep.initSeq = true
	case SynSent, SynAckSent, Established, Partial:
		if syn && first != ep.startSeq {
			ep.startSeq, ep.ackSeq, ep.lastSeq = first, first, last
			ep.lastWraps, ep.ackWraps = 0, 0
		}
	case Reset:
		if syn && ep.PrevState == Inactive {
			ep.startSeq, ep.ackSeq, ep.lastSeq = first, first, last
			ep.lastWraps, ep.ackWraps = 0, 0
		}
	}
}

func (c *Conn) relSeq(ep *Endpoint, base uint32) int64 {
	wraps := ep.lastWraps
	delta := seqDelta(base, ep.lastSeq)
	if delta < 0 && wraps > 0 && base > ep.lastSeq {
		wraps--
	} else if delta > 0 && base < ep.lastSeq {
		wraps++
	}
	if wraps == 0 {
		return int64(seqDelta(base, ep.startSeq))
	}
	return int64(uint64(wraps)<<32|uint64(base)) - int64(ep.startSeq)
}

func (c *Conn) updateHistory(orig bool, ep *Endpoint, flags uint8, rel64 int64, plen int) {
	relSeq := uint16(rel64)
	syn, fin, rst, ack := flags&decode.SYN != 0, flags&decode.FIN != 0, flags&decode.RST != 0, flags&decode.ACK != 0
	n := 0
	for _, b := range [...]bool{syn, fin, rst} {
		if b {
			n++
		}
	}
	switch {
	case n > 1:
		if fin && rst {
			c.checkHistory(orig, histFINRST, 'I')
		} else {
			c.checkHistory(orig, histMulti, 'Q')
		}
	case n == 1:
		if syn {
			code := byte('S')
			if ack {
				code = 'H'
			}
			if c.checkHistory(orig, histSYN, code) && relSeq != ep.histLastSYN {
				c.addHistory(caseFor(orig, code))
			}
			ep.histLastSYN = relSeq
		}
		if fin {
			if c.checkHistory(orig, histFIN, 'F') && relSeq+uint16(plen) != ep.histLastFIN {
				c.addHistory(caseFor(orig, 'F'))
			}
			ep.histLastFIN = relSeq + uint16(plen)
		}
		if rst {
			if c.checkHistory(orig, histRST, 'R') && relSeq != ep.histLastRST {
				c.addHistory(caseFor(orig, 'R'))
			}
			ep.histLastRST = relSeq
		}
	default:
		if plen > 0 {
			c.checkHistory(orig, histData, 'D')
		} else if ack {
			c.checkHistory(orig, histACK, 'A')
		}
	}
}

func caseFor(orig bool, code byte) byte {
	if orig {
		return code
	}
	return lower(code)
}

func (c *Conn) updateAckSeq(ep *Endpoint, ack uint32) {
	d := seqDelta(ack, ep.ackSeq)
	if ack == 0 && d > tooLargeSeqDelta {
		return
	}
	if d > 0 {
		if ack < ep.ackSeq {
			ep.ackWraps++
		}
		ep.ackSeq = ack
	}
}

func (c *Conn) updateLastSeq(orig bool, ep *Endpoint, last uint32, syn, fin, rst bool, plen int) (int32, bool) {
	d := seqDelta(last, ep.lastSeq)
	rexmit := false
	switch {
	case (syn || rst) && (d > tooLargeSeqDelta || d < -tooLargeSeqDelta):
	case fin && ep.lastSeq == ep.startSeq+1:
		ep.setLast(last)
	case ep.State == Reset:
	case d > 0:
		ep.setLast(last)
	case d <= 0 && plen > 0:
		c.scaledHistory(orig, 'T', &ep.rxmit, &ep.rxmitExp)
		rexmit = true
	}
	return d, rexmit
}

// Acked reports whether sequence number s of side d's data (one past
// the data's end) has been acknowledged by the other side.
func (c *Conn) Acked(d int, s uint32) bool {
	ep := &c.E[d]
	return ep.initSeq && seqDelta(ep.ackSeq, s) >= 0
}

// NextSeq returns the sequence number that follows the highest byte side
// d has sent so far, and whether d's sequence numbers are known.
func (c *Conn) NextSeq(d int) (uint32, bool) {
	ep := &c.E[d]
	return ep.lastSeq, ep.initSeq
}

// Unacked returns how many bytes of side d's sequence space beyond what
// the other side has acknowledged it sent (0 when all is acknowledged or
// side d's sequence numbers are unknown).
func (c *Conn) Unacked(d int) uint32 {
	ep := &c.E[d]
	if !ep.initSeq {
		return 0
	}
	return uint32(max(seqDelta(ep.lastSeq, ep.ackSeq), 0))
}

// StreamOffset returns where sequence number seq falls in side d's byte
// stream, counted as Size counts (0: its first payload byte), or -1 when
// side d's sequence numbers are not known.
func (c *Conn) StreamOffset(d int, seq uint32) int64 {
	ep := &c.E[d]
	if !ep.initSeq || c.Proto() != decode.ProtoTCP {
		return -1
	}
	return c.relSeq(ep, seq) - 1
}

// AckSeq returns how far the other side has acknowledged side d's data.
func (c *Conn) AckSeq(d int) uint32 { return c.E[d].ackSeq }

func (ep *Endpoint) setLast(s uint32) {
	if s < ep.lastSeq && seqDelta(s, ep.lastSeq) > 0 {
		ep.lastWraps++
	}
	ep.lastSeq = s
}

func (ep *Endpoint) setState(s uint8) {
	if s != ep.State {
		ep.PrevState = ep.State
		ep.State = s
	}
}

// stateMachine is Zeek's TCP endpoint state machine; it returns whether
// the packet closes this endpoint (FIN or RST).
func (c *Conn) stateMachine(ep, peer *Endpoint, orig bool, flags uint8, plen int, deltaLast int32, base, ack uint32) bool {
	syn, fin, rst, hasAck := flags&decode.SYN != 0, flags&decode.FIN != 0, flags&decode.RST != 0, flags&decode.ACK != 0
	doClose := false
	switch ep.State {
	case Inactive:
		if syn {
			if orig {
				if hasAck {
					ep.setState(SynAckSent)
				} else {
					ep.setState(SynSent)
				}
			} else {
				if !hasAck && peer.State == SynAckSent && base == ep.startSeq {
					// SYN / SYN-ACK reversal: Zeek flips roles here; we
					// keep our originator and just establish.
					peer.setState(Established)
				}
				if peer.State == SynSent {
					peer.setState(Established)
				}
				ep.setState(Established)
			}
		}
		if fin {
			ep.setState(Closed)
			doClose = true
		}
		if rst {
			ep.setState(Reset)
			doClose = true
		}
		if ep.State == Inactive {
			switch {
			case !orig && plen == 0 && c.E[0].State == SynSent:
				// An ACK of the SYN before the SYN-ACK: not partial.
			case hasAck && peer.State == Established:
				ep.setState(Established)
			default:
				ep.setState(Partial)
			}
		}
	case SynSent, SynAckSent:
		if fin {
			ep.setState(Closed)
			doClose = true
		}
		if rst {
			ep.setState(Reset)
			doClose = true
		}
	case Established, Partial:
		if syn && ep.State == Partial && peer.State == Inactive && !hasAck {
			ep.setState(SynSent)
		}
		if fin && !rst {
			ep.setState(Closed)
			if peer.State == Reset && peer.PrevState == Closed {
				peer.setState(Closed)
			}
			doClose = true
		}
		if rst {
			ep.setState(Reset)
			doClose = true
		}
	case Closed:
		if rst && peer.State != Closed {
			ep.setState(Reset)
			if !ep.DidClose {
				doClose = true
			}
		}
	case Reset:
	}
	return doClose
}

// IsReuse reports whether SYN packet p starts a new connection on this
// tuple (Zeek's IsReuse): the old one closed, or a new initial sequence
// number on an unclosed one.
func (c *Conn) IsReuse(p *decode.Packet, orig bool) bool {
	if c.Proto() != decode.ProtoTCP || p.Flags&decode.NoTransport != 0 {
		return false
	}
	f := p.TCPFlags
	if f&decode.SYN == 0 {
		return false
	}
	co := &c.E[0]
	if f&decode.ACK != 0 {
		if c.E[0].State != Inactive {
			return false
		}
		co = &c.E[1]
	}
	closed := c.E[0].DidClose || c.E[1].DidClose
	if !closed {
		if p.Seq == co.startSeq {
			return false
		}
		if f&decode.ACK == 0 && co.State == SynAckSent && c.E[1].State == Inactive && p.Seq == c.E[1].startSeq {
			return false
		}
	}
	return true
}

// Size returns the payload bytes an endpoint sent, from sequence space
// (Zeek's TCP_Endpoint::Size): retransmissions are not counted twice and
// data acknowledged but not captured is.
func (c *Conn) Size(d int) uint64 {
	ep, peer := &c.E[d], &c.E[1-d]
	if c.Proto() != decode.ProtoTCP {
		return ep.dataBytes()
	}
	if !ep.initSeq {
		return 0
	}
	if ep.PrevState == SynSent && ep.State == Reset && peer.State == Inactive && !ep.noDataAcked() {
		return 0
	}
	last := uint64(ep.lastWraps)<<32 | uint64(ep.lastSeq)
	ack := uint64(ep.ackWraps)<<32 | uint64(ep.ackSeq)
	top := last
	if ack > last {
		top = ack
	}
	var size uint64
	if top > uint64(ep.startSeq) {
		size = top - uint64(ep.startSeq)
	}
	if size > 0 {
		size--
	}
	if ep.finRST&15 > 0 && size > 0 {
		size--
	}
	return size
}

func (ep *Endpoint) noDataAcked() bool {
	ack := uint64(ep.ackWraps)<<32 | uint64(ep.ackSeq)
	s := uint64(ep.startSeq)
	return ack == s || ack == s+1
}

// ConnState returns Zeek's conn_state.
func (c *Conn) ConnState() string {
	os, rs := c.E[0].State, c.E[1].State
	switch c.Proto() {
	case decode.ProtoTCP:
	case decode.ProtoUDP:
		oa, ra := c.E[0].Pkts() > 0, c.E[1].Pkts() > 0
		switch {
		case oa && ra:
			return "SF"
		case oa:
			return "S0"
		case ra:
			return "SHR"
		}
		return "OTH"
	default:
		return "OTH"
	}
	oInactive := os == Inactive || os == Partial
	rInactive := rs == Inactive || rs == Partial
	switch {
	case rs == Reset:
		if os == SynSent || os == SynAckSent || (os == Reset && c.Size(0) == 0 && c.Size(1) == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == Reset:
		if rInactive {
			if rstos0(c.History()) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == Closed && os == Closed:
		return "SF"
	case os == Closed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == Closed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == SynSent && rs == Inactive:
		return "S0"
	case os == Established && rs == Established:
		return "S1"
	}
	return "OTH"
}

// rstos0 matches Zeek's /\^?S[^HAFGIQ]*R.*/ against the history.
func rstos0(h []byte) bool {
	i := 0
	if i < len(h) && h[i] == '^' {
		i++
	}
	if i >= len(h) || h[i] != 'S' {
		return false
	}
	for i++; i < len(h); i++ {
		switch h[i] {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}

// Established reports whether both sides completed the TCP handshake (or,
// mid-stream, both sides were seen).
func (c *Conn) Established() bool {
	return c.ack != 0 || c.synAck != 0 || (c.Midstream && c.E[0].Pkts() > 0 && c.E[1].Pkts() > 0)
}
