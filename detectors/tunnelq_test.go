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
	serialize := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
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
			if i := bytes.Index(l, []byte(`"note":"`)); i >= 0 {
				notes = append(notes, string(l[i+8:i+8+bytes.IndexByte(l[i+8:], '"')]))
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
