package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// frame builders for hand-made edge cases.
func eth(et uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, payload...)
}

func ipv4(proto uint8, src, dst [4]byte, l4 []byte) []byte {
	b := make([]byte, 20, 20+len(l4))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	b[8] = 64
	b[9] = proto
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	return append(b, l4...)
}

func ipv6(next uint8, l4 []byte) []byte {
	b := make([]byte, 40, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6] = next
	b[7] = 64
	b[8], b[23] = 0xfd, 1
	b[24], b[39] = 0xfd, 2
	return append(b, l4...)
}

func tcp(sp, dp uint16, flags uint8, opts []byte, payload []byte) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl, hl+len(payload))
	binary.BigEndian.PutUint16(b[0:], sp)
	binary.BigEndian.PutUint16(b[2:], dp)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 2000)
	b[12] = byte(hl/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	copy(b[20:], opts)
	return append(b, payload...)
}

var (
	a4 = [4]byte{198, 18, 0, 1}
	b4 = [4]byte{198, 18, 0, 2}
)

func TestParse(t *testing.T) {
	synOpts := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	cases := []struct {
		name  string
		link  int
		frame []byte
		check func(t *testing.T, p *Packet)
	}{
		{"tcp syn options", LinkEthernet, eth(0x0800, ipv4(6, a4, b4, tcp(40000, 443, SYN, synOpts, nil))), func(t *testing.T, p *Packet) {
			if p.MSS != 1460 || p.WScale != 7 || !p.SACKPerm || !p.HasTS || p.TSVal != 1 || p.TCPFlags != SYN {
				t.Errorf("options: %+v", p)
			}
			if p.Src != netip.AddrFrom4(a4) || p.DstPort != 443 || p.PayloadLen != 0 {
				t.Errorf("tuple: %+v", p.Tuple)
			}
		}},
		{"ethernet padding stripped", LinkEthernet, append(eth(0x0800, ipv4(6, a4, b4, tcp(1, 2, ACK, nil, []byte("hi")))), 0, 0, 0, 0), func(t *testing.T, p *Packet) {
			if string(p.Payload) != "hi" || p.PayloadLen != 2 {
				t.Errorf("payload %q len %d", p.Payload, p.PayloadLen)
			}
		}},
		{"qinq", LinkEthernet, func() []byte {
			in := eth(0x0800, ipv4(17, a4, b4, []byte{0, 53, 0, 53, 0, 8, 0, 0}))
			tags := []byte{0, 201, 0x81, 0x00, 0, 200, 0x08, 0x00}
			b := append([]byte{}, in[:12]...)
			b = append(b, 0x88, 0xa8)
			b = append(b, tags...)
			return append(b, in[14:]...)
		}(), func(t *testing.T, p *Packet) {
			if p.NVLAN != 2 || p.VLAN[0] != 201 || p.VLAN[1] != 200 || p.Proto != ProtoUDP || p.DstPort != 53 {
				t.Errorf("qinq: %+v", p)
			}
		}},
		{"ipv4 options", LinkRaw, func() []byte {
			b := ipv4(6, a4, b4, append([]byte{1, 1, 1, 0}, tcp(5, 6, ACK, nil, nil)...))
			b[0] = 0x46
			return b
		}(), func(t *testing.T, p *Packet) {
			if p.SrcPort != 5 || p.Flags&Malformed != 0 {
				t.Errorf("ipv4 options: %+v", p)
			}
		}},
		{"ihl below 5", LinkRaw, func() []byte { b := ipv4(6, a4, b4, tcp(5, 6, ACK, nil, nil)); b[0] = 0x44; return b }(), func(t *testing.T, p *Packet) {
			if p.Flags&Malformed == 0 || p.HasTransport() {
				t.Errorf("IHL<5 not malformed: %+v", p)
			}
		}},
		{"later fragment", LinkRaw, func() []byte {
			b := ipv4(6, a4, b4, []byte("fragment payload"))
			binary.BigEndian.PutUint16(b[6:], 185)
			return b
		}(), func(t *testing.T, p *Packet) {
			if p.Flags&Fragment == 0 || p.HasTransport() {
				t.Errorf("fragment: %+v", p)
			}
		}},
		{"first fragment keeps ports", LinkRaw, func() []byte {
			b := ipv4(17, a4, b4, []byte{0, 1, 0, 2, 0, 100, 0, 0, 1, 2})
			binary.BigEndian.PutUint16(b[6:], 0x2000)
			return b
		}(), func(t *testing.T, p *Packet) {
			if p.Flags&Fragment == 0 || !p.HasTransport() || p.DstPort != 2 {
				t.Errorf("first fragment: %+v", p)
			}
		}},
		{"tcp header truncated", LinkRaw, ipv4(6, a4, b4, []byte{1, 2, 3}), func(t *testing.T, p *Packet) {
			if p.Flags&Malformed == 0 {
				t.Errorf("not malformed")
			}
		}},
		{"tcp data offset past end", LinkRaw, func() []byte { b := ipv4(6, a4, b4, tcp(1, 2, ACK, nil, nil)); b[20+12] = 0xf0; return b }(), func(t *testing.T, p *Packet) {
			if p.Flags&Malformed == 0 {
				t.Errorf("not malformed")
			}
		}},
		{"ipv6 ext headers", LinkRaw, ipv6(0, append([]byte{44, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 1}, tcp(7, 8, SYN, nil, nil)...)), func(t *testing.T, p *Packet) {
			if p.Proto != ProtoTCP || p.SrcPort != 7 || p.Flags&(Malformed|Fragment) != 0 {
				t.Errorf("ipv6 hop-by-hop + atomic fragment: %+v", p)
			}
		}},
		{"ipv6 ext header loop bounded", LinkRaw, func() []byte {
			var ext []byte
			for i := 0; i < 20; i++ {
				ext = append(ext, 60, 0, 0, 0, 0, 0, 0, 0)
			}
			return ipv6(60, ext)
		}(), func(t *testing.T, p *Packet) {
			if p.Flags&Malformed == 0 {
				t.Errorf("unbounded ext header walk")
			}
		}},
		{"icmp port unreachable quotes udp", LinkRaw, ipv4(1, b4, a4, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipv4(17, a4, b4, []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0})...)), func(t *testing.T, p *Packet) {
			if p.Flags&HasInner == 0 || p.Inner.DstPort != 53 || p.Inner.SrcPort != 40000 || p.Inner.Src != netip.AddrFrom4(a4) || p.ICMPCode != 3 {
				t.Errorf("icmp inner: %+v", p)
			}
		}},
		{"icmpv6 unreachable", LinkRaw, ipv6(58, append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, ipv6(6, tcp(9, 10, SYN, nil, nil))...)), func(t *testing.T, p *Packet) {
			if p.Flags&HasInner == 0 || p.Inner.DstPort != 10 || !p.InnerHasSq {
				t.Errorf("icmpv6 inner: %+v", p)
			}
		}},
		{"sll", LinkSLL, append(make([]byte, 14), append([]byte{0x08, 0x00}, ipv4(17, a4, b4, []byte{0, 1, 0, 2, 0, 8, 0, 0})...)...), func(t *testing.T, p *Packet) {
			if p.DstPort != 2 {
				t.Errorf("sll: %+v", p)
			}
		}},
		{"sll2", LinkSLL2, append(append([]byte{0x86, 0xdd}, make([]byte, 18)...), ipv6(17, []byte{0, 1, 0, 2, 0, 8, 0, 0})...), func(t *testing.T, p *Packet) {
			if p.IPVersion != 6 || p.DstPort != 2 {
				t.Errorf("sll2: %+v", p)
			}
		}},
		{"bsd loopback ipv6", LinkNull, append([]byte{30, 0, 0, 0}, ipv6(6, tcp(1, 2, SYN, nil, nil))...), func(t *testing.T, p *Packet) {
			if p.IPVersion != 6 || p.DstPort != 2 {
				t.Errorf("null: %+v", p)
			}
		}},
		{"arp is not ip", LinkEthernet, eth(0x0806, make([]byte, 28)), func(t *testing.T, p *Packet) {
			if p.Flags&NotIP == 0 || p.IPVersion != 0 {
				t.Errorf("arp: %+v", p)
			}
		}},
		{"snaplen cut payload", LinkRaw, ipv4(6, a4, b4, tcp(1, 2, ACK, nil, make([]byte, 100)))[:60], func(t *testing.T, p *Packet) {
			if p.PayloadLen != 100 || len(p.Payload) != 20 || p.Flags&Truncated == 0 {
				t.Errorf("truncated: len %d wire %d", len(p.Payload), p.PayloadLen)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			Parse(c.link, c.frame, &p)
			c.check(t, &p)
		})
	}
}

// TestOffloadLengths: a segmentation-offload super-packet captured before
// the NIC cuts it (Linux's BIG TCP, over 64 KiB: its IP header cannot
// hold the length; Windows' large send offload) has an IPv4 total length
// or IPv6 payload length of 0. Its length is the frame's, as tcpdump and
// Wireshark read it, or IPv6's Jumbo Payload option's; a frame the
// snaplen cut is told by the capture's original length (FrameCut).
func TestOffloadLengths(t *testing.T) {
	body := make([]byte, 100000)
	for i := range body {
		body[i] = byte(i)
	}
	seg := tcp(443, 40000, ACK, nil, body)
	v4 := ipv4(6, a4, b4, seg)
	v4[2], v4[3] = 0, 0
	v6 := ipv6(6, seg)
	v6[4], v6[5] = 0, 0
	// RFC 2675: hop-by-hop options with Jumbo Payload (type 0xc2).
	hbh := []byte{6, 0, 0xc2, 4, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hbh[4:], uint32(len(hbh)+len(seg)))
	jumbo := ipv6(0, append(hbh, seg...))
	jumbo[4], jumbo[5] = 0, 0
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"ipv4", eth(0x0800, v4)}, {"ipv6", eth(0x86dd, v6)}, {"ipv6 jumbo", eth(0x86dd, jumbo)}} {
		var p Packet
		Parse(LinkEthernet, c.frame, &p)
		p.FrameCut(0)
		if p.Flags&(Malformed|NoTransport|Truncated) != 0 || p.PayloadLen != len(body) || len(p.Payload) != len(body) || p.Payload[len(body)-1] != body[len(body)-1] {
			t.Errorf("%s: flags %#x, payload %d of %d", c.name, p.Flags, len(p.Payload), p.PayloadLen)
		}
		// The snaplen kept 300 bytes of it.
		Parse(LinkEthernet, c.frame[:300], &p)
		p.FrameCut(len(c.frame) - 300)
		if p.Flags&Truncated == 0 || p.PayloadLen != len(body) || len(p.Payload) >= 300 {
			t.Errorf("%s cut: flags %#x, payload %d of %d", c.name, p.Flags, len(p.Payload), p.PayloadLen)
		}
	}
	// A length present is kept: a frame longer than its packet carries
	// padding or a trailer, not payload.
	var p Packet
	Parse(LinkEthernet, eth(0x0800, ipv4(6, a4, b4, tcp(1, 2, ACK, nil, []byte("hi")))), &p)
	p.FrameCut(1000)
	if p.Flags&(LenFromFrame|Truncated) != 0 || p.PayloadLen != 2 {
		t.Errorf("with a length: flags %#x, payload %d", p.Flags, p.PayloadLen)
	}
}

var benchFrames = map[string][]byte{
	"tcp4":  eth(0x0800, ipv4(6, a4, b4, tcp(40000, 443, ACK|PSH, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, make([]byte, 1200)))),
	"tcp6":  eth(0x86dd, ipv6(6, tcp(40000, 443, SYN, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7}, nil))),
	"udp4":  eth(0x0800, ipv4(17, a4, b4, []byte{0x9c, 0x40, 0, 53, 0, 40, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})),
	"icmp4": eth(0x0800, ipv4(1, b4, a4, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipv4(17, a4, b4, []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0})...))),
}

func TestParseAllocs(t *testing.T) {
	var p Packet
	for name, f := range benchFrames {
		if n := testing.AllocsPerRun(1000, func() { Parse(LinkEthernet, f, &p) }); n != 0 {
			t.Errorf("%s: %v allocs per Parse", name, n)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"tcp4", "tcp6", "udp4", "icmp4"} {
		f := benchFrames[name]
		b.Run(name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for i := 0; i < b.N; i++ {
				Parse(LinkEthernet, f, &p)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, fr := range benchFrames {
		f.Add(LinkEthernet, fr)
	}
	f.Add(LinkRaw, []byte{0x45})                      // IPv4, header cut
	f.Add(LinkRaw, []byte{0x60, 0, 0, 0, 0, 8, 0, 1}) // IPv6, header cut
	f.Add(LinkSLL2, []byte{0x08, 0x00})               // SLL2 shorter than its header
	f.Add(LinkNull, []byte{2, 0, 0, 0, 0x4f})         // loopback, IHL 15 past the end
	f.Add(LinkEthernet, eth(0x0800, ipv4(17, node1, node2, udp(1, 4789, vxlan(1, eth(0x0800, innerSYN()))))))
	f.Add(LinkEthernet, eth(0x0800, ipv4(17, node1, node2, udp(1, 6081, geneve(1, 0x6558, make([]byte, 4), eth(0x0800, innerSYN()))))))
	f.Add(LinkRaw, ipv4(47, node1, node2, gre(0xb000, 0x0800, make([]byte, 12), innerSYN())))
	f.Add(LinkRaw, ipv4(47, node1, node2, gre(0x1000, 0x22eb, make([]byte, 4), append([]byte{0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, eth(0x0800, innerSYN())...))))
	f.Add(LinkRaw, ipv4(4, node1, node2, innerSYN()))
	f.Fuzz(func(t *testing.T, link int, frame []byte) {
		var p Packet
		Parse(link, frame, &p)
		if len(p.Payload) > len(frame) {
			t.Fatalf("payload longer than frame")
		}
	})
}
