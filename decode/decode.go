// Package decode parses captured frames into a Packet value without
// allocating: the Packet holds views into the frame. Link layers: Ethernet
// (with 802.1Q/802.1ad/QinQ tags), Linux cooked SLL and SLL2, BSD
// loopback, raw IP. Network: IPv4 (options, fragments) and IPv6 (extension
// headers walked, bounded). Transport: TCP (options), UDP, ICMP, ICMPv6.
// Tunnels (a capture on a Kubernetes node's uplink, or mirrored traffic):
// VXLAN (UDP 4789, and 8472, the Linux kernel's and Flannel's default),
// Geneve (UDP 6081), GRE (IPv4, IPv6 or Ethernet inside), ERSPAN types II
// and III, IPv4/IPv6 in IP (Calico's IPIP mode, 6in4): the packet is the
// innermost one, with its outer endpoints kept in Outer.
//
// Parse never returns an error: bad input marks the packet Malformed and
// leaves the fields that were decoded before the fault.
package decode

import (
	"encoding/binary"
	"net/netip"
)

// Link types, as in pcap files (tcpdump.org/linktypes.html).
const (
	LinkNull     = 0
	LinkEthernet = 1
	LinkRawAlt   = 12
	LinkRaw      = 101
	LinkLoop     = 108
	LinkSLL      = 113
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276
)

// IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoIPIP   = 4  // IPv4 in IP
	ProtoIPv6   = 41 // IPv6 in IP
	ProtoGRE    = 47
)

// Tunnels (Packet.Encap).
const (
	EncapNone uint8 = iota
	EncapVXLAN
	EncapGeneve
	EncapGRE
	EncapIPIP // IPv4 or IPv6 in IPv4 or IPv6
	EncapERSPAN
)

// EncapName names a tunnel type ("vxlan", "geneve", "gre", "ipip", "erspan").
func EncapName(t uint8) string {
	switch t {
	case EncapVXLAN:
		return "vxlan"
	case EncapGeneve:
		return "geneve"
	case EncapGRE:
		return "gre"
	case EncapIPIP:
		return "ipip"
	case EncapERSPAN:
		return "erspan"
	}
	return ""
}

// maxEncap bounds the tunnels decoded inside one another.
const maxEncap = 2

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// Packet flags.
const (
	// Malformed is set when a header is truncated or inconsistent.
	Malformed uint16 = 1 << iota
	// Fragment is set for an IP fragment that is not the first one (no
	// transport header) or any fragment of a fragmented datagram.
	Fragment
	// NoTransport is set when the transport header is absent (later
	// fragment, unknown protocol, or malformed).
	NoTransport
	// HasInner is set for ICMP errors that quote a packet (Inner is valid).
	HasInner
	// Truncated is set when the transport payload was cut by the snaplen.
	Truncated
	// NotIP is set for frames that carry no IPv4/IPv6 (ARP, LLDP...).
	NotIP
	// LenFromFrame is set when the IP header gives no length (0: a
	// segmentation-offload super-packet of Linux's BIG TCP, or a
	// capture of Windows' large send offload) and the captured frame's
	// was taken instead; a caller that knows the frame was cut by the
	// snaplen adds what is missing (FrameCut).
	LenFromFrame
)

// maxExtHeaders bounds the IPv6 extension header walk.
const maxExtHeaders = 8

// maxVLAN bounds the number of stacked VLAN tags decoded.
const maxVLAN = 4

// Tuple is a transport five-tuple as seen on the wire.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Packet is the decoded view of one frame. Slices point into the frame
// passed to Parse: they are valid only as long as the frame is (for a live
// ring, until its block is returned to the kernel).
type Packet struct {
	Flags uint16

	// VLAN holds the VLAN IDs (outer first); valid for i < NVLAN.
	VLAN  [2]uint16
	NVLAN uint8

	// IPVersion is 4 or 6; 0 if the frame carries no IP.
	IPVersion uint8
	TTL       uint8
	// Tuple is valid iff IPVersion != 0; the ports are valid iff
	// NoTransport is clear and Proto is TCP or UDP. For ICMP, SrcPort holds
	// the type and DstPort the code.
	Tuple

	// IPLen is the IP datagram length from its header.
	IPLen int

	// TCP fields, valid iff Proto == ProtoTCP and NoTransport is clear.
	TCPFlags uint8
	Seq, Ack uint32
	Window   uint16
	MSS      uint16 // 0 if absent
	WScale   int8   // -1 if absent
	SACKPerm bool
	HasTS    bool
	TSVal    uint32
	TSEcr    uint32

	// ICMP fields, valid iff Proto is ICMP or ICMPv6.
	ICMPType, ICMPCode uint8
	// Inner is the quoted packet of an ICMP error, valid iff HasInner.
	Inner      Tuple
	InnerSeq   uint32 // TCP sequence number of the quoted segment, if TCP
	InnerHasSq bool

	// Payload is the captured transport payload (Ethernet padding removed).
	Payload []byte
	// PayloadLen is the payload length on the wire (from the IP header);
	// it exceeds len(Payload) when the snaplen cut the frame.
	PayloadLen int

	// Encap is the outermost tunnel the packet came in (EncapNone: none);
	// then Outer holds that tunnel's endpoints as in its outer header
	// (ports for UDP tunnels, Proto the outer protocol) and VNI its
	// VXLAN or Geneve network identifier, GRE key or ERSPAN session.
	Encap uint8
	depth uint8
	VNI   uint32
	Outer Tuple
}

// Parse decodes frame of the given link type into p.
func Parse(linkType int, frame []byte, p *Packet) {
	*p = Packet{WScale: -1}
	switch linkType {
	case LinkEthernet:
		parseEthernet(frame, p)
	case LinkSLL:
		if len(frame) < 16 {
			p.Flags |= Malformed | NoTransport
			return
		}
		parseEtherType(binary.BigEndian.Uint16(frame[14:16]), frame[16:], p)
	case LinkSLL2:
		if len(frame) < 20 {
			p.Flags |= Malformed | NoTransport
			return
		}
		parseEtherType(binary.BigEndian.Uint16(frame[0:2]), frame[20:], p)
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			p.Flags |= Malformed | NoTransport
			return
		}
		fam := binary.LittleEndian.Uint32(frame[:4])
		if linkType == LinkLoop || fam > 0xffff {
			fam = binary.BigEndian.Uint32(frame[:4])
		}
		switch fam {
		case 2:
			parseIPv4(frame[4:], p)
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			parseIPv6(frame[4:], p)
		default:
			p.Flags |= NotIP | NoTransport
		}
	case LinkRaw, LinkRawAlt, LinkIPv4, LinkIPv6:
		parseIP(frame, p)
	default:
		p.Flags |= NotIP | NoTransport
	}
}

func parseIP(b []byte, p *Packet) {
	if len(b) < 1 {
		p.Flags |= Malformed | NoTransport
		return
	}
	switch b[0] >> 4 {
	case 4:
		parseIPv4(b, p)
	case 6:
		parseIPv6(b, p)
	default:
		p.Flags |= NotIP | NoTransport
	}
}

func parseEthernet(b []byte, p *Packet) {
	if len(b) < 14 {
		p.Flags |= Malformed | NoTransport
		return
	}
	parseEtherType(binary.BigEndian.Uint16(b[12:14]), b[14:], p)
}

func parseEtherType(et uint16, b []byte, p *Packet) {
	for i := 0; ; i++ {
		switch et {
		case 0x8100, 0x88a8, 0x9100:
			if len(b) < 4 || i >= maxVLAN {
				p.Flags |= Malformed | NoTransport
				return
			}
			if int(p.NVLAN) < len(p.VLAN) {
				p.VLAN[p.NVLAN] = binary.BigEndian.Uint16(b[0:2]) & 0x0fff
				p.NVLAN++
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
			continue
		case 0x0800:
			parseIPv4(b, p)
		case 0x86dd:
			parseIPv6(b, p)
		default:
			p.Flags |= NotIP | NoTransport
		}
		return
	}
}

func parseIPv4(b []byte, p *Packet) {
	if len(b) < 20 || b[0]>>4 != 4 {
		p.Flags |= Malformed | NoTransport
		return
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 && ihl >= 20 && len(b) >= ihl {
		// No length: an offload super-packet (as tcpdump and
		// Wireshark read it).
		total = len(b)
		p.Flags |= LenFromFrame
	}
	if ihl < 20 || len(b) < ihl || total < ihl {
		p.Flags |= Malformed | NoTransport
		return
	}
	p.IPVersion = 4
	p.TTL = b[8]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.IPLen = total
	wire := total - ihl
	if total < len(b) {
		b = b[:total] // strip Ethernet padding
	}
	frag := binary.BigEndian.Uint16(b[6:8])
	off := frag & 0x1fff
	mf := frag&0x2000 != 0
	if off != 0 || mf {
		p.Flags |= Fragment
		if off != 0 {
			p.Flags |= NoTransport
			return
		}
	}
	parseTransport(b[ihl:], wire, p)
}

func parseIPv6(b []byte, p *Packet) {
	if len(b) < 40 || b[0]>>4 != 6 {
		p.Flags |= Malformed | NoTransport
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	p.IPVersion = 6
	p.TTL = b[7]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	if plen == 0 && len(b) > 40 && next != 59 {
		// No length: an offload super-packet of Linux's BIG TCP, with
		// or without its Jumbo Payload option (read below).
		plen = len(b) - 40
		p.Flags |= LenFromFrame
	}
	p.IPLen = 40 + plen
	if 40+plen < len(b) {
		b = b[:40+plen]
	}
	rest := b[40:]
	wire := plen
	for i := 0; ; i++ {
		switch next {
		case 0, 43, 60, 51: // hop-by-hop, routing, destination options, AH
			if next == 0 && i == 0 && p.Flags&LenFromFrame != 0 {
				if j := jumboLen(rest); j > 0 {
					// RFC 2675: the length is in the option.
					p.Flags &^= LenFromFrame
					p.IPLen, wire = 40+j, j
				}
			}
			if i >= maxExtHeaders || len(rest) < 8 {
				p.Flags |= Malformed | NoTransport
				p.Proto = next
				return
			}
			var l int
			if next == 51 {
				l = (int(rest[1]) + 2) * 4
			} else {
				l = (int(rest[1]) + 1) * 8
			}
			if len(rest) < l {
				p.Flags |= Malformed | NoTransport
				p.Proto = next
				return
			}
			next = rest[0]
			rest = rest[l:]
			wire -= l
			continue
		case 44: // fragment
			if i >= maxExtHeaders || len(rest) < 8 {
				p.Flags |= Malformed | NoTransport
				p.Proto = next
				return
			}
			fo := binary.BigEndian.Uint16(rest[2:4])
			off, mf := fo>>3, fo&1 != 0
			next = rest[0]
			rest = rest[8:]
			wire -= 8
			if off != 0 || mf { // not an atomic fragment
				p.Flags |= Fragment
				if off != 0 {
					p.Proto = next
					p.Flags |= NoTransport
					return
				}
			}
			continue
		}
		break
	}
	p.Proto = next
	parseTransport(rest, wire, p)
}

// jumboLen returns the Jumbo Payload option's length in the hop-by-hop
// options header h (0: none).
func jumboLen(h []byte) int {
	if len(h) < 8 {
		return 0
	}
	opts := h[2:min(len(h), (int(h[1])+1)*8)]
	for len(opts) >= 2 {
		if opts[0] == 0 { // Pad1
			opts = opts[1:]
			continue
		}
		l := 2 + int(opts[1])
		if len(opts) < l {
			return 0
		}
		if opts[0] == 0xc2 && l == 6 {
			return int(binary.BigEndian.Uint32(opts[2:6]))
		}
		opts = opts[l:]
	}
	return 0
}

// FrameCut corrects the lengths of a packet whose IP header gave none
// (LenFromFrame) when the capture kept only part of its frame: missing
// bytes at its end, as the capture's original length tells.
func (p *Packet) FrameCut(missing int) {
	if p.Flags&LenFromFrame == 0 || missing <= 0 {
		return
	}
	p.IPLen += missing
	if p.HasTransport() {
		p.PayloadLen += missing
		p.Flags |= Truncated
	}
}

func parseTransport(b []byte, wire int, p *Packet) {
	if wire < 0 {
		wire = 0
	}
	switch p.Proto {
	case ProtoTCP:
		if len(b) < 20 {
			p.Flags |= Malformed | NoTransport
			return
		}
		off := int(b[12]>>4) * 4
		if off < 20 || len(b) < off {
			p.Flags |= Malformed | NoTransport
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Seq = binary.BigEndian.Uint32(b[4:8])
		p.Ack = binary.BigEndian.Uint32(b[8:12])
		p.TCPFlags = b[13]
		p.Window = binary.BigEndian.Uint16(b[14:16])
		parseTCPOptions(b[20:off], p)
		p.setPayload(b[off:], wire-off)
	case ProtoUDP:
		if len(b) < 8 {
			p.Flags |= Malformed | NoTransport
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		ul := int(binary.BigEndian.Uint16(b[4:6]))
		if ul >= 8 && ul < wire {
			wire = ul
		}
		p.setPayload(b[8:], wire-8)
		if (p.DstPort == 4789 || p.DstPort == 8472 || p.DstPort == 6081) && p.Flags&Fragment == 0 && p.depth < maxEncap {
			p.decapUDP()
		}
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 8 {
			p.Flags |= Malformed | NoTransport
			return
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.SrcPort, p.DstPort = uint16(b[0]), uint16(b[1])
		p.setPayload(b[8:], wire-8)
		if isICMPError(p.Proto, p.ICMPType) {
			parseInner(b[8:], p)
		}
	case ProtoIPIP, ProtoIPv6, ProtoGRE:
		p.Flags |= NoTransport
		p.setPayload(b, wire)
		if p.Flags&Fragment == 0 && p.depth < maxEncap {
			p.decapIP()
		}
	default:
		p.Flags |= NoTransport
		p.setPayload(b, wire)
	}
}

// decapUDP decodes the packet inside a VXLAN or Geneve header, if the
// payload is one (else p stays the UDP datagram it is).
func (p *Packet) decapUDP() {
	b := p.Payload
	if p.DstPort == 6081 {
		// Geneve (RFC 8926): version 0, options, protocol, VNI.
		if len(b) < 8 || b[0]>>6 != 0 {
			return
		}
		h := 8 + int(b[0]&0x3f)*4
		if len(b) < h {
			return
		}
		vni := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
		p.decap(EncapGeneve, vni, binary.BigEndian.Uint16(b[2:4]), b[h:])
		return
	}
	// VXLAN (RFC 7348): the I flag says the VNI is valid; the other
	// flag bits are reserved (or VXLAN-GBP's), the rest zero.
	if len(b) < 8 || b[0]&0x08 == 0 || b[7] != 0 {
		return
	}
	vni := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	p.decap(EncapVXLAN, vni, 0x6558, b[8:])
}

// decapIP decodes the packet that an IP-in-IP or GRE packet carries.
func (p *Packet) decapIP() {
	b := p.Payload
	switch p.Proto {
	case ProtoIPIP:
		p.decap(EncapIPIP, 0, 0x0800, b)
	case ProtoIPv6:
		p.decap(EncapIPIP, 0, 0x86dd, b)
	case ProtoGRE:
		// RFC 2784/2890: checksum, key and sequence number present as
		// their flags say; version 0 only (1 is PPTP's), no routing.
		if len(b) < 4 {
			return
		}
		fl := binary.BigEndian.Uint16(b[0:2])
		if fl&0x4007 != 0 {
			return
		}
		h := 4
		var key uint32
		if fl&0x8000 != 0 {
			h += 4
		}
		if fl&0x2000 != 0 {
			if len(b) < h+4 {
				return
			}
			key = binary.BigEndian.Uint32(b[h:])
			h += 4
		}
		if fl&0x1000 != 0 {
			h += 4
		}
		if len(b) < h {
			return
		}
		et := binary.BigEndian.Uint16(b[2:4])
		b = b[h:]
		switch et {
		case 0x88be, 0x22eb:
			// ERSPAN type II (8-byte header) and III (12, and an 8-byte
			// platform subheader when its O flag is set): a switch's
			// mirror of a port, the frame inside is Ethernet.
			h := 8
			if et == 0x22eb {
				h = 12
				if len(b) >= 12 && b[11]&1 != 0 {
					h += 8
				}
			}
			if len(b) < h {
				return
			}
			session := uint32(binary.BigEndian.Uint16(b[2:4]) & 0x3ff)
			p.decap(EncapERSPAN, session, 0x6558, b[h:])
		default:
			p.decap(EncapGRE, key, et, b)
		}
	}
}

// decap re-parses p as the packet inner of type et (0x6558: Ethernet,
// 0x0800 or 0x86dd: IP) carried in a tunnel of type typ; other types
// leave p as it is.
func (p *Packet) decap(typ uint8, vni uint32, et uint16, inner []byte) {
	if et != 0x6558 && et != 0x0800 && et != 0x86dd {
		return
	}
	outer, vlan, nvlan, depth := p.Tuple, p.VLAN, p.NVLAN, p.depth+1
	encap, ovni, oouter := p.Encap, p.VNI, p.Outer
	*p = Packet{WScale: -1, VLAN: vlan, NVLAN: nvlan, depth: depth}
	if encap == EncapNone {
		p.Encap, p.VNI, p.Outer = typ, vni, outer
	} else {
		p.Encap, p.VNI, p.Outer = encap, ovni, oouter
	}
	if et == 0x6558 {
		parseEthernet(inner, p)
	} else {
		parseEtherType(et, inner, p)
	}
}

func (p *Packet) setPayload(b []byte, wire int) {
	if wire < 0 {
		wire = 0
	}
	if len(b) > wire {
		b = b[:wire]
	}
	if len(b) < wire {
		p.Flags |= Truncated
	}
	p.Payload = b
	p.PayloadLen = wire
}

// isICMPError reports whether an ICMP message quotes the offending packet.
func isICMPError(proto, typ uint8) bool {
	if proto == ProtoICMP {
		return typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
	}
	return typ >= 1 && typ <= 4
}

func parseInner(b []byte, p *Packet) {
	if len(b) < 1 {
		return
	}
	var in Tuple
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return
		}
		in.Proto = b[9]
		in.Src = netip.AddrFrom4([4]byte(b[12:16]))
		in.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return
		}
		in.Proto = b[6]
		in.Src = netip.AddrFrom16([16]byte(b[8:24]))
		in.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:]
	default:
		return
	}
	if (in.Proto == ProtoTCP || in.Proto == ProtoUDP) && len(l4) >= 4 {
		in.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		in.DstPort = binary.BigEndian.Uint16(l4[2:4])
		if in.Proto == ProtoTCP && len(l4) >= 8 {
			p.InnerSeq = binary.BigEndian.Uint32(l4[4:8])
			p.InnerHasSq = true
		}
	} else if in.Proto == ProtoICMP || in.Proto == ProtoICMPv6 {
		if len(l4) >= 2 {
			in.SrcPort, in.DstPort = uint16(l4[0]), uint16(l4[1])
		}
	} else {
		return
	}
	p.Inner = in
	p.Flags |= HasInner
}

// parseTCPOptions reads MSS, window scale, SACK-permitted and timestamps
// (RFC 9293 section 3.2, RFC 7323). A bad option length ends the walk.
func parseTCPOptions(o []byte, p *Packet) {
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 {
			return
		}
		if kind == 1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return
		}
		l := int(o[1])
		if l < 2 || l > len(o) {
			return
		}
		switch kind {
		case 2:
			if l == 4 {
				p.MSS = binary.BigEndian.Uint16(o[2:4])
			}
		case 3:
			if l == 3 {
				p.WScale = int8(min(o[2], 14))
			}
		case 4:
			p.SACKPerm = true
		case 8:
			if l == 10 {
				p.HasTS = true
				p.TSVal = binary.BigEndian.Uint32(o[2:6])
				p.TSEcr = binary.BigEndian.Uint32(o[6:10])
			}
		}
		o = o[l:]
	}
}

// HasTransport reports whether the ports (or ICMP type/code) are valid.
func (p *Packet) HasTransport() bool {
	return p.IPVersion != 0 && p.Flags&NoTransport == 0
}
