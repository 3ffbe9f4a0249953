package detectors

import (
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// A retransmission stall: a side resends data the other does not
// acknowledge. Fast retransmits are repaired within a round trip; a stall
// that lasts is retransmission timeouts backing off (200 ms, 400 ms,
// 800 ms...): the data, or the acknowledgements, are being lost on the
// way. When only large segments are lost it is the classic Kubernetes
// hang: a path MTU black hole (an overlay network's smaller MTU, and the
// ICMP "fragmentation needed" that would tell the sender filtered).
type rexmitStall struct {
	from  int64  // first retransmission of the unacknowledged data
	ackAt uint32 // the acknowledgement then: the stall ends when it moves
	n     uint16 // retransmissions (saturating)
	// Payload sizes resent: the largest of all; the smallest, the first
	// and the latest of those that start at the acknowledgement (0: none
	// yet), the data the receiver waits for. A tail loss probe resends a
	// flight's last segment, which may well have arrived (a SACK says so):
	// its size says nothing of what is lost.
	minLen, maxLen, firstLen, lastLen uint16
}

const (
	// minRexmitStall is the shortest stall reported, and minRexmits the
	// fewest retransmissions (one lost segment repaired by a single
	// timeout is not a problem worth a line).
	minRexmitStall = int64(time.Second)
	minRexmits     = 3
	// rexmitOngoing reports a stall still going on, once.
	rexmitOngoing = 5 * int64(time.Second)
	// mtuSized is the payload size from which a segment is "large" for
	// the path MTU hint (a 1280-byte IPv6 minimum MTU carries 1220).
	mtuSized = 1200
	// idleResume is the silence after which data that is never
	// acknowledged points at a middlebox's idle timeout: NAT gateways,
	// load balancers and firewalls forget idle connections after 60 s to
	// 20 min (AWS's NAT gateway and NLB 350 s, Azure's load balancer
	// 4 min) and drop their packets silently.
	idleResume = 60 * int64(time.Second)
)

const (
	stallAcked = iota // the data was acknowledged at ts
	stallEnded        // the connection ended
	stallSoFar        // still unacknowledged at ts
)

// retransmitted accounts a retransmission by side of payload p at ts.
func (e *Engine) retransmitted(c *flowtable.Conn, fs *flowState, side int, p *decode.Packet, ts int64) {
	if e.q(fs).zeroFrom[1-side] != 0 || e.q(fs).events&(1<<NoteTCPRetransmissions) != 0 || c.E[1-side].Pkts() == 0 {
		// Zero-window probes are TCP_ZERO_WINDOW's; one report per
		// connection; a capture that never saw the other side (one
		// direction of asymmetric routing) cannot tell what it acknowledged.
		return
	}
	end := p.Seq + uint32(p.PayloadLen)
	if c.Acked(side, end) {
		return // resent data already acknowledged: spurious, or a keep-alive probe
	}
	st := &e.p(fs).rx[side]
	n := uint16(min(p.PayloadLen, 1<<16-1))
	if st.n == 0 {
		// A stall lasts until the acknowledgement moves (under steady
		// loss it keeps moving, fast retransmits repair within a round
		// trip: no stall).
		*st = rexmitStall{from: ts, ackAt: c.AckSeq(side)}
	}
	st.n = min(st.n+1, 1<<16-1)
	st.maxLen = max(st.maxLen, n)
	if c.Acked(side, p.Seq) { // it starts at (or before) the acknowledgement
		if st.firstLen == 0 {
			st.minLen, st.firstLen = n, n
		}
		st.minLen, st.lastLen = min(st.minLen, n), n
	}
	// Still stuck after rexmitOngoing: reported now (a client may keep
	// the connection for minutes), unless the sender just switched to
	// smaller segments (its MTU probing): their fate tells more.
	if ts-st.from >= rexmitOngoing && !(st.lastLen < mtuSized && st.firstLen >= mtuSized) {
		e.rexmitStall(c, fs, side, ts, stallSoFar)
	}
}

// rexmitStall ends (or, for stallSoFar, reports) side's retransmission
// stall, reporting it if it lasted.
func (e *Engine) rexmitStall(c *flowtable.Conn, fs *flowState, side int, ts int64, how int) {
	pr := e.p(fs)
	st := pr.rx[side]
	if how != stallSoFar {
		pr.rx[side] = rexmitStall{}
	}
	if ts-st.from < minRexmitStall || st.n < minRexmits || pr.events&(1<<NoteTCPRetransmissions) != 0 {
		return
	}
	b, who, other := e.rexmitEvent(c, fs, side, 0, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, ' ')
	b.B = appendUint(b.B, uint64(st.n))
	b.B = append(b.B, " times over "...)
	b.B = appendDurationWords(b.B, ts-st.from)
	shrank := st.firstLen >= mtuSized && st.lastLen < mtuSized
	var hello *tlsState // a client's ClientHello the server has not answered
	if t := e.tlsOf(fs); side == 0 && t != nil && t.chTS != 0 && !t.shSeen && c.Size(1) == 0 {
		hello = t
	}
	switch {
	case how == stallAcked && shrank:
		b.B = append(b.B, " and it was acknowledged only once resent in smaller segments ("...)
		b.B = appendUint(b.B, uint64(st.firstLen))
		b.B = append(b.B, " -> "...)
		b.B = appendUint(b.B, uint64(st.lastLen))
		b.B = append(b.B, " bytes): a path MTU black hole drops large packets on the way (an overlay network's smaller MTU, with the ICMP 'fragmentation needed' that would tell the sender filtered)"...)
	case how == stallAcked:
		b.B = append(b.B, " before it was acknowledged: packets (or their acknowledgements) are being lost on the way, and each loss costs a retransmission timeout"...)
	default:
		if how == stallSoFar {
			b.B = append(b.B, " so far"...)
		}
		b.B = append(b.B, " without it being acknowledged"...)
		if how == stallEnded {
			b.B = append(b.B, " before the connection ended"...)
		}
		if pr.resumedAt != 0 && st.from >= pr.resumedAt && st.from-pr.resumedAt <= 3*int64(time.Second) {
			b.B = append(b.B, ": the connection had been silent for "...)
			b.B = appendDurationWords(b.B, pr.silence)
			b.B = append(b.B, " before this data, and nothing of it came back: a NAT, load balancer or firewall on the way most likely forgot the connection on its idle timeout (a cloud NAT gateway's or load balancer's, 4 to 6 min; conntrack's) and drops its packets silently, so the client hangs until its own timeout (Linux gives up after about 15 min); TCP keepalives more frequent than that timeout, or a pool's idle timeout below it, avoid it"...)
		} else if st.firstLen != 0 && st.minLen >= mtuSized && hello != nil {
			b.B = append(b.B, ": every resend of the data the "...)
			b.B = append(b.B, other...)
			b.B = append(b.B, " waits for was large ("...)
			b.B = appendUint(b.B, uint64(st.minLen))
			b.B = append(b.B, " bytes or more), and the data is "...)
			b.B = hello.appendHelloLost(b.B)
			b.B = append(b.B, ": "...)
			b.B = append(b.B, helloDropHint...)
			hello = nil
		} else if st.firstLen != 0 && st.minLen >= mtuSized {
			b.B = append(b.B, ": every resend of the data the "...)
			b.B = append(b.B, other...)
			b.B = append(b.B, " waits for was large ("...)
			b.B = appendUint(b.B, uint64(st.minLen))
			b.B = append(b.B, " bytes or more), the signature of a path MTU black hole (an overlay network's smaller MTU, with the ICMP 'fragmentation needed' that would tell the sender filtered); otherwise packets are being lost on the way"...)
		} else {
			b.B = append(b.B, ": packets (or their acknowledgements) are being lost on the way"...)
		}
	}
	if hello != nil {
		b.B = append(b.B, "; the data is "...)
		b.B = hello.appendHelloLost(b.B)
	}
	b.B = appendSide(b.B, who)
	b.B = append(b.B, `,"stall_ms":`...)
	b.B = jsonw.Millis(b.B, ts-st.from)
	b.B = append(b.B, `,"retransmissions":`...)
	b.B = appendUint(b.B, uint64(st.n))
	b.B = append(b.B, `,"max_segment_bytes":`...)
	b.B = appendUint(b.B, uint64(st.maxLen))
	e.eventEndPcap(b, fs)
}

// A hole seen from the receiver: data of one side arrives past bytes the
// capture never had, and the other side's acknowledgements stay at the
// start of the missing bytes, so its host never had them either. They
// were lost before the capture point (the capture is on the receiver's
// side of the loss), and so was every resend of them, as nothing fills
// the hole. A capture's own loss is told apart by the acknowledgement,
// which then moves past the hole at once.
type seqHole struct {
	from  int64  // when the hole was first seen (0: none)
	at, n uint32 // where the missing bytes start, and how many
	dups  uint16 // acknowledgements since, stuck at the hole (saturating)
}

// holeStallMin is how long a hole must last to be reported, as a
// retransmission stall must.
const holeStallMin = int64(time.Second)

// seqHoleBefore returns where a TCP data segment p leaves missing bytes
// before it in its sender's stream, and how many (0 if none), from the
// stream as seen before p.
func (e *Engine) seqHoleBefore(c *flowtable.Conn, p *decode.Packet, orig bool) (uint32, uint32) {
	if p.Proto != decode.ProtoTCP || len(p.Payload) == 0 || p.TCPFlags&(decode.SYN|decode.RST) != 0 || c.AckTS() == 0 {
		return 0, 0
	}
	side := 1
	if orig {
		side = 0
	}
	next, ok := c.NextSeq(side)
	if d := int32(p.Seq - next); ok && d > 0 && d < 1<<24 {
		return next, uint32(d)
	}
	return 0, 0
}

// holeCheck follows the holes of c's two directions after packet p.
func (e *Engine) holeCheck(c *flowtable.Conn, fs *flowState, p *decode.Packet, orig bool, at, n uint32, ts int64) {
	side := 1
	if orig {
		side = 0
	}
	if n != 0 && e.q(fs).hole[side].from == 0 && e.q(fs).events&(1<<NoteTCPRetransmissions) == 0 {
		e.p(fs).hole[side] = seqHole{from: ts, at: at, n: n}
		e.tab.Schedule(c, ts+holeStallMin)
	}
	pr := e.q(fs)
	if h := &pr.hole[side]; h.from != 0 && len(p.Payload) > 0 && int32(p.Seq-h.at) <= 0 && int32(p.Seq+uint32(len(p.Payload))-h.at) > 0 {
		*h = seqHole{} // the missing bytes came after all: the capture sees the sender's side
	}
	if h := &pr.hole[1-side]; h.from != 0 && p.TCPFlags&decode.ACK != 0 {
		if c.Acked(1-side, h.at+1) {
			*h = seqHole{} // the receiver had them: the capture missed them
		} else if h.dups < 1<<16-1 {
			h.dups++
		}
	}
	for s, h := range pr.hole {
		if h.from != 0 && ts-h.from >= holeStallMin {
			e.holeStall(c, fs, s, ts, false)
		}
	}
}

// holeStall reports side's hole if it has lasted, the receiver
// acknowledging up to it meanwhile, and forgets it.
func (e *Engine) holeStall(c *flowtable.Conn, fs *flowState, side int, ts int64, ended bool) {
	pr := e.p(fs)
	h := pr.hole[side]
	pr.hole[side] = seqHole{}
	if ts-h.from < holeStallMin || h.dups == 0 || c.Acked(side, h.at+1) || pr.events&(1<<NoteTCPRetransmissions) != 0 {
		return
	}
	b, who, other := e.rexmitEvent(c, fs, side, h.n, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, ": it got the bytes that came after them, and "...)
	if ended {
		b.B = append(b.B, "until the connection ended "...)
		b.B = appendDurationWords(b.B, ts-h.from)
		b.B = append(b.B, " later it acknowledged"...)
	} else {
		b.B = append(b.B, "in "...)
		b.B = appendDurationWords(b.B, ts-h.from)
		b.B = append(b.B, " so far has acknowledged"...)
	}
	b.B = append(b.B, " only up to them: they were lost on the way, and every resend of them too (the capture is on the "...)
	b.B = append(b.B, other...)
	b.B = append(b.B, "'s side of the loss, where the resends never show)"...)
	if h.n >= mtuSized {
		b.B = append(b.B, "; a stretch of "...)
		b.B = appendUint(b.B, uint64(h.n))
		b.B = append(b.B, " bytes, a full-size segment, with the smaller segment after it through, is the signature of a path MTU black hole (an overlay network's smaller MTU, with the ICMP 'fragmentation needed' that would tell the sender filtered)"...)
		if c.StreamOffset(side, h.at) == 0 {
			b.B = append(b.B, "; they were the first bytes it sent on the connection: for a TLS client, its ClientHello, which a post-quantum key share (X25519MLKEM768, sent by default by Go 1.24 and later, Chrome and OpenSSL 3.5) makes more than one packet long"...)
		}
	}
	b.B = appendSide(b.B, who)
	b.B = append(b.B, `,"stall_ms":`...)
	b.B = jsonw.Millis(b.B, ts-h.from)
	b.B = append(b.B, `,"lost_bytes":`...)
	b.B = appendUint(b.B, uint64(h.n))
	b.B = append(b.B, `,"seen_from":"receiver"`...)
	e.eventEndPcap(b, fs)
}

// rexmitEvent starts side's TCP_RETRANSMISSIONS event, "WHO ADDR resent
// data to OTHER ADDR:PORT", or with lost bytes seen from the receiver
// "WHO ADDR's N bytes never reached OTHER ADDR:PORT". It returns nil when
// the event is not to be written, and the two sides' names.
func (e *Engine) rexmitEvent(c *flowtable.Conn, fs *flowState, side int, lost uint32, ts int64) (*Buffer, string, string) {
	b := e.problemEvent(c, fs, NoteTCPRetransmissions, ts)
	if b == nil {
		return nil, "", ""
	}
	who, other, oaddr, oport := sideNames(c, side)
	b.B = appendWho(b.B, c, side)
	if lost == 0 {
		b.B = append(b.B, " resent data to "...)
	} else {
		b.B = append(b.B, "'s "...)
		b.B = appendUint(b.B, uint64(lost))
		b.B = append(b.B, " bytes never reached "...)
	}
	b.B = append(b.B, other...)
	b.B = append(b.B, ' ')
	b.B = appendAddrPort(b.B, oaddr, oport)
	return b, who, other
}
