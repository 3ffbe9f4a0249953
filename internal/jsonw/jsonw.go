// Package jsonw appends JSON values to byte slices without reflection, for
// the records written on the packet path.
package jsonw

import (
	"net/netip"
	"strconv"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20 && c != 0x7f:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Bytes appends b as a JSON string.
func Bytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = Escaped(dst, b)
	return append(dst, '"')
}

// Escaped appends b escaped for the inside of a JSON string (no quotes).
// Invalid UTF-8 becomes U+FFFD.
func Escaped(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20 && c != 0x7f:
				dst = append(dst, c)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}

// Key appends ,"k": (or "k": when first is true).
func Key(dst []byte, k string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

// Int appends an integer.
func Int(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// Uint appends an unsigned integer.
func Uint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

// Bool appends true or false.
func Bool(dst []byte, v bool) []byte { return strconv.AppendBool(dst, v) }

// Seconds appends ns as seconds with microsecond precision (Zeek's ts).
func Seconds(dst []byte, ns int64) []byte {
	if ns < 0 {
		dst = append(dst, '-')
		ns = -ns
	}
	us := ns / 1000
	dst = strconv.AppendInt(dst, us/1e6, 10)
	return appendFrac(dst, uint32(us%1e6), 6)
}

// Millis appends ns as milliseconds with microsecond precision.
func Millis(dst []byte, ns int64) []byte {
	if ns < 0 {
		dst = append(dst, '-')
		ns = -ns
	}
	us := ns / 1000
	dst = strconv.AppendInt(dst, us/1000, 10)
	return appendFrac(dst, uint32(us%1000), 3)
}

// appendFrac appends '.' and frac as exactly n digits (n <= 6). The
// divisions are by the constant 10, which the compiler turns into
// multiplications: every record carries several of these numbers.
func appendFrac(dst []byte, frac uint32, n int) []byte {
	var b [7]byte
	b[0] = '.'
	for i := n; i >= 1; i-- {
		b[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, b[:n+1]...)
}

// Addr appends an address as a JSON string.
func Addr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}
