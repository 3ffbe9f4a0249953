package detectors

import (
	"encoding/binary"
	"testing"
)

// TestProxyHeader reads PROXY protocol headers of both versions, whole
// or not, with addresses or without (a balancer's health check).
func TestProxyHeader(t *testing.T) {
	v2 := func(cmd, fam byte, addrs []byte) []byte {
		b := append([]byte{}, proxyV2Sig...)
		b = append(b, 0x20|cmd, fam, 0, 0)
		binary.BigEndian.PutUint16(b[14:], uint16(len(addrs)))
		return append(b, addrs...)
	}
	four := []byte{203, 0, 113, 7, 198, 18, 0, 1, 0xc8, 0x1f, 0x01, 0xbb}
	for _, c := range []struct {
		name string
		b    []byte
		n    int
		src  string
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 198.18.0.1 51231 443\r\nGET / HTTP/1.1\r\n"), 45, "203.0.113.7:51231"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 fd00:198:18::1 51231 443\r\n\x16\x03\x01"), 49, "[2001:db8::7]:51231"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), 15, ""},
		{"v1 cut", []byte("PROXY TCP4 203.0.113.7 198.18.0.1 51231"), 0, ""},
		{"v1 bad port", []byte("PROXY TCP4 203.0.113.7 198.18.0.1 512319 443\r\n"), 46, ""},
		{"v2 tcp4 with a TLV", v2(1, 0x11, append(four, 0xea, 0, 1, 'x')), 32, "203.0.113.7:51231"},
		{"v2 local", v2(0, 0, nil), 16, ""},
		{"v2 cut", v2(1, 0x11, four)[:20], 0, ""},
		{"http", []byte("GET / HTTP/1.1\r\n"), 0, ""},
	} {
		n, v := proxyHeaderLen(c.b)
		if n != c.n {
			t.Errorf("%s: length %d, want %d", c.name, n, c.n)
			continue
		}
		if n == 0 {
			continue
		}
		src, _, ok := parseProxy(c.b[:n], v)
		if got := ""; ok {
			got = src.String()
			if got != c.src {
				t.Errorf("%s: client %s, want %s", c.name, got, c.src)
			}
		} else if c.src != "" {
			t.Errorf("%s: no addresses, want %s", c.name, c.src)
		}
	}
}
