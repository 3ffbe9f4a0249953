// Command gen writes a pcap of a realistic traffic mix, reproducible from a
// seed, for benchmarks and flood tests: TLS 1.2/1.3 handshakes (healthy and
// failing), HTTP with and without the searched header, large downloads in
// 64 KiB GSO frames, refused and unanswered SYNs, resets, DNS (with
// NXDOMAIN). Addresses come from 198.18.0.0/15 only.
//
//	gen -o mix.pcap -conns 50000 -seed 1
//	gen -o flood.pcap -flood 1000000      # SYN flood: 1M distinct flows
package main

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"os"

	"github.com/dlltagent/dlltagent/internal/pcapio"
)

func main() {
	out := flag.String("o", "mix.pcap", "output pcap")
	conns := flag.Int("conns", 20000, "connections in the mix")
	rate := flag.Float64("rate", 2000, "new connections per second (packet time)")
	seed := flag.Int64("seed", 1, "random seed")
	flood := flag.Int("flood", 0, "instead of the mix: a SYN flood of this many distinct flows")
	header := flag.String("header", "X-Pepe", "the searched header some HTTP requests carry")
	failures := flag.Bool("failures", true, "include failing connections (false: healthy traffic only, like production)")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pw, _ := pcapio.NewWriter(w, pcapio.LinkEthernet)
	g := &gen{rnd: rand.New(rand.NewSource(*seed)), w: pw, header: *header, failures: *failures}
	var n int
	if *flood > 0 {
		n = g.flood(*flood)
	} else {
		n = g.mix(*conns, *rate)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	f.Close()
	fmt.Fprintf(os.Stderr, "gen: wrote %d packets to %s\n", n, *out)
}

type gen struct {
	rnd      *rand.Rand
	w        *pcapio.Writer
	header   string
	failures bool
	buf      []byte
	n        int
}

const t0 = int64(1_780_000_000) * 1e9

// flood writes n SYNs from distinct sources to one server.
func (g *gen) flood(n int) int {
	for i := 0; i < n; i++ {
		src := [4]byte{198, 18, byte(i >> 16 & 0x7f), byte(i >> 8)}
		src[1] |= byte(i>>23) & 1
		c := &conn{cli: src, srv: [4]byte{198, 19, 255, 1}, cport: uint16(1024 + i%60000), sport: 443, cseq: uint32(i * 7919)}
		g.emit(t0+int64(i)*1000, c.frame(g, true, syn, nil, 0))
	}
	return g.n
}

const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
)

type conn struct {
	cli, srv     [4]byte
	cport, sport uint16
	cseq, sseq   uint32
	ipid         uint16
}

// frame builds an Ethernet/IPv4/TCP frame; the payload may be a GSO frame
// larger than the MTU, as veth passes them.
func (c *conn) frame(g *gen, fromCli bool, flags uint8, payload []byte, fill int) []byte {
	plen := len(payload) + fill
	opt := 12
	if flags&syn != 0 {
		opt = 20
	}
	tot := 20 + 20 + opt + plen
	b := g.buf[:0]
	b = append(b, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00)
	if !fromCli {
		copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
		copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	}
	ip := len(b)
	b = append(b, 0x45, 0, byte(tot>>8), byte(tot), 0, 0, 0x40, 0, 64, 6, 0, 0)
	c.ipid++
	binary.BigEndian.PutUint16(b[ip+4:], c.ipid)
	src, dst, sp, dp, seq, ackn := c.cli, c.srv, c.cport, c.sport, c.cseq, c.sseq
	if !fromCli {
		src, dst, sp, dp, seq, ackn = c.srv, c.cli, c.sport, c.cport, c.sseq, c.cseq
	}
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	var sum uint32
	for i := ip; i < ip+20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[ip+10:], ^uint16(sum))
	if flags&ack == 0 {
		ackn = 0
	}
	b = binary.BigEndian.AppendUint16(b, sp)
	b = binary.BigEndian.AppendUint16(b, dp)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ackn)
	b = append(b, byte((20+opt)/4)<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
	if flags&syn != 0 {
		b = append(b, 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7)
	} else {
		b = append(b, 1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1)
	}
	b = append(b, payload...)
	for i := 0; i < fill; i++ {
		b = append(b, byte(i))
	}
	adv := uint32(plen)
	if flags&(syn|fin) != 0 {
		adv++
	}
	if fromCli {
		c.cseq += adv
	} else {
		c.sseq += adv
	}
	g.buf = b
	return b
}

func (g *gen) emit(ts int64, frame []byte) {
	g.w.Write(ts, frame, len(frame))
	g.n++
}

// step is one packet of a connection script, at an offset from its start.
type step struct {
	dt      int64 // ns after the previous step
	fromCli bool
	flags   uint8
	payload []byte
	fill    int
}

type active struct {
	next  int64
	c     *conn
	steps []step
	i     int
}

type pq []*active

func (q pq) Len() int           { return len(q) }
func (q pq) Less(i, j int) bool { return q[i].next < q[j].next }
func (q pq) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pq) Push(x any)        { *q = append(*q, x.(*active)) }
func (q *pq) Pop() any          { o := *q; x := o[len(o)-1]; *q = o[:len(o)-1]; return x }

// mix interleaves n connections in time order.
func (g *gen) mix(n int, rate float64) int {
	var q pq
	start := t0
	for i := 0; i < n; i++ {
		start += int64(g.rnd.ExpFloat64() / rate * 1e9)
		c := &conn{
			cli:   [4]byte{198, 18, byte(1 + g.rnd.Intn(250)), byte(1 + g.rnd.Intn(250))},
			srv:   [4]byte{198, 19, byte(g.rnd.Intn(4)), byte(1 + g.rnd.Intn(20))},
			cport: uint16(1024 + g.rnd.Intn(60000)), cseq: g.rnd.Uint32(), sseq: g.rnd.Uint32(),
		}
		a := &active{next: start, c: c, steps: g.script(c)}
		heap.Push(&q, a)
		// Drain what is due before the next connection starts.
		for q.Len() > 0 && q[0].next <= start {
			g.advance(&q)
		}
	}
	for q.Len() > 0 {
		g.advance(&q)
	}
	return g.n
}

func (g *gen) advance(q *pq) {
	a := (*q)[0]
	s := a.steps[a.i]
	g.emit(a.next, a.c.frame(g, s.fromCli, s.flags, s.payload, s.fill))
	a.i++
	if a.i == len(a.steps) {
		heap.Pop(q)
		return
	}
	a.next += a.steps[a.i].dt
	heap.Fix(q, 0)
}

// script picks a connection kind and returns its packets.
func (g *gen) script(c *conn) []step {
	rtt := int64(100e3 + g.rnd.Intn(5e6)) // 0.1 to 5 ms
	hs := []step{{0, true, syn, nil, 0}, {rtt / 2, false, syn | ack, nil, 0}, {rtt / 2, true, ack, nil, 0}}
	closeFin := []step{{rtt, true, fin | ack, nil, 0}, {rtt / 2, false, fin | ack, nil, 0}, {rtt / 2, true, ack, nil, 0}}
	r := g.rnd.Intn(100)
	if !g.failures && ((r >= 43 && r < 49) || (r >= 66 && r < 82)) {
		r %= 43 // a healthy TLS connection instead
	}
	switch {
	case r < 28: // healthy TLS 1.3
		c.sport = 443
		s := append(hs, g.clientHello(true, g.rnd.Intn(5) == 0)...)
		s = append(s, step{rtt / 2, false, psh | ack, cat(serverHello(true), record(20, 1), record(23, 2500)), 0},
			step{rtt / 2, true, psh | ack, cat(record(20, 1), record(23, 53)), 0},
			step{1e6, true, psh | ack, record(23, 400), 0},
			step{rtt / 2, false, psh | ack, cat(record(23, 250), record(23, 2000+g.rnd.Intn(8000))), 0},
			step{rtt / 2, true, ack, nil, 0},
			step{rtt, true, psh | ack, record(23, 19), 0})
		return append(s, closeFin...)
	case r < 43: // healthy TLS 1.2
		c.sport = 443
		s := append(hs, g.clientHello(false, false)...)
		s = append(s, step{rtt / 2, false, psh | ack, cat(serverHello(false), hsRecord(11, 2400), hsRecord(12, 300), hsRecord(14, 0)), 0},
			step{rtt / 2, true, psh | ack, cat(hsRecord(16, 66), record(20, 1), record(22, 40)), 0},
			step{rtt / 2, false, psh | ack, cat(record(20, 1), record(22, 40)), 0},
			step{1e6, true, psh | ack, record(23, 400), 0},
			step{rtt / 2, false, psh | ack, record(23, 3000), 0},
			step{rtt / 2, true, ack, nil, 0})
		return append(s, closeFin...)
	case r < 46: // TLS 1.2: client rejects the certificate (unknown_ca)
		c.sport = 443
		s := append(hs, g.clientHello(false, false)...)
		s = append(s, step{rtt / 2, false, psh | ack, cat(serverHello(false), hsRecord(11, 2400), hsRecord(14, 0)), 0},
			step{rtt / 2, true, psh | ack, []byte{21, 3, 3, 0, 2, 2, 48}, 0})
		return append(s, closeFin...)
	case r < 49: // TLS 1.3: client rejects with an encrypted alert
		c.sport = 443
		s := append(hs, g.clientHello(true, false)...)
		s = append(s, step{rtt / 2, false, psh | ack, cat(serverHello(true), record(20, 1), record(23, 2500)), 0},
			step{rtt / 2, true, psh | ack, cat(record(20, 1), record(23, 19)), 0})
		return append(s, closeFin...)
	case r < 64: // HTTP, some with the searched header
		c.sport = 80
		req := "GET /api/v1/items/" + fmt.Sprint(g.rnd.Intn(1e6)) + " HTTP/1.1\r\nHost: svc.bench.test\r\nUser-Agent: gen/1\r\nAccept: */*\r\n"
		if g.rnd.Intn(10) == 0 {
			req += g.header + ": " + fmt.Sprint(g.rnd.Intn(100)) + "\r\n"
		}
		req += "\r\n"
		s := append(hs, step{rtt, true, psh | ack, []byte(req), 0},
			step{rtt / 2, false, psh | ack, []byte("HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n"), 512},
			step{rtt / 2, true, ack, nil, 0})
		return append(s, closeFin...)
	case r < 66: // a download in 64 KiB GSO frames
		c.sport = 80
		s := append(hs, step{rtt, true, psh | ack, []byte("GET /big HTTP/1.1\r\nHost: files.bench.test\r\n\r\n"), 0})
		head := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
		for i := 0; i < 8; i++ {
			if i == 0 {
				// The answer starts with its status line (the rest of the
				// frames are its body, until the server's FIN).
				s = append(s, step{200e3, false, ack, head, 63000 - len(head)})
				continue
			}
			s = append(s, step{200e3, false, ack, nil, 63000})
			if i%2 == 1 {
				s = append(s, step{50e3, true, ack, nil, 0})
			}
		}
		return append(s, closeFin...)
	case r < 74: // refused
		c.sport = uint16(8000 + g.rnd.Intn(100))
		return []step{{0, true, syn, nil, 0}, {rtt / 2, false, rst | ack, nil, 0}}
	case r < 77: // unanswered
		c.sport = 9999
		return []step{{0, true, syn, nil, 0}, {1e9, true, syn, nil, 0}, {2e9, true, syn, nil, 0}}
	case r < 82: // reset by the server after the request
		c.sport = 7000
		return append(hs, step{rtt, true, psh | ack, []byte("GET / HTTP/1.1\r\nHost: r\r\n\r\n"), 0},
			step{rtt / 2, false, rst | ack, nil, 0})
	default: // DNS over UDP is generated as a TCP-free exchange below
		c.sport = 53
		return g.dnsSteps(c, rtt)
	}
}

func (g *gen) dnsSteps(c *conn, rtt int64) []step {
	// Encoded as UDP by marking: the frame builder is TCP-only, so DNS is
	// carried over TCP port 53 with a length prefix (RFC 1035 4.2.2).
	name := fmt.Sprintf("svc%d.bench.test", g.rnd.Intn(1000))
	rcode := byte(0)
	if g.rnd.Intn(5) == 0 {
		rcode = 3
	}
	q := dnsMsg(uint16(g.rnd.Intn(65536)), false, 0, name)
	a := dnsMsg(binary.BigEndian.Uint16(q), true, rcode, name)
	hs := []step{{0, true, syn, nil, 0}, {rtt / 2, false, syn | ack, nil, 0}, {rtt / 2, true, ack, nil, 0}}
	return append(hs, step{rtt, true, psh | ack, withLen(q), 0}, step{rtt / 2, false, psh | ack, withLen(a), 0},
		step{rtt, true, fin | ack, nil, 0}, step{rtt / 2, false, fin | ack, nil, 0}, step{rtt / 2, true, ack, nil, 0})
}

func withLen(m []byte) []byte {
	return append([]byte{byte(len(m) >> 8), byte(len(m))}, m...)
}

func dnsMsg(id uint16, resp bool, rcode byte, name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	flags := uint16(0x0100)
	if resp {
		flags = 0x8180 | uint16(rcode)
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	an := byte(0)
	if resp && rcode == 0 {
		an = 1 // the address asked for
	}
	b = append(b, 0, 1, 0, an, 0, 0, 0, 0)
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			b = append(b, byte(i-start))
			b = append(b, name[start:i]...)
			start = i + 1
		}
	}
	b = append(b, 0, 0, 1, 0, 1)
	if an == 1 {
		// The question's name (a pointer to offset 12), A, IN, TTL 30,
		// an address in 198.18.0.0/15.
		b = append(b, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 198, 18, byte(id>>8), byte(id))
	}
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func record(typ byte, n int) []byte {
	b := []byte{typ, 3, 3, byte(n >> 8), byte(n)}
	return append(b, make([]byte, n)...)
}

func hsRecord(typ byte, n int) []byte {
	body := append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
	return append([]byte{22, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
}

// clientHello returns the client's hello segments: one, or two when a
// post-quantum key share makes it larger than one MSS.
func (g *gen) clientHello(tls13, pq bool) []step {
	var ext []byte
	sni := fmt.Sprintf("api%d.bench.test", g.rnd.Intn(100))
	sn := append([]byte{0, byte(len(sni) + 3), 0, byte(len(sni) >> 8), byte(len(sni))}, sni...)
	sn = append([]byte{0, 0, byte(len(sn) >> 8), byte(len(sn))}, sn...)
	ext = append(ext, sn...)
	if tls13 {
		ext = append(ext, 0, 43, 0, 5, 4, 3, 4, 3, 3)
		ks := 36
		if pq {
			ks = 1220
		}
		ext = append(ext, 0, 51, byte(ks>>8), byte(ks))
		ext = append(ext, make([]byte, ks)...)
	}
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 32)
	body = append(body, make([]byte, 32)...)
	body = append(body, 0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0)
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	rec := append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	if len(rec) <= 1448 {
		return []step{{0, true, psh | ack, rec, 0}}
	}
	return []step{{0, true, ack, rec[:1448], 0}, {10e3, true, psh | ack, rec[1448:], 0}}
}

func serverHello(tls13 bool) []byte {
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 32)
	body = append(body, make([]byte, 32)...)
	body = append(body, 0x13, 0x01, 0)
	var ext []byte
	if tls13 {
		ext = append(ext, 0, 43, 0, 2, 3, 4, 0, 51, 0, 36, 0, 29, 0, 32)
		ext = append(ext, make([]byte, 32)...)
	}
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{2, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 3, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}
