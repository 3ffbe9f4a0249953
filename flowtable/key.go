// Package flowtable tracks connections for one worker: an open-addressing
// hash table keyed by a canonical (direction-free) five-tuple hashed with
// xxhash, a chunked slab of connection records, the TCP endpoint state
// machine with Zeek's conn_state and history semantics, and a timing wheel
// for idle expiry and detector deadlines. A Table is owned by one goroutine:
// it has no locks.
package flowtable

import (
	"bytes"
	"net/netip"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/dlltagent/dlltagent/decode"
)

// Key is a canonical five-tuple: the (address, port) pair that sorts lower
// comes first, so both directions of a connection have the same Key.
//
//	[0:16]  address A (IPv4 as IPv4-mapped IPv6)
//	[16:32] address B
//	[32:34] port A  [34:36] port B  [36] protocol  [37:40] zero
type Key [40]byte

// MakeKey builds the canonical key of t and reports whether t's source is
// the lower endpoint (A).
func MakeKey(t *decode.Tuple) (k Key, srcIsA bool) {
	s, d := t.Src.As16(), t.Dst.As16()
	c := bytes.Compare(s[:], d[:])
	srcIsA = c < 0 || (c == 0 && t.SrcPort <= t.DstPort)
	if srcIsA {
		copy(k[0:16], s[:])
		copy(k[16:32], d[:])
		k[32], k[33] = byte(t.SrcPort>>8), byte(t.SrcPort)
		k[34], k[35] = byte(t.DstPort>>8), byte(t.DstPort)
	} else {
		copy(k[0:16], d[:])
		copy(k[16:32], s[:])
		k[32], k[33] = byte(t.DstPort>>8), byte(t.DstPort)
		k[34], k[35] = byte(t.SrcPort>>8), byte(t.SrcPort)
	}
	k[36] = t.Proto
	return k, srcIsA
}

// Hash returns the xxhash of the key; it is symmetric in direction because
// the key is.
func (k *Key) Hash() uint64 {
	return xxhash.Sum64(unsafe.Slice((*byte)(unsafe.Pointer(k)), len(k)))
}

// FlowTuple returns the canonical key of p's connection, mapping ICMP
// request/reply pairs onto one flow the way Zeek and Community ID do (the
// ports are the ICMP type and its counterpart type, or type and code).
func FlowTuple(p *decode.Packet) decode.Tuple {
	t := p.Tuple
	if t.Proto == decode.ProtoICMP || t.Proto == decode.ProtoICMPv6 {
		if cp, ok := icmpCounterpart(t.Proto, p.ICMPType); ok {
			// Request and reply land on one key: (type, counterpart).
			t.SrcPort, t.DstPort = uint16(p.ICMPType), uint16(cp)
		} else {
			t.SrcPort, t.DstPort = uint16(p.ICMPType), uint16(p.ICMPCode)
		}
	}
	return t
}

// icmpCounterpart maps two-way ICMP message types to their counterpart, as
// in the Community ID specification.
func icmpCounterpart(proto, typ uint8) (uint8, bool) {
	if proto == decode.ProtoICMP {
		switch typ {
		case 8:
			return 0, true
		case 0:
			return 8, true
		case 13:
			return 14, true
		case 14:
			return 13, true
		case 15:
			return 16, true
		case 16:
			return 15, true
		case 10:
			return 9, true
		case 9:
			return 10, true
		case 17:
			return 18, true
		case 18:
			return 17, true
		}
		return 0, false
	}
	switch typ {
	case 128:
		return 129, true
	case 129:
		return 128, true
	case 133:
		return 134, true
	case 134:
		return 133, true
	case 135:
		return 136, true
	case 136:
		return 135, true
	case 130:
		return 131, true
	case 131:
		return 130, true
	case 144:
		return 145, true
	case 145:
		return 144, true
	}
	return 0, false
}

func isICMPRequest(proto, typ uint8) bool {
	if proto == decode.ProtoICMP {
		return typ == 8 || typ == 13 || typ == 15 || typ == 10 || typ == 17
	}
	return typ == 128 || typ == 133 || typ == 135 || typ == 130 || typ == 144
}

// ICMPCounterpart is exported for Community ID computation.
func ICMPCounterpart(proto, typ uint8) (uint8, bool) { return icmpCounterpart(proto, typ) }

// AddrA returns the key's lower address.
func (k *Key) AddrA() netip.Addr { return netip.AddrFrom16([16]byte(k[0:16])).Unmap() }

// AddrB returns the key's higher address.
func (k *Key) AddrB() netip.Addr { return netip.AddrFrom16([16]byte(k[16:32])).Unmap() }
