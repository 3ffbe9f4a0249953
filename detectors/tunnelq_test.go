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
	"github.com/dlltagent/dlltagent/flowtable"
)

// TestTunnelHoldOrder: live, with two workers, a SYN inside VXLAN is read
// by one worker and the RST refusing it, which travels in another outer
// flow, by the other, the inner connection's owner, first. The owner
// must still see the SYN first: one refused connection, not a midstream
// RST plus an unanswered SYN.
func TestTunnelHoldOrder(t *testing.T) {
	cli, srv := net.IPv4(198, 18, 244, 2), net.IPv4(198, 18, 244, 1)
	node1, node2 := net.IPv4(198, 18, 0, 2), net.IPv4(198, 18, 0, 1)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	serialize := func(ls ...gopacket.SerializableLayer) []byte { return serializeLayers(t, ls...) }
	// vxlan wraps an inner TCP segment from src to dst, sent by node
	// from its own source port (each node picks its own).
	vxlan := func(src, dst, from, to net.IP, sport uint16, tcp *layers.TCP) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp.SetNetworkLayerForChecksum(ip)
		inner := serialize(&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
		hdr := []byte{0x08, 0, 0, 0, 0, 0, 1, 0} // VNI 1
		oip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: from, DstIP: to}
		oudp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 8472}
		oudp.SetNetworkLayerForChecksum(oip)
		return serialize(&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}, oip, oudp, gopacket.Payload(append(hdr, inner...)))
	}
	syn := vxlan(cli, srv, node1, node2, 41000, &layers.TCP{SrcPort: 50000, DstPort: 9, SYN: true, Seq: 1000, Window: 64240})
	rst := vxlan(srv, cli, node2, node1, 52000, &layers.TCP{SrcPort: 9, DstPort: 50000, RST: true, ACK: true, Ack: 1001})

	tup := decode.Tuple{Src: netip.AddrFrom4([4]byte{198, 18, 244, 2}), Dst: netip.AddrFrom4([4]byte{198, 18, 244, 1}), SrcPort: 50000, DstPort: 9, Proto: decode.ProtoTCP}
	k, _ := flowtable.MakeKey(&tup)
	owner := int(k.Hash() % 2)

	e, outs := twoWorkers()
	const ts = int64(1e18)
	e[owner].Packet(ts+100e3, 1, rst, len(rst)) // the owner reads the answer first
	e[1-owner].Packet(ts, 1, syn, len(syn))     // the other worker, the SYN: forwarded
	e[owner].DrainInbox()
	e[owner].Advance(ts + 10e6) // within tunnelHold: nothing analysed yet
	if n := e[owner].tab.Len(); n != 0 {
		t.Errorf("%d connections before the hold ran out", n)
	}
	for i := range e {
		e[i].DrainInbox()
		e[i].Advance(ts + int64(tunnelHold) + 1e6)
		e[i].Flush()
	}
	var notes, states []string
	for _, o := range outs {
		for _, l := range o.lines {
			if n := noteOf(l); n != "" {
				notes = append(notes, n)
			}
			if i := bytes.Index(l, []byte(`"conn_state":"`)); i >= 0 {
				states = append(states, string(l[i+14:i+14+bytes.IndexByte(l[i+14:], '"')]))
			}
		}
	}
	if strings.Join(notes, ",") != "TCP_REFUSED" || strings.Join(states, ",") != "REJ" {
		t.Errorf("events %v, flows %v; want one TCP_REFUSED and one REJ", notes, states)
	}
	if len(outs[1-owner].lines) != 0 {
		t.Errorf("the worker that only forwarded wrote %q", outs[1-owner].lines)
	}
}

// TestTunnelField: the "tunnel" object of a connection's records for
// each tunnel type: its identifier where it has one, and the outer
// addresses oriented to the connection (the originator's node first,
// whichever side's packet came first).
func TestTunnelField(t *testing.T) {
	cli, srv := net.IPv4(198, 18, 244, 2), net.IPv4(198, 18, 244, 1)
	node1, node2 := net.IPv4(198, 19, 0, 2), net.IPv4(198, 19, 0, 1)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	serialize := func(ls ...gopacket.SerializableLayer) []byte { return serializeLayers(t, ls...) }
	inner := func(src, dst net.IP, tcp *layers.TCP, eth bool) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp.SetNetworkLayerForChecksum(ip)
		if eth {
			return serialize(&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
		}
		return serialize(ip, tcp)
	}
	outer := func(from, to net.IP, proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: from, DstIP: to}
		ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}, ip}
		for _, l := range l4 {
			if u, ok := l.(*layers.UDP); ok {
				u.SetNetworkLayerForChecksum(ip)
			}
		}
		return serialize(append(ls, l4...)...)
	}
	wrap := map[string]func(from, to net.IP, src, dst net.IP, tcp *layers.TCP) []byte{
		`{"type":"ipip","outer_orig_h":"198.19.0.2","outer_resp_h":"198.19.0.1"}`: func(from, to, src, dst net.IP, tcp *layers.TCP) []byte {
			return outer(from, to, layers.IPProtocolIPv4, gopacket.Payload(inner(src, dst, tcp, false)))
		},
		`{"type":"geneve","vni":7000,"outer_orig_h":"198.19.0.2","outer_resp_h":"198.19.0.1"}`: func(from, to, src, dst net.IP, tcp *layers.TCP) []byte {
			h := []byte{0, 0, 0x65, 0x58, 0, 0x1b, 0x58, 0}
			return outer(from, to, layers.IPProtocolUDP, &layers.UDP{SrcPort: 40000, DstPort: 6081}, gopacket.Payload(append(h, inner(src, dst, tcp, true)...)))
		},
		`{"type":"gre","key":42,"outer_orig_h":"198.19.0.2","outer_resp_h":"198.19.0.1"}`: func(from, to, src, dst net.IP, tcp *layers.TCP) []byte {
			h := []byte{0x20, 0, 0x08, 0x00, 0, 0, 0, 42}
			return outer(from, to, layers.IPProtocolGRE, gopacket.Payload(append(h, inner(src, dst, tcp, false)...)))
		},
		`{"type":"erspan","session":5,"outer_orig_h":"198.19.0.9","outer_resp_h":"198.19.0.9"}`: func(_, _, src, dst net.IP, tcp *layers.TCP) []byte {
			h := []byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 5, 0, 0, 0, 0}
			// A mirror: both directions from the switch to the collector.
			return outer(net.IPv4(198, 19, 0, 9), net.IPv4(198, 19, 0, 9), layers.IPProtocolGRE, gopacket.Payload(append(h, inner(src, dst, tcp, true)...)))
		},
	}
	for want, w := range wrap {
		out := &collect{}
		var st Stats
		e := NewEngine(DefaultConfig(), 0, out, &st)
		const ts = int64(1e18)
		// The server's SYN-ACK comes first (the SYN was missed): the
		// originator is still the client, and its node comes first.
		synack := w(node2, node1, srv, cli, &layers.TCP{SrcPort: 9, DstPort: 50000, SYN: true, ACK: true, Seq: 5000, Ack: 1001, Window: 64240})
		rst := w(node1, node2, cli, srv, &layers.TCP{SrcPort: 50000, DstPort: 9, RST: true, Seq: 1001})
		e.Packet(ts, 1, synack, len(synack))
		e.Packet(ts+1e6, 1, rst, len(rst))
		e.Flush()
		var got string
		for _, l := range out.lines {
			if !bytes.Contains(l, []byte(`"conn_state"`)) {
				continue
			}
			if !bytes.Contains(l, []byte(`"id.orig_h":"198.18.244.2"`)) {
				t.Errorf("%s: not the inner connection: %s", want, l)
			}
			if i := bytes.Index(l, []byte(`"tunnel":`)); i >= 0 {
				got = string(l[i+9 : i+9+bytes.IndexByte(l[i:], '}')-8])
			}
		}
		if got != want {
			t.Errorf("tunnel %s, want %s", got, want)
		}
	}
}
