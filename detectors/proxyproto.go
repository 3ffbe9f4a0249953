package detectors

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// The PROXY protocol (HAProxy's, versions 1 and 2). A load balancer that
// passes connections on at the TCP level (AWS's NLB, HAProxy's
// send-proxy, Traefik's and Envoy's) writes, before the client's first
// byte, who the client and the server were. A capture behind it, in an
// ingress controller's pod with use-proxy-protocol, sees that header
// first: it is read and skipped, so the TLS handshake, the HTTP request or
// the database login after it are analysed as on a direct connection, and
// the connection's records name the client and server the header gave
// ("proxy"). Two mistakes are reported:
//
//   - the load balancer sends the header and the server does not expect
//     it: the server answers the header alone (nginx: 400 Bad Request) or
//     closes at once (PROTOCOL_MISMATCH);
//   - the server expects it and a client connects directly (from inside
//     the cluster, past the load balancer): the server closes at the
//     client's first bytes, which the TLS and HTTP messages then mention.
//
// The header is read only when it is whole in the client's first segment
// (load balancers write it at once, alone or with the first data). Its
// addresses are kept per worker while the connection lives, for at most
// maxProxied connections (beyond, a record has no "proxy").

// proxyV2Sig is the version 2 header's signature.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyV1Max is the longest version 1 header.
const proxyV1Max = 107

// maxProxied bounds the proxied connections a worker keeps the header of.
const maxProxied = 1 << 16

// proxyMismatchWindow is how soon after the header a server's close shows
// it could not read it (a server expecting it waits for the data).
const proxyMismatchWindow = int64(time.Second)

// proxyHdr is what a connection's PROXY header said.
type proxyHdr struct {
	first    int64 // the connection's first packet, to tell a reused index
	src, dst netip.AddrPort
	at       int64  // when it was sent
	n        uint16 // its length
	version  uint8
}

// proxyHeaderLen returns the length and version of the PROXY protocol
// header b starts with (0 if none, or not whole).
func proxyHeaderLen(b []byte) (int, uint8) {
	switch {
	case len(b) >= 16 && bytes.HasPrefix(b, proxyV2Sig) && b[12]>>4 == 2:
		n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if n <= len(b) {
			return n, 2
		}
	case len(b) >= 8 && string(b[:6]) == "PROXY ":
		i := bytes.Index(b[:min(len(b), proxyV1Max)], []byte("\r\n"))
		if i > 0 && (string(b[6:10]) == "TCP4" || string(b[6:10]) == "TCP6" || bytes.HasPrefix(b[6:], []byte("UNKNOWN"))) {
			return i + 2, 1
		}
	}
	return 0, 0
}

// parseProxy returns the client and server addresses of header h (not
// ok for a LOCAL connection, the balancer's own health check, or an
// unknown family).
func parseProxy(h []byte, version uint8) (src, dst netip.AddrPort, ok bool) {
	if version == 1 {
		f := bytes.Fields(h[6:])
		if len(f) != 5 || (string(f[0]) != "TCP4" && string(f[0]) != "TCP6") {
			return src, dst, false
		}
		sa, err1 := netip.ParseAddr(string(f[1]))
		da, err2 := netip.ParseAddr(string(f[2]))
		sp, ok1 := atoiPort(f[3])
		dp, ok2 := atoiPort(f[4])
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return src, dst, false
		}
		return netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp), true
	}
	if h[12]&0x0f != 1 { // LOCAL
		return src, dst, false
	}
	a := h[16:]
	switch h[13] >> 4 {
	case 1: // IPv4
		if len(a) < 12 {
			return src, dst, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:])),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:])), true
	case 2: // IPv6
		if len(a) < 36 {
			return src, dst, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:])),
			netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:])), true
	}
	return src, dst, false
}

// atoiPort parses a decimal port.
func atoiPort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int(ch-'0')
	}
	return uint16(n), n <= 65535
}

// proxyStrip reads the PROXY header at the start of the client's first
// segment p, if any, and returns the length to skip (0: none).
func (e *Engine) proxyStrip(c *flowtable.Conn, fs *flowState, p *decode.Packet, ts int64) int {
	n, v := proxyHeaderLen(p.Payload)
	if n == 0 {
		return 0
	}
	fs.more |= fProxied
	h := proxyHdr{first: c.First, at: ts, n: uint16(n), version: v}
	h.src, h.dst, _ = parseProxy(p.Payload[:n], v)
	if e.proxies == nil {
		e.proxies = make(map[int32]proxyHdr)
	}
	if len(e.proxies) < maxProxied {
		e.proxies[c.Index()] = h
	}
	return n
}

// proxyOf returns c's PROXY header, if it sent one and it is kept.
func (e *Engine) proxyOf(c *flowtable.Conn, fs *flowState) (proxyHdr, bool) {
	if fs.more&fProxied == 0 {
		return proxyHdr{}, false
	}
	h, ok := e.proxies[c.Index()]
	return h, ok && h.first == c.First
}

// clientSilent reports whether c's client has sent nothing yet, or only
// its PROXY header (a server that speaks first, MySQL's or NATS's, greets
// after it).
func (e *Engine) clientSilent(c *flowtable.Conn, fs *flowState) bool {
	if n := c.Size(0); n == 0 || fs.more&fProxied == 0 {
		return n == 0
	}
	h, ok := e.proxyOf(c, fs)
	return ok && c.Size(0) == uint64(h.n)
}

// appendProxyHostHint adds, to a database's refusal msg that names the
// client's host ('user'@'host'), that the server took the client for the
// address c's PROXY header gave: its host-based grants apply to that
// address, not to the load balancer's.
func (e *Engine) appendProxyHostHint(dst []byte, c *flowtable.Conn, fs *flowState, msg []byte) []byte {
	h, ok := e.proxyOf(c, fs)
	if !ok || !h.src.IsValid() {
		return dst
	}
	var a [64]byte
	host := append(append(append(a[:0], "'@'"...), h.src.Addr().Unmap().String()...), '\'')
	if !bytes.Contains(msg, host) {
		return dst
	}
	dst = append(dst, "; the server took the client for "...)
	dst = h.src.Addr().Unmap().AppendTo(dst)
	dst = append(dst, ", the address the load balancer's PROXY header gave: host-based grants (user@host) apply to that address"...)
	return dst
}

// proxyEnd forgets c's PROXY header as the connection ends.
func (e *Engine) proxyEnd(c *flowtable.Conn, fs *flowState) {
	if fs.more&fProxied != 0 {
		if h, ok := e.proxies[c.Index()]; ok && h.first == c.First {
			delete(e.proxies, c.Index())
		}
	}
}

// appendProxy adds what c's PROXY header said: the client and the server
// behind the load balancer.
func (e *Engine) appendProxy(dst []byte, c *flowtable.Conn, fs *flowState) []byte {
	h, ok := e.proxyOf(c, fs)
	if !ok || !h.src.IsValid() {
		return dst
	}
	dst = append(dst, `,"proxy":{"version":`...)
	dst = jsonw.Uint(dst, uint64(h.version))
	dst = append(dst, `,"orig_h":`...)
	dst = jsonw.Addr(dst, h.src.Addr().Unmap())
	dst = append(dst, `,"orig_p":`...)
	dst = jsonw.Uint(dst, uint64(h.src.Port()))
	dst = append(dst, `,"resp_h":`...)
	dst = jsonw.Addr(dst, h.dst.Addr().Unmap())
	dst = append(dst, `,"resp_p":`...)
	dst = jsonw.Uint(dst, uint64(h.dst.Port()))
	return append(dst, '}')
}

// proxyRefused reports a server that could not read the PROXY header
// c's client began with: it answered the header alone (b, its first
// bytes, nil for a close) before any other byte of the client came.
func (e *Engine) proxyRefused(c *flowtable.Conn, fs *flowState, b []byte, ts int64) {
	h, ok := e.proxyOf(c, fs)
	if !ok || c.Size(0) != uint64(h.n) || e.q(fs).events&(1<<NoteProtocolMismatch) != 0 {
		return
	}
	if b == nil && ts-h.at > proxyMismatchWindow {
		return // an idle timeout: the server waited for more
	}
	if b != nil && !bytes.HasPrefix(b, []byte("HTTP/1.")) && !tlsRecordHeader(b) {
		return
	}
	ev := e.problemEvent(c, fs, NoteProtocolMismatch, ts)
	if ev == nil {
		return
	}
	ev.B = append(ev.B, "server "...)
	ev.B = appendAddrPort(ev.B, c.Resp(), c.RespPort())
	ev.B = append(ev.B, " does not expect the PROXY protocol: client "...)
	ev.B = c.Orig().AppendTo(ev.B)
	ev.B = append(ev.B, " (a load balancer or proxy) began with a PROXY v"...)
	ev.B = appendUint(ev.B, uint64(h.version))
	ev.B = append(ev.B, " header"...)
	if h.src.IsValid() {
		ev.B = append(ev.B, " for client "...)
		ev.B = appendAddrPort(ev.B, h.src.Addr(), h.src.Port())
	}
	switch {
	case b == nil:
		ev.B = append(ev.B, ", and the server closed the connection at it"...)
	case tlsRecordHeader(b):
		ev.B = append(ev.B, ", and the server answered it with a TLS record"...)
	default:
		ev.B = append(ev.B, ", and the server answered it, before the client's request, with "...)
		ev.B = appendText(ev.B, cut(statusRest(b), 40))
	}
	ev.B = append(ev.B, ": turn the PROXY protocol on at the server (nginx: listen ... proxy_protocol; ingress-nginx: use-proxy-protocol) or off at the load balancer (HAProxy: send-proxy; AWS NLB: the target group's proxy protocol v2; the Service annotation service.beta.kubernetes.io/aws-load-balancer-proxy-protocol)"...)
	ev.B = appendSide(ev.B, "client")
	ev.B = append(ev.B, `,"mismatch":{"client":"proxy","server":"`...)
	if b != nil && !tlsRecordHeader(b) {
		ev.B = append(ev.B, "http"...)
	} else if b != nil {
		ev.B = append(ev.B, "tls"...)
	} else {
		ev.B = append(ev.B, "closed"...)
	}
	ev.B = append(ev.B, `"}`...)
	e.eventEndPcap(ev, fs)
}

// proxyExpectedHint is added where a server closed at a client's first
// bytes: one that expects the PROXY protocol does so to a client that
// connects past the load balancer.
const proxyExpectedHint = "; or it expects a PROXY protocol header first (nginx's listen ... proxy_protocol, ingress-nginx's use-proxy-protocol), which only the load balancer in front sends: a client inside the cluster that connects to it directly is refused so"
