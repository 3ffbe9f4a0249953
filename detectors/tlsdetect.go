package detectors

import (
	"time"

	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/jsonw"
)

func sideName(d int8) string {
	if d == 0 {
		return "client"
	}
	return "server"
}

// tlsEvents acts on what a segment revealed.
func (e *Engine) tlsEvents(c *flowtable.Conn, fs *flowState, ev *tlsEvents, ts int64) {
	t := e.tlsOf(fs)
	if ev.alert && !t.est && !t.reported {
		t.reported = true
		fs.set(fTLSFatal)
		b := e.problemEvent(c, fs, NoteTLSAlert, ts)
		if b == nil {
			return
		}
		side := sideName(t.alertSide)
		addr := c.Orig()
		if t.alertSide == 1 {
			addr = c.Resp()
		}
		b.B = append(b.B, side...)
		b.B = append(b.B, ' ')
		b.B = addr.AppendTo(b.B)
		b.B = append(b.B, " rejected the handshake: "...)
		b.B = append(b.B, alertExplain(t.alertCode, side, t.certReq, t.cliCert == 1)...)
		b.B = append(b.B, ": fatal alert "...)
		b.B = append(b.B, AlertName(t.alertCode)...)
		b.B = append(b.B, " ("...)
		b.B = appendUint(b.B, uint64(t.alertCode))
		b.B = append(b.B, ')')
		if t.alertSide == 0 && t.nameOK == 0 {
			b.B = append(b.B, "; "...)
			b.B = t.appendNameMismatch(b.B)
		} else if t.alertSide == 0 && t.alertCode == 42 && t.tls13 && !t.d[1].gap {
			b.B = t.appendHiddenName(b.B, c)
		}
		if t.alertSide == 0 && (t.alertCode == 48 || t.alertCode == 46 || t.alertCode == 42) {
			b.B = t.appendChainHint(b.B)
		}
		if t.alertSide == 0 && t.alertCode == 45 {
			b.B = t.appendValidity(b.B, ts)
		}
		if t.alertSide == 1 && t.alertCode == 112 {
			if t.sniLen == 0 {
				b.B = append(b.B, "; the client sent no server name (it connected by address), and the server answers only names it is set up for (nginx's ssl_reject_handshake, an ingress or gateway listener): connect by one of those names"...)
			} else {
				b.B = append(b.B, "; the client asked for "...)
				b.B = appendText(b.B, t.SNI())
				b.B = append(b.B, ", a name the server is not set up for (nginx's server_name with ssl_reject_handshake, an ingress or gateway listener's hostnames): check the name, or add it to the server"...)
			}
		}
		if t.alertSide == 1 && t.alertCode == 120 && t.alpnH2 {
			b.B = append(b.B, "; the client offered only h2, as gRPC clients do: the server's TLS port does not speak HTTP/2 (nginx: http2 on its listen), or it is not the port that serves gRPC"...)
		}
		if t.alertSide == 0 && t.d[1].gap && t.nameOK < 0 && certAlert(t.alertCode) {
			b.B = append(b.B, "; the server's certificate is not described: the capture missed it (cut by its snaplen, or lost)"...)
		}
		b.B = t.appendOldOffer(b.B)
		b.B = t.appendOffer(b.B)
		b.B = e.appendTunnel(b.B, c, fs)
		b.B = appendSide(b.B, side)
		b.B = e.appendTLS(b.B, c, t, false)
		e.eventEndPcap(b, fs)
	}
	if (ev.tls13Alrt || ev.encAlert) && !t.reported {
		e.keepPcap(c, fs, NoteTLSRejectedEncrypted, ts)
	}
	if ev.quitOff && !t.reported && e.q(fs).events == 0 && e.q(fs).pcapNote == NoteTLSRejectedEncrypted && !fs.has(fPcapDone) {
		e.p(fs).pcapName = "" // no rejection after all: no pcap
	}
}

// appendOldOffer adds, to a server's refusal of a ClientHello, the
// highest version the client offered when that is the likely cause: TLS
// 1.0 and 1.1 (servers on current libraries refuse them, OpenSSL 3 with
// internal_error, others with protocol_version or handshake_failure), or
// any version the server answered with protocol_version.
func (t *tlsState) appendOldOffer(dst []byte) []byte {
	if t.alertSide != 1 || t.shSeen || t.offered == 0 || (t.offered >= 0x0303 && t.alertCode != 70) {
		return dst
	}
	dst = append(dst, "; the client offered at most "...)
	dst = append(dst, TLSVersionName(t.offered)...)
	if t.offered < 0x0303 {
		dst = append(dst, ", which servers on current TLS libraries refuse: they require TLS 1.2 or later"...)
	}
	return dst
}

// appendOffer adds, to a server's refusal of a ClientHello for finding
// nothing acceptable in it (handshake_failure, insufficient_security),
// what the client offered when it offered little: a client restricted to
// a few groups or suites (a FIPS build, an old JVM, curl's --curves or
// --ciphers) meets a server restricted differently. A short list is
// named, a long one counted.
func (t *tlsState) appendOffer(dst []byte) []byte {
	const few = 3
	if t.alertSide != 1 || t.shSeen || (t.alertCode != 40 && t.alertCode != 71) || t.nSuites == 0 ||
		(t.nSuites > few && (t.nGroups == 0 || t.nGroups > few)) {
		return dst
	}
	list := func(dst []byte, what string, vs []uint16, n uint8, name func(uint16) string) []byte {
		dst = appendUint(dst, uint64(n))
		dst = append(dst, what...)
		if n > 1 {
			dst = append(dst, 's')
		}
		if n > few {
			return dst
		}
		dst = append(dst, " ("...)
		for i, v := range vs[:n] {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			if s := name(v); s != "" {
				dst = append(dst, s...)
			} else {
				dst = append(dst, "0x"...)
				dst = appendHex4(dst, v)
			}
		}
		return append(dst, ')')
	}
	dst = append(dst, "; the client offered "...)
	if t.nGroups > 0 {
		dst = list(dst, " key-exchange group", t.groups[:], t.nGroups, groupName)
		dst = append(dst, " and "...)
	}
	dst = list(dst, " cipher suite", t.suites[:], t.nSuites, suiteName)
	return append(dst, ": compare with what the server allows"...)
}

// appendHex4 appends v as four hex digits.
func appendHex4(dst []byte, v uint16) []byte {
	const hex = "0123456789abcdef"
	return append(dst, hex[v>>12], hex[v>>8&15], hex[v>>4&15], hex[v&15])
}

// groupName names a TLS key-exchange group (IANA's names; "" if unknown).
func groupName(v uint16) string {
	switch v {
	case 0x0017:
		return "secp256r1"
	case 0x0018:
		return "secp384r1"
	case 0x0019:
		return "secp521r1"
	case 0x001d:
		return "x25519"
	case 0x001e:
		return "x448"
	case 0x0100:
		return "ffdhe2048"
	case 0x0101:
		return "ffdhe3072"
	case 0x0102:
		return "ffdhe4096"
	case 0x11eb:
		return "SecP256r1MLKEM768"
	case 0x11ec:
		return "X25519MLKEM768"
	case 0x11ed:
		return "SecP384r1MLKEM1024"
	case 0x6399:
		return "X25519Kyber768Draft00"
	case 0x0200:
		return "MLKEM512"
	case 0x0201:
		return "MLKEM768"
	case 0x0202:
		return "MLKEM1024"
	}
	return ""
}

// suiteName names a common TLS cipher suite (IANA's names; "" if not
// among them).
func suiteName(v uint16) string {
	switch v {
	case 0x1301:
		return "TLS_AES_128_GCM_SHA256"
	case 0x1302:
		return "TLS_AES_256_GCM_SHA384"
	case 0x1303:
		return "TLS_CHACHA20_POLY1305_SHA256"
	case 0xc02b:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
	case 0xc02c:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	case 0xc02f:
		return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
	case 0xc030:
		return "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
	case 0xcca8:
		return "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
	case 0xcca9:
		return "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
	case 0xc009:
		return "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
	case 0xc00a:
		return "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
	case 0xc013:
		return "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
	case 0xc014:
		return "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
	case 0x009c:
		return "TLS_RSA_WITH_AES_128_GCM_SHA256"
	case 0x009d:
		return "TLS_RSA_WITH_AES_256_GCM_SHA384"
	case 0x002f:
		return "TLS_RSA_WITH_AES_128_CBC_SHA"
	case 0x0035:
		return "TLS_RSA_WITH_AES_256_CBC_SHA"
	case 0x000a:
		return "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
	}
	return ""
}

// tlsClose runs when a side closes (FIN or first RST) a TLS connection
// whose handshake did not complete or whose rejection is pending.
func (e *Engine) tlsClose(c *flowtable.Conn, fs *flowState, side int, ts int64) {
	t := e.tlsOf(fs)
	if t.reported || e.q(fs).events&(1<<NoteProtocolMismatch) != 0 {
		// (A mismatch, such as a PROXY header the server could not
		// read, explains the close.)
		return
	}
	if t.pendingRej >= 0 && (t.pendingRej == 1 || !t.est) {
		e.tlsRejected(c, fs, ts)
		return
	}
	if t.rejQuit && t.pendingRej == 0 {
		if side == 0 && ts-t.pendingRejTS < quitWindow {
			e.holdQuit(c, fs, quitAlert, t.pendingRejTS)
		}
		return
	}
	if t.tls13 && t.shSeen && !t.est {
		// The server's flight ended with an alert-sized record (not its
		// first: EncryptedExtensions can be that small) and the client
		// never sent its Finished: the server rejected the handshake.
		if sd := &t.d[1]; sd.encRecs >= 2 && alertSized(int(sd.lastEncLen)) {
			t.pendingRej, t.pendingRejTS, t.rejEarly = 1, sd.lastEncTS, true
			e.tlsRejected(c, fs, ts)
			return
		}
	}
	quiet := side == 1 && t.certRefusedQuietly(ts)
	// With bytes missing, the handshake may well have ended; but a server
	// that sent nothing is judged even if the ClientHello was cut.
	if (t.est && !quiet) || t.chTS == 0 || c.E[0].Pkts() == 0 || c.E[1].Pkts() == 0 || t.d[1].gap || (t.d[0].gap && c.Size(1) != 0) {
		return
	}
	t.reported = true
	b := e.problemEvent(c, fs, NoteTLSHandshakeAborted, ts)
	if b == nil {
		return
	}
	sn := sideName(int8(side))
	addr := c.Orig()
	if side == 1 {
		addr = c.Resp()
	}
	b.B = append(b.B, sn...)
	b.B = append(b.B, ' ')
	b.B = addr.AppendTo(b.B)
	if fs.firstRST == int8(side+1) && c.E[side].FINs() == 0 {
		b.B = append(b.B, " reset the connection (RST) during the TLS handshake without an alert ("...)
	} else {
		b.B = append(b.B, " closed the connection during the TLS handshake without an alert ("...)
	}
	switch {
	case !t.shSeen && side == 1 && t.d[1].plain != 0:
		b.B = append(b.B, "after answering the ClientHello "...)
		b.B = appendNotTLS(b.B, t.d[1].plain)
	case !t.shSeen && side == 0 && t.d[1].plain != 0:
		b.B = append(b.B, "after the server replied "...)
		b.B = appendNotTLS(b.B, t.d[1].plain)
	case !t.shSeen && side == 1 && t.helloAfterFIN:
		b.B = append(b.B, "right after accepting it, before the ClientHello came: a connection limit, an access rule, or a TCP proxy with no upstream to forward to"...)
	case !t.shSeen && side == 1 && c.Size(1) == 0 && t.chTS != 0 && ts-t.chTS >= minNoResponse:
		b.B = appendDurationWords(b.B, ts-t.chTS)
		b.B = append(b.B, " after the ClientHello, without a byte of answer: "...)
		b.B = append(b.B, slowCloseHint...)
	case !t.shSeen && side == 1:
		b.B = append(b.B, "right after the ClientHello: the server may not speak TLS on this port, or dislikes the offer or the name"...)
		b.B = append(b.B, proxyExpectedHint...)
	case !t.shSeen && side == 0 && c.Size(1) == 0 && t.chTS != 0 && c.Unacked(0) > 1:
		// More than its FIN unacknowledged: the hello never arrived whole.
		b.B = append(b.B, "after "...)
		b.B = appendDurationWords(b.B, ts-t.chTS)
		b.B = append(b.B, " of trying to deliver its ClientHello, which the server's kernel never acknowledged in full: it was lost on the way, not left unanswered; the data is "...)
		b.B = t.appendHelloLost(b.B)
		if t.chLen >= bigHello {
			b.B = append(b.B, ": "...)
			b.B = append(b.B, helloDropHint...)
		}
	case !t.shSeen && side == 0 && c.Size(1) == 0 && t.chTS != 0 && ts-t.chTS >= minNoResponse:
		b.B = append(b.B, "after waiting "...)
		b.B = appendDurationWords(b.B, ts-t.chTS)
		b.B = append(b.B, " for an answer to its ClientHello: the server accepted the TCP connection but sent nothing: its application is stuck or not reading, as the kernel accepts connections on its behalf, or it does not speak TLS and waits for something else"...)
	case !t.shSeen:
		b.B = append(b.B, "before any ServerHello"...)
	case side == 0:
		b.B = append(b.B, "after the server's hello, without sending its Finished: the client most likely rejected the server certificate (not trusted, expired, or not valid for the name it asked for) or its parameters; Node.js clients close like this, without an alert, when they reject a certificate (DEPTH_ZERO_SELF_SIGNED_CERT, UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID), and Java clients often do (SSLHandshakeException: PKIX path building failed, No subject alternative DNS name matching)"...)
		if t.nameOK == 0 {
			b.B = append(b.B, "; "...)
			b.B = t.appendNameMismatch(b.B)
		}
		b.B = t.appendChainHint(b.B)
	case side == 1 && t.certReq && t.cliCert == 0:
		b.B = append(b.B, "right after the client's Finished: it had asked for a client certificate and the client sent one, which the server most likely did not accept (not issued by a CA it trusts, expired, or not for client authentication); some servers, Java's among them, close like this instead of sending an alert such as unknown_ca or bad_certificate"...)
	case quiet || (t.certReq && t.cliCert == 1):
		b.B = append(b.B, "right after the client's Finished: it had asked for a client certificate and the client sent none, an empty Certificate message: the server requires mutual TLS, a client certificate from a CA it trusts; some servers, Java's among them, close like this instead of sending certificate_required"...)
	default:
		b.B = append(b.B, "after its hello"...)
	}
	b.B = append(b.B, ')')
	b.B = e.appendTunnel(b.B, c, fs)
	b.B = appendSide(b.B, sn)
	b.B = e.appendTLS(b.B, c, t, false)
	e.eventEndPcap(b, fs)
}

// appendNotTLS says what a server's first bytes, not TLS (tlsDir.plain),
// were, and what that means.
func appendNotTLS(dst []byte, plain uint8) []byte {
	switch plain {
	case 1:
		return append(dst, "in plain HTTP: the server does not speak TLS on this port; use http:// or the server's TLS port"...)
	case 2:
		return append(dst, "with plain text, not TLS: the server does not speak TLS on this port; it may be a plain HTTP or other cleartext service"...)
	case 3:
		return append(dst, "with HTTP/2 frames, not TLS: the server speaks cleartext HTTP/2 on this port (h2c, or gRPC without TLS); connect without TLS (gRPC's insecure credentials, HTTP/2 with prior knowledge) or use the server's TLS port"...)
	}
	return append(dst, "with bytes that are not TLS: the server speaks another protocol on this port (a database, a message broker, a cleartext service); check the port, or use the server's TLS port"...)
}

// helloDeadline returns when c's ClientHello, unanswered so far, will
// have waited hangSoFar (0: not that).
func (e *Engine) helloDeadline(c *flowtable.Conn, fs *flowState) int64 {
	if fs.service != svcSSL {
		return 0
	}
	if t := e.tlsOf(fs); t != nil && !t.reported && !t.shSeen && t.chTS != 0 && !t.serverSpoke() {
		return t.chTS + hangSoFar
	}
	return 0
}

// serverSpoke reports whether the server sent anything since TLS began
// on the connection (or the parse of its side gave up): what it sent
// before, a STARTTLS go-ahead or a proxy's answer to CONNECT, does not
// count.
func (t *tlsState) serverSpoke() bool {
	d := &t.d[1]
	return d.seqInit || d.broken || d.plain != 0
}

// helloWaiting reports a ClientHello the server has not answered (not a
// byte) for at least least at ts, the connection still open and the
// hello acknowledged by the server's kernel: TLS_NO_ANSWER. A client
// without a handshake timeout (Python's requests, Node's https and
// Java's HttpURLConnection have none by default) waits for ever; one
// with a timeout closes and gets TLS_HANDSHAKE_ABORTED instead.
func (e *Engine) helloWaiting(c *flowtable.Conn, fs *flowState, ts, least int64, atEnd bool) {
	t := e.tlsOf(fs)
	if t == nil || t.reported || t.shSeen || t.chTS == 0 || ts-t.chTS < least || t.serverSpoke() || !e.clientWaits(c, fs) {
		return
	}
	t.reported = true
	if !atEnd {
		ts = t.chTS + least // as of its deadline (stillWaiting)
	}
	b := e.problemEvent(c, fs, NoteTLSNoAnswer, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " has not answered the TLS ClientHello of client "...)
	b.B = c.Orig().AppendTo(b.B)
	if t.sniLen > 0 {
		b.B = append(b.B, " (for "...)
		b.B = appendText(b.B, t.sni[:t.sniLen])
		b.B = append(b.B, ')')
	}
	b.B = append(b.B, " in "...)
	b.B = appendDurationWords(b.B, ts-t.chTS)
	b.B = append(b.B, " so far, the connection still open"...)
	if atEnd {
		b.B = append(b.B, " when the capture ended"...)
	}
	b.B = append(b.B, ": it accepted the TCP connection but sent nothing, so its application is stuck or not reading (the kernel accepts connections on its behalf), or it does not speak TLS and waits for something else; a client without a handshake timeout waits for ever"...)
	b.B = e.appendTunnel(b.B, c, fs)
	b.B = appendSide(b.B, "server")
	b.B = e.appendTLS(b.B, c, t, false)
	b.B = append(b.B, `,"waited_ms":`...)
	b.B = jsonw.Millis(b.B, ts-t.chTS)
	b.B = append(b.B, `,"so_far":true`...)
	e.eventEndPcap(b, fs)
}

// tlsRejected reports an inferred encrypted rejection (TLS 1.3, or an
// encrypted alert during a TLS <= 1.2 handshake).
func (e *Engine) tlsRejected(c *flowtable.Conn, fs *flowState, ts int64) {
	t := e.tlsOf(fs)
	t.reported = true
	fs.set(fTLSFatal)
	b := e.problemEvent(c, fs, NoteTLSRejectedEncrypted, t.pendingRejTS)
	if b == nil {
		return
	}
	sn := sideName(t.pendingRej)
	addr := c.Orig()
	if t.pendingRej == 1 {
		addr = c.Resp()
	}
	b.B = append(b.B, sn...)
	b.B = append(b.B, ' ')
	b.B = addr.AppendTo(b.B)
	if t.rejQuit {
		b.B = append(b.B, " closed the connection to server "...)
		b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
		b.B = append(b.B, " right after completing the TLS 1.3 handshake, before any request: its only record after its Finished was an encrypted alert, "...)
		if gap := t.pendingRejTS - t.cliFinTS; gap < int64(time.Millisecond) {
			b.B = append(b.B, "under a millisecond"...)
		} else {
			b.B = appendDurationWords(b.B, gap)
		}
		b.B = append(b.B, " later. "...)
		if t.alpnH2 {
			b.B = append(b.B, "It offered only h2 in ALPN, as gRPC clients do, and grpc-go (1.67 and later) closes like this when the server selects no application protocol (\\\"missing selected ALPN property\\\"): the server's TLS port most likely does not negotiate HTTP/2; enable it there (nginx: http2 on its listen), or connect to the port that serves gRPC. Otherwise it"...)
		} else {
			b.B = append(b.B, "It"...)
		}
		b.B = append(b.B, " most likely rejected the server's certificate after the handshake: curl checks the certificate's names only then, so this is how it fails when the certificate is not valid for "...)
		if t.sniLen > 0 {
			b.B = append(b.B, "the name it asked for, "...)
			b.B = appendText(b.B, t.SNI())
		} else {
			b.B = append(b.B, "the address or name it used (no SNI was sent)"...)
		}
		b.B = append(b.B, " (TLS 1.3 hides the certificate; a TLS health check that only completes the handshake closes the same way)"...)
	} else if t.pendingRej == 0 {
		b.B = append(b.B, " rejected the server during the TLS handshake: it sent an encrypted alert instead of its Finished and closed (most often it does not accept the server certificate: unknown CA or self-signed, expired, or not valid for the name it asked for)"...)
	} else if t.rejEarly && t.cliCert == 1 {
		b.B = append(b.B, " rejected the client before its Finished: it had asked for a client certificate, the client sent none (an empty Certificate message), and the server answered at once with an encrypted alert and closed (certificate_required): the server requires mutual TLS, a client certificate from a CA it trusts"...)
	} else if t.rejEarly && t.cliCert == 0 {
		b.B = append(b.B, " rejected the client's certificate before the client's Finished: it had asked for one, the client sent one, and the server answered at once with an encrypted alert and closed (most often unknown_ca, bad_certificate or certificate_expired: the certificate is not issued by a CA the server trusts, has expired, or is not for client authentication)"...)
	} else if t.rejEarly {
		b.B = append(b.B, " rejected the handshake before the client finished it: its flight ended with an encrypted alert and the connection closed (an unexpected or unacceptable client message, or parameters it refused)"...)
	} else if t.cliCert == 1 {
		b.B = append(b.B, " rejected the client after its Finished: it had asked for a client certificate, the client sent none (an empty Certificate message), and the server answered with an encrypted alert and closed (certificate_required): the server requires mutual TLS, a client certificate from a CA it trusts"...)
	} else if t.cliCert == 0 {
		b.B = append(b.B, " rejected the client after its Finished: it had asked for a client certificate, the client sent one, and the server answered with an encrypted alert and closed: it most likely did not accept that certificate (unknown_ca, bad_certificate or certificate_expired: not issued by a CA the server trusts, expired, or not for client authentication)"...)
	} else {
		b.B = append(b.B, " rejected the client after its Finished: it sent an encrypted alert and closed (most often a required client certificate was missing or not trusted: certificate_required, unknown_ca or bad_certificate)"...)
	}
	b.B = e.appendTunnel(b.B, c, fs)
	b.B = appendSide(b.B, sn)
	if t.rejQuit {
		b.B = append(b.B, `,"after_tls_handshake":true`...)
	}
	b.B = e.appendTLS(b.B, c, t, false)
	e.eventEndPcap(b, fs)
}

// quitWindow is how soon after its TLS handshake a client's silent reset
// is taken as a possible rejection of the handshake; later, an unused
// connection going away (a preconnect, a pool) is ordinary.
const quitWindow = int64(2 * time.Second)

// quitAlertWindow is how soon after its Finished a TLS 1.3 client's
// first record must come, alert-sized, to be taken as its rejection of
// the handshake (rule 4 in the README). Checking a certificate's names
// is local work: curl's alert follows its Finished within a millisecond.
// A client that sends its close_notify later had other reasons (a probe
// in the corpus closes 0.8 s after its handshake).
const quitAlertWindow = int64(250 * time.Millisecond)

// clientQuitAfterTLS reports whether the client is closing the connection
// within quitWindow of completing a TLS handshake, having sent no record
// since: no request and no close_notify. (A FIN there is not reported
// on its own: clients also close connections they did not need that way;
// with a certificate for other names it is, see quitExplained.)
func (e *Engine) clientQuitAfterTLS(c *flowtable.Conn, fs *flowState, ts int64) bool {
	if t := e.tlsOf(fs); t != nil {
		return t.est && !t.reported && t.d[0].appRecs == 0 && t.d[0].alertRecs == 0 && ts-t.estTS < quitWindow
	}
	s := e.sumOf(fs)
	if s == nil {
		return false
	}
	// A settled handshake: the client has sent nothing while its byte
	// count is what it was then. Its end is about the TCP handshake's
	// plus the TLS handshake's duration.
	return s.noReqAt() != 0 && c.Size(0) == s.noReqAt() && c.AckTS() != 0 &&
		ts-c.AckTS()-max(s.hsNS(), 0) < quitWindow
}

// quitExplained reports whether the client is closing within quitWindow
// of completing a TLS <= 1.2 handshake without having sent a request (a
// close_notify is allowed: curl sends one) when the handshake explains
// why: the server's certificate does not cover the name the client asked
// for, or a gRPC client got no application protocol (see noALPN).
func (e *Engine) quitExplained(fs *flowState, ts int64) bool {
	t := e.tlsOf(fs)
	return t != nil && t.est && !t.reported && (t.nameOK == 0 || t.noALPN()) && t.d[0].appRecs == 0 && ts-t.estTS < quitWindow
}

// quitEvent reports a client that completed a TLS handshake, then closed
// or reset the connection without a request, for the reason
// quitExplained found: it checked the server's certificate name after
// the handshake (curl does), or the ALPN selection (grpc-go), and gave up.
func (e *Engine) quitEvent(c *flowtable.Conn, fs *flowState, ts int64, rst bool) {
	t := e.tlsOf(fs)
	t.reported = true
	note := NoteTLSNameMismatch
	if t.nameOK != 0 {
		note = NoteTLSRejectedEncrypted
	}
	b := e.problemEvent(c, fs, note, ts)
	if b == nil {
		return
	}
	b.B = append(b.B, "client "...)
	b.B = c.Orig().AppendTo(b.B)
	if rst {
		b.B = append(b.B, " reset"...)
	} else {
		b.B = append(b.B, " closed"...)
	}
	b.B = append(b.B, " the connection to server "...)
	b.B = appendAddrPort(b.B, c.Resp(), c.RespPort())
	b.B = append(b.B, " right after the TLS handshake, without a request: "...)
	if note == NoteTLSNameMismatch {
		b.B = t.appendNameMismatch(b.B)
	} else {
		b.B = append(b.B, "it offered only h2 in ALPN, as gRPC clients do, and the server's hello selected no application protocol; grpc-go (1.67 and later) gives up then (\\\"missing selected ALPN property\\\"): the server's TLS port does not negotiate HTTP/2; enable it there (nginx: http2 on its listen), or connect to the port that serves gRPC"...)
	}
	b.B = appendSide(b.B, "client")
	if note == NoteTLSRejectedEncrypted {
		b.B = append(b.B, `,"after_tls_handshake":true`...)
	}
	b.B = e.appendTLS(b.B, c, t, false)
	e.eventEndPcap(b, fs)
}

// certAlert reports whether alert code is about the peer's certificate.
func certAlert(code uint8) bool {
	switch code {
	case 42, 43, 44, 45, 46, 48:
		return true
	}
	return false
}
