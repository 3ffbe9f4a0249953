// Package communityid computes Community ID v1 flow hashes
// (https://github.com/corelight/community-id-spec), seed 0 by default.
package communityid

import (
	"crypto/sha1"
	"encoding/base64"
	"net/netip"
)

// Append appends "1:<base64(sha1)>" for the flow to dst. For ICMP the ports
// are the type and code (or counterpart type) as the spec maps them; the
// caller passes them already mapped, with oneWay set for ICMP types that
// have no counterpart (their endpoints are not reordered).
func Append(dst []byte, seed uint16, src, dst4 netip.Addr, sport, dport uint16, proto uint8, oneWay bool) []byte {
	s, d := src.Unmap(), dst4.Unmap()
	sb, db := s.AsSlice(), d.AsSlice()
	if !oneWay && less(db, sb, dport, sport) {
		sb, db = db, sb
		sport, dport = dport, sport
	}
	var buf [2 + 16 + 16 + 1 + 1 + 2 + 2]byte
	b := buf[:0]
	b = append(b, byte(seed>>8), byte(seed))
	b = append(b, sb...)
	b = append(b, db...)
	b = append(b, proto, 0)
	b = append(b, byte(sport>>8), byte(sport), byte(dport>>8), byte(dport))
	sum := sha1.Sum(b)
	dst = append(dst, '1', ':')
	var enc [28]byte
	base64.StdEncoding.Encode(enc[:], sum[:])
	return append(dst, enc[:]...)
}

func less(a, b []byte, pa, pb uint16) bool {
	for i := range a {
		if i >= len(b) {
			break
		}
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return pa < pb
}
