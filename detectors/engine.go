package detectors

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Event notes (netevents.jsonl "note").
const (
	NoteTLSAlert = iota
	NoteTLSRejectedEncrypted
	NoteTLSHandshakeAborted
	NoteTCPRefused
	NoteTCPNoAnswer
	NoteTCPReset
	NoteICMPUnreachable
	NoteDNSError
	NoteHTTPHeaderMatch
	NoteCaptureLoss
	NoteHTTPEmptyReply
	NoteTLSNameMismatch
	NoteTCPLateAnswer
	NoteDNSLateAnswer
	NoteTCPZeroWindow
	NoteHTTPServerError
	NoteHTTPNoResponse
	NoteTCPRetransmissions
	NoteGRPCError
	NoteHTTP2Error
	NoteTLSNoAnswer
	NoteHTTPResponseTruncated
	NoteHTTPResponseStalled
	NoteDNSNoData
	NoteTLSNoResponse
	NoteDBError
	NoteTCPClosedAtAccept
	NoteProtocolMismatch
	NoteHTTPSlowResponse
	numNotes
)

var noteNames = [numNotes]string{
	"TLS_ALERT", "TLS_REJECTED_ENCRYPTED", "TLS_HANDSHAKE_ABORTED", "TCP_REFUSED", "TCP_NO_ANSWER",
	"TCP_RESET", "ICMP_UNREACHABLE", "DNS_ERROR", "HTTP_HEADER_MATCH", "CAPTURE_LOSS",
	"HTTP_EMPTY_REPLY", "TLS_NAME_MISMATCH", "TCP_LATE_ANSWER", "DNS_LATE_ANSWER",
	"TCP_ZERO_WINDOW", "HTTP_SERVER_ERROR", "HTTP_NO_RESPONSE", "TCP_RETRANSMISSIONS",
	"GRPC_ERROR", "HTTP2_ERROR", "TLS_NO_ANSWER", "HTTP_RESPONSE_TRUNCATED", "HTTP_RESPONSE_STALLED",
	"DNS_NODATA", "TLS_NO_RESPONSE", "DB_ERROR", "TCP_CLOSED_AT_ACCEPT", "PROTOCOL_MISMATCH",
	"HTTP_SLOW_RESPONSE",
}

// NoteName returns the event code string of note n.
func NoteName(n int) string { return noteNames[n] }

// Services.
const (
	svcNone = iota
	svcSSL
	svcHTTP
	svcDNS
	svcPostgres
	svcRedis
	svcMySQL
	svcAMQP
	svcNATS
	svcKafka
	svcMongo
	svcMemcached
	// The server spoke first, to a client that has sent nothing yet, in
	// no protocol recognised above: an HTTP/2 SETTINGS frame (grpc-go
	// sends its preface before reading), other text, other bytes. What
	// the client then sends decides; a ClientHello is told what came.
	svcSrvH2
	svcSrvText
	svcSrvOther
)

var svcNames = [...]string{"", "ssl", "http", "dns", "postgresql", "redis", "mysql", "amqp", "nats", "kafka", "mongodb", "memcached", "", "", ""}

// unclassified reports whether a flow's service is not known yet.
func unclassified(svc uint8) bool { return svc == svcNone || svc >= svcSrvH2 }

// End reasons.
const (
	endCaptureEnd = iota
	endIdle
	endEvicted
)

// Stats are one worker's counters. They are written by the worker and
// read atomically by the metrics and stats writers.
type Stats struct {
	Packets      atomic.Uint64
	Bytes        atomic.Uint64
	Malformed    atomic.Uint64
	NotIP        atomic.Uint64
	Fragments    atomic.Uint64
	Tunnelled    atomic.Uint64 // packets analysed from inside a tunnel (VXLAN, Geneve, GRE, IP in IP)
	Flows        atomic.Uint64 // connections created
	FlowsActive  atomic.Int64
	FlowsEvicted atomic.Uint64 // not created because the table was full
	Events       atomic.Uint64
	Suppressed   atomic.Uint64 // events folded into summaries
	SearchNX     atomic.Uint64 // NXDOMAIN answers of resolvers walking their search list, not reported
	OptionalDNS  atomic.Uint64 // failed lookups clients expect and get over (optionalQuery), not reported
	QueueDrops   atomic.Uint64 // records the sink queue could not take
	PcapsWritten atomic.Uint64
	PcapDropped  atomic.Uint64 // packet bytes not buffered: pcap arena exhausted
	KernelDrops  atomic.Uint64 // live capture only
	KernelFreeze atomic.Uint64
	KernelPkts   atomic.Uint64
}

// flowState is the detectors' per-connection state, kept in a slab
// parallel to the flow table's (same index). What only problem
// connections need lives in a separate problem struct, allocated when a
// problem shows, so a healthy connection costs little memory.
type flowState struct {
	px     uint32 // handle of the protocol state, in the slab pk names (0: none)
	prob   uint32 // handle in Engine.probs, 0: none
	recent uint32 // link to the newest packet in the recent ring (0 none)
	pc     pcapBuf

	link     uint16 // link type and VLAN tags, interned (Engine.links)
	headPkts uint8  // packets in the pcap head (saturating)
	service  uint8
	pk       uint8 // which slab px is in: pkTLS, pkTLSSum, pkDNS, pkHTTP
	firstRST int8  // 0 none, 1 originator, 2 responder
	flags    uint8 // fFinBefore...
	more     uint8 // accWatch, accPub (accepted.go), fHeld
}

// flowState flags.
const (
	fFinBefore  uint8 = 1 << iota // a FIN was seen before the first RST
	fRefused                      // a RST answered the SYN (reported at the end)
	fTLSFatal                     // a fatal TLS alert was seen
	fICMPSet                      // an ICMP error names this connection
	fTracked                      // the header search matched: followed
	fPcapDone                     // the pcap was written
	fHeadClosed                   // the pcap head takes no more packets
	fStashed                      // the first SYN waits in the SYN stash
)

func (fs *flowState) has(f uint8) bool { return fs.flags&f != 0 }
func (fs *flowState) set(f uint8)      { fs.flags |= f }
func (fs *flowState) clear(f uint8)    { fs.flags &^= f }

// problem holds what only connections with a problem (or tracked ones)
// need.
type problem struct {
	events     uint32 // bit per note emitted for this connection
	refusedTS  int64
	trackUntil int64
	zeroFrom   [2]int64 // since when each side advertises a zero window (0: not)
	rx         [2]rexmitStall
	hole       [2]seqHole
	pcapName   string
	pcapUpTo   int64 // a UDP flow's file written early (dnsPcapNow): its last packet's time
	pcapNote   int8
	icmpV6     bool
	icmpType   uint8
	icmpCode   uint8
	// The last data sent after the connection was silent for idleResume
	// or longer, and how long it had been.
	resumedAt, silence int64
}

var noProblem problem

// p returns the connection's problem state, creating it.
func (e *Engine) p(fs *flowState) *problem {
	if fs.prob == 0 {
		var p *problem
		fs.prob, p = e.probs.get()
		*p = problem{}
		return p
	}
	return e.probs.at(fs.prob)
}

// q returns the connection's problem state for reading (zero if none).
func (e *Engine) q(fs *flowState) *problem {
	if fs.prob == 0 {
		return &noProblem
	}
	return e.probs.at(fs.prob)
}

// Engine is one worker's pipeline after decode: flow table, detectors and
// record encoding.
type Engine struct {
	cfg    Config
	out    Output
	worker int
	St     *Stats

	hintName []byte // a failed DNS name handed to Config.Names

	sh       *Shared
	flushing bool          // Flush is ending every connection
	verdicts []heldVerdict // verdicts waiting for the other workers (heldVerdict)

	tab    *flowtable.Table
	states [][]flowState
	// proxies holds the PROXY protocol headers of open connections, by
	// index (proxyproto.go).
	proxies map[int32]proxyHdr
	probs   slab[problem]
	pkt     decode.Packet
	now     int64

	flushedAt int64 // when Advance last handed record batches to the sink

	tlss      slab[tlsState]
	sums      slab[tlsSummary]
	pend      [KindStats + 1]*Buffer // records waiting to go out, by kind
	pendN     [KindStats + 1]int
	sniID     map[string]uint16 // interned server names of settled handshakes
	sniNames  [][]byte
	dnss      slab[dnsState]
	https     slab[httpState]
	dbs       slab[dbState]
	dbNameID  map[string]uint16 // interned database user and database names (db.go)
	dbNames   [][]byte
	dbTLS     map[connKey]dbTLSConn // PostgreSQL and MySQL connections upgraded to TLS, during their login
	arena     arena
	stash     synStash
	recent    recentRing
	links     []uint32 // ensureTail's walk of a recent-ring chain
	ifaces    []iface  // flowState.link: link types and VLAN tags seen
	ifaceID   map[iface]uint16
	lastIface uint16
	tunq      holdQueue         // tunnelled packets waiting for their turn (live, several workers)
	peers     []chan ICMPNotice // the other workers' inboxes (live)
	fwdPeers  []chan Forwarded  // every worker's inbox of forwarded packets (DNS, tunnelled), by worker (live, several workers)
	inbox     chan ICMPNotice
	held      []ICMPNotice // notices waiting for their flow
	pools     bufPools
	rl        rateLimiter
	search    []byte // lower-cased search text
	reqs      reqCache
	nx        []nxHold // NXDOMAIN events held (dns.go), oldest first
	rq        [recentQueries]recentQuery
	rqNext    int
	tc        [recentTC]dnsTC // truncated answers (dns.go)
	tcNext    int
	accNext   int                      // the next entry of this worker's published connections (accepted.go)
	rn        [recentQueries]dnsLookup // address answers (dns.go)
	rnNext    int
	// HTTP/2 first-request decoding (h2.go), made at the first h2c
	// connection: the decoder, the header block, the request as text.
	h2            *h2Decoder
	h2frag, h2req []byte
	h2tab         hpackTable
	// h2c connections' state (h2c.go): the decoder, made at the first,
	// and the free states.
	h2c     *h2Decoder
	h2cFree []*h2Conn

	idleTCP, idleUDP, linger, synTO, dnsTO, track, slow int64
	// synJudge is when, after its first SYN, a connection's silence is
	// judged: the SYN timeout, and the timer's lateness (TimerLate), so
	// that an answer its timer might or might not have run before
	// (offline: depending on how packets were batched) is always a late
	// answer, never an unanswered SYN too.
	synJudge int64
}

// NewEngine returns an engine for worker number worker.
func NewEngine(cfg Config, worker int, out Output, st *Stats) *Engine {
	e := &Engine{
		cfg: cfg, out: out, worker: worker, St: st,
		tab:     flowtable.New(cfg.MaxFlows),
		idleTCP: int64(cfg.TCPIdle), idleUDP: int64(cfg.UDPIdle), linger: int64(cfg.CloseLinger),
		synTO: int64(cfg.SynTimeout), synJudge: int64(cfg.SynTimeout) + flowtable.TimerLate, dnsTO: int64(cfg.DNSTimeout), track: int64(cfg.Track),
		slow: int64(cfg.SlowResponse),
	}
	if cfg.SearchHeader != "" {
		e.search = lowerASCII([]byte(cfg.SearchHeader))
	}
	e.arena.init(cfg.PcapMemMB<<20, cfg.PcapMaxKB<<10)
	e.stash.init()
	e.recent.buf = make([]byte, recentBytes)
	e.links = make([]uint32, 0, recentWalk)
	e.nx = make([]nxHold, 0, maxNXHolds)
	e.pools.hello.size, e.pools.ooo.size, e.pools.http.size = maxHelloKeep, maxHeldBytes, maxHeaderBlock
	e.rl.init(cfg.EventBurst, int64(cfg.EventWindow))
	e.sh = NewShared(1)
	return e
}

// SetShared gives the engine the state it shares with the run's other
// workers (by default it has its own, as the only worker).
func (e *Engine) SetShared(sh *Shared) { e.sh = sh }

// Table exposes the flow table (for tests and metrics).
func (e *Engine) Table() *flowtable.Table { return e.tab }

func (e *Engine) state(c *flowtable.Conn) *flowState {
	i := uint32(c.Index())
	for int(i/1024) >= len(e.states) {
		e.states = append(e.states, make([]flowState, 1024))
	}
	return &e.states[i/1024][i%1024]
}

// Packet processes one captured frame. frame is only read during the call.
func (e *Engine) Packet(ts int64, linkType int, frame []byte, origLen int) {
	e.St.Packets.Add(1)
	e.St.Bytes.Add(uint64(origLen))
	e.packet(ts, linkType, frame, origLen, true)
}

func (e *Engine) packet(ts int64, linkType int, frame []byte, origLen int, mayForward bool) {
	e.advance(ts)
	p := &e.pkt
	decode.Parse(linkType, frame, p)
	p.FrameCut(origLen - len(frame))
	if p.Flags&decode.Malformed != 0 {
		e.St.Malformed.Add(1)
	}
	if p.IPVersion == 0 {
		if p.Flags&decode.NotIP != 0 {
			e.St.NotIP.Add(1)
		}
		return
	}
	if p.Flags&decode.Fragment != 0 {
		e.St.Fragments.Add(1)
	}
	if p.Encap != decode.EncapNone && mayForward {
		e.St.Tunnelled.Add(1)
	}
	if !p.HasTransport() {
		return
	}
	switch p.Proto {
	case decode.ProtoTCP, decode.ProtoUDP, decode.ProtoICMP, decode.ProtoICMPv6:
	default:
		return
	}
	if mayForward && e.fwdPeers != nil {
		if p.Encap != decode.EncapNone {
			e.hold(Owner(p, len(e.fwdPeers)), ts, linkType, frame, origLen)
			return
		}
		if isDNS(&p.Tuple) {
			if w := DNSOwner(p.Tuple, len(e.fwdPeers)); w != e.worker && e.forward(w, ts, linkType, frame, origLen) {
				return
			}
		}
	}
	t := flowtable.FlowTuple(p)
	k, srcIsA := flowtable.MakeKey(&t)
	h := k.Hash()
	c := e.tab.Lookup(&k, h)
	if c != nil && p.Proto == decode.ProtoTCP && p.TCPFlags&decode.SYN != 0 && c.IsReuse(p, c.FromOrig(srcIsA)) {
		e.endFlow(c, endCaptureEnd)
		c = nil
	}
	if c == nil {
		c = e.tab.Insert(&k, h)
		if c == nil {
			// Full: end the connection idle the longest (counted) to make
			// room; memory stays bounded by -max-flows.
			if old := e.tab.Oldest(); old != nil {
				e.St.FlowsEvicted.Add(1)
				e.endFlow(old, endIdle)
				c = e.tab.Insert(&k, h)
			}
			if c == nil {
				if p.Flags&decode.HasInner != 0 {
					e.icmpError(p, ts, frame, origLen)
				}
				return
			}
		}
		c.Init(p, &t, ts)
		fs := e.state(c)
		*fs = flowState{link: e.linkID(linkType, p, srcIsA), pc: pcapBuf{head: -1}}
		e.St.Flows.Add(1)
		e.St.FlowsActive.Add(1)
	}
	orig := c.FromOrig(srcIsA)
	fs := e.state(c)
	if p.Proto == decode.ProtoTCP && c.E[1].Pkts() == 0 && c.FirstSYN() != 0 && ts-c.FirstSYN() >= e.synJudge {
		// The silence was due to be judged before this packet (a SYN
		// re-sent, a late answer): it is, first, as the timer would
		// have, had it run before this packet; when it runs depends on
		// how the packets were batched.
		e.noAnswer(c, fs, c.FirstSYN()+e.synJudge, false)
	}
	prevO, prevR := c.E[0].State, c.E[1].State
	quiet := ts - c.Last // how long the connection was silent before p
	holeAt, holeN := e.seqHoleBefore(c, p, orig)
	rexmit := c.Update(p, orig, ts)
	if holeN != 0 || fs.prob != 0 {
		e.holeCheck(c, fs, p, orig, holeAt, holeN, ts)
	}

	if p.Proto == decode.ProtoTCP {
		if quiet >= idleResume && len(p.Payload) > 0 && c.AckTS() != 0 {
			// Data after a long silence (rare): if it is never
			// acknowledged, a middlebox likely forgot the connection
			// (see rexmitStall).
			pr := e.p(fs)
			pr.resumedAt, pr.silence = ts, quiet
		}
		e.tcp(c, fs, p, orig, ts, prevO, prevR, rexmit)
		// Recorded after the detectors ran: a packet that starts a
		// problem goes into the tail they opened.
		payOff := 0
		if len(p.Payload) > 0 {
			payOff = cap(frame) - cap(p.Payload) // Payload is frame[payOff:...]
		}
		e.recordPacket(c, fs, ts, frame, origLen, p.TCPFlags&(decode.SYN|decode.ACK|decode.RST|decode.FIN) == decode.SYN && len(p.Payload) == 0, payOff, len(p.Payload))
	} else if p.Proto == decode.ProtoUDP {
		if p.SrcPort == 53 || p.DstPort == 53 {
			// Kept first: the answer that makes an event is in its pcap.
			if f := frame[:min(len(frame), dnsKeep)]; fs.pc.tail != 0 {
				e.tailPut(&fs.pc, ts, f, origLen)
			} else {
				// (Also once the flow's file was written: a resolver
				// reusing its socket may fail again, see keepPcap.)
				fs.recent = e.recent.put(fs.recent, c.Index(), ts, f, origLen)
			}
			e.dnsMessage(c, fs, p.Payload, orig, ts)
		}
	} else if p.Flags&decode.HasInner != 0 {
		e.icmpError(p, ts, frame, origLen)
	}
	e.tab.Schedule(c, e.deadline(c, fs))
}

// Advance moves the engine's clock to now (packet time offline, wall time
// live), runs due timers, and hands the sink the records made since the
// last hand-over once outputEvery has passed.
func (e *Engine) Advance(now int64) {
	e.releaseDue(now)
	e.advance(now)
	if len(e.verdicts) > 0 {
		e.releaseVerdicts(false)
	}
	if now-e.flushedAt >= outputEvery || now < e.flushedAt {
		e.FlushOutput()
		e.flushedAt = now
	}
}

// outputEvery is how often Advance hands partly filled record batches to
// the sink (a full batch goes at once). Handing each record over as it
// was made woke the sink's goroutine, and with it an idle thread, for
// nearly every connection: a third of the live agent's CPU went to
// context switches.
const outputEvery = int64(50 * time.Millisecond)

// advance moves the engine's clock and runs the timers that are due.
func (e *Engine) advance(now int64) {
	if now > e.now {
		e.now = now
		if len(e.nx) > 0 {
			// Before the timers: a held event's flow may end in them,
			// and its record would miss the note.
			e.expireNX(now, false)
		}
		e.tab.Expire(now, e.onTimer)
		e.rl.maybeFlush(e, now)
	}
}

// deadline returns when c next needs attention.
func (e *Engine) deadline(c *flowtable.Conn, fs *flowState) int64 {
	idle := e.idleUDP
	if c.Proto() == decode.ProtoTCP {
		idle = e.idleTCP
	}
	if c.Proto() == decode.ProtoTCP && c.E[1].Pkts() == 0 {
		// The responder never answered: an attempt (or a scan/flood
		// probe). Keep it long enough for the usual SYN retries, not
		// for the established-connection idle time.
		idle = max(3*e.synTO, int64(10*time.Second))
	}
	d := c.Last + idle
	if c.Proto() == decode.ProtoTCP {
		if closed(c) {
			d = min(d, c.Last+e.linger)
		}
		if e.q(fs).events&(1<<NoteTCPNoAnswer) == 0 && c.E[1].Pkts() == 0 && c.FirstSYN() != 0 {
			d = min(d, c.FirstSYN()+e.synJudge)
		}
		if fs.more&accWatch != 0 {
			d = min(d, e.accPubAt(c))
		}
	}
	if ds := e.dnsOf(fs); ds != nil {
		if t := ds.oldest(); t != 0 {
			d = min(d, t+e.dnsTO)
		}
	} else if c.Proto() == decode.ProtoUDP && fs.pc.tail != 0 && !fs.has(fPcapDone) {
		d = min(d, c.Last+dnsPcapQuiet) // dnsPcapNow
	}
	if fs.has(fTracked) {
		d = min(d, e.q(fs).trackUntil)
	}
	for _, h := range e.q(fs).hole {
		if h.from != 0 && h.from+holeStallMin > e.now {
			d = min(d, h.from+holeStallMin)
		}
	}
	if hang, stall := e.httpDeadlines(c, fs); hang != 0 || stall != 0 {
		for _, h := range [2]int64{hang, stall} {
			if h != 0 && h > e.now {
				d = min(d, h)
			}
		}
	}
	if h := e.helloDeadline(c, fs); h != 0 && h > e.now {
		d = min(d, h)
	}
	return d
}

func closed(c *flowtable.Conn) bool {
	o, r := &c.E[0], &c.E[1]
	return (o.DidClose && r.DidClose) || o.State == flowtable.Reset || r.State == flowtable.Reset
}

func (e *Engine) onTimer(c *flowtable.Conn) {
	fs := e.state(c)
	now := e.now
	if c.Proto() == decode.ProtoTCP && c.FirstSYN() != 0 && c.E[1].Pkts() == 0 && now-c.FirstSYN() >= e.synJudge {
		e.noAnswer(c, fs, now, false)
	}
	if fs.more&accWatch != 0 && now >= e.accPubAt(c) {
		e.publishAccepted(c, fs)
	}
	if e.dnsOf(fs) != nil {
		e.dnsTimeouts(c, fs, now, false)
		e.maybeReleaseDNS(fs)
	}
	e.dnsPcapNow(c, fs, now)
	if fs.has(fTracked) && now >= e.q(fs).trackUntil {
		fs.clear(fTracked)
		e.writePcap(c, fs)
	}
	for side, h := range e.q(fs).hole {
		if h.from != 0 && now-h.from >= holeStallMin {
			e.holeStall(c, fs, side, now, false)
		}
	}
	switch fs.service {
	case svcHTTP:
		e.stillWaiting(c, fs, now, hangSoFar, false)
		e.stalled(c, fs, now, hangSoFar, waitSoFar)
	case svcSSL:
		e.helloWaiting(c, fs, now, hangSoFar, false)
	}
	idle := e.idleUDP
	if c.Proto() == decode.ProtoTCP {
		idle = e.idleTCP
		if c.E[1].Pkts() == 0 {
			idle = max(3*e.synTO, int64(10*time.Second))
		}
	}
	switch {
	case c.Proto() == decode.ProtoTCP && closed(c) && now-c.Last >= e.linger:
		e.endFlow(c, endCaptureEnd)
		return
	case now-c.Last >= idle:
		e.endFlow(c, endIdle)
		return
	}
	e.tab.Schedule(c, e.deadline(c, fs))
}

// Flush ends every open connection (capture end or shutdown).
func (e *Engine) Flush() {
	e.releaseDue(math.MaxInt64)
	e.PublishAccepted() // offline done before the workers' barrier; live, as far as it goes
	e.releaseVerdicts(true)
	e.expireNX(e.now, true)
	e.flushing = true
	e.tab.Each(func(c *flowtable.Conn) {
		fs := e.state(c)
		if c.Proto() == decode.ProtoTCP && c.FirstSYN() != 0 && c.E[1].Pkts() == 0 {
			e.noAnswer(c, fs, e.now, true)
		}
		if e.dnsOf(fs) != nil {
			e.dnsTimeouts(c, fs, e.now, true)
		}
		switch fs.service {
		case svcHTTP:
			e.stillWaiting(c, fs, e.now, hangAtEnd, true)
			e.stalled(c, fs, e.now, hangAtEnd, waitAtEnd)
		case svcSSL:
			e.helloWaiting(c, fs, e.now, hangAtEnd, true)
		}
		e.endFlow(c, endCaptureEnd)
	})
	e.flushing = false
	e.rl.flushAll(e)
	e.FlushOutput()
}

// tcp runs the TCP and TLS/HTTP detectors after the flow was updated.
func (e *Engine) tcp(c *flowtable.Conn, fs *flowState, p *decode.Packet, orig bool, ts int64, prevO, prevR uint8, rexmit bool) {
	f := p.TCPFlags
	if f&decode.FIN != 0 && fs.firstRST == 0 {
		fs.set(fFinBefore)
	}
	if !orig && f&(decode.SYN|decode.ACK|decode.RST) == decode.SYN|decode.ACK && prevR == flowtable.Inactive {
		fs.more |= accWatch // silent so far (accepted.go)
		if prevO == flowtable.SynSent && c.FirstSYN() != 0 && c.E[0].Pkts() > 1 && ts-c.FirstSYN() >= lateAnswer {
			e.lateSYNACK(c, fs, ts)
		}
	}
	side := 1
	if orig {
		side = 0
	}
	if f&(decode.SYN|decode.RST|decode.ACK) == decode.ACK {
		if p.Window == 0 {
			if from := e.q(fs).zeroFrom[side]; from == 0 && (c.AckTS() != 0 || c.Midstream) {
				e.p(fs).zeroFrom[side] = ts
			} else if from != 0 && ts-from >= zeroOngoing && e.q(fs).events&(1<<NoteTCPZeroWindow) == 0 {
				e.zeroWindow(c, fs, side, ts, zeroSoFar)
			}
		} else if e.q(fs).zeroFrom[side] != 0 {
			e.zeroWindow(c, fs, side, ts, zeroOpened)
		}
	}
	if rexmit && f&decode.RST == 0 {
		e.retransmitted(c, fs, side, p, ts)
	}
	if f&decode.ACK != 0 && e.q(fs).rx[1-side].n > 0 && c.AckSeq(1-side) != e.q(fs).rx[1-side].ackAt {
		e.rexmitStall(c, fs, 1-side, ts, stallAcked)
	}
	if len(p.Payload) > 0 && f&decode.RST == 0 {
		if side == 1 && fs.more&(accWatch|accPub) != 0 {
			e.accDone(c, fs, true, ts)
		}
		if f&decode.SYN != 0 {
			// TCP Fast Open: a SYN's data starts one past the SYN's own
			// sequence number. A server that does not take it acks the
			// SYN alone and the client sends the data again, from there:
			// read as a retransmission, not as new bytes.
			fs.more |= fSynData
			p.Seq++
			e.payload(c, fs, p, side, ts)
			p.Seq--
		} else {
			e.payload(c, fs, p, side, ts)
		}
	}
	if f&(decode.FIN|decode.RST) != 0 && fs.pk == pkDB {
		e.dbClosed(c, fs, ts)
		if !orig {
			e.amqpLoginRefused(c, fs, ts)
			e.amqpDropped(c, fs, ts)
			e.kafkaClosed(c, fs, ts)
		}
	}
	t := e.tlsOf(fs)
	tlsOpen := t != nil && !t.reported && (!t.est || t.pendingRej >= 0 || (!orig && t.certRefusedQuietly(ts)))
	if f&(decode.FIN|decode.RST) != 0 && !orig && fs.more&fProxied != 0 && c.Size(1) == 0 && c.E[0].FINs() == 0 && fs.firstRST != 1 {
		// The server closed first, without a byte, right after the
		// header (a balancer's health check closes first itself).
		e.proxyRefused(c, fs, nil, ts)
	}
	if f&decode.FIN != 0 && !orig && c.E[1].FINs() == 1 && c.E[0].FINs() == 0 && (fs.service == svcHTTP || fs.service == svcSSL) {
		e.reqs.serverClosed(c, ts)
	}
	if f&decode.RST != 0 {
		if fs.firstRST == 0 {
			fs.firstRST = int8(side + 1)
			switch {
			case !orig && (prevO == flowtable.SynSent || prevO == flowtable.SynAckSent) && prevR == flowtable.Inactive:
				// Reported when the flow ends, if it is still a
				// rejection then: a forged RST followed by a real
				// SYN-ACK is not a closed port.
				fs.set(fRefused)
				e.p(fs).refusedTS = ts
				// No buffer of the arena for it: its SYN waits in the
				// SYN stash (or, if it had a head buffer, goes to the
				// recent ring) and its RST goes to the ring, so a scan
				// of closed ports pins nothing; a reported refusal's
				// pcap is written from there (writeStartPcap).
				e.headToRecent(c, fs)
				e.freeBuf(fs)
			case tlsOpen:
				e.tlsClose(c, fs, side, ts)
			case t != nil && t.reported:
				// The TLS event already explains the close.
			case orig && fs.has(fFinBefore) && e.tlsGaveUp(c, fs, ts):
				// The server closed only when the client's close_notify
				// came: the client gave up on its request.
			case !fs.has(fFinBefore) && orig && e.quitExplained(fs, ts):
				e.quitEvent(c, fs, ts, true)
			case !orig && e.q(fs).events&(1<<NoteDBError) != 0:
				// The database's error explains why the server closed:
				// a client still writing is reset.
			case e.q(fs).events&(1<<NoteProtocolMismatch) != 0:
				// The mismatch explains the reset.
			case !orig && e.h2Refused(fs):
				// The server answered the HTTP/2 preface in HTTP/1.x
				// (reported) and reset what the client sent after it.
			case !orig && e.q(fs).events&(1<<NoteHTTPEmptyReply) != 0 && c.Size(1) == 0:
				// The server closed at the client's first bytes without
				// a byte of answer (reported): the rest it resets.
			case !orig && e.sentAfterClose(c, fs) > 0:
				e.resetAfterClose(c, fs, ts)
			case orig && !fs.has(fFinBefore) && e.dbTLSGaveUp(c, fs, ts):
				// A refused database login: libpq closing with the
				// server's close_notify unread resets.
			case orig && !fs.has(fFinBefore) && e.dbClientEnded(fs):
				// A database session its client ended, then reset.
			case orig && !fs.has(fFinBefore) && e.dbTLSEnded(c, fs):
				// A database session ended by its client, whose reset
				// only says the server's close_notify was unread.
			case fs.service == svcSSL && e.reqs.closedAnswered(c, ts):
				// The client closed with its close_notify, its requests
				// answered: a reset is its kernel's, for unread bytes, or
				// the server's, whose own close (nginx's after answering
				// Connection: close) left the client's close_notify unread.
			case orig && fs.service == svcSSL && e.reqs.closedOnTrailer(c, ts):
				// The client had its answer and closed as the server's
				// last frames came: the reset is its kernel's.
			case !fs.has(fFinBefore) && !fs.has(fTLSFatal) && e.wasEstablished(c, orig):
				if orig && e.clientQuitAfterTLS(c, fs, ts) {
					e.holdQuit(c, fs, quitReset, ts) // a spare a pool dialled?
				} else {
					e.reset(c, fs, side, ts)
				}
			}
		}
	} else if f&decode.FIN != 0 && tlsOpen {
		e.tlsClose(c, fs, side, ts)
	} else if f&decode.FIN != 0 && orig && c.E[0].FINs() == 1 && c.E[1].FINs() == 0 && fs.firstRST == 0 && e.quitExplained(fs, ts) {
		e.quitEvent(c, fs, ts, false)
	} else if f&decode.FIN != 0 && !orig && fs.service == svcHTTP && c.E[1].FINs() == 1 && c.E[0].FINs() == 0 && fs.firstRST == 0 &&
		c.Size(1) == 0 && c.Size(0) > 0 {
		e.emptyReply(c, fs, ts)
	} else if f&decode.FIN != 0 && !orig && fs.service == svcHTTP && c.E[1].FINs() == 1 && c.E[0].FINs() == 0 && fs.firstRST == 0 {
		if req := e.lastUnanswered(c, ts); req != nil {
			e.keepAliveEmptyReply(c, fs, req, ts)
		} else {
			e.truncated(c, fs, ts)
		}
	} else if f&decode.FIN != 0 && !orig && fs.service == svcSSL && c.E[1].FINs() == 1 && c.E[0].FINs() == 0 && fs.firstRST == 0 {
		if !e.tlsServerQuit(c, fs, ts) {
			e.dbTLSQuit(c, fs, ts)
		}
	} else if f&decode.FIN != 0 && !orig && fs.pk == pkDB && c.E[1].FINs() == 1 && c.E[0].FINs() == 0 && fs.firstRST == 0 {
		e.dbServerClosed(c, fs, ts)
	} else if f&decode.FIN != 0 && orig && fs.service == svcPostgres && c.E[0].FINs() == 1 && fs.firstRST == 0 {
		e.pgSSLRefused(c, fs, ts)
		e.dbGaveUp(c, fs, ts)
	} else if f&decode.FIN != 0 && orig && c.E[0].FINs() == 1 && c.E[1].FINs() == 0 && fs.firstRST == 0 {
		if h := e.httpOf(fs); h != nil && h.h2c != nil {
			e.h2cClosed(c, fs, h.h2c, ts)
		} else if req, waited, ok := e.unanswered(c, fs, ts); ok && e.q(fs).events&(1<<NoteHTTPNoResponse) == 0 {
			e.noResponse(c, fs, req, waited, ts, waitGaveUp)
		} else if e.tlsGaveUp(c, fs, ts) {
			// reported
		} else if e.dbTLSGaveUp(c, fs, ts) {
			// reported
		} else if fs.pk == pkDB {
			e.dbGaveUp(c, fs, ts)
		} else if fs.service == svcHTTP {
			e.stalled(c, fs, ts, minNoResponse, waitGaveUp)
		}
	}
	e.maybeReleaseHead(c, fs)
	e.maybeSettleTLS(c, fs)
}

// closedAtAccept reports, as c ends, a server that accepted the
// connection and closed it (FIN) at once, without sending a byte, when
// nothing else explained it: a TCP proxy with no upstream to forward to
// (HAProxy in TCP mode before a backend that is down), a connection
// limit or an access rule. Clients of protocols where the server speaks
// first (MySQL, SMTP, SSH) wait for its greeting and send nothing; others
// send their first request, which stays unanswered. (An HTTP request gets
// HTTP_EMPTY_REPLY, a ClientHello TLS_HANDSHAKE_ABORTED, and data the
// server resets a TCP_RESET.) Only within closeAtAccept of the SYN: a
// server's idle timeout closes a connection a client opened and left
// unused later than that.
func (e *Engine) closedAtAccept(c *flowtable.Conn, fs *flowState) {
	if c.Midstream || c.AckTS() == 0 || c.Size(1) != 0 || c.E[1].FINs() == 0 || e.q(fs).events != 0 ||
		c.Last-c.First > closeAtAccept || !serverClosedFirst(c.History()) {
		return
	}
	b := e.problemEvent(c, fs, NoteTCPClosedAtAccept, c.Last)
	if b == nil {
		return
	}
	b.B = appendServerDid(b.B, c, " accepted the connection of client ", " and closed it within ")
	b.B = appendDurationWords(b.B, c.Last-c.AckTS())
	b.B = append(b.B, " without sending a byte"...)
	if n := c.Size(0); n > 0 {
		b.B = append(b.B, ", leaving the client's first "...)
		b.B = appendUint(b.B, n)
		b.B = append(b.B, " bytes unanswered"...)
	} else {
		b.B = append(b.B, " (the client sent nothing either: where the server speaks first, as MySQL, SMTP and SSH do, the client waited for its greeting)"...)
	}
	b.B = append(b.B, ": most often a TCP proxy with no upstream to forward to (HAProxy in TCP mode, an Envoy TCP proxy, before a backend that is down or refusing), a connection limit or an access rule (the client sees 'Lost connection', 'server closed the connection', EOF)"...)
	b.B = appendSide(b.B, "server")
	e.eventEndPcap(b, fs)
}

// closeAtAccept bounds, from the SYN to the connection's last packet,
// a close reported by closedAtAccept.
const closeAtAccept = 2 * int64(time.Second)

// serverClosedFirst reports whether Zeek history h has the responder's
// FIN ('f') before any FIN or reset of the originator's ('F', 'R') and
// before any reset of its own ('r').
func serverClosedFirst(h []byte) bool {
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case 'f':
			return true
		case 'F', 'R', 'r':
			return false
		}
	}
	return false
}

// tunnelled reports whether c's last HTTP request was a CONNECT that the
// proxy answered (its bytes came after it): the connection is now a
// tunnel.
func (e *Engine) tunnelled(c *flowtable.Conn) bool {
	req, _, srv := e.reqs.get(c)
	return bytes.HasPrefix(req, []byte("CONNECT ")) && c.Size(1) > srv
}

// appendTunnel adds, to a TLS event's msg, the proxy and the target of
// the CONNECT tunnel the handshake went through, if it did.
func (e *Engine) appendTunnel(dst []byte, c *flowtable.Conn, fs *flowState) []byte {
	if fs.service != svcSSL || !e.tunnelled(c) {
		return dst
	}
	req, _, _ := e.reqs.get(c)
	_, target, _ := splitRequestLine(req)
	dst = append(dst, " (through the CONNECT tunnel of proxy "...)
	dst = appendAddrPort(dst, c.Resp(), c.RespPort())
	dst = append(dst, " to "...)
	dst = appendText(dst, target)
	return append(dst, ')')
}

func (e *Engine) payload(c *flowtable.Conn, fs *flowState, p *decode.Packet, side int, ts int64) {
	if side == 0 && fs.more&fProxied == 0 && !c.Midstream && e.firstBytes(c, 0, p.Payload) {
		if n := e.proxyStrip(c, fs, p, ts); n > 0 {
			// What follows the header is the client's own protocol.
			if n < len(p.Payload) {
				pay, wire, seq := p.Payload, p.PayloadLen, p.Seq
				p.Payload, p.PayloadLen, p.Seq = p.Payload[n:], p.PayloadLen-n, p.Seq+uint32(n)
				e.payload(c, fs, p, side, ts)
				p.Payload, p.PayloadLen, p.Seq = pay, wire, seq
			}
			return
		}
	} else if side == 1 && fs.more&fProxied != 0 && e.firstBytes(c, 1, p.Payload) {
		e.proxyRefused(c, fs, p.Payload, ts)
	}
	if unclassified(fs.service) && side == 0 && c.E[0].Pkts() <= 8 {
		spoke := fs.service
		switch {
		case looksLikeTLS(p.Payload):
			fs.service = svcSSL
			t := e.newTLS(fs)
			t.helloAfterFIN = c.E[1].FINs() > 0
			if spoke != svcNone {
				// No TLS server speaks first.
				t.d[1].broken, t.d[1].plain = true, [...]uint8{3, 2, 4}[spoke-svcSrvH2]
			}
		case isHTTPRequest(p.Payload):
			fs.service = svcHTTP
			if e.search != nil {
				e.newHTTP(fs)
			}
			if spoke != svcNone {
				// The server spoke first: no HTTP server does.
				e.protocolMismatch(c, fs, "http", [...]string{"h2", "text", "binary"}[spoke-svcSrvH2], p.Payload, nil, ts)
			}
		case isH2Preface(p.Payload):
			fs.service = svcHTTP
			h := e.newHTTP(fs)
			h.h2, h.done = true, e.search == nil
			h.h2c = e.getH2Conn()
			// A server may send its connection preface (SETTINGS) before
			// reading the client's: those frames hold no header block;
			// the server's reader starts at its next segment.
			h.h2c.d[1].got = c.Size(1)
		case pgClientStart(p.Payload):
			fs.service = svcPostgres
			e.newDB(fs, svcPostgres)
		case respClientStart(p.Payload):
			fs.service = svcRedis
			e.newDB(fs, svcRedis)
		case amqpClientStart(p.Payload):
			fs.service = svcAMQP
			e.newDB(fs, svcAMQP)
		case kafkaClientStart(p.Payload, c.RespPort()):
			fs.service = svcKafka
			e.kafkaClientID(e.newDB(fs, svcKafka), p.Payload)
		case mongoClientStart(p.Payload, c.RespPort()):
			fs.service = svcMongo
			e.newDB(fs, svcMongo)
		case mcClientStart(p.Payload, c.RespPort()):
			fs.service = svcMemcached
			e.newDB(fs, svcMemcached)
		case c.RespPort() == 53 || c.OrigPort() == 53:
			fs.service = svcDNS
		default:
			fs.service = svcNone
		}
	} else if fs.service == svcNone && side == 1 && e.clientSilent(c, fs) && c.E[1].Pkts() <= 4 && mysqlGreeting(p.Payload) {
		// MySQL and MariaDB speak first: a greeting, or an error.
		fs.service = svcMySQL
		e.newDB(fs, svcMySQL)
	} else if fs.service == svcNone && side == 1 && e.clientSilent(c, fs) && c.E[1].Pkts() <= 4 && natsInfo(p.Payload) {
		// So does NATS: INFO {...}.
		fs.service = svcNATS
		e.newDB(fs, svcNATS)
	} else if fs.service == svcNone && side == 1 && c.E[1].Pkts() <= 4 && redisRefusal(p.Payload) && c.Size(1) == uint64(len(p.Payload)) {
		// Redis refuses a client as it accepts it, without reading it
		// (redis-benchmark's inline PING may have come first):
		// maxclients reached, or protected mode.
		fs.service = svcRedis
		e.newDB(fs, svcRedis)
	} else if fs.service == svcNone && side == 1 && c.E[1].Pkts() <= 4 && mcRefusal(p.Payload) && c.Size(1) == uint64(len(p.Payload)) {
		// So does Memcached past its connection limit.
		fs.service = svcMemcached
		e.newDB(fs, svcMemcached)
	} else if fs.service == svcNone && side == 1 && !c.Midstream && c.Size(0) == 0 && c.E[1].Pkts() <= 4 && len(p.Payload) >= 5 && !tlsRecordHeader(p.Payload) {
		fs.service = [...]uint8{svcSrvOther, svcSrvOther, svcSrvText, svcSrvH2, svcSrvOther}[plainKind(p.Payload[:5])]
	} else if (fs.service == svcPostgres || fs.service == svcMySQL) && side == 0 && c.E[0].Pkts() <= 8 && looksLikeTLS(p.Payload) {
		// The server answered the SSLRequest with 'S' (PostgreSQL), or
		// the client's short handshake response asked for TLS (MySQL):
		// TLS follows.
		e.markDBTLS(c, fs.service)
		fs.service = svcSSL
		e.newTLS(fs)
	} else if fs.service == svcHTTP && side == 0 && c.E[0].Pkts() <= 8 && looksLikeTLS(p.Payload) && e.tunnelled(c) {
		// TLS through a forward proxy's CONNECT tunnel (HTTPS_PROXY):
		// the handshake that follows is the one to judge.
		fs.service = svcSSL
		e.newTLS(fs)
	}
	if e.q(fs).events&(1<<NoteProtocolMismatch) == 0 && c.E[side].Pkts() <= 8 && !c.Midstream {
		// (A capture that began inside a connection shows no first bytes.)
		e.checkMismatch(c, fs, p, side, ts)
	}
	if fs.service == svcSSL && len(e.dbTLS) > 0 {
		e.dbTLSData(c, side, len(p.Payload), ts)
	}
	if fs.service == svcSSL && side == 1 {
		if l := e.reqs.any(c); l != nil && l.tls {
			l.sLast, l.sLen = ts, uint16(min(len(p.Payload), 1<<16-1))
			if l.tks != tkAnswer {
				e.h2ServerReset(c, fs, l, p.Payload, ts)
				l.serverData(p.Payload, ts, e.tls13(fs))
			}
		} else if l == nil && e.tlsEstablished(fs) {
			if cand, _ := e.h2Of(fs); cand {
				e.reqs.notePreface(c, p.Payload, e.tls13(fs))
			}
		}
	} else if fs.service == svcSSL && side == 0 && e.tlsEstablished(fs) {
		if e.tlsRequestData(fs, p.Payload) {
			// Not inside a CONNECT tunnel: its slot holds the CONNECT.
			if k := e.h2Control(c, fs, p.Payload, ts); k != tlsH2Frame {
				cand, sure := e.h2Of(fs)
				e.wentOn(c, fs, ts)
				e.reqs.tlsData(c, ts, e.ticketBefore(fs, ts), cand, sure, k == tlsH2Maybe)
			}
		} else {
			e.reqs.tlsBye(c, ts)
		}
	}
	if t := e.tlsOf(fs); t != nil {
		var ev tlsEvents
		if c.E[0].FINs() > 0 {
			t.cliClosed = true
		}
		t.segment(side, p.Seq, p.Payload, ts, &ev)
		if p.Flags&decode.Truncated != 0 {
			// The snaplen cut this segment: the records that follow
			// cannot be found.
			t.d[side].broken, t.d[side].gap = true, true
		}
		if side == 0 && ev.est && t.d[0].appRecs > 0 && t.pendingRej < 0 {
			// The client's Finished and its first request in one
			// segment (Go's and Node's clients): it was not yet
			// established when the segment came.
			cand, sure := e.h2Of(fs)
			e.wentOn(c, fs, ts)
			e.reqs.tlsData(c, ts, 0, cand, sure, false)
		}
		e.tlsEvents(c, fs, &ev, ts)
		if side == 0 && e.tlsOf(fs) != nil && e.tlsOf(fs).d[0].alertRecs > 0 && e.quitExplained(fs, ts) {
			// The client's close_notify: it is giving up (curl sends one
			// before its FIN, and the server may close first).
			e.quitEvent(c, fs, ts, false)
		}
	}
	later := false // a request after the first one was searched
	if h := e.httpOf(fs); h != nil {
		later = side == 0 && h.done && !h.h2 && e.search != nil
		if side == 0 && !h.done {
			e.httpSegment(c, fs, p, ts)
		}
		if h := e.httpOf(fs); h != nil && h.h2c != nil {
			e.h2cSegment(c, fs, h.h2c, side, p, ts)
		}
	}
	if fs.service == svcHTTP {
		if side == 0 && isHTTPRequest(p.Payload) {
			e.reqs.put(c, p.Payload, ts)
			if later && e.q(fs).events&(1<<NoteHTTPHeaderMatch) == 0 {
				e.searchLater(c, fs, e.httpOf(fs), p, ts)
			}
		} else if side == 0 {
			e.reqs.more(c, ts)
		} else {
			// An answer's start: its status line, read once here.
			code := statusLine(p.Payload)
			if e.slow > 0 && code >= 200 {
				e.slowCheck(c, fs, p, code, ts)
			}
			e.response(c, p, ts)
			if code != 0 && e.q(fs).events&(1<<NoteHTTPServerError) == 0 {
				e.errorAnswer(c, fs, p.Payload, code, ts)
			}
			if code == 101 {
				e.h2cUpgrade(c, fs, p, ts)
			}
		}
	}
	if d := e.dbOf(fs); d != nil {
		if side == 0 && d.kind == svcKafka {
			e.kafkaClient(c, d, p)
		} else if side == 0 && d.kind == svcMongo {
			e.mongoClient(c, d, p, ts)
		} else if side == 0 {
			e.dbClient(c, d, p.Payload, ts)
		} else {
			e.dbServer(c, fs, d, p, ts)
		}
	}
	if fs.service == svcDNS && len(p.Payload) > 2 {
		// DNS over TCP: each message has a 2-byte length prefix. The
		// messages a segment starts are read (glibc sends its A and AAAA
		// queries in one segment, servers may answer them in one); the
		// last one may be cut by the segment's end (its header and
		// question usually are not).
		for b := p.Payload; len(b) > 2; {
			n := int(b[0])<<8 | int(b[1])
			e.dnsMessage(c, fs, b[2:min(len(b), 2+n)], side == 0, ts)
			if n == 0 || 2+n >= len(b) {
				break
			}
			b = b[2+n:]
		}
	}
}

// wasEstablished reports whether the connection was established before
// the RST just counted: a completed handshake, or (mid-stream) packets
// from both sides before it. A SYN scan's half-open (S, SA, R) and a
// FIN/NULL/XMAS probe answered by RST are not.
func (e *Engine) wasEstablished(c *flowtable.Conn, rstFromOrig bool) bool {
	if c.AckTS() != 0 {
		return true
	}
	if !c.Midstream {
		return false
	}
	o, r := c.E[0].Pkts(), c.E[1].Pkts()
	if rstFromOrig {
		o--
	} else {
		r--
	}
	return o > 0 && r > 0 && (c.Size(0) > 0 || c.Size(1) > 0)
}

func (e *Engine) refused(c *flowtable.Conn, fs *flowState, ts int64) {
	if c.ConnState() != "REJ" || c.SynAckTS() != 0 || c.Size(1) > 0 || (c.Size(0) > 0 && fs.more&fSynData == 0) {
		return
	}
	b := e.eventStart(c, NoteTCPRefused, ts)
	if b == nil {
		return
	}
	why := ": port closed (SYN answered by RST): nothing listens there, e.g. the application is down or listens on 127.0.0.1 or another port"
	if c.Resp().IsLoopback() {
		why = ": port closed (SYN answered by RST): nothing listens there, e.g. the application is down or listens on another port"
	}
	b.B = appendServerDid(b.B, c, " refused the connection from client ", why)
	if e.cfg.Names != nil {
		b.B = e.cfg.Names.AppendConnHint(b.B, c.Resp(), c.RespPort(), ConnRefused)
	}
	b.B = appendSide(b.B, "server")
	e.eventEndName(b, e.writeStartPcap(c, fs, NoteTCPRefused, ts, nil, 0))
}

// appendServerDid writes "server ADDR:PORT<did>CLIENT<why>".
func appendServerDid(dst []byte, c *flowtable.Conn, did, why string) []byte {
	dst = append(dst, "server "...)
	dst = appendAddrPort(dst, c.Resp(), c.RespPort())
	dst = append(dst, did...)
	dst = c.Orig().AppendTo(dst)
	return append(dst, why...)
}

func (e *Engine) noAnswer(c *flowtable.Conn, fs *flowState, now int64, final bool) {
	if e.q(fs).events&(1<<NoteTCPNoAnswer) != 0 || e.q(fs).events&(1<<NoteICMPUnreachable) != 0 {
		return
	}
	if h := c.History(); len(h) == 0 || (h[0] != 'S' && h[0] != '^') {
		return
	}
	// Only SYNs from the originator: anything else (data, ACKs) means the
	// server answered off-capture (asymmetric capture), not silence.
	if c.E[0].Pkts() == 0 || c.E[1].Pkts() != 0 || c.E[0].State != flowtable.SynSent || (c.Size(0) != 0 && fs.more&fSynData == 0) {
		return
	}
	e.p(fs).events |= 1 << NoteTCPNoAnswer
	// As of the timeout (or the capture's end before it), whenever the
	// timer ran: with what was seen by then.
	e.holdNoAnswer(c, fs, min(now, c.FirstSYN()+e.synJudge), final)
}

// noAnswerReport reports c's unanswered SYN, held until the verdict on
// its server could be made (holdNoAnswer).
func (e *Engine) noAnswerReport(c *flowtable.Conn, h heldVerdict) {
	now := h.at
	b := e.eventStart(c, NoteTCPNoAnswer, now)
	if b == nil {
		return
	}
	waited := now - c.FirstSYN()
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " never answered client "...)
	b.B = c.Orig().AppendTo(b.B)
	if n := h.syns; n > 1 {
		b.B = append(b.B, ": "...)
		b.B = appendUint(b.B, uint64(n))
		b.B = append(b.B, " SYNs, sent over "...)
		b.B = appendDurationWords(b.B, h.synSpan)
		b.B = append(b.B, ", drew"...)
	} else {
		b.B = append(b.B, ": its SYN drew"...)
	}
	b.B = append(b.B, " no SYN-ACK or RST in "...)
	b.B = appendDurationWords(b.B, waited)
	if ago, ok := e.sh.acceptedNear(sibKey(c), c.FirstSYN(), h.at, h.final); ok {
		// The port is open to this client: not a firewall rule.
		b.B = append(b.B, ", though the same client's connection to that port was accepted "...)
		b.B = appendDurationWords(b.B, max(ago, -ago))
		if ago >= 0 {
			b.B = append(b.B, " before, so no rule blocks it: most likely the server's listen backlog is full (its application stuck or too slow to accept connections, and the kernel drops the SYNs it has no room for), or a rate limit or a conntrack or SNAT port collision on the way"...)
		} else {
			b.B = append(b.B, " later, so no rule blocks it: the server was briefly unreachable (restarting, its node or network down) or overloaded (its listen backlog full: the kernel drops the SYNs it has no room for), or a conntrack or SNAT port collision on the way dropped these"...)
		}
	} else {
		b.B = append(b.B, " (filtered port, e.g. a NetworkPolicy or firewall dropping it, host down, or lost route)"...)
	}
	if e.cfg.Names != nil {
		b.B = e.cfg.Names.AppendConnHint(b.B, c.Resp(), c.RespPort(), ConnNoAnswer)
	}
	if h.syns == 1 && waited >= synAbandoned {
		// Linux re-sends an unanswered SYN after 1 s: one SYN in this
		// long means the client closed the attempt.
		b.B = append(b.B, "; the client gave up after that one SYN, before TCP would have re-sent it at 1 s: "...)
		if c.Resp().Unmap().Is6() {
			b.B = append(b.B, "most likely it went on over IPv4 (dual-stack clients, curl, Node, Chromium, Go, fall back to the other address family 200 to 300 ms into a connect: Happy Eyeballs), so the IPv6 path to this server is broken: every connection waits for the fallback, and clients that try one address at a time (Python, Java) wait for their whole connect timeout"...)
		} else {
			b.B = append(b.B, "it closed the attempt within a second, as a connect timeout (a health check's) or a request deadline running out does, or as a client trying another address of the name in parallel (Happy Eyeballs) that answered first; or a port scanner's probe"...)
		}
	}
	if e.state(c).more&fSynData != 0 {
		b.B = appendSynData(b.B, c)
		if h.syns > 1 {
			b.B = append(b.B, ", the SYNs re-sent without data were not answered either"...)
		} else {
			b.B = append(b.B, ": some firewalls and middleboxes drop SYNs that carry data"...)
		}
	}
	if c.RespPort() == 53 {
		// Resolvers use TCP when a UDP answer came truncated (large
		// records, DNSSEC, many addresses): rules that open only UDP 53
		// break exactly those names.
		b.B = append(b.B, "; DNS over TCP: resolvers fall back to it when a UDP answer comes truncated, and a NetworkPolicy or firewall that allows only UDP port 53 breaks those lookups"...)
	}
	if waited < int64(time.Second) && h.syns == 1 {
		// At the capture's end or the agent's stop: TCP would have
		// re-sent the SYN after 1 s, so this silence proves little.
		b.B = append(b.B, "; the capture ended then, before TCP's first retransmission: its answer may have been on its way"...)
	}
	b.B = appendSide(b.B, "server")
	e.eventEndName(b, e.writeStartPcap(c, e.state(c), NoteTCPNoAnswer, now, nil, 0))
}

// synAbandoned is how long a lone SYN must have gone unanswered, with no
// retransmission, to say its client abandoned it (Linux re-sends after
// 1 s).
const synAbandoned = int64(1500 * time.Millisecond)

// lateAnswer is the least delay, from the first SYN or query to the
// answer of a retransmission, reported as a late answer: resolvers and
// TCP re-send after a second or more, so a retransmission answered sooner
// costs the user nothing they would notice.
const lateAnswer = int64(500e6)

// lateSYNACK reports a SYN-ACK that came only after the client re-sent
// its SYN: the connection was made, but seconds late (TCP's initial
// retransmission timeout is 1 s, then 3 s, 7 s, ...).
func (e *Engine) lateSYNACK(c *flowtable.Conn, fs *flowState, ts int64) {
	noAnswer := e.q(fs).events&(1<<NoteTCPNoAnswer) != 0
	b := e.eventStart(c, NoteTCPLateAnswer, ts)
	if b == nil {
		return
	}
	syns := c.E[0].Pkts()
	b.B = appendServerDid(b.B, c, " answered client ", " only after ")
	b.B = appendUint(b.B, syns)
	b.B = append(b.B, " SYNs, "...)
	b.B = appendDurationWords(b.B, ts-c.FirstSYN())
	b.B = append(b.B, " after the first: the first SYN(s) or their SYN-ACK were lost (the server's listen backlog full, a conntrack or SNAT port collision on the way, or packet loss)"...)
	if fs.more&fSynData != 0 {
		b.B = appendSynData(b.B, c)
		b.B = append(b.B, ": if this repeats, something on the way drops SYNs that carry data, and every connection waits for a retransmission"...)
	}
	if noAnswer {
		b.B = append(b.B, "; reported as TCP_NO_ANSWER before"...)
	}
	b.B = appendSide(b.B, "server")
	b.B = appendLate(b.B, syns, ts-c.FirstSYN())
	if fs.has(fPcapDone) && e.q(fs).pcapNote == NoteTCPNoAnswer {
		// The silence's pcap was written at once, with the SYNs up to
		// its time: the answer gets one of its own, every SYN (from the
		// stash and the ring, which kept those re-sent since) first.
		fs.clear(fPcapDone | fHeadClosed)
		e.p(fs).pcapName = ""
	}
	// The SYNs, the answer and what follows go into the head buffer
	// (recordPacket), which a named pcap keeps.
	e.planPcap(fs, NoteTCPLateAnswer, c, ts)
	e.eventEndPcap(b, fs)
}

// appendSynData says that c's first SYN carried data (TCP Fast Open).
func appendSynData(dst []byte, c *flowtable.Conn) []byte {
	dst = append(dst, "; the first SYN carried "...)
	dst = appendUint(dst, c.Size(0))
	return append(dst, " bytes of data (TCP Fast Open)"...)
}

// appendLate writes a late answer's "attempts" and "delay_ms".
func appendLate(dst []byte, attempts uint64, delay int64) []byte {
	dst = append(dst, `,"attempts":`...)
	dst = appendUint(dst, attempts)
	dst = append(dst, `,"delay_ms":`...)
	return jsonw.Millis(dst, delay)
}

// minZeroWindow is the shortest zero-window stall reported; one still
// going on after zeroOngoing is reported then (at the next packet: the
// peer's zero-window probes and their answers keep coming), not only
// when the window opens: a stuck application may never read again.
const (
	minZeroWindow = int64(500e6)
	zeroOngoing   = int64(5e9)
)

// How a zero-window stall is reported.
const (
	zeroOpened = iota // the window opened at ts
	zeroEnded         // the connection ended
	zeroSoFar         // still zero at ts
)

// zeroWindow reports a side's zero-window advertisement if it lasted (and
// ends it unless it goes on): the side stopped reading, and the other
// could not send.
func (e *Engine) zeroWindow(c *flowtable.Conn, fs *flowState, side int, ts int64, how int) {
	pr := e.p(fs)
	from := pr.zeroFrom[side]
	if how != zeroSoFar {
		pr.zeroFrom[side] = 0
	}
	if ts-from < minZeroWindow || e.q(fs).events&(1<<NoteTCPZeroWindow) != 0 {
		return
	}
	if side == 1 && e.answeredUpload(c, fs, 0) != nil {
		// The server answered the request before reading its whole
		// body (a refused upload: 413, 401, 503), and does not read the
		// rest: its answer, not a stall, is what the client gets.
		return
	}
	b := e.problemEvent(c, fs, NoteTCPZeroWindow, ts)
	if b == nil {
		return
	}
	who, other, oaddr, oport := sideNames(c, side)
	b.B = appendWho(b.B, c, side)
	b.B = append(b.B, " stopped reading: it advertised a zero receive window for "...)
	b.B = appendDurationWords(b.B, ts-from)
	switch how {
	case zeroEnded:
		b.B = append(b.B, ", until the connection ended"...)
	case zeroSoFar:
		b.B = append(b.B, " so far"...)
	}
	b.B = append(b.B, ", so "...)
	b.B = append(b.B, other...)
	b.B = append(b.B, ' ')
	b.B = appendAddrPort(b.B, oaddr, oport)
	b.B = append(b.B, " could not send (the "...)
	b.B = append(b.B, who...)
	b.B = append(b.B, "'s application was slow or stuck reading its socket)"...)
	b.B = appendSide(b.B, who)
	b.B = append(b.B, `,"stall_ms":`...)
	b.B = jsonw.Millis(b.B, ts-from)
	e.eventEndPcap(b, fs)
}

// sideNames names side (0 originator) of c and its peer: "client" or
// "server", and the peer's address and port.
func sideNames(c *flowtable.Conn, side int) (who, other string, oaddr netip.Addr, oport uint16) {
	if side == 1 {
		return "server", "client", c.Orig(), c.OrigPort()
	}
	return "client", "server", c.Resp(), c.RespPort()
}

// appendWho appends "client ADDR" or "server ADDR" for side of c.
func appendWho(dst []byte, c *flowtable.Conn, side int) []byte {
	who, addr := "client ", c.Orig()
	if side == 1 {
		who, addr = "server ", c.Resp()
	}
	return addr.AppendTo(append(dst, who...))
}

// closeNotifyMax bounds the client bytes after a server's close taken to
// be only the client's TLS close_notify, its answer to the server's close
// (Go's client sends one), not lost data: with the record header, 24
// bytes in TLS 1.3, 23 to 31 in TLS 1.2 with an AEAD, 69 to 85 with a
// CBC suite. A short request over TLS can be that small too: not judged.
const closeNotifyMax = 85

// sentAfterClose returns, when the server resets a connection it had
// closed (FIN) and the client has not, the client's bytes the server
// never acknowledged: data sent on a connection the server had closed,
// which it answers with a reset (0 if none, or only a TLS close_notify).
func (e *Engine) sentAfterClose(c *flowtable.Conn, fs *flowState) uint32 {
	if c.E[1].FINs() == 0 || c.E[0].FINs() != 0 || c.E[0].RSTs() != 0 || fs.has(fTLSFatal) || !e.wasEstablished(c, false) {
		return 0
	}
	n := c.Unacked(0)
	if fs.service == svcSSL && n <= closeNotifyMax && !e.tlsRequestLost(c) {
		return 0
	}
	return n
}

// tlsRequestLost reports whether c's client bytes since the server last
// sent are a request (application data, told from a close_notify by its
// record type, or in TLS 1.3 by its size): a request as short as a
// close_notify.
func (e *Engine) tlsRequestLost(c *flowtable.Conn) bool {
	l := e.reqs.any(c)
	return l != nil && l.tls && l.bye == 0 && l.srv == c.Size(1)
}

// reusedAfterFIN is how long after a server's FIN a client's request on
// the connection, beyond two round trips, shows the client had the FIN
// and reused the connection anyway (a pool that does not notice closes),
// not a request that crossed the FIN in flight.
const reusedAfterFIN = int64(50 * time.Millisecond)

// resetAfterClose reports a server's reset of data the client sent after
// the server had closed the connection: the keep-alive race of a client
// reusing an idle connection the server was closing, a pool reusing one
// the server timed out, or a client still sending when the server quit.
func (e *Engine) resetAfterClose(c *flowtable.Conn, fs *flowState, ts int64) {
	n := e.sentAfterClose(c, fs)
	e.planPcap(fs, NoteTCPReset, c, ts)
	b := e.eventStart(c, NoteTCPReset, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "server "...)
	b.B = c.Resp().AppendTo(b.B)
	b.B = append(b.B, " reset the connection: "...)
	b.B = appendUint(b.B, uint64(n))
	b.B = append(b.B, " bytes from client "...)
	b.B = c.Orig().AppendTo(b.B)
	b.B = append(b.B, " reached it after it had closed the connection (FIN)"...)
	var after int64 // how long after the server's FIN the lost request was sent
	if l := e.reqs.any(c); l != nil && l.sfin != 0 && l.at > l.sfin {
		after = l.at - l.sfin
	}
	fresh := false
	if req, _, srv := e.reqs.get(c); req != nil && srv == c.Size(1) {
		b.B = append(b.B, ": its request "...)
		b.B = appendText(b.B, req)
		b.B = append(b.B, " was lost"...)
	} else if l := e.tlsSilent(c, fs, true); l != nil && l.fresh() {
		b.B = append(b.B, ": its first request over TLS was lost"...)
		fresh = true
	} else {
		b.B = append(b.B, ": they were lost"...)
	}
	switch {
	case fresh:
		// Closed right after the handshake: no idle connection raced.
		b.B = append(b.B, ". The server closed the connection right after the TLS handshake, before the client's first request: "...)
		b.B = append(b.B, quickCloseHint...)
	case c.Size(0) == uint64(n) && c.Size(1) == 0:
		// Nothing was exchanged before the server's FIN.
		b.B = append(b.B, ". The server closed the connection right after accepting it, before the client's first bytes: a connection limit, an access rule, or a TCP proxy with no upstream to forward to"...)
	case c.Size(0) > uint64(n) && after > reusedAfterFIN+2*max(0, c.AckTS()-c.SynTS()):
		// Sent well after the FIN reached the client, whatever the
		// capture point: no race.
		b.B = append(b.B, ". The client sent it "...)
		b.B = appendDurationWords(b.B, after)
		b.B = append(b.B, " after the server's FIN: its connection pool reused a connection the server had closed, without noticing the close (Java's HttpURLConnection and Python's http.client do; HttpURLConnection then sends the request again on a new connection, http.client raises RemoteDisconnected): keep the client's idle timeout below the server's, or have the pool check a connection before reusing it"...)
	case c.Size(0) > uint64(n):
		b.B = append(b.B, ". The classic cause is a server closing an idle keep-alive or pooled connection just as the client reuses it (the client sees a reset, an EOF, 'socket hang up' or 'server has gone away'): keep the client's idle timeout below the server's"...)
	}
	if e.cfg.Names != nil {
		b.B = e.cfg.Names.AppendConnHint(b.B, c.Resp(), c.RespPort(), ConnReset)
	}
	b.B = appendSide(b.B, "server")
	b.B = append(b.B, `,"sent_after_close":`...)
	b.B = appendUint(b.B, uint64(n))
	if after > 0 {
		b.B = append(b.B, `,"sent_after_fin_ms":`...)
		b.B = jsonw.Millis(b.B, after)
	}
	e.resetEnd(b, c, fs)
}

// resetEnd ends a TCP_RESET event: each side's bytes before the reset,
// and the pcap, which keeps its tail.
func (e *Engine) resetEnd(b *Buffer, c *flowtable.Conn, fs *flowState) {
	b.B = append(b.B, `,"orig_bytes":`...)
	b.B = appendUint(b.B, c.Size(0))
	b.B = append(b.B, `,"resp_bytes":`...)
	b.B = appendUint(b.B, c.Size(1))
	e.eventEndPcap(b, fs)
	e.ensureTail(c, fs)
}

func (e *Engine) reset(c *flowtable.Conn, fs *flowState, side int, ts int64) {
	who, whoAddr, other := "client", c.Orig(), "server"
	if side == 1 {
		who, whoAddr, other = "server", c.Resp(), "client"
	}
	e.planPcap(fs, NoteTCPReset, c, ts)
	b := e.eventStart(c, NoteTCPReset, ts)
	if b == nil {
		return
	}
	quit := side == 0 && e.clientQuitAfterTLS(c, fs, ts)
	b.B = append(b.B, who...)
	b.B = append(b.B, ' ')
	b.B = whoAddr.AppendTo(b.B)
	if quit {
		b.B = append(b.B, " reset the connection to the server right after the TLS handshake, before sending any request ("...)
	} else {
		b.B = append(b.B, " reset the established connection to the "...)
		b.B = append(b.B, other...)
		b.B = append(b.B, " after "...)
	}
	b.B = appendUint(b.B, c.Size(0))
	b.B = append(b.B, " bytes sent by the client and "...)
	b.B = appendUint(b.B, c.Size(1))
	b.B = append(b.B, " by the server"...)
	if c.Size(0) == 0 && c.Size(1) == 0 && !quit {
		if side == 0 {
			b.B = append(b.B, ", nothing sent either way (a load balancer's or probe's TCP health check resets like this)"...)
		} else {
			b.B = append(b.B, ", nothing sent either way: the server reset the connection it had just accepted (its accept queue full with net.ipv4.tcp_abort_on_overflow set, or an application aborting each connection at once)"...)
		}
	}
	if side == 1 && c.Size(0) > 0 && c.Size(1) == 0 {
		b.B = append(b.B, ", without a byte of answer"...)
		if req, _, srv := e.reqs.get(c); req != nil && srv == 0 {
			b.B = append(b.B, " to "...)
			b.B = appendText(b.B, req)
		}
		b.B = append(b.B, ": the server's application closed or aborted the connection before answering (a crash, a connection limit, an access rule, a TCP proxy whose upstream refused, or a port that expects TLS: a service mesh sidecar in strict mTLS mode, as Istio's PeerAuthentication STRICT, resets plain-text clients; a kernel resets a socket closed with the request unread)"...)
	}
	if side == 1 && c.Size(1) > 0 {
		if l := e.tlsSilent(c, fs, true); l != nil && l.bye == 0 {
			waited := ts - l.last
			b.B = append(b.B, ", "...)
			b.B = appendDurationWords(b.B, waited)
			b.B = append(b.B, " after the client's request over TLS, without a byte of answer"...)
			b.B = e.appendNoAnswerWhy(b.B, l)
			b.B = append(b.B, " (the client sees 'Connection reset by peer'"...)
			if l.fresh() && waited < minNoResponse {
				b.B = append(b.B, "; so soon after the handshake, "...)
				b.B = append(b.B, quickCloseHint...)
			} else {
				b.B = append(b.B, ": the server's application failed or gave up on the request, or a proxy did, its upstream down or too slow"...)
			}
			b.B = append(b.B, ')')
		}
	}
	var cut *reqLine // an answer the reset broke off
	if side == 1 && fs.service == svcHTTP {
		cut = e.bodyShort(c, int64(c.Size(1)))
	}
	if cut != nil {
		b.B = append(b.B, ", in the middle of its "...)
		b.B = appendAnswer(b.B, c, cut)
		b.B = append(b.B, ": the client got a truncated answer (the server's application crashed or aborted the connection half-way, or a proxy's upstream did)"...)
	} else if l := e.answeredUpload(c, fs, ts); l != nil && side == 1 {
		method, uri, _ := splitRequestLine(l.line[:l.n])
		b.B = append(b.B, ", right after its complete "...)
		b.B = appendUint(b.B, uint64(l.resp.code))
		b.B = append(b.B, " answer to "...)
		b.B = appendRequest(b.B, method, uri)
		b.B = append(b.B, ", which carried a body: a server that closes a connection with bytes of the request unread (an upload it refused or did not need) is reset by its kernel; the client has the answer, unless it was still sending the body, which then fails with 'connection reset by peer' (curl: 'Send failure'), the server's status lost"...)
	}
	if req, waited, ok := e.unanswered(c, fs, ts); ok && side == 0 {
		b.B = append(b.B, ": it had waited "...)
		b.B = appendDurationWords(b.B, waited)
		b.B = append(b.B, " for an answer to "...)
		b.B = appendText(b.B, req)
		b.B = append(b.B, " (the server, or an upstream behind it, hangs; a proxy's request timeout?)"...)
	} else if l, waited := e.tlsUnanswered(c, fs, ts); l != nil && side == 0 {
		b.B = append(b.B, ": it had waited "...)
		b.B = appendDurationWords(b.B, waited)
		b.B = append(b.B, " for an answer to its request over TLS, without a byte of it (the server, or an upstream behind it, hangs; the client's timeout is about that long)"...)
	}
	if pr := e.q(fs); side == 1 && pr.resumedAt != 0 && ts >= pr.resumedAt && ts-pr.resumedAt <= 3*int64(time.Second) {
		// The reset answers data sent after a long silence.
		b.B = append(b.B, ", answering data sent after the connection had been silent for "...)
		b.B = appendDurationWords(b.B, pr.silence)
		b.B = append(b.B, ": a load balancer or NAT on the way that forgot the connection on its idle timeout answers like this (AWS's NLB after 350 s, Azure's load balancer with its reset on idle), as does a server host that no longer knows it; TCP keepalives more frequent than that timeout, or a pool's idle timeout below it, avoid it"...)
	} else if c.Size(1) > 0 {
		b.B = e.dbResetHint(b.B, c, fs, side, ts)
	}
	if side == 1 && e.cfg.Names != nil {
		b.B = e.cfg.Names.AppendConnHint(b.B, c.Resp(), c.RespPort(), ConnReset)
	}
	if quit {
		b.B = append(b.B, "): it may have rejected the server's certificate after the handshake (GnuTLS clients such as wget verify it then, and reset without an alert), or not needed the connection"...)
	}
	b.B = appendSide(b.B, who)
	if cut != nil {
		b.B = appendBodyHTTP(b.B, cut, int64(c.Size(1)))
		b.B = append(b.B, '}')
	}
	if quit {
		b.B = append(b.B, `,"after_tls_handshake":true`...)
		if t := e.tlsOf(fs); t != nil {
			b.B = e.appendTLS(b.B, c, t, false)
		} else {
			b.B = e.appendTLSSummary(b.B, e.sumOf(fs), false)
		}
	}
	e.resetEnd(b, c, fs)
}

// ICMPNotice is an ICMP destination-unreachable error passed between
// workers: live, the kernel's fanout hashes the ICMP packet on its own
// header, so it may reach a worker other than the one owning the flow it
// quotes.
type ICMPNotice struct {
	Inner      decode.Tuple
	Reporter   decode.Tuple // only Src is used
	Type, Code uint8
	V6         bool
	TS         int64
	// The error's frame, its first icmpKeep bytes, for the quoted
	// connection's pcap, wherever that is analysed.
	FrameN  uint16
	OrigLen int32
	Frame   [icmpKeep]byte
}

// icmpKeep is how much of an ICMP error's frame goes into the pcap of the
// connection it quotes: its headers and the quoted packet's (a quoted
// SYN's options included).
const icmpKeep = 256

// DNSOwner returns the worker that analyses DNS between t's two addresses
// (n workers): all of a resolver's queries to a server, each from a new
// port, meet in one worker, which tells a search-list walk's NXDOMAINs
// from a failure (dns.go). Offline sharding uses it; live, workers
// forward DNS packets to it.
func DNSOwner(t decode.Tuple, n int) int {
	t.SrcPort, t.DstPort = 0, 0
	k, _ := flowtable.MakeKey(&t)
	return int(k.Hash() % uint64(n))
}

// isDNS reports whether t is DNS (port 53, UDP or TCP), which one worker
// per pair of addresses analyses (DNSOwner).
func isDNS(t *decode.Tuple) bool {
	return (t.SrcPort == 53 || t.DstPort == 53) && t.Proto != decode.ProtoICMP && t.Proto != decode.ProtoICMPv6
}

// Owner returns which of n workers analyses p: the one its flow hashes
// to (an ICMP error: the flow it quotes), or for DNS the owner of its two
// addresses. Offline sharding uses it for every packet; live, the
// kernel's fanout shards, and workers use it for the tunnelled packets,
// whose outer header the kernel hashed (the two directions of one
// connection inside VXLAN or Geneve travel in two outer flows, each node
// picking its own source port).
func Owner(p *decode.Packet, n int) int {
	t := flowtable.FlowTuple(p)
	if p.Flags&decode.HasInner != 0 {
		t = p.Inner
	}
	if isDNS(&t) {
		return DNSOwner(t, n)
	}
	k, _ := flowtable.MakeKey(&t)
	return int(k.Hash() % uint64(n))
}

// Forwarded is a packet passed to the worker that owns it (live): DNS,
// and tunnelled packets.
type Forwarded struct {
	TS            int64
	Link, OrigLen int
	Data          *[]byte // from fwdPool
	Hold          bool    // tunnelled: into the hold queue (tunnelq.go)
}

var fwdPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// SetForwardPeers connects the engine to every worker's inbox of forwarded
// packets, DNS and tunnelled (its own included, at its index).
func (e *Engine) SetForwardPeers(inboxes []chan Forwarded) {
	e.fwdPeers = inboxes
}

func (e *Engine) forward(w int, ts int64, link int, frame []byte, origLen int) bool {
	bp := fwdPool.Get().(*[]byte)
	*bp = append((*bp)[:0], frame...)
	select {
	case e.fwdPeers[w] <- Forwarded{TS: ts, Link: link, OrigLen: origLen, Data: bp}:
		return true
	default:
		fwdPool.Put(bp)
		return false // the owner is behind: analysed here instead
	}
}

// SetPeers connects the engine to the other workers' inboxes and its own.
func (e *Engine) SetPeers(peers []chan ICMPNotice, inbox chan ICMPNotice) {
	e.peers, e.inbox = peers, inbox
	e.held = make([]ICMPNotice, 0, 256)
}

// DrainInbox handles the ICMP errors other workers passed on. One whose
// flow is not (yet) here is retried for a while: the packet it quotes may
// still sit in a ring block this worker has not read.
func (e *Engine) DrainInbox() {
	// Forwarded packets first: an error kept below may quote one of them.
	if e.fwdPeers != nil {
		for done := false; !done; {
			select {
			case f := <-e.fwdPeers[e.worker]:
				if f.Hold {
					e.enqueue(f)
					continue
				}
				e.packet(f.TS, f.Link, *f.Data, f.OrigLen, false)
				fwdPool.Put(f.Data)
			default:
				done = true
			}
		}
	}
	held := e.held[:0]
	for i := range e.held {
		n := e.held[i]
		if !e.icmpUnreach(&n, true) && e.now-n.TS < int64(200*time.Millisecond) {
			held = append(held, n)
		}
	}
	e.held = held
	for {
		select {
		case n := <-e.inbox:
			if !e.icmpUnreach(&n, true) && len(e.held) < cap(e.held) {
				e.held = append(e.held, n)
			}
		default:
			return
		}
	}
}

// icmpError handles an ICMP error quoting a packet.
func (e *Engine) icmpError(p *decode.Packet, ts int64, frame []byte, origLen int) {
	v6 := p.Proto == decode.ProtoICMPv6
	if !(!v6 && p.ICMPType == 3) && !(v6 && p.ICMPType == 1) {
		return
	}
	if !v6 && p.ICMPCode == 4 {
		// "Fragmentation needed" is path MTU discovery at work (IPv6
		// says it with Packet Too Big, not an unreachable): the sender
		// shrinks its segments and goes on. When it cannot, because
		// these are filtered, TCP_RETRANSMISSIONS names the black hole.
		return
	}
	n := ICMPNotice{Inner: p.Inner, Reporter: decode.Tuple{Src: p.Src}, Type: p.ICMPType, Code: p.ICMPCode, V6: v6, TS: ts, OrigLen: int32(origLen)}
	n.FrameN = uint16(copy(n.Frame[:], frame))
	e.icmpUnreach(&n, false)
}

// icmpUnreach reports n; it returns false when the quoted flow is not in
// this worker's table and another worker should have it.
func (e *Engine) icmpUnreach(n *ICMPNotice, fromPeer bool) bool {
	in := n.Inner
	v6, ts := n.V6, n.TS
	k, srcIsA := flowtable.MakeKey(&in)
	qc := e.tab.Lookup(&k, k.Hash())
	reporter := n.Reporter.Src
	name := ICMPUnreachName(v6, n.Code)
	if qc == nil && len(e.peers) > 0 {
		if !fromPeer {
			for _, ch := range e.peers {
				select {
				case ch <- *n:
				default:
					e.St.QueueDrops.Add(1)
				}
			}
			// The flow may become this worker's yet: a DNS query another
			// worker forwards here can come after the error quoting it.
			if len(e.held) < cap(e.held) {
				e.held = append(e.held, *n)
			}
		}
		return false // the worker that owns the flow reports it
	}
	if qc != nil {
		fs := e.state(qc)
		if fs.has(fICMPSet) {
			return true // one report per connection
		}
		pr := e.p(fs)
		fs.set(fICMPSet)
		pr.icmpV6, pr.icmpType, pr.icmpCode = v6, n.Type, n.Code
		// The quoted packet came from its sender; the error reports that
		// the other side could not be reached.
		side := "server"
		if !qc.FromOrig(srcIsA) {
			side = "client"
		}
		if reporter == qc.Resp() {
			side = "server"
		} else if reporter == qc.Orig() {
			side = "client"
		}
		target, targetPort, other := qc.Resp(), qc.RespPort(), qc.Orig()
		if side == "client" {
			target, targetPort, other = qc.Orig(), qc.OrigPort(), qc.Resp()
		}
		// A DNS answer bounced by the client's kernel: its resolver had
		// closed the socket.
		dnsBounce := in.Proto == decode.ProtoUDP && in.SrcPort == 53 && reporter == target
		var age int64
		if dnsBounce {
			age = e.queryAge(target, targetPort, ts)
		}
		if dnsBounce && ((age > 0 && age < minResolverTimeout) || e.truncatedTo(target, targetPort, ts) || e.askedOthers(target, targetPort, other, ts)) {
			// Sooner than a resolver gives up, after a truncated answer
			// (the resolver asks again over TCP and closed its UDP
			// socket: glibc), or with its other servers asked at once
			// (musl takes the first answers): the socket was closed for
			// a reason of the resolver's own. Nothing is wrong.
			return true
		}
		b := e.eventStart(qc, NoteICMPUnreachable, ts)
		if b == nil {
			return true
		}
		if dnsBounce {
			b.B = append(b.B, "client "...)
			b.B = appendAddrPort(b.B, target, targetPort)
			b.B = append(b.B, " refused a DNS answer from "...)
			b.B = other.AppendTo(b.B)
			b.B = append(b.B, " with ICMP "...)
			b.B = append(b.B, name...)
			if age > 0 {
				b.B = append(b.B, ", "...)
				b.B = appendDurationWords(b.B, age)
				b.B = append(b.B, " after the query"...)
			}
			b.B = append(b.B, ": its resolver had already closed the socket, having given up waiting for it (a slow DNS server) or taken another server's answer"...)
		} else if reporter == target {
			// The host itself answered with the error: a firewall
			// REJECT, or a closed UDP port.
			b.B = append(b.B, side...)
			b.B = append(b.B, ' ')
			b.B = appendAddrPort(b.B, target, targetPort)
			b.B = append(b.B, " rejected the traffic with ICMP "...)
			b.B = append(b.B, name...)
			if in.Proto == decode.ProtoUDP {
				b.B = append(b.B, " (nothing listens on that UDP port, or a firewall rejects it)"...)
			} else {
				b.B = append(b.B, " (a firewall REJECT rule, e.g. kube-proxy's for a Service with no ready endpoints)"...)
				if e.cfg.Names != nil {
					b.B = e.cfg.Names.AppendConnHint(b.B, target, targetPort, ConnRejected)
				}
			}
		} else {
			b.B = append(b.B, "router "...)
			b.B = reporter.AppendTo(b.B)
			b.B = append(b.B, " reported "...)
			b.B = append(b.B, side...)
			b.B = append(b.B, ' ')
			b.B = appendAddrPort(b.B, target, targetPort)
			b.B = append(b.B, " unreachable: "...)
			b.B = append(b.B, name...)
		}
		b.B = appendSide(b.B, side)
		b.B = appendICMP(b.B, n.Type, n.Code, name)
		e.eventEndName(b, e.icmpPcap(qc, fs, n))
		return true
	}
	// The quoted flow is not in the table: report it from the quote.
	b := e.eventStartTuple(in, NoteICMPUnreachable, ts)
	if b == nil {
		return true
	}
	b.B = reporter.AppendTo(b.B)
	b.B = append(b.B, " reported "...)
	b.B = appendAddrPort(b.B, in.Dst, in.DstPort)
	b.B = append(b.B, " unreachable: "...)
	b.B = append(b.B, name...)
	b.B = appendSide(b.B, "server")
	b.B = appendICMP(b.B, n.Type, n.Code, name)
	e.eventEnd(b)
	return true
}

// icmpPcap gives the ICMP error n its quoted connection's pcap, the
// error last: a connection never past its SYN has it written at once
// (writeStartPcap), any other keeps it in its tail until it ends. It
// returns the name of the file the event names.
func (e *Engine) icmpPcap(c *flowtable.Conn, fs *flowState, n *ICMPNotice) string {
	frame, orig := n.Frame[:n.FrameN], int(n.OrigLen)
	if c.Proto() == decode.ProtoTCP && c.E[1].Pkts() == 0 {
		return e.writeStartPcap(c, fs, NoteICMPUnreachable, n.TS, frame, orig)
	}
	e.keepPcap(c, fs, NoteICMPUnreachable, n.TS)
	if fs.pc.tail != 0 {
		e.tailPut(&fs.pc, n.TS, frame, orig)
	}
	return e.q(fs).pcapName
}

// endFlow writes c's end_flows record, its pending pcap, and removes it.
func (e *Engine) endFlow(c *flowtable.Conn, why int) {
	fs := e.state(c)
	if fs.more&fHeld != 0 {
		e.endVerdicts(c, fs)
	}
	if fs.more&(accWatch|accPub) != 0 {
		// At the capture's end, a connection is not gone: it was
		// still open when it stopped.
		if e.flushing {
			fs.more &^= accWatch | accPub
		} else {
			e.accDone(c, fs, false, e.accEndTS(c))
		}
	}
	if t := e.tlsOf(fs); t != nil && !t.reported && t.pendingRej >= 0 && (t.pendingRej == 1 || !t.est) {
		e.tlsRejected(c, fs, t.pendingRejTS)
	}
	if fs.has(fRefused) {
		e.refused(c, fs, e.q(fs).refusedTS)
	}
	if fs.pk == pkDB {
		e.dbClosed(c, fs, c.Last)
	}
	e.closedAtAccept(c, fs)
	if len(e.dbTLS) > 0 {
		delete(e.dbTLS, keyOf(c))
	}
	for side := range 2 {
		if e.q(fs).zeroFrom[side] != 0 {
			e.zeroWindow(c, fs, side, c.Last, zeroEnded)
		}
		if h := e.q(fs).hole[side]; h.from != 0 {
			e.holeStall(c, fs, side, c.Last, true)
		}
		if e.q(fs).rx[side].n > 0 {
			e.rexmitStall(c, fs, side, c.Last, stallEnded)
		}
	}
	if e.q(fs).pcapName != "" && !fs.has(fPcapDone) {
		e.writePcap(c, fs)
	}
	e.writeFlow(c, fs, why)
	e.proxyEnd(c, fs)
	e.release(fs)
	e.tab.Remove(c)
	e.St.FlowsActive.Add(-1)
}

func (e *Engine) release(fs *flowState) {
	e.dropProto(fs)
	e.freeBuf(fs)
	if fs.prob != 0 {
		e.probs.put(fs.prob)
		fs.prob = 0
	}
}

// iface is where a connection was captured: the link type and the VLAN
// tags of its first packet, and the tunnel it came in, if any (its type,
// VNI and outer endpoints: outerA on the side of the inner key's address
// A). A worker sees a handful (a node sees its peers); connections keep
// a 2-byte index.
type iface struct {
	link   uint16
	vlan   [2]uint16
	nvlan  uint8
	encap  uint8
	vni    uint32
	outerA netip.Addr
	outerB netip.Addr
}

// maxIfaces bounds the interned ifaces; the last few hundred are kept for
// link types without VLAN tags or tunnel (past the bound, a connection's
// tags and tunnel are not recorded).
const maxIfaces = 1<<16 - 512

// linkID interns where p was captured; srcIsA tells which end of its
// connection's key sent it.
func (e *Engine) linkID(linkType int, p *decode.Packet, srcIsA bool) uint16 {
	k := iface{link: uint16(linkType), vlan: p.VLAN, nvlan: p.NVLAN}
	if p.Encap != decode.EncapNone {
		k.encap, k.vni, k.outerA, k.outerB = p.Encap, p.VNI, p.Outer.Src, p.Outer.Dst
		if !srcIsA {
			k.outerA, k.outerB = k.outerB, k.outerA
		}
	}
	return e.intern(k)
}

func (e *Engine) intern(k iface) uint16 {
	if int(e.lastIface) < len(e.ifaces) && e.ifaces[e.lastIface] == k {
		return e.lastIface
	}
	if id, ok := e.ifaceID[k]; ok {
		e.lastIface = id
		return id
	}
	if len(e.ifaces) >= maxIfaces && (k.nvlan > 0 || k.encap != decode.EncapNone) {
		return e.intern(iface{link: k.link})
	}
	if e.ifaceID == nil {
		e.ifaceID = make(map[iface]uint16)
	}
	id := uint16(len(e.ifaces))
	e.ifaces = append(e.ifaces, k)
	e.ifaceID[k] = id
	return id
}

// Protocol state kinds (flowState.pk): a connection has at most one
// protocol parser (its service decides which) or a settled TLS summary.
const (
	pkNone   uint8 = iota
	pkTLS          // Engine.tlss
	pkTLSSum       // Engine.sums: a settled TLS handshake
	pkDNS          // Engine.dnss
	pkHTTP         // Engine.https
	pkDB           // Engine.dbs: PostgreSQL, Redis
)

func (e *Engine) tlsOf(fs *flowState) *tlsState {
	if fs.pk != pkTLS {
		return nil
	}
	return e.tlss.at(fs.px)
}

func (e *Engine) sumOf(fs *flowState) *tlsSummary {
	if fs.pk != pkTLSSum {
		return nil
	}
	return e.sums.at(fs.px)
}

func (e *Engine) dnsOf(fs *flowState) *dnsState {
	if fs.pk != pkDNS {
		return nil
	}
	return e.dnss.at(fs.px)
}

// h2Refused reports whether fs's server answered its client's HTTP/2
// connection preface in HTTP/1.x.
func (e *Engine) h2Refused(fs *flowState) bool {
	h := e.httpOf(fs)
	return h != nil && h.h2c != nil && h.h2c.h1Answer
}

func (e *Engine) httpOf(fs *flowState) *httpState {
	if fs.pk != pkHTTP {
		return nil
	}
	return e.https.at(fs.px)
}

func (e *Engine) newTLS(fs *flowState) *tlsState {
	e.dropProto(fs)
	h, t := e.tlss.get()
	t.reset(&e.pools)
	fs.pk, fs.px = pkTLS, h
	return t
}

func (e *Engine) newDNS(fs *flowState) *dnsState {
	e.dropProto(fs)
	h, d := e.dnss.get()
	*d = dnsState{}
	fs.pk, fs.px = pkDNS, h
	return d
}

func (e *Engine) newHTTP(fs *flowState) *httpState {
	e.dropProto(fs)
	h, st := e.https.get()
	*st = httpState{buf: e.pools.http.get()}
	fs.pk, fs.px = pkHTTP, h
	return st
}

// getH2Conn returns a reset h2c state from the worker's free list.
func (e *Engine) getH2Conn() *h2Conn {
	var h *h2Conn
	if n := len(e.h2cFree); n > 0 {
		h, e.h2cFree = e.h2cFree[n-1], e.h2cFree[:n-1]
	} else {
		h = newH2Conn()
	}
	h.reset()
	return h
}

// dropProto hands the connection's protocol state back to its slab.
func (e *Engine) dropProto(fs *flowState) {
	switch fs.pk {
	case pkTLS:
		e.tlss.at(fs.px).releaseBuffers()
		e.tlss.put(fs.px)
	case pkTLSSum:
		e.sums.put(fs.px)
	case pkDNS:
		e.dnss.put(fs.px)
	case pkDB:
		e.dbs.put(fs.px)
	case pkHTTP:
		h := e.https.at(fs.px)
		e.pools.http.put(h.buf)
		h.buf = nil
		if h.h2c != nil {
			e.h2cFree = append(e.h2cFree, h.h2c)
			h.h2c = nil
		}
		e.https.put(fs.px)
	}
	fs.pk, fs.px = pkNone, 0
}

// uid returns the connection id: deterministic from the tuple and first
// packet time, so it is the same whatever the number of workers.
func uid(dst []byte, c *flowtable.Conn) []byte {
	var b [48]byte
	copy(b[:40], c.Key[:])
	binary.LittleEndian.PutUint64(b[40:], uint64(c.First))
	h := xxhash.Sum64(b[:])
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	dst = append(dst, 'C')
	for i := 0; i < 11; i++ {
		dst = append(dst, alphabet[h%62])
		h /= 62
	}
	return dst
}

func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return b
}

// A connection's notes are bits of problem.events (uint32): this stops
// compiling past 32 notes.
var _ = [1]struct{}{}[numNotes/33]
