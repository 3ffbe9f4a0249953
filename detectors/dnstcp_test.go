package detectors

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

type collect struct{ lines [][]byte }

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
	cli, srv := net.IPv4(198, 18, 0, 2), net.IPv4(198, 18, 0, 1)
	var seq = [2]uint32{1000, 5000}
	pkt := func(fromClient bool, flags string, payload []byte) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 53, Window: 64000}
		s, a := 0, 1
		if !fromClient {
			ip.SrcIP, ip.DstIP = srv, cli
			tcp.SrcPort, tcp.DstPort = 53, 40000
			s, a = 1, 0
		}
		tcp.Seq, tcp.Ack = seq[s], seq[a]
		for _, f := range flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			}
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		seq[s] += uint32(len(payload))
		if tcp.SYN {
			seq[s]++
		}
		return buf.Bytes()
	}
	out := &collect{}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, out, &st)
	ts := int64(1e18)
	for _, p := range []struct {
		client  bool
		flags   string
		payload []byte
	}{
		{true, "S", nil},
		{false, "SA", nil},
		{true, "A", nil},
		{true, "A", append(msg(7, layers.DNSTypeA, false), msg(8, layers.DNSTypeAAAA, false)...)},
		{false, "A", append(msg(7, layers.DNSTypeA, true), msg(8, layers.DNSTypeAAAA, true)...)},
	} {
		ts += 1e6
		d := pkt(p.client, p.flags, p.payload)
		e.Packet(ts, 1, d, len(d))
	}
	e.Flush()
	var got []string
	for _, l := range out.lines {
		if bytes.Contains(l, []byte(`"note":"DNS_ERROR"`)) {
			got = append(got, string(l))
		}
	}
	if len(got) != 2 || !bytes.Contains([]byte(got[0]), []byte(`"qtype_name":"A"`)) || !bytes.Contains([]byte(got[1]), []byte(`"qtype_name":"AAAA"`)) {
		t.Errorf("want NXDOMAIN events for A and AAAA, got %d:\n%s", len(got), bytes.Join(out.lines, []byte("\n")))
	}
}
