package detectors

import (
	"encoding/json"
	"testing"
)

// FuzzTLS feeds arbitrary byte streams to both directions of the TLS
// parser, split at an arbitrary point.
func FuzzTLS(f *testing.F) {
	// A ClientHello record header with a length past the end.
	f.Add([]byte{22, 3, 1, 0xff, 0xff, 1, 0, 0, 4}, []byte{}, 3)
	// Alert records: plaintext fatal, and an oversized (encrypted) one.
	f.Add([]byte{21, 3, 3, 0, 2, 2, 48}, []byte{21, 3, 3, 0, 26}, 1)
	// ServerHello with a supported_versions extension cut short.
	f.Add([]byte{22, 3, 3, 0, 10}, []byte{22, 3, 3, 0, 46, 2, 0, 0, 42, 3, 3}, 7)
	// A HelloRetryRequest random followed by junk.
	f.Add([]byte{22, 3, 3, 0, 40, 2, 0, 0, 36, 3, 3, 0xCF, 0x21, 0xAD, 0x74}, []byte{20, 3, 3, 0, 1, 1}, 5)
	f.Fuzz(func(t *testing.T, c, s []byte, split int) {
		var st tlsState
		st.reset(&bufPools{hello: bufPool{size: maxHelloKeep}, ooo: bufPool{size: maxHeldBytes}})
		var ev tlsEvents
		if split < 0 {
			split = -split
		}
		if len(c) > 0 {
			split %= len(c)
		} else {
			split = 0
		}
		st.segment(0, 1000, c[:split], 1, &ev)
		st.segment(1, 5000, s, 2, &ev)
		st.segment(0, 1000+uint32(split), c[split:], 3, &ev)
		st.segment(1, 4000, s, 4, &ev) // a retransmission/overlap
	})
}

// FuzzDNS feeds arbitrary messages to the header, question and answer
// section walks.
func FuzzDNS(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'f', 'o', 'o', 0, 0, 1, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12})     // pointer loop
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 'a', 'b'}) // label past end
	f.Add([]byte{0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 1}) // one A record
	f.Fuzz(func(t *testing.T, msg []byte) {
		var h dnsHeader
		var name [255]byte
		if !parseDNS(msg, &h, &name) {
			return
		}
		if h.n > len(name) {
			t.Fatal("name overflow")
		}
		if h.qdcount > 0 {
			if n, _ := answerRecords(msg, &h); n > int(msg[6])<<8|int(msg[7]) {
				t.Fatal("more records than the answer count")
			}
		}
	})
}

func FuzzHeaderSearch(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Pepe: 1\r\n\r\n"), []byte("x-pepe"))
	f.Add([]byte("POST /x HTTP/1.1\r\nCookie: secret\r\n\r\n"), []byte("cookie"))
	f.Add([]byte("GET"), []byte("g"))
	f.Fuzz(func(t *testing.T, block, needle []byte) {
		needle = lowerASCII(append([]byte(nil), needle...))
		i := indexFold(block, needle)
		if i >= 0 && i+len(needle) > len(block) {
			t.Fatal("match past end")
		}
	})
}

// FuzzCertMessage feeds arbitrary Certificate message bodies to the DER
// walks: names, the lone-leaf check and the issuer's common name.
func FuzzCertMessage(f *testing.F) {
	f.Add([]byte{0, 0, 9, 0, 0, 6, 0x30, 4, 0x30, 2, 0xa0, 0})
	f.Add([]byte{0, 0, 12, 0, 0, 9, 0x30, 7, 0x30, 5, 0x02, 1, 1, 0x30, 0})
	f.Fuzz(func(t *testing.T, m []byte) {
		certDNSNames(m, func([]byte) {})
		var st tlsState
		st.readLeaf(m)
		issuerCN(m)
	})
}

// FuzzConversation drives a whole engine with a TCP conversation the
// input scripts: per segment one byte picks the side, the flags and how
// many of the following bytes are its payload. It reaches the rules that
// look across segments (keep-alive race, CONNECT tunnels, TLS after
// HTTP, resets, closes) with any order of data, FINs and resets.
func FuzzConversation(f *testing.F) {
	hello := []byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 0}
	connect := []byte("CONNECT 198.18.0.1:443 HTTP/1.1\r\n\r\n")
	ok := []byte("HTTP/1.1 200 Connection established\r\n\r\n")
	f.Add(append(append(append([]byte{0x00, byte(len(connect))}, connect...), append([]byte{0x01, byte(len(ok))}, ok...)...), append([]byte{0x00, byte(len(hello))}, hello...)...))
	get := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	f.Add(append(append([]byte{0x00, byte(len(get))}, get...), 0x03, 0, 0x00, byte(len(get)), 'G', 'E', 'T', ' ', 0x05, 0))
	// A server speaking first (HTTP/2 SETTINGS), then a ClientHello; an
	// HTTP/2 preface answered in HTTP/1.x; plain HTTP answered by a
	// TLS port's 400.
	settings := []byte{0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}
	f.Add(append(append([]byte{0x01, byte(len(settings))}, settings...), append([]byte{0x00, byte(len(hello))}, hello...)...))
	preface := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	bad := []byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nThe plain HTTP request was sent to HTTPS port")
	f.Add(append(append([]byte{0x00, byte(len(preface))}, preface...), append([]byte{0x01, byte(len(bad))}, bad...)...))
	f.Add(append(append([]byte{0x00, byte(len(get))}, get...), append([]byte{0x05, byte(len(bad))}, bad...)...))
	pgStart := []byte{0, 0, 0, 8, 4, 210, 22, 47}
	httpOK := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	f.Add(append(append([]byte{3, 0x00, byte(len(pgStart))}, pgStart...), append([]byte{0x01, byte(len(httpOK))}, httpOK...)...))
	greeting := []byte{10, 0, 0, 0, 10, '8', '.', '0', 0}
	f.Add(append(append([]byte{4, 0x01, byte(len(greeting))}, greeting...), append([]byte{0x00, byte(len(get))}, get...)...))
	flags := [...]string{"A", "A", "FA", "RA", "R", "A0", "PA", "F"}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, &discard{}, &st)
	// The first byte picks the server's port: the rules that depend on
	// the service (databases, brokers, gRPC, proxies) are reached too.
	ports := [...]uint16{443, 80, 8080, 5432, 3306, 6379, 5672, 4222, 50051, 6432, 3128, 7443}
	port := uint16(0)
	f.Fuzz(func(t *testing.T, script []byte) {
		sport := uint16(443)
		if len(script)%2 == 1 {
			sport, script = ports[int(script[0])%len(ports)], script[1:]
		}
		segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6}}
		for len(script) >= 2 && len(segs) < 64 {
			op, n := script[0], int(script[1])
			script = script[2:]
			n = min(n, len(script))
			fl := flags[(op>>1)&7]
			if fl == "PA" {
				fl = "A"
			}
			segs = append(segs, seg{op&1 == 0, fl, script[:n], int64(op>>4) * 1e8})
			script = script[n:]
		}
		port++
		replayInto(t, e, 1024+port%60000, sport, segs)
	})
}

// FuzzHTTPResponse feeds an HTTP/1.x server stream, cut into segments
// at the given points, after two requests (the first a HEAD), then
// closes it one way or another: the answer tracker must never panic, and
// never report more body than the answer declared.
func FuzzHTTPResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), 7, 33, uint8(0))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length:   99999999999999999\r\n\r\n"), 20, 60, uint8(1))
	f.Add([]byte("HTTP/1.1 101 Switching\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), 3, 4, uint8(2))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX-Pad: 0123456789012345678901234567890123456789012345678901234567890123456789\r\nContent-Length: 20\r\n\r\n0123456789"), 40, 95, uint8(0))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), 30, 46, uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, cut1, cut2 int, end uint8) {
		if len(stream) > 4096 {
			return
		}
		segs := []seg{{true, "S", nil, 1e6}, {false, "SA", nil, 1e6}, {true, "A", nil, 1e6},
			{true, "A", []byte("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6}, {true, "A", []byte("GET /g HTTP/1.1\r\nHost: x\r\n\r\n"), 1e6}}
		cuts := []int{0, min(max(cut1, 0), len(stream)), min(max(cut2, 0), len(stream)), len(stream)}
		if cuts[2] < cuts[1] {
			cuts[1], cuts[2] = cuts[2], cuts[1]
		}
		for i := 0; i+1 < len(cuts); i++ {
			if cuts[i+1] > cuts[i] {
				flags := "A"
				if i == 1 && end&4 != 0 {
					flags = "G" // missing from the capture
				}
				segs = append(segs, seg{false, flags, stream[cuts[i]:cuts[i+1]], 1e6})
			}
		}
		switch end % 4 {
		case 0:
			segs = append(segs, seg{true, "A", nil, 1e6}, seg{false, "FA", nil, 1e6})
		case 1:
			segs = append(segs, seg{true, "A", nil, 1e6}, seg{true, "FA", nil, 2e9})
		case 2:
			segs = append(segs, seg{false, "RA", nil, 1e6})
		case 3:
			segs = append(segs, seg{true, "A", nil, 12e9})
		}
		out := replay(t, 8080, segs)
		for _, l := range out.lines {
			if len(l) == 0 || l[0] != '{' {
				continue // a pcap's bytes
			}
			var e struct {
				HTTP *struct {
					Body   int64  `json:"body_bytes"`
					Length *int64 `json:"content_length"`
				} `json:"http"`
			}
			if err := json.Unmarshal(l, &e); err != nil {
				t.Fatalf("not JSON: %v: %s", err, l)
			}
			if e.HTTP != nil && e.HTTP.Length != nil && e.HTTP.Body >= *e.HTTP.Length {
				t.Fatalf("a whole body reported incomplete: %s", l)
			}
		}
	})
}
