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
	b := e.problemEvent(c, fs, NoteTCPRetransmissions, ts)
	if b == nil {
		return
	}
	who, other, oaddr, oport := sideNames(c, side)
	b.B = appendWho(b.B, c, side)
	b.B = append(b.B, " resent data to "...)
	b.B = append(b.B, other...)
	b.B = append(b.B, ' ')
	b.B = appendAddrPort(b.B, oaddr, oport)
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
