package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Tunnelled frames: an inner TCP SYN from 198.18.0.1:40000 to
// 198.18.0.2:443 (or an IPv6 one), carried between two "nodes".
var (
	node1 = [4]byte{198, 19, 0, 1}
	node2 = [4]byte{198, 19, 0, 2}
)

func udp(sp, dp uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sp)
	binary.BigEndian.PutUint16(b[2:], dp)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func innerSYN() []byte { return ipv4(6, a4, b4, tcp(40000, 443, SYN, nil, nil)) }

func vxlan(vni uint32, inner []byte) []byte {
	h := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return append(h, inner...)
}

func geneve(vni uint32, proto uint16, opts []byte, inner []byte) []byte {
	h := []byte{byte(len(opts) / 4), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	h = append(h, opts...)
	return append(h, inner...)
}

func gre(flags uint16, proto uint16, extra []byte, inner []byte) []byte {
	h := []byte{byte(flags >> 8), byte(flags), byte(proto >> 8), byte(proto)}
	h = append(h, extra...)
	return append(h, inner...)
}

func TestTunnels(t *testing.T) {
	synEth := eth(0x0800, innerSYN())
	syn6 := ipv6(6, tcp(40000, 443, SYN, nil, nil))
	erspan2 := []byte{0x10, 0x00, 0x00, 0x2a, 0, 0, 0, 0} // version 1 (type II), session 42
	erspan3 := make([]byte, 12)
	erspan3[0], erspan3[3] = 0x20, 7
	erspan3o := make([]byte, 20)
	erspan3o[0], erspan3o[3], erspan3o[11] = 0x20, 9, 1
	cases := []struct {
		name  string
		frame []byte
		encap uint8
		vni   uint32
		outer Tuple
		v6    bool
	}{
		{"vxlan 4789", eth(0x0800, ipv4(17, node1, node2, udp(51000, 4789, vxlan(42, synEth)))), EncapVXLAN, 42,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 51000, 4789, ProtoUDP}, false},
		{"vxlan 8472 (flannel) with inner vlan", eth(0x0800, ipv4(17, node1, node2, udp(51000, 8472, vxlan(1, func() []byte {
			b := append([]byte{}, synEth[:12]...)
			b = append(b, 0x81, 0x00, 0, 7, 0x08, 0x00)
			return append(b, synEth[14:]...)
		}())))), EncapVXLAN, 1, Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 51000, 8472, ProtoUDP}, false},
		{"vxlan over ipv6", eth(0x86dd, ipv6(17, udp(51000, 4789, vxlan(5, eth(0x86dd, syn6))))), EncapVXLAN, 5,
			Tuple{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 51000, 4789, ProtoUDP}, true},
		{"geneve ethernet with options", eth(0x0800, ipv4(17, node1, node2, udp(3000, 6081, geneve(0x1234, 0x6558, make([]byte, 8), synEth)))), EncapGeneve, 0x1234,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 3000, 6081, ProtoUDP}, false},
		{"geneve ip", eth(0x0800, ipv4(17, node1, node2, udp(3000, 6081, geneve(3, 0x0800, nil, innerSYN())))), EncapGeneve, 3,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 3000, 6081, ProtoUDP}, false},
		{"ipip (calico)", eth(0x0800, ipv4(4, node1, node2, innerSYN())), EncapIPIP, 0,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoIPIP}, false},
		{"6in4", eth(0x0800, ipv4(41, node1, node2, syn6)), EncapIPIP, 0,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoIPv6}, true},
		{"ipv4 in ipv6", eth(0x86dd, ipv6(4, innerSYN())), EncapIPIP, 0,
			Tuple{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 0, 0, ProtoIPIP}, false},
		{"gre ipv4 with key and sequence", eth(0x0800, ipv4(47, node1, node2, gre(0x3000, 0x0800, []byte{0, 0, 0, 99, 0, 0, 0, 1}, innerSYN()))), EncapGRE, 99,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
		{"gre checksum, ethernet (gretap)", eth(0x0800, ipv4(47, node1, node2, gre(0x8000, 0x6558, []byte{0, 0, 0, 0}, synEth))), EncapGRE, 0,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
		{"erspan II", eth(0x0800, ipv4(47, node1, node2, gre(0x1000, 0x88be, []byte{0, 0, 0, 1}, append(erspan2, synEth...)))), EncapERSPAN, 42,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
		{"erspan III", eth(0x0800, ipv4(47, node1, node2, gre(0x1000, 0x22eb, []byte{0, 0, 0, 1}, append(erspan3, synEth...)))), EncapERSPAN, 7,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
		{"erspan III platform subheader", eth(0x0800, ipv4(47, node1, node2, gre(0x1000, 0x22eb, []byte{0, 0, 0, 1}, append(erspan3o, synEth...)))), EncapERSPAN, 9,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
		{"vxlan in gre", eth(0x0800, ipv4(47, node1, node2, gre(0, 0x0800, nil, ipv4(17, a4, b4, udp(9, 4789, vxlan(8, synEth)))))), EncapGRE, 0,
			Tuple{netip.AddrFrom4(node1), netip.AddrFrom4(node2), 0, 0, ProtoGRE}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			Parse(LinkEthernet, c.frame, &p)
			src, dst := netip.AddrFrom4(a4), netip.AddrFrom4(b4)
			if c.v6 {
				src, dst = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
			}
			want := Tuple{src, dst, 40000, 443, ProtoTCP}
			if p.Tuple != want || p.TCPFlags != SYN || !p.HasTransport() || p.Flags&Malformed != 0 {
				t.Errorf("inner %+v flags %#x, want %+v", p.Tuple, p.Flags, want)
			}
			if p.Encap != c.encap || p.VNI != c.vni || p.Outer != c.outer {
				t.Errorf("tunnel %s vni %d outer %+v, want %s %d %+v", EncapName(p.Encap), p.VNI, p.Outer, EncapName(c.encap), c.vni, c.outer)
			}
			if c.name == "vxlan 8472 (flannel) with inner vlan" && (p.NVLAN != 1 || p.VLAN[0] != 7) {
				t.Errorf("inner VLAN: %d %v", p.NVLAN, p.VLAN)
			}
			if n := testing.AllocsPerRun(100, func() { Parse(LinkEthernet, c.frame, &p) }); n != 0 {
				t.Errorf("%v allocs", n)
			}
		})
	}
}

// TestTunnelFramesAgree checks the frames above with gopacket, an
// independent decoder, where it knows the tunnel: the inner TCP layer it
// finds is the one Parse returns.
func TestTunnelFramesAgree(t *testing.T) {
	frames := map[string][]byte{
		"vxlan":  eth(0x0800, ipv4(17, node1, node2, udp(51000, 4789, vxlan(42, eth(0x0800, innerSYN()))))),
		"geneve": eth(0x0800, ipv4(17, node1, node2, udp(3000, 6081, geneve(0x1234, 0x6558, make([]byte, 8), eth(0x0800, innerSYN()))))),
		"ipip":   eth(0x0800, ipv4(4, node1, node2, innerSYN())),
		"gre":    eth(0x0800, ipv4(47, node1, node2, gre(0x3000, 0x0800, []byte{0, 0, 0, 99, 0, 0, 0, 1}, innerSYN()))),
		"erspan": eth(0x0800, ipv4(47, node1, node2, gre(0x1000, 0x88be, []byte{0, 0, 0, 1}, append([]byte{0x10, 0x00, 0x00, 0x2a, 0, 0, 0, 0}, eth(0x0800, innerSYN())...)))),
	}
	for name, f := range frames {
		gp := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		tl, _ := gp.Layer(layers.LayerTypeTCP).(*layers.TCP)
		ips := gp.Layers()
		var inner *layers.IPv4
		for _, l := range ips {
			if ip, ok := l.(*layers.IPv4); ok {
				inner = ip
			}
		}
		if tl == nil || inner == nil || !tl.SYN || tl.DstPort != 443 || inner.SrcIP.String() != "198.18.0.1" {
			t.Errorf("%s: gopacket does not find the inner SYN: %v", name, gp)
		}
	}
}

// TestNotTunnels: datagrams to a tunnel port that are not tunnels stay
// the flows they are; a tunnel carrying no IP is not IP.
func TestNotTunnels(t *testing.T) {
	var p Packet
	Parse(LinkEthernet, eth(0x0800, ipv4(17, a4, b4, udp(5000, 4789, []byte("hello, not vxlan")))), &p)
	if p.Encap != EncapNone || p.DstPort != 4789 || p.Proto != ProtoUDP || string(p.Payload) != "hello, not vxlan" {
		t.Errorf("plain UDP to 4789: %+v", p)
	}
	Parse(LinkEthernet, eth(0x0800, ipv4(47, node1, node2, gre(0x0001, 0x880b, nil, []byte("pptp")))), &p)
	if p.Encap != EncapNone || p.Proto != ProtoGRE || p.HasTransport() {
		t.Errorf("PPTP's GRE: %+v", p)
	}
	arp := eth(0x0806, make([]byte, 28))
	Parse(LinkEthernet, eth(0x0800, ipv4(17, node1, node2, udp(5000, 8472, vxlan(1, arp)))), &p)
	if p.Encap != EncapVXLAN || p.IPVersion != 0 || p.Flags&NotIP == 0 {
		t.Errorf("ARP in VXLAN: %+v", p)
	}
	// Nested deeper than maxEncap: the innermost is left undecoded.
	deep := ipv4(4, a4, b4, ipv4(4, a4, b4, innerSYN()))
	Parse(LinkRaw, ipv4(4, node1, node2, deep), &p)
	if p.HasTransport() || p.Proto != ProtoIPIP || p.Encap != EncapIPIP {
		t.Errorf("three tunnels deep: %+v", p)
	}
	// A first fragment of a tunnel packet: its inner packet is cut.
	fr := ipv4(17, node1, node2, udp(5000, 4789, vxlan(1, eth(0x0800, innerSYN()))))
	binary.BigEndian.PutUint16(fr[6:], 0x2000)
	Parse(LinkRaw, fr, &p)
	if p.Encap != EncapNone || p.DstPort != 4789 {
		t.Errorf("fragmented VXLAN: %+v", p)
	}
}
