package detectors

import (
	"net/netip"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/communityid"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

func protoName(p uint8) string {
	switch p {
	case decode.ProtoTCP:
		return "tcp"
	case decode.ProtoUDP:
		return "udp"
	case decode.ProtoICMP, decode.ProtoICMPv6:
		return "icmp"
	}
	return "unknown"
}

func appendConnID(dst []byte, c *flowtable.Conn) []byte {
	dst = append(dst, `,"uid":"`...)
	dst = uid(dst, c)
	dst = append(dst, `","community_id":"`...)
	dst = appendCommunityID(dst, c.Orig(), c.Resp(), c.OrigPort(), c.RespPort(), c.Proto())
	dst = append(dst, `","id.orig_h":`...)
	dst = jsonw.Addr(dst, c.Orig())
	dst = append(dst, `,"id.orig_p":`...)
	dst = jsonw.Uint(dst, uint64(c.OrigPort()))
	dst = append(dst, `,"id.resp_h":`...)
	dst = jsonw.Addr(dst, c.Resp())
	dst = append(dst, `,"id.resp_p":`...)
	dst = jsonw.Uint(dst, uint64(c.RespPort()))
	dst = append(dst, `,"proto":"`...)
	dst = append(dst, protoName(c.Proto())...)
	return append(dst, '"')
}

func appendCommunityID(dst []byte, o, r netip.Addr, op, rp uint16, proto uint8) []byte {
	oneWay := false
	if proto == decode.ProtoICMP || proto == decode.ProtoICMPv6 {
		if _, two := flowtable.ICMPCounterpart(proto, uint8(op)); !two {
			oneWay = true
		}
	}
	return communityid.Append(dst, 0, o, r, op, rp, proto, oneWay)
}

// eventStart opens a netevent for connection c up to the open "msg"
// string; it returns nil when the rate limiter folds the event into a
// summary.
func (e *Engine) eventStart(c *flowtable.Conn, note int, ts int64) *Buffer {
	fs := e.state(c)
	e.p(fs).events |= 1 << note
	if !e.rl.allow(e, note, c.Resp(), ts) {
		return nil
	}
	return e.eventBuild(c, note, ts)
}

// dnsEventStart is eventStart for a DNS event about name: each name has
// its own share of the rate limit (allowDNS).
func (e *Engine) dnsEventStart(c *flowtable.Conn, note int, name []byte, ts int64) *Buffer {
	fs := e.state(c)
	e.p(fs).events |= 1 << note
	if !e.rl.allowDNS(e, note, c.Resp(), name, ts) {
		return nil
	}
	return e.eventBuild(c, note, ts)
}

// eventBuild opens a netevent line for c without rate-limiting it or
// marking the connection (for an event that may be dropped).
func (e *Engine) eventBuild(c *flowtable.Conn, note int, ts int64) *Buffer {
	b := GetBuffer(KindEvent)
	b.B = append(b.B, `{"ts":`...)
	b.B = jsonw.Seconds(b.B, ts)
	b.B = appendConnID(b.B, c)
	b.B = e.appendNames(b.B, c.Orig(), c.Resp())
	b.B = e.appendEncap(b.B, c, e.state(c))
	b.B = e.appendProxy(b.B, c, e.state(c))
	b.B = append(b.B, `,"note":"`...)
	b.B = append(b.B, noteNames[note]...)
	b.B = append(b.B, `","msg":"`...)
	return b
}

// appendEncap adds the tunnel c came in (a capture on a node's uplink):
// its type, its identifier (VXLAN and Geneve "vni", GRE "key", ERSPAN
// "session") and its outer endpoints on the originator's and the
// responder's side.
func (e *Engine) appendEncap(dst []byte, c *flowtable.Conn, fs *flowState) []byte {
	l := &e.ifaces[fs.link]
	if l.encap == decode.EncapNone {
		return dst
	}
	o, r := l.outerA, l.outerB
	if !c.FromOrig(true) {
		o, r = r, o
	}
	dst = append(dst, `,"tunnel":{"type":"`...)
	dst = append(dst, decode.EncapName(l.encap)...)
	dst = append(dst, '"')
	switch l.encap {
	case decode.EncapVXLAN, decode.EncapGeneve:
		dst = append(dst, `,"vni":`...)
		dst = jsonw.Uint(dst, uint64(l.vni))
	case decode.EncapGRE:
		if l.vni != 0 {
			dst = append(dst, `,"key":`...)
			dst = jsonw.Uint(dst, uint64(l.vni))
		}
	case decode.EncapERSPAN:
		dst = append(dst, `,"session":`...)
		dst = jsonw.Uint(dst, uint64(l.vni))
	}
	dst = append(dst, `,"outer_orig_h":`...)
	dst = jsonw.Addr(dst, o.Unmap())
	dst = append(dst, `,"outer_resp_h":`...)
	dst = jsonw.Addr(dst, r.Unmap())
	return append(dst, '}')
}

// eventStartTuple opens a netevent for a tuple with no connection record.
func (e *Engine) eventStartTuple(t decode.Tuple, note int, ts int64) *Buffer {
	if !e.rl.allow(e, note, t.Dst, ts) {
		return nil
	}
	b := GetBuffer(KindEvent)
	b.B = append(b.B, `{"ts":`...)
	b.B = jsonw.Seconds(b.B, ts)
	var k [48]byte
	a16, b16 := t.Src.As16(), t.Dst.As16()
	copy(k[0:16], a16[:])
	copy(k[16:32], b16[:])
	h := xxhash.Sum64(k[:])
	b.B = append(b.B, `,"uid":"X`...)
	b.B = jsonw.Uint(b.B, h%1e12)
	b.B = append(b.B, `","community_id":"`...)
	b.B = appendCommunityID(b.B, t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto)
	b.B = append(b.B, `","id.orig_h":`...)
	b.B = jsonw.Addr(b.B, t.Src.Unmap())
	b.B = append(b.B, `,"id.orig_p":`...)
	b.B = jsonw.Uint(b.B, uint64(t.SrcPort))
	b.B = append(b.B, `,"id.resp_h":`...)
	b.B = jsonw.Addr(b.B, t.Dst.Unmap())
	b.B = append(b.B, `,"id.resp_p":`...)
	b.B = jsonw.Uint(b.B, uint64(t.DstPort))
	b.B = append(b.B, `,"proto":"`...)
	b.B = append(b.B, protoName(t.Proto)...)
	b.B = append(b.B, '"')
	b.B = e.appendNames(b.B, t.Src, t.Dst)
	b.B = append(b.B, `,"note":"`...)
	b.B = append(b.B, noteNames[note]...)
	b.B = append(b.B, `","msg":"`...)
	return b
}

// appendSide closes the msg string and adds "side".
func appendSide(dst []byte, side string) []byte {
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	return append(dst, '"')
}

func appendICMP(dst []byte, typ, code uint8, name string) []byte {
	dst = append(dst, `,"icmp":{"type":`...)
	dst = jsonw.Uint(dst, uint64(typ))
	dst = append(dst, `,"code":`...)
	dst = jsonw.Uint(dst, uint64(code))
	dst = append(dst, `,"name":`...)
	dst = jsonw.String(dst, name)
	return append(dst, '}')
}

func appendAddrPort(dst []byte, a netip.Addr, p uint16) []byte {
	if a.Is6() && !a.Is4In6() {
		dst = append(dst, '[')
		dst = a.AppendTo(dst)
		dst = append(dst, ']')
	} else {
		dst = a.Unmap().AppendTo(dst)
	}
	if p != 0 {
		dst = append(dst, ':')
		dst = jsonw.Uint(dst, uint64(p))
	}
	return dst
}

func appendUint(dst []byte, v uint64) []byte { return jsonw.Uint(dst, v) }

// appendDurationWords writes d like "3.0 s" or "250 ms".
func appendDurationWords(dst []byte, d int64) []byte {
	d = max(d, 0)
	// Under a millisecond (a server closing as a request comes): "0.6 ms",
	// "0.05 ms", not "1 ms" or "0 ms".
	if t := (d + 5e4) / 1e5; t >= 1 && t <= 9 {
		return append(dst, '0', '.', byte('0'+t), ' ', 'm', 's')
	} else if h := (d + 5e3) / 1e4; t == 0 && h >= 1 {
		return append(dst, '0', '.', '0', byte('0'+h), ' ', 'm', 's')
	}
	if d < int64(999500*time.Microsecond) {
		dst = jsonw.Uint(dst, uint64((d+5e5)/1e6))
		return append(dst, " ms"...)
	}
	// Rounded to the tenth, not cut: a wait of 1.497 s is "1.5 s", as
	// a 1.5 s deadline sent as "1499873u" is.
	t := d/1e8 + (d%1e8+5e7)/1e8
	dst = jsonw.Uint(dst, uint64(t/10))
	dst = append(dst, '.')
	dst = append(dst, byte('0'+t%10))
	return append(dst, " s"...)
}

// appendText appends b escaped for the inside of a JSON string.
func appendText(dst []byte, b []byte) []byte { return jsonw.Escaped(dst, b) }

// appendNames adds what the two ends of a connection are, when
// Config.Names knows them.
func (e *Engine) appendNames(dst []byte, o, r netip.Addr) []byte {
	if e.cfg.Names == nil {
		return dst
	}
	if j := e.cfg.Names.Lookup(o); j != nil {
		dst = append(dst, `,"k8s.orig":`...)
		dst = append(dst, j...)
	}
	if j := e.cfg.Names.Lookup(r); j != nil {
		dst = append(dst, `,"k8s.resp":`...)
		dst = append(dst, j...)
	}
	return dst
}

func (e *Engine) appendExtra(dst []byte) []byte {
	if e.cfg.Extra != nil {
		if x := e.cfg.Extra.Load(); x != nil {
			dst = append(dst, *x...)
		}
	}
	return dst
}

func (e *Engine) eventEnd(b *Buffer) {
	e.eventFinish(b)
	e.eventSend(b)
}

// eventSend counts a finished event line and hands it to the output.
func (e *Engine) eventSend(b *Buffer) {
	e.St.Events.Add(1)
	e.emit(b)
}

// eventFinish ends an event line without sending it.
func (e *Engine) eventFinish(b *Buffer) {
	b.B = e.appendExtra(b.B)
	b.B = append(b.B, '}', '\n')
}

func (e *Engine) eventEndPcap(b *Buffer, fs *flowState) { e.eventEndName(b, e.q(fs).pcapName) }

// eventEndName ends an event that names pcap file name ("": none).
func (e *Engine) eventEndName(b *Buffer, name string) {
	if name != "" {
		b.B = append(b.B, `,"pcap":`...)
		b.B = jsonw.String(b.B, name)
	}
	e.eventEnd(b)
}

func (e *Engine) appendTLS(dst []byte, c *flowtable.Conn, t *tlsState, withEst bool) []byte {
	v := tlsView{version: t.version, offered: t.offered, sni: t.SNI(), est: t.est && !(t.reported && t.pendingRej == 1), hrr: t.hrr, resumed: t.resumed && t.est, hsNS: -1, cert: t.clientCert()}
	if t.est && t.chTS != 0 {
		v.hsNS = t.estTS - t.chTS
	}
	dst = appendTLSView(dst, &v, withEst)
	if t.alertSet || (t.reported && t.pendingRej >= 0) {
		dst = appendAlert(dst, t)
	}
	return append(dst, '}')
}

// tlsView is what a record says of a handshake, from the parser's state or
// from a settled connection's summary.
type tlsView struct {
	version, offered uint16
	sni              []byte
	est, hrr         bool
	resumed          bool
	hsNS             int64 // handshake time, -1 unknown
	cert             int8  // tlsState.clientCert
}

// appendTLSView opens the "tls" object (the caller closes it).
func appendTLSView(dst []byte, v *tlsView, withEst bool) []byte {
	dst = append(dst, `,"tls":{"version":`...)
	if v.version == 0 {
		dst = append(dst, `null`...)
	} else {
		dst = jsonw.String(dst, TLSVersionName(v.version))
	}
	if v.offered != 0 {
		dst = append(dst, `,"client_version":`...)
		dst = jsonw.String(dst, TLSVersionName(v.offered))
	}
	if len(v.sni) > 0 {
		dst = append(dst, `,"server_name":`...)
		dst = jsonw.Bytes(dst, v.sni)
	}
	switch v.cert {
	case 0:
		dst = append(dst, `,"client_certificate":"sent"`...)
	case 1:
		dst = append(dst, `,"client_certificate":"none"`...)
	}
	if withEst {
		dst = append(dst, `,"established":`...)
		dst = jsonw.Bool(dst, v.est)
		if v.hsNS >= 0 {
			dst = append(dst, `,"handshake_ms":`...)
			dst = jsonw.Millis(dst, v.hsNS)
		}
		if v.hrr {
			dst = append(dst, `,"hello_retry":true`...)
		}
		if v.resumed {
			dst = append(dst, `,"resumed":true`...)
		}
	}
	return dst
}

func appendAlert(dst []byte, t *tlsState) []byte {
	dst = append(dst, `,"alert":{`...)
	if t.alertSet && !t.alertEnc {
		dst = append(dst, `"code":`...)
		dst = jsonw.Uint(dst, uint64(t.alertCode))
		dst = append(dst, `,"name":`...)
		dst = jsonw.String(dst, AlertName(t.alertCode))
		dst = append(dst, `,"level":`...)
		if t.alertLevel == 2 {
			dst = append(dst, `"fatal"`...)
		} else {
			dst = append(dst, `"warning"`...)
		}
		dst = append(dst, `,"encrypted":false`...)
	} else {
		dst = append(dst, `"code":null,"name":"encrypted_alert","level":"fatal","encrypted":true`...)
	}
	side := t.alertSide
	if !t.alertSet {
		side = t.pendingRej
	}
	dst = append(dst, `,"from":`...)
	if side == 0 {
		dst = append(dst, `"client"`...)
	} else {
		dst = append(dst, `"server"`...)
	}
	return append(dst, '}')
}

// writeFlow encodes c's end_flows record.
func (e *Engine) writeFlow(c *flowtable.Conn, fs *flowState, why int) {
	// Encoded straight into the batch: nothing in here emits a record.
	b := e.batch(KindFlow)
	d := b.B
	d = append(d, `{"ts":`...)
	d = jsonw.Seconds(d, c.First)
	d = appendConnID(d, c)
	d = e.appendNames(d, c.Orig(), c.Resp())
	if svcNames[fs.service] != "" {
		d = append(d, `,"service":"`...)
		d = append(d, svcNames[fs.service]...)
		d = append(d, '"')
	}
	d = append(d, `,"duration":`...)
	d = jsonw.Seconds(d, c.Duration())
	d = append(d, `,"orig_bytes":`...)
	d = jsonw.Uint(d, c.Size(0))
	d = append(d, `,"resp_bytes":`...)
	d = jsonw.Uint(d, c.Size(1))
	d = append(d, `,"conn_state":"`...)
	d = append(d, c.ConnState()...)
	d = append(d, `","history":`...)
	d = jsonw.Bytes(d, c.History())
	d = append(d, `,"orig_pkts":`...)
	d = jsonw.Uint(d, c.E[0].Pkts())
	d = append(d, `,"orig_ip_bytes":`...)
	d = jsonw.Uint(d, c.E[0].IPBytes())
	d = append(d, `,"resp_pkts":`...)
	d = jsonw.Uint(d, c.E[1].Pkts())
	d = append(d, `,"resp_ip_bytes":`...)
	d = jsonw.Uint(d, c.E[1].IPBytes())
	d = append(d, `,"end_ts":`...)
	d = jsonw.Seconds(d, c.Last)
	d = append(d, `,"end_reason":"`...)
	d = append(d, e.endReason(c, fs, why)...)
	d = append(d, `","midstream":`...)
	d = jsonw.Bool(d, c.Midstream)
	if c.Proto() == decode.ProtoTCP && c.SynTS() != 0 && c.SynAckTS() != 0 && c.AckTS() != 0 {
		d = append(d, `,"tcp_rtt_ms":`...)
		d = jsonw.Millis(d, c.AckTS()-c.SynTS())
		d = append(d, `,"tcp_rtt_synack_ms":`...)
		d = jsonw.Millis(d, max(0, c.SynAckTS()-c.SynTS()))
		d = append(d, `,"tcp_rtt_ackdat_ms":`...)
		d = jsonw.Millis(d, min(c.AckTS()-c.SynTS(), c.AckTS()-c.SynAckTS()))
	}
	if t := e.tlsOf(fs); t != nil && (t.chTS != 0 || t.shSeen) {
		d = e.appendTLS(d, c, t, true)
	} else if s := e.sumOf(fs); s != nil && s.set() {
		d = e.appendTLSSummary(d, s, true)
	}
	if db := e.dbOf(fs); db != nil && (db.user != 0 || db.dbname != 0) {
		d = e.appendDBNames(d, db)
	}
	if fs.has(fICMPSet) {
		d = append(d, `,"icmp_unreachable":{"type":`...)
		d = jsonw.Uint(d, uint64(e.q(fs).icmpType))
		d = append(d, `,"code":`...)
		d = jsonw.Uint(d, uint64(e.q(fs).icmpCode))
		d = append(d, `,"name":`...)
		d = jsonw.String(d, ICMPUnreachName(e.q(fs).icmpV6, e.q(fs).icmpCode))
		d = append(d, '}')
	}
	if e.q(fs).events != 0 {
		d = append(d, `,"notes":[`...)
		first := true
		for n := 0; n < numNotes; n++ {
			if e.q(fs).events&(1<<n) != 0 {
				if !first {
					d = append(d, ',')
				}
				first = false
				d = append(d, '"')
				d = append(d, noteNames[n]...)
				d = append(d, '"')
			}
		}
		d = append(d, ']')
	}
	if l := &e.ifaces[fs.link]; l.nvlan > 0 {
		d = append(d, `,"vlan":`...)
		d = jsonw.Uint(d, uint64(l.vlan[0]))
		if l.nvlan > 1 {
			d = append(d, `,"inner_vlan":`...)
			d = jsonw.Uint(d, uint64(l.vlan[1]))
		}
	}
	d = e.appendEncap(d, c, fs)
	d = e.appendProxy(d, c, fs)
	if e.q(fs).pcapName != "" && fs.has(fPcapDone) {
		d = append(d, `,"pcap":`...)
		d = jsonw.String(d, e.q(fs).pcapName)
	}
	d = e.appendExtra(d)
	d = append(d, '}', '\n')
	b.B = d
	e.emitted(KindFlow)
}

func (e *Engine) endReason(c *flowtable.Conn, fs *flowState, why int) string {
	if c.Proto() == decode.ProtoTCP {
		switch {
		case fs.has(fTLSFatal):
			return "tls_alert"
		case fs.firstRST == 1:
			return "rst_orig"
		case fs.firstRST == 2:
			return "rst_resp"
		case c.E[0].FINs() > 0 && c.E[1].FINs() > 0:
			return "fin"
		}
	}
	if why == endIdle {
		return "idle_timeout"
	}
	return "capture_end"
}

// appendTLSSummary encodes a settled handshake as appendTLS would have.
func (e *Engine) appendTLSSummary(dst []byte, s *tlsSummary, withEst bool) []byte {
	v := tlsView{version: s.version, offered: s.offered, est: true, hrr: s.hrr(), resumed: s.hs&sumResumed != 0, hsNS: s.hsNS(), cert: s.clientCert()}
	if s.sni != 0 {
		v.sni = e.sniNames[s.sni-1]
	}
	return append(appendTLSView(dst, &v, withEst), '}')
}

// batchBytes is the size at which a worker hands its pending records of
// one kind to the sink; Advance hands over partly filled ones every
// outputEvery, Flush all. One channel operation (and at most one wake-up
// of the sink) per batch instead of per record.
const batchBytes = 64 << 10

// emit queues an encoded netevent or end_flows record.
func (e *Engine) emit(b *Buffer) {
	k := b.Kind
	p := e.batch(k)
	p.B = append(p.B, b.B...)
	PutBuffer(b)
	e.emitted(k)
}

// batch returns the buffer gathering records of kind k. A record may be
// appended to it directly (then emitted) when nothing else can be
// written to that kind while it is encoded.
func (e *Engine) batch(k int) *Buffer {
	if e.pend[k] == nil {
		e.pend[k] = getBatch(k)
	}
	return e.pend[k]
}

// emitted counts a record appended to batch(k) and hands the batch over
// once it is full.
func (e *Engine) emitted(k int) {
	e.pendN[k]++
	if len(e.pend[k].B) >= batchBytes {
		e.flushKind(k)
	}
}

// FlushOutput hands the records encoded so far to the sink.
func (e *Engine) FlushOutput() {
	e.flushKind(KindEvent)
	e.flushKind(KindFlow)
}

func (e *Engine) flushKind(k int) {
	p := e.pend[k]
	if p == nil {
		return
	}
	n := e.pendN[k]
	e.pend[k], e.pendN[k] = nil, 0
	if !e.out.Send(p) {
		e.St.QueueDrops.Add(uint64(n)) // counted in records
		PutBuffer(p)
	}
}

// appendDBNames appends a database or broker connection's user and
// database (AMQP: vhost), from the client's login, as "db".
func (e *Engine) appendDBNames(d []byte, db *dbState) []byte {
	d = append(d, `,"db":{`...)
	if db.user != 0 {
		d = append(d, `"user":`...)
		d = jsonw.Bytes(d, e.dbNames[db.user-1])
	}
	if db.dbname != 0 {
		if db.user != 0 {
			d = append(d, ',')
		}
		if db.kind == svcAMQP {
			d = append(d, `"vhost":`...)
		} else {
			d = append(d, `"database":`...)
		}
		d = jsonw.Bytes(d, e.dbNames[db.dbname-1])
	}
	return append(d, '}')
}
