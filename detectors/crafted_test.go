package detectors

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/dlltagent/dlltagent/decode"
)

type collect struct{ lines [][]byte }

// with returns the records of note.
func (c *collect) with(note string) []string {
	var got []string
	for _, l := range c.lines {
		if bytes.Contains(l, []byte(`"note":"`+note+`"`)) {
			got = append(got, string(l))
		}
	}
	return got
}

// serializeLayers builds a frame with gopacket, lengths and checksums
// filled in.
func serializeLayers(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// twoWorkers returns two engines joined as a live run's workers are (ICMP
// notices, forwarded packets), each writing into its own collect.
func twoWorkers() ([2]*Engine, [2]*collect) {
	outs := [2]*collect{{}, {}}
	var e [2]*Engine
	inbox := [2]chan ICMPNotice{make(chan ICMPNotice, 8), make(chan ICMPNotice, 8)}
	fwd := []chan Forwarded{make(chan Forwarded, 8), make(chan Forwarded, 8)}
	for i := range e {
		var st Stats
		e[i] = NewEngine(DefaultConfig(), i, outs[i], &st)
		e[i].SetPeers([]chan ICMPNotice{inbox[1-i]}, inbox[i])
		e[i].SetForwardPeers(fwd)
	}
	return e, outs
}

// noteOf returns the note of record line l, or "" when it has none.
func noteOf(l []byte) string {
	i := bytes.Index(l, []byte(`"note":"`))
	if i < 0 {
		return ""
	}
	return string(l[i+8 : i+8+bytes.IndexByte(l[i+8:], '"')])
}

func (c *collect) Send(b *Buffer) bool {
	for _, l := range bytes.Split(b.B, []byte("\n")) {
		if len(l) > 0 {
			c.lines = append(c.lines, append([]byte(nil), l...))
		}
	}
	PutBuffer(b)
	return true
}

// TestDNSOverTCPSeveralMessagesPerSegment: glibc sends its A and AAAA
// queries in one segment over TCP, and a server may answer both in one;
// every message a segment holds is read.
func TestDNSOverTCPSeveralMessagesPerSegment(t *testing.T) {
	msg := func(id uint16, qtype layers.DNSType, answer bool) []byte {
		d := &layers.DNS{ID: id, RD: true, QR: answer, Questions: []layers.DNSQuestion{{Name: []byte("nope.demo.test"), Type: qtype, Class: layers.DNSClassIN}}}
		if answer {
			d.ResponseCode = layers.DNSResponseCodeNXDomain
		}
		buf := gopacket.NewSerializeBuffer()
		if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
	}
	out := replay(t, 53, []seg{
		{true, "S", nil, 1e6},
		{false, "SA", nil, 1e6},
		{true, "A", nil, 1e6},
		{true, "A", append(msg(7, layers.DNSTypeA, false), msg(8, layers.DNSTypeAAAA, false)...), 1e6},
		{false, "A", append(msg(7, layers.DNSTypeA, true), msg(8, layers.DNSTypeAAAA, true)...), 1e6},
	})
	var got []string
	got = append(got, out.with("DNS_ERROR")...)
	if len(got) != 2 || !bytes.Contains([]byte(got[0]), []byte(`"qtype_name":"A"`)) || !bytes.Contains([]byte(got[1]), []byte(`"qtype_name":"AAAA"`)) {
		t.Errorf("want NXDOMAIN events for A and AAAA, got %d:\n%s", len(got), bytes.Join(out.lines, []byte("\n")))
	}
}

// seg is one TCP segment of a crafted conversation, sent gap ns after the
// previous one.
type seg struct {
	client  bool
	flags   string // S, A, F, R; 0: zero window; T: resends its payload (the side's last bytes); G: its payload is lost before the capture (not sent)
	payload []byte
	gap     int64
}

// replay builds a TCP conversation between 198.18.0.2:40000 and
// 198.18.0.1:port from segs with gopacket's layers, runs it through an
// engine and returns the records.
func replay(t *testing.T, port uint16, segs []seg) *collect {
	t.Helper()
	out := &collect{}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, out, &st)
	replayInto(t, e, 40000, port, segs)
	e.Flush()
	return out
}

// replayInto sends the conversation from client port cport into e.
func replayInto(t testing.TB, e *Engine, cport, port uint16, segs []seg) {
	for _, p := range buildSegs(t, max(e.now, int64(1e18)), cport, port, segs) {
		e.Packet(p.ts, 1, p.data, len(p.data))
	}
}

// builtPacket is a frame of a crafted conversation and its time.
type builtPacket struct {
	ts   int64
	data []byte
}

// buildSegs serializes a conversation from client port cport, starting at ts.
func buildSegs(t testing.TB, ts int64, cport, port uint16, segs []seg) []builtPacket {
	var pkts []builtPacket
	cli, srv := net.IPv4(198, 18, 0, 2), net.IPv4(198, 18, 0, 1)
	seq := [2]uint32{1000, 5000}
	for _, sg := range segs {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(cport), DstPort: layers.TCPPort(port), Window: 64000}
		s, a := 0, 1
		if !sg.client {
			ip.SrcIP, ip.DstIP = srv, cli
			tcp.SrcPort, tcp.DstPort = layers.TCPPort(port), layers.TCPPort(cport)
			s, a = 1, 0
		}
		tcp.Seq, tcp.Ack = seq[s], seq[a]
		if strings.Contains(sg.flags, "T") {
			tcp.Seq -= uint32(len(sg.payload))
		}
		for _, f := range sg.flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			case '0':
				tcp.Window = 0
			}
		}
		if sg.flags == "G" {
			seq[s] += uint32(len(sg.payload))
			continue
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(sg.payload)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sg.flags, "T") {
			seq[s] += uint32(len(sg.payload))
		}
		if tcp.SYN || tcp.FIN {
			seq[s]++
		}
		ts += sg.gap
		pkts = append(pkts, builtPacket{ts, append([]byte(nil), buf.Bytes()...)})
	}
	return pkts
}

// TestResetAfterWaitingForResponse: a client (a proxy on its request
// timeout, say) resets a connection whose server has not answered its
// HTTP request for 2 s: the TCP_RESET says how long it waited, for what.
func TestResetAfterWaitingForResponse(t *testing.T) {
	out := replay(t, 80, []seg{
		{true, "S", nil, 1e6},
		{false, "SA", nil, 1e6},
		{true, "A", nil, 1e6},
		{true, "A", []byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6},
		{false, "A", nil, 1e6},
		{true, "RA", nil, 2e9},
	})
	var resets []string
	resets = append(resets, out.with("TCP_RESET")...)
	if len(resets) != 1 || !strings.Contains(resets[0], "it had waited 2.0 s for an answer to GET /slow HTTP/1.1") {
		t.Errorf("TCP_RESET events: %q", resets)
	}
}

// TestZeroWindowOngoing: a server that never reads again keeps
// advertising a zero window while the client probes it; the stall is
// reported once it has lasted 5 s, without waiting for a window that
// will not open.
func TestZeroWindowOngoing(t *testing.T) {
	segs := []seg{
		{true, "S", nil, 1e6},
		{false, "SA", nil, 1e6},
		{true, "A", nil, 1e6},
		{true, "A", bytes.Repeat([]byte("x"), 1000), 1e6},
	}
	for i := 0; i < 8; i++ { // the server's zero-window ACKs answering probes, 1 s apart
		segs = append(segs, seg{false, "A0", nil, 1e9})
	}
	out := replay(t, 7001, segs)
	var got []string
	got = append(got, out.with("TCP_ZERO_WINDOW")...)
	if len(got) != 1 || !strings.Contains(got[0], "for 5.0 s so far") || !strings.Contains(got[0], `"side":"server"`) {
		t.Errorf("TCP_ZERO_WINDOW events: %q", got)
	}
}

// TestRetransmissionStall: data resent on retransmission timeouts until
// acknowledged 1.4 s later is a TCP_RETRANSMISSIONS (small segments: loss,
// not the MTU); losses repaired within a round trip while the
// acknowledgements advance, and keep-alive probes of acknowledged data,
// are not.
func TestRetransmissionStall(t *testing.T) {
	hs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6}}
	data := bytes.Repeat([]byte("x"), 1000)
	stall := append(append([]seg(nil), hs...),
		seg{false, "A", data, 1e6},
		seg{false, "AT", data, 200e6},
		seg{false, "AT", data, 400e6},
		seg{false, "AT", data, 800e6},
		seg{true, "A", nil, 1e6},
		seg{true, "AF", nil, 1e6}, seg{false, "AF", nil, 1e6}, seg{true, "A", nil, 1e6})
	steady := append([]seg(nil), hs...)
	for i := 0; i < 12; i++ {
		steady = append(steady, seg{false, "A", data, 1e6}, seg{false, "A", data, 1e6}, seg{false, "AT", data, 30e6}, seg{true, "A", nil, 20e6}, seg{true, "A", nil, 200e6})
	}
	// Windows-style keep-alive probes: the last byte again, already
	// acknowledged.
	steady = append(steady, seg{true, "A", []byte("z"), 2e9}, seg{false, "A", nil, 1e6})
	for i := 0; i < 4; i++ {
		steady = append(steady, seg{true, "AT", []byte("z"), 2e9}, seg{false, "A", nil, 1e6})
	}
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"stall", stall, "server 198.18.0.1 resent data to client 198.18.0.2:40000 3 times over 1.2 s before it was acknowledged: packets (or their acknowledgements) are being lost on the way"},
		{"steady loss", steady, ""},
	} {
		out := replay(t, 8080, tc.segs)
		var got []string
		got = append(got, out.with("TCP_RETRANSMISSIONS")...)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected %s", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: got %q, want one with %q", tc.name, got, tc.want)
		}
	}
}

// TestResetAfterClose: a server resets data that reached it after it had
// closed the connection (the keep-alive race); not when the client had
// closed too, or when the server took the data (a half-close). TLS:
// TestKeepAliveRace in pipeline.
func TestResetAfterClose(t *testing.T) {
	req := []byte("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tc := range []struct {
		name  string
		first []byte // the client's first payload
		tail  []seg  // after the server's FIN
		want  string // sent_after_close, "" for no event
	}{
		{"request after the FIN", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []seg{{true, "A", nil, 1e6}, {true, "A", req, 5e8}, {false, "R", nil, 1e5}}, `"sent_after_close":32`},
		{"request crossing the FIN", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []seg{{true, "A", req, 1e4}, {false, "R", nil, 1e5}}, `"sent_after_close":32`},
		{"the client closed too", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []seg{{true, "FA", nil, 1e6}, {false, "R", nil, 1e5}}, ""},
		{"a half-close: the server took the data", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []seg{{true, "A", req, 1e6}, {false, "A", nil, 1e5}, {false, "R", nil, 1e9}}, ""},
	} {
		segs := []seg{
			{true, "S", nil, 1e6},
			{false, "SA", nil, 1e6},
			{true, "A", nil, 1e6},
			{true, "A", tc.first, 1e6},
			{false, "A", []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 1e6},
			{true, "A", nil, 1e6},
			{false, "FA", nil, 1e9},
		}
		out := replay(t, 8082, append(segs, tc.tail...))
		var got []string
		for _, l := range out.lines {
			if bytes.Contains(l, []byte(`"note":"`)) {
				got = append(got, string(l))
			}
		}
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: want no event, got %q", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want) || !strings.Contains(got[0], `"side":"server"`)):
			t.Errorf("%s: want one TCP_RESET with %s, got %q", tc.name, tc.want, got)
		}
	}
}

// TestICMPFragmentationNeeded: a router's "fragmentation needed" is path
// MTU discovery at work, not an unreachable server; its "communication
// administratively prohibited" is.
func TestICMPFragmentationNeeded(t *testing.T) {
	for _, tc := range []struct {
		code uint8
		want bool
	}{{4, false}, {13, true}} {
		out := &collect{}
		var st Stats
		e := NewEngine(DefaultConfig(), 0, out, &st)
		pkts := buildSegs(t, 1e18, 40000, 443, []seg{
			{true, "S", nil, 1e6},
			{false, "SA", nil, 1e6},
			{true, "A", nil, 1e6},
			{true, "A", make([]byte, 1400), 1e6},
		})
		for _, p := range pkts {
			e.Packet(p.ts, 1, p.data, len(p.data))
		}
		// The router quotes the client's data segment: its IP header and
		// the first 8 bytes of TCP.
		quoted := pkts[3].data[14 : 14+20+8]
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(198, 18, 0, 9), DstIP: net.IPv4(198, 18, 0, 2)}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, tc.code), Seq: 1400} // Seq: the next-hop MTU field
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, gopacket.Payload(quoted)); err != nil {
			t.Fatal(err)
		}
		e.Packet(pkts[3].ts+1e6, 1, buf.Bytes(), len(buf.Bytes()))
		e.Flush()
		got := false
		for _, l := range out.lines {
			got = got || bytes.Contains(l, []byte(`"note":"ICMP_UNREACHABLE"`))
		}
		if got != tc.want {
			t.Errorf("code %d: ICMP_UNREACHABLE %v, want %v\n%s", tc.code, got, tc.want, bytes.Join(out.lines, []byte("\n")))
		}
	}
}

// TestResetNothingSent: a reset right after the handshake reads as a
// health check when the client sends it, as an abort at accept when the
// server does.
func TestResetNothingSent(t *testing.T) {
	for _, tc := range []struct {
		client bool
		want   string
	}{{true, "health check resets like this"}, {false, "the server reset the connection it had just accepted"}} {
		out := replay(t, 8080, []seg{
			{true, "S", nil, 1e6},
			{false, "SA", nil, 1e6},
			{true, "A", nil, 1e6},
			{tc.client, "RA", nil, 1e6},
		})
		var got []string
		got = append(got, out.with("TCP_RESET")...)
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("client %v: want one TCP_RESET saying %q, got %q", tc.client, tc.want, got)
		}
	}
}

// TestICMPBeforeForwardedDNS: live, with two workers, a DNS query read by
// one worker is forwarded to the worker that owns DNS between the two
// addresses; the ICMP port unreachable quoting it can reach that owner
// first. The owner keeps the error and reports it once the query is in.
func TestICMPBeforeForwardedDNS(t *testing.T) {
	cli, srv := net.IPv4(198, 18, 0, 2), net.IPv4(198, 18, 0, 1)
	eth := func(src, dst net.HardwareAddr) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	}
	a, b := net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 1}
	serialize := func(ls ...gopacket.SerializableLayer) []byte { return serializeLayers(t, ls...) }
	dns := &layers.DNS{ID: 7, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("www.demo.test"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: cli, DstIP: srv}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	udp.SetNetworkLayerForChecksum(ip)
	query := serialize(eth(a, b), ip, udp, dns)
	quoted := query[14 : 14+20+8]
	icmp := serialize(eth(b, a), &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: srv, DstIP: cli},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(quoted))

	owner := DNSOwner(decode.Tuple{Src: netip.AddrFrom4([4]byte{198, 18, 0, 2}), Dst: netip.AddrFrom4([4]byte{198, 18, 0, 1}), SrcPort: 40000, DstPort: 53}, 2)
	e, outs := twoWorkers()
	const ts = int64(1e18)
	e[1-owner].Packet(ts, 1, query, len(query))  // read by the other worker: forwarded
	e[owner].Packet(ts+50e3, 1, icmp, len(icmp)) // the error reaches the owner first
	e[1-owner].DrainInbox()
	e[owner].DrainInbox() // the forwarded query, then the kept error
	for i := range e {
		e[i].Flush()
	}
	var notes []string
	for _, o := range outs {
		for _, l := range o.lines {
			if n := noteOf(l); n != "" {
				notes = append(notes, n)
			}
		}
	}
	if strings.Join(notes, ",") != "ICMP_UNREACHABLE" {
		t.Errorf("events %v, want one ICMP_UNREACHABLE", notes)
	}
}

// TestClosedAtAccept: a server that accepts a connection and closes it
// within a few milliseconds without a byte is reported, whether the client
// sent nothing (it waits for the greeting of a server-first protocol) or a
// request it got no answer to; not a server closing a connection left
// unused for 3 s (an idle timeout), nor a client closing first, nor a
// server that answered.
func TestClosedAtAccept(t *testing.T) {
	hs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
	for _, tc := range []struct {
		name string
		segs []seg
		want string // in the msg; "" for no event
	}{
		{"server-first, nothing sent", []seg{{false, "FA", nil, 1e6}, {true, "FA", nil, 1e6}, {false, "A", nil, 1e6}}, "the client sent nothing either"},
		{"a request unanswered", []seg{{true, "PA", []byte("PING\r\n"), 1e6}, {false, "FA", nil, 1e5}, {true, "FA", nil, 1e6}, {false, "A", nil, 1e6}}, "first 6 bytes unanswered"},
		{"idle 3 s, then closed", []seg{{false, "FA", nil, 3e9}, {true, "FA", nil, 1e6}, {false, "A", nil, 1e6}}, ""},
		{"client closes first", []seg{{true, "FA", nil, 1e6}, {false, "FA", nil, 1e6}, {true, "A", nil, 1e6}}, ""},
		{"answered", []seg{{false, "PA", []byte("220 ready\r\n"), 1e6}, {false, "FA", nil, 1e6}, {true, "FA", nil, 1e6}}, ""},
	} {
		out := replay(t, 3306, append(append([]seg(nil), hs...), tc.segs...))
		var got []string
		for _, l := range out.lines {
			if n := noteOf(l); n != "" {
				got = append(got, string(l))
			}
		}
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: want no event, got %q", tc.name, got)
		case tc.want != "" && (len(got) != 1 || noteOf([]byte(got[0])) != "TCP_CLOSED_AT_ACCEPT" || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: want one TCP_CLOSED_AT_ACCEPT saying %q, got %q", tc.name, tc.want, got)
		}
	}
}

// TestHelloNeverArrived: a client's ClientHello, two packets long, is
// never acknowledged (dropped on the way); the client resends it, then
// gives up with a reset. Its TLS_HANDSHAKE_ABORTED says the hello was
// lost, not that the server left it unanswered; with a hello that was
// acknowledged, it is the server's silence.
func TestHelloNeverArrived(t *testing.T) {
	hello := make([]byte, 1500)
	copy(hello, []byte{0x16, 0x03, 0x01, 0x05, 0xd7, 0x01, 0x00, 0x05, 0xd3, 0x03, 0x03})
	hs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}, {true, "A", hello, 1e6}}
	lost := append(append([]seg(nil), hs...), seg{true, "AT", hello, 200e6}, seg{true, "AT", hello, 400e6}, seg{true, "AT", hello, 800e6}, seg{true, "R", nil, 9e9})
	acked := append(append([]seg(nil), hs...), seg{false, "A", nil, 1e6}, seg{true, "R", nil, 10e9})
	for _, tc := range []struct {
		name string
		segs []seg
		want string
	}{
		{"lost", lost, "reset the connection (RST) during the TLS handshake without an alert (after 10.4 s of trying to deliver its ClientHello, which the server's kernel never acknowledged in full: it was lost on the way, not left unanswered; the data is its TLS ClientHello (1495 bytes, more than one packet: a post-quantum key share, X25519MLKEM768"},
		{"acked", acked, "after waiting 10.0 s for an answer to its ClientHello: the server accepted the TCP connection but sent nothing"},
	} {
		out := replay(t, 443, tc.segs)
		var got []string
		got = append(got, out.with("TLS_HANDSHAKE_ABORTED")...)
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: got %q, want one with %q", tc.name, got, tc.want)
		}
	}
}

// TestHoleCaptureLoss: bytes the capture missed but the receiver got (its
// acknowledgement moves past them) are not a loss on the way, however
// long the connection then lasts.
func TestHoleCaptureLoss(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1448)
	segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
		{true, "G", data, 1e6}, {true, "A", []byte("tail"), 1e6}, {false, "A", nil, 1e6},
		{true, "A", []byte("more"), 3e9}, {false, "A", nil, 1e6},
		{true, "AF", nil, 1e6}, {false, "AF", nil, 1e6}, {true, "A", nil, 1e6}}
	out := replay(t, 8080, segs)
	for _, l := range out.lines {
		if noteOf(l) != "" {
			t.Errorf("unexpected %s", l)
		}
	}
}
