package detectors

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/dlltagent/dlltagent/flowtable"
)

// TLS record content types (RFC 8446 section 5.1).
const (
	recCCS       = 20
	recAlert     = 21
	recHandshake = 22
	recAppData   = 23
	recHeartbeat = 24
)

// Handshake message types.
const (
	hsClientHello = 1
	hsServerHello = 2
	hsCertificate = 11
	hsCertReq     = 13
)

// maxHelloKeep bounds the bytes kept of one Hello message; the rest is
// counted, not stored (a ClientHello with a post-quantum key share is
// about 1.8 KiB).
const maxHelloKeep = 8192

// alertSizedMax is the largest encrypted record taken to be an alert: an
// AEAD-protected TLS 1.3 alert is 2 bytes + 1 content type + 16 tag = 19
// (11 with an 8-byte CCM tag). The smallest other records are larger: an
// empty client Certificate is 4 + 1 + 3 + 1 + 16 = 25, a Finished 53.
const alertSizedMax = 24

// javaAlertSize is a TLS 1.3 alert from Java's JSSE, which pads every
// record with 16 zero bytes (OutputRecord.t13Encrypt): 2 + 1 + 16 + 16.
// Its other records are larger still (an empty Certificate is 41).
const javaAlertSize = 35

// emptyCertSize is a TLS 1.3 client's encrypted empty Certificate: 4
// header + 1 context + 3 list + 1 content type + 16 tag. A Finished is 53
// or more, an alert 19.
const emptyCertSize = 25

// finishedMax is the largest TLS 1.3 client Finished record: 4 + 48
// (SHA-384) + 1 + 16 tag + 16 of Java's padding. A larger first record
// from the client holds its Certificate.
const finishedMax = 85

// emptyCertWithFinished reports a TLS 1.3 client's first encrypted record
// of n bytes that holds an empty Certificate (8) and its Finished (4 + 32
// or 48) in one: 61 or 77 (SHA-256 or SHA-384), 77 or 93 from Java. Java
// sends them so to a Go server; a lone Finished is 53, 69 or 85, and a
// real certificate makes a record of hundreds of bytes.
func emptyCertWithFinished(n int) bool {
	return n == 8+36+17 || n == 8+52+17 || n == 8+52+33
}

// certRefusedQuietly reports a TLS 1.3 connection whose client answered
// the server's certificate request (with a certificate or with none),
// finished its handshake, and has had nothing from the server since: the
// server is deciding, or closes without an alert (Java's does). Only
// within 5 s of the client's Finished, as the server's alert is judged.
func (t *tlsState) certRefusedQuietly(ts int64) bool {
	return t.tls13 && t.est && t.certReq && t.cliCert >= 0 && t.srvAfter == 0 && !t.alertSet && ts-t.cliFinTS < 5e9
}

// alertSized reports whether an encrypted record of n bytes, where a
// peer's first record of a flight is due, may be an alert.
func alertSized(n int) bool { return n <= alertSizedMax || n == javaAlertSize }

// hrrRandom is the ServerHello.random of a HelloRetryRequest (RFC 8446
// section 4.1.3).
var hrrRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// tlsDir is the record-layer parser state for one direction.
type tlsDir struct {
	nextSeq uint32
	seqInit bool
	broken  bool // gap or not TLS: stop parsing this direction
	gap     bool // broken because bytes are missing (a capture gap, or the snaplen cut a segment): nothing can be judged from what was not seen
	// plain: this side's first bytes were not TLS: 1 "HTTP/" (a plain
	// HTTP server answering a ClientHello), 2 other text, 3 an HTTP/2
	// SETTINGS frame (a cleartext h2c or gRPC server), 4 other bytes.
	plain uint8
	held  [maxHeld]heldSeg
	nheld uint8

	hdr    [5]byte
	hdrN   uint8
	recTyp uint8
	recLen int
	recRem int
	alert  [2]byte
	alertN uint8

	hsHdr  [4]byte
	hsHdrN uint8
	hsTyp  uint8
	hsRem  int
	hsLen  int
	hsKeep bool

	recs       int   // records started
	ccs        bool  // sent ChangeCipherSpec
	encRecs    int   // encrypted records sent (post-CCS handshake, or TLS 1.3 type 23)
	appRecs    int   // application-data records after the handshake
	alertRecs  int   // alert records after the handshake (TLS <= 1.2)
	firstEnc   int   // length of the first encrypted record (TLS 1.3)
	lastEncLen int   // length of the last encrypted record
	lastEncTS  int64 // and its time
	sawHello   bool
}

// tlsState is one connection's TLS view, pooled per worker.
type tlsState struct {
	d [2]tlsDir

	// Buffers are taken from the worker's pools only while a Hello or an
	// out-of-order segment is being held, and handed back at once: a
	// connection past its handshake holds none.
	pools  *bufPools
	hsBuf  []byte    // the Hello being reassembled
	oooBuf [2][]byte // held out-of-order segments per direction

	chTS  int64
	chLen uint16 // the ClientHello's length with its handshake header (saturating)
	// What the ClientHello offered, to explain a server finding nothing
	// acceptable: its first cipher suites and key-exchange groups (GREASE
	// left out) and how many of each.
	suites    [3]uint16
	groups    [3]uint16
	nSuites   uint8
	nGroups   uint8
	estTS     int64
	est       bool
	offered   uint16 // highest version the client offered
	version   uint16 // negotiated (ServerHello, incl. supported_versions)
	tls13     bool
	shSeen    bool
	hrr       bool
	certReq   bool
	cliCert   int8 // -1 unknown, 0 non-empty, 1 empty
	alpnHTTP  bool // the client offered HTTP (http/1.1, h2) in ALPN
	alpnH2    bool // the client offered h2 and nothing else in ALPN (gRPC clients)
	alpnSel   bool // TLS <= 1.2: the ServerHello selected an application protocol
	alpnOffH2 bool // the client offered h2 among other protocols (a browser, curl, Go's or Java's HTTP client)
	alpnSelH2 bool // TLS <= 1.2: the ServerHello selected h2
	resumed   bool // the server resumed a session (ticket, ID or PSK): an abbreviated handshake
	cliClosed bool // the client had closed (FIN, or TLS 1.3 close_notify after data) before the segment being read
	sni       [255]byte
	sniLen    uint8
	cliFinTS  int64 // TLS 1.3: client's first (non-alert) encrypted flight
	srvAfter  int   // TLS 1.3: server records after client's Finished flight

	alertSet   bool
	alertCode  uint8
	alertLevel uint8
	alertEnc   bool
	alertSide  int8 // 0 orig/client, 1 resp/server
	alertTS    int64

	// The server certificate's names against the SNI (TLS <= 1.2, where
	// the certificate is in the clear): nameOK -1 unknown, 0 none of
	// them covers it, 1 one does; certName is its first name, certNames
	// how many it has.
	nameOK      int8
	certNames   uint8
	certNameLen uint8
	certName    [64]byte

	pendingRej    int8 // TLS 1.3 encrypted rejection candidate: -1 none, else side
	pendingRejTS  int64
	rejEarly      bool // the server's rejection came before the client's Finished
	rejQuit       bool // the client's first record after its Finished was alert-sized
	helloAfterFIN bool // the ClientHello came after the server had closed
	leafOnly      bool // TLS <= 1.2: the server sent its certificate alone, not self-signed
	selfSigned    bool // TLS <= 1.2: the server sent one certificate, self-signed
	issuerLen     uint8
	issuer        [64]byte // and its issuer's common name (cut)
	// TLS <= 1.2: the server certificate's validity, Unix seconds (0,
	// 0: not read).
	notBefore, notAfter int64
	reported            bool // a TLS failure event was emitted
	abortReported       bool
}

func (t *tlsState) reset(pools *bufPools) {
	*t = tlsState{pools: pools, cliCert: -1, pendingRej: -1, nameOK: -1}
}

// releaseBuffers hands every pooled buffer back.
func (t *tlsState) releaseBuffers() {
	t.pools.hello.put(t.hsBuf)
	t.hsBuf = nil
	for i := range t.oooBuf {
		t.pools.ooo.put(t.oooBuf[i])
		t.oooBuf[i] = nil
	}
}

// looksLikeTLS reports whether a client's first payload starts a TLS
// handshake record (or an SSLv2-framed ClientHello).
func looksLikeTLS(b []byte) bool {
	if len(b) >= 3 && b[0] == recHandshake && b[1] == 3 && b[2] <= 4 {
		return true
	}
	return false
}

// tlsRecordHeader reports whether b starts like any TLS record (a capture
// that began inside a TLS connection shows the server's records first).
func tlsRecordHeader(b []byte) bool {
	return len(b) >= 2 && b[0] >= recCCS && b[0] <= recHeartbeat && b[1] == 3
}

// tlsEvents is what one segment revealed, for the engine to act upon.
type tlsEvents struct {
	alert     bool // a plaintext alert (fields in state)
	encAlert  bool // an encrypted alert record (TLS <= 1.2 post-CCS)
	est       bool // the handshake just completed
	tls13Alrt bool // TLS 1.3 alert-sized record where a Finished was due
	quitOff   bool // the client went on after an alert-sized first record
}

// segment feeds a TCP payload sent by side d (0 client, 1 server) with
// sequence number seq.
func (t *tlsState) segment(d int, seq uint32, b []byte, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	if dir.broken && dir.gap {
		t.alertAfterGap(d, b, ts, ev)
		return
	}
	if dir.broken || len(b) == 0 {
		return
	}
	if !dir.seqInit {
		dir.seqInit, dir.nextSeq = true, seq
	}
	off := int32(seq - dir.nextSeq)
	if off > 0 {
		// Ahead of what is expected: reordering or loss. Hold a few
		// segments; a real gap stops the parse rather than misparse.
		if !t.hold(d, seq, b) {
			dir.broken, dir.gap = true, true
		}
		return
	}
	t.deliver(d, seq, b, ts, ev)
	for dir.nheld > 0 && !dir.broken {
		progressed := false
		for i := 0; i < int(dir.nheld); i++ {
			h := dir.held[i]
			if int32(h.seq-dir.nextSeq) <= 0 {
				dir.held[i] = dir.held[dir.nheld-1]
				dir.nheld--
				t.deliver(d, h.seq, t.oooBuf[d][h.off:h.off+h.n], ts, ev)
				progressed = true
				break
			}
		}
		if !progressed {
			break
		}
	}
	if dir.nheld == 0 && t.oooBuf[d] != nil {
		t.pools.ooo.put(t.oooBuf[d])
		t.oooBuf[d] = nil
	}
}

// alertAfterGap reads a fatal alert in the clear at the start of segment
// b of side d, whose records were lost at a gap or cut by the snaplen
// (tcpdump -s 200 cuts every ClientHello and server flight): a TLS stack
// writes an alert on its own, so it starts a segment, and its 7 bytes
// (type 21, version 3.x, length 2, level, code) are never cut. Nothing
// else is read past a gap: the records' sizes and counts were not seen.
func (t *tlsState) alertAfterGap(d int, b []byte, ts int64, ev *tlsEvents) {
	if len(b) < 7 || b[0] != recAlert || b[1] != 3 || b[2] > 4 || b[3] != 0 || b[4] != 2 || b[5] != 2 || t.alertSet || t.est {
		return
	}
	t.alertSet, t.alertEnc, t.alertSide, t.alertTS = true, false, int8(d), ts
	t.alertCode, t.alertLevel = b[6], b[5]
	ev.alert = true
}

// deliver feeds the part of an in-order (or overlapping) segment that is
// new.
func (t *tlsState) deliver(d int, seq uint32, b []byte, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	if off := int32(seq - dir.nextSeq); off < 0 {
		skip := int(-off)
		if skip >= len(b) {
			return // pure retransmission
		}
		b = b[skip:]
	}
	dir.nextSeq += uint32(len(b))
	t.feed(d, b, ts, ev)
}

// maxHeld and maxHeldBytes bound the out-of-order segments kept per
// direction.
const (
	maxHeld      = 4
	maxHeldBytes = 16 << 10
)

type heldSeg struct {
	seq    uint32
	off, n int
}

func (t *tlsState) hold(d int, seq uint32, b []byte) bool {
	dir := &t.d[d]
	if int(dir.nheld) >= maxHeld || len(t.oooBuf[d])+len(b) > maxHeldBytes || int32(seq-dir.nextSeq) > maxHeldBytes {
		return false
	}
	if t.oooBuf[d] == nil {
		t.oooBuf[d] = t.pools.ooo.get()
	}
	dir.held[dir.nheld] = heldSeg{seq: seq, off: len(t.oooBuf[d]), n: len(b)}
	dir.nheld++
	t.oooBuf[d] = append(t.oooBuf[d], b...)
	return true
}

func (t *tlsState) feed(d int, b []byte, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	for len(b) > 0 && !dir.broken {
		if dir.hdrN < 5 {
			n := copy(dir.hdr[dir.hdrN:], b)
			dir.hdrN += uint8(n)
			b = b[n:]
			if dir.hdrN < 5 {
				return
			}
			dir.recTyp = dir.hdr[0]
			dir.recLen = int(binary.BigEndian.Uint16(dir.hdr[3:5]))
			dir.recRem = dir.recLen
			if dir.recTyp < recCCS || dir.recTyp > recHeartbeat || dir.hdr[1] != 3 || dir.recLen > 18432 {
				dir.broken = true
				if dir.recs == 0 {
					dir.plain = plainKind(dir.hdr[:])
				}
				return
			}
			dir.recs++
			t.recordStart(d, ts, ev)
			if dir.recRem == 0 {
				dir.hdrN = 0
			}
			continue
		}
		n := dir.recRem
		if n > len(b) {
			n = len(b)
		}
		t.recordBody(d, b[:n], ts, ev)
		b = b[n:]
		dir.recRem -= n
		if dir.recRem == 0 {
			t.recordEnd(d, ts, ev)
			dir.hdrN = 0
		}
	}
}

// plainKind classifies the first 5 bytes of a side that does not speak
// TLS: 1 for an HTTP response, 2 for other printable text, 0 otherwise.
func plainKind(h []byte) uint8 {
	if string(h) == "HTTP/" {
		return 1
	}
	if h[0] == 0 && h[3] == 4 && h[4] == 0 && int(h[1])<<8|int(h[2])%6 == 0 {
		// A SETTINGS frame's header (RFC 9113 §6.5: a payload of 6-byte
		// settings, no ACK flag): an HTTP/2 server's preface.
		return 3
	}
	for _, c := range h {
		if (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' && c != '\t' {
			return 4
		}
	}
	return 2
}

// encrypted reports whether the current record of side d is protected.
func (t *tlsState) encrypted(d int) bool {
	dir := &t.d[d]
	switch dir.recTyp {
	case recAppData:
		return true
	case recHandshake, recAlert:
		return dir.ccs && !t.tls13
	}
	return false
}

func (t *tlsState) recordStart(d int, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	dir.alertN = 0
	switch dir.recTyp {
	case recCCS:
		dir.ccs = true
		// In an abbreviated TLS <= 1.2 handshake (a session resumed by
		// its ID or ticket) the server's ChangeCipherSpec comes first; in
		// a full one, the client's. (TLS 1.3's are for middleboxes only.)
		t.resumed = t.resumed || (d == 1 && !t.d[0].ccs && t.shSeen && !t.tls13)
	case recAppData:
		t.encRecord(d, ts, ev)
	case recHandshake:
		if t.encrypted(d) {
			t.encRecord(d, ts, ev)
		}
	case recAlert:
		if t.est {
			dir.alertRecs++ // a close_notify, or a late alert
		}
		if dir.recLen != 2 || t.encrypted(d) {
			// An encrypted alert (TLS <= 1.2 after ChangeCipherSpec).
			if !t.est && !t.alertSet && t.pendingRej < 0 {
				t.pendingRej, t.pendingRejTS = int8(d), ts
				ev.encAlert = true
			}
		}
	}
}

// encRecord accounts an encrypted record of side d and drives the
// handshake-completion and TLS 1.3 rejection inference.
func (t *tlsState) encRecord(d int, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	dir.encRecs++
	if t.est {
		dir.appRecs++
	}
	if t.tls13 && t.shSeen {
		if d == 0 {
			if t.cliFinTS == 0 && dir.recTyp == recAppData {
				if dir.recLen == emptyCertSize || dir.recLen == emptyCertSize+16 {
					// An empty Certificate (16 bytes more from Java):
					// the server asked for a client certificate and the
					// client has none. Its Finished follows.
					t.certReq, t.cliCert = true, 1
					return
				}
				if emptyCertWithFinished(dir.recLen) {
					t.certReq, t.cliCert = true, 1
				} else if dir.recLen > finishedMax {
					// Too large for a Finished: a client Certificate
					// (alone, or with the rest of the flight in one
					// record), sent because the server asked for one.
					t.certReq, t.cliCert = true, 0
				}
				if alertSized(int(dir.recLen)) {
					// An alert where the client's Finished was due: the
					// client rejected the server (usually its certificate).
					if t.pendingRej < 0 && !t.alertSet {
						t.pendingRej, t.pendingRejTS = 0, ts
						ev.tls13Alrt = true
					}
					return
				}
				t.cliFinTS = ts
				if t.pendingRej == 0 {
					t.pendingRej = -1 // the client went on with its flight
				}
				if !t.est {
					t.est, t.estTS = true, ts
					ev.est = true
				}
			} else if t.cliFinTS != 0 && dir.recTyp == recAppData {
				if alertSized(int(dir.recLen)) && dir.appRecs > 1 {
					t.cliClosed = true // a close_notify after its requests
				}
				switch {
				case dir.appRecs == 1 && dir.recLen <= alertSizedMax && ts-t.cliFinTS < quitAlertWindow && t.pendingRej < 0 && !t.alertSet:
					// The client's first record after its Finished is
					// an alert, before any request: if it closes now, it
					// rejected what it saw in the handshake (curl checks
					// the certificate's names only then).
					t.pendingRej, t.pendingRejTS, t.rejQuit = 0, ts, true
					ev.tls13Alrt = true
				case t.rejQuit && t.pendingRej == 0:
					t.pendingRej, t.rejQuit = -1, false // it went on
					ev.quitOff = true
				}
			}
		} else if dir.recTyp == recAppData {
			dir.lastEncLen, dir.lastEncTS = dir.recLen, ts
		}
		if d == 1 && t.cliFinTS != 0 && dir.recTyp == recAppData {
			t.srvAfter++
			if t.srvAfter == 1 && alertSized(int(dir.recLen)) && ts-t.cliFinTS < 5e9 && t.d[1].appRecs <= 1 && !t.cliClosed &&
				(t.d[0].appRecs == 0 || ts-t.cliFinTS < int64(time.Second)) {
				// The server's first record after the client's Finished
				// is an alert: it rejected the client's flight (most
				// often its certificate, or the lack of one). Not when
				// the client had closed first: that is the server's
				// close_notify answering it (a server that sends no
				// session tickets and did not answer a request). Nor,
				// a second after a request from the client: a server
				// rejecting the client does so on reading its Finished,
				// and one closing on a request it did not answer is a
				// TLS_NO_RESPONSE.
				if t.pendingRej < 0 && !t.alertSet {
					t.pendingRej, t.pendingRejTS = 1, ts
					ev.tls13Alrt = true
				}
			}
		}
		return
	}
	if !t.tls13 && !t.est && dir.ccs && dir.recTyp == recHandshake {
		// Finished after ChangeCipherSpec: established when both sides
		// have sent theirs.
		o := &t.d[1-d]
		if o.ccs && o.encRecs > 0 {
			t.est, t.estTS = true, ts
			ev.est = true
		}
	}
}

func (t *tlsState) recordBody(d int, b []byte, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	switch dir.recTyp {
	case recHandshake:
		if !t.encrypted(d) {
			t.handshakeBytes(d, b, ts)
		}
	case recAlert:
		if dir.recLen == 2 && !t.encrypted(d) {
			n := copy(dir.alert[dir.alertN:], b)
			dir.alertN += uint8(n)
		}
	}
}

func (t *tlsState) recordEnd(d int, ts int64, ev *tlsEvents) {
	dir := &t.d[d]
	if dir.recTyp == recAlert && dir.alertN == 2 && !t.encrypted(d) {
		level, code := dir.alert[0], dir.alert[1]
		if level == 2 && !t.alertSet {
			t.alertSet, t.alertEnc, t.alertSide, t.alertTS = true, false, int8(d), ts
			t.alertCode, t.alertLevel = code, level
			ev.alert = true
		}
	}
}

// handshakeBytes reassembles handshake messages across records.
func (t *tlsState) handshakeBytes(d int, b []byte, ts int64) {
	dir := &t.d[d]
	for len(b) > 0 {
		if dir.hsHdrN < 4 {
			n := copy(dir.hsHdr[dir.hsHdrN:], b)
			dir.hsHdrN += uint8(n)
			b = b[n:]
			if dir.hsHdrN < 4 {
				return
			}
			dir.hsTyp = dir.hsHdr[0]
			dir.hsLen = int(dir.hsHdr[1])<<16 | int(dir.hsHdr[2])<<8 | int(dir.hsHdr[3])
			dir.hsRem = dir.hsLen
			dir.hsKeep = (dir.hsTyp == hsClientHello && d == 0) || (dir.hsTyp == hsServerHello && d == 1) ||
				(dir.hsTyp == hsCertificate && d == 0) ||
				(dir.hsTyp == hsCertificate && d == 1 && !t.tls13)
			if dir.hsKeep {
				if t.hsBuf == nil {
					t.hsBuf = t.pools.hello.get()
				}
				t.hsBuf = t.hsBuf[:0]
			}
			if dir.hsTyp == hsClientHello && d == 0 && t.chTS == 0 {
				t.chTS, t.chLen = ts, uint16(min(dir.hsLen+4, 1<<16-1))
			}
			if dir.hsTyp == hsCertReq && d == 1 {
				t.certReq = true
			}
			if dir.hsRem == 0 {
				t.message(d)
				dir.hsHdrN = 0
			}
			continue
		}
		n := dir.hsRem
		if n > len(b) {
			n = len(b)
		}
		if dir.hsKeep && t.hsBuf != nil {
			room := maxHelloKeep - len(t.hsBuf)
			if room > 0 {
				t.hsBuf = append(t.hsBuf, b[:min(n, room)]...)
			}
		}
		b = b[n:]
		dir.hsRem -= n
		if dir.hsRem == 0 {
			t.message(d)
			dir.hsHdrN = 0
		}
	}
}

// bufPool is a worker's free list of equally sized buffers.
type bufPool struct {
	size int
	free [][]byte
}

func (p *bufPool) get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, p.size)
}

func (p *bufPool) put(b []byte) {
	if b != nil && len(p.free) < 4096 {
		p.free = append(p.free, b[:0])
	}
}

// bufPools are the worker's pools for reassembly buffers.
type bufPools struct {
	hello, ooo, http bufPool
}

func (t *tlsState) message(d int) {
	dir := &t.d[d]
	m := t.hsBuf
	switch dir.hsTyp {
	case hsClientHello:
		if d == 0 {
			t.parseClientHello(m)
		}
	case hsServerHello:
		if d == 1 {
			t.parseServerHello(m)
		}
	case hsCertificate:
		if d == 1 && !t.tls13 && t.sniLen > 0 {
			t.checkCertName(m)
		}
		if d == 1 && !t.tls13 {
			t.readLeaf(m)
		}
		if d == 0 && !t.tls13 {
			// TLS <= 1.2 client Certificate: empty list means no cert.
			if len(m) >= 3 {
				if int(m[0])<<16|int(m[1])<<8|int(m[2]) == 0 {
					t.cliCert = 1
				} else {
					t.cliCert = 0
				}
			}
		}
	}
	if t.hsBuf != nil {
		t.pools.hello.put(t.hsBuf)
		t.hsBuf = nil
	}
}

// reader is a bounds-checked cursor over a handshake message.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.ok = false
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.ok = false
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.ok = false
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// firstOf copies the first values of b, a list of 16-bit values, into
// dst, leaving out GREASE and the renegotiation signal (0x00ff), and
// returns how many b holds (those it left out at its start not counted;
// saturating). Only as many as dst holds are read: the rest are counted,
// less a renegotiation signal at the end.
func firstOf(b []byte, dst []uint16) uint8 {
	n, skipped := 0, 0
	for i := 0; i+1 < len(b) && n < len(dst); i += 2 {
		if v := uint16(b[i])<<8 | uint16(b[i+1]); isGREASE(v) || v == 0x00ff {
			skipped++
		} else {
			dst[n] = v
			n++
		}
	}
	if l := len(b) &^ 1; n == len(dst) && l >= 2 && b[l-2] == 0 && b[l-1] == 0xff {
		skipped++ // OpenSSL ends its suites with the renegotiation signal
	}
	return uint8(min(len(b)/2-skipped, 255))
}

func (t *tlsState) parseClientHello(m []byte) {
	r := reader{b: m, ok: true}
	legacy := r.u16()
	r.bytes(32)
	r.bytes(int(r.u8()))
	t.nSuites = firstOf(r.bytes(int(r.u16())), t.suites[:])
	r.bytes(int(r.u8()))
	if legacy > t.offered {
		t.offered = legacy
	}
	if !r.ok || len(r.b) < 2 {
		return
	}
	ext := reader{b: r.bytes(int(r.u16())), ok: true}
	for ext.ok && len(ext.b) >= 4 {
		typ := ext.u16()
		body := reader{b: ext.bytes(int(ext.u16())), ok: true}
		switch typ {
		case 0: // server_name
			list := reader{b: body.bytes(int(body.u16())), ok: true}
			for list.ok && len(list.b) >= 3 {
				nt := list.u8()
				name := list.bytes(int(list.u16()))
				if nt == 0 && list.ok && t.sniLen == 0 {
					t.sniLen = uint8(copy(t.sni[:], name))
				}
			}
		case 10: // supported_groups
			t.nGroups = firstOf(body.bytes(int(body.u16())), t.groups[:])
		case 16: // application_layer_protocol_negotiation
			list := reader{b: body.bytes(int(body.u16())), ok: true}
			n, h2 := 0, false
			for list.ok && len(list.b) >= 1 {
				p := string(list.bytes(int(list.u8())))
				switch p {
				case "http/1.1", "h2", "http/1.0":
					t.alpnHTTP = list.ok
				}
				n, h2 = n+1, h2 || p == "h2"
			}
			t.alpnH2 = list.ok && n == 1 && h2
			t.alpnOffH2 = list.ok && n > 1 && h2
		case 43: // supported_versions
			vs := reader{b: body.bytes(int(body.u8())), ok: true}
			for vs.ok && len(vs.b) >= 2 {
				v := vs.u16()
				if !isGREASE(v) && versionRank(v) > versionRank(t.offered) {
					t.offered = v
				}
			}
		}
	}
}

// isTLS13 reports whether negotiated version v is TLS 1.3 (or one of its
// drafts).
func isTLS13(v uint16) bool { return v == 0x0304 || v>>8 == 0x7f }

// versionRank orders versions, placing TLS 1.3 drafts just below 1.3.
func versionRank(v uint16) int {
	if v>>8 == 0x7f {
		return 0x0303*256 + int(v&0xff)
	}
	return int(v) * 256
}

func (t *tlsState) parseServerHello(m []byte) {
	r := reader{b: m, ok: true}
	legacy := r.u16()
	random := r.bytes(32)
	if !r.ok {
		return
	}
	if [32]byte(random) == hrrRandom {
		// A HelloRetryRequest exists only in TLS 1.3; both sides may now
		// send compatibility ChangeCipherSpecs before anything is
		// encrypted. The real ServerHello follows.
		t.hrr, t.tls13 = true, true
		return
	}
	t.version = legacy // early TLS 1.3 drafts put the draft version here too
	r.bytes(int(r.u8()))
	r.u16()
	r.u8()
	if r.ok && len(r.b) >= 2 {
		ext := reader{b: r.bytes(int(r.u16())), ok: true}
		for ext.ok && len(ext.b) >= 4 {
			typ := ext.u16()
			body := reader{b: ext.bytes(int(ext.u16())), ok: true}
			if typ == 41 {
				t.resumed = true // TLS 1.3: the server accepted a pre-shared key
			}
			if typ == 43 && len(body.b) >= 2 {
				t.version = body.u16()
			}
			if typ == 16 {
				t.alpnSel = true
				// One protocol: list length, name length, name.
				t.alpnSelH2 = len(body.b) == 5 && body.b[2] == 2 && string(body.b[3:5]) == "h2"
			}
		}
	}
	t.shSeen = true
	if isTLS13(t.version) {
		t.tls13 = true
	}
}

// bigHello is the ClientHello length from which it takes more than one
// packet: a 1500-byte MTU's TCP payload (1448 with timestamps) less the
// record header, with room for IP options or a tunnel's smaller MTU.
const bigHello = 1400

// appendHelloLost says that the stuck data is the client's ClientHello,
// and when it is over a packet long, why that matters.
func (t *tlsState) appendHelloLost(dst []byte) []byte {
	dst = append(dst, "its TLS ClientHello ("...)
	dst = appendUint(dst, uint64(t.chLen))
	dst = append(dst, " bytes"...)
	if t.chLen >= bigHello {
		dst = append(dst, ", more than one packet: a post-quantum key share, X25519MLKEM768, which Go 1.24 and later, Chrome and OpenSSL 3.5 send by default, adds 1.2 KB"...)
	}
	return append(dst, ')')
}

// helloDropHint names what drops a ClientHello over one packet long.
const helloDropHint = "a path MTU black hole (an overlay network's smaller MTU, with the ICMP 'fragmentation needed' that would tell the sender filtered), or a firewall or proxy that cannot take a ClientHello over two packets, drops it"

// h2Cand reports whether the connection may speak HTTP/2 inside TLS (see
// tlswait.go): its client, an HTTP client that is not gRPC-only, offered
// h2 with HTTP/1.1, and a TLS <= 1.2 server selected h2 (sure then); in
// TLS 1.3 the choice is encrypted.
func (t *tlsState) h2Cand() (cand, sure bool) {
	if !t.alpnOffH2 || !t.alpnHTTP {
		return false, false
	}
	if t.tls13 {
		return true, false
	}
	return t.alpnSelH2, t.alpnSelH2
}

// noALPN reports a TLS <= 1.2 handshake whose client offered only h2 (a
// gRPC client) and whose server selected no application protocol.
func (t *tlsState) noALPN() bool {
	return t.alpnH2 && t.shSeen && !t.alpnSel && !t.tls13
}

// SNI returns the server name offered in the ClientHello.
func (t *tlsState) SNI() []byte { return t.sni[:t.sniLen] }

// clientCert says what the client answered the server's request for a
// certificate: -1 no request seen (or not known), 0 a certificate, 1
// none (an empty Certificate message).
func (t *tlsState) clientCert() int8 {
	if !t.certReq {
		return -1
	}
	return t.cliCert
}

// tlsSummary is what an end_flows record needs of a TLS handshake that
// completed without a problem. Such a connection hands its parser state
// (about 1 KB, mostly reassembly) back to its slab and keeps these 12: a
// long-lived TLS connection then costs about what a plain TCP one does.
type tlsSummary struct {
	// bits 0-26: handshake time in µs + 1 (0: unknown; at most 134 s);
	// bit 27: tlsState.resumed; bit 28: HTTP/2 may be inside (tlsState.h2Cand); bit 29:
	// tlsState.alpnHTTP; bits 30-31: the client certificate the server
	// asked for (see tlsState.clientCert).
	hs               uint32
	sni              uint16 // interned server name + 1 (0: none)
	version, offered uint16
	// bits 0-13: the client's byte count when the handshake settled if
	// the client had sent no application data yet (0 otherwise: also
	// past 16 KiB): the client has sent no request while its count is
	// still that. Bit 14: a hello was seen (the record has TLS fields);
	// bit 15: HelloRetryRequest.
	bits uint16
}

const (
	sumNoReqMask = 1<<14 - 1
	sumSet       = 1 << 14
	sumHRR       = 1 << 15
)

const (
	sumHSMask    = 1<<27 - 1
	sumResumed   = 1 << 27
	sumH2        = 1 << 28
	sumALPNHTTP  = 1 << 29
	sumCertShift = 30
)

func (s *tlsSummary) noReqAt() uint64 { return uint64(s.bits & sumNoReqMask) }

// hsNS returns the handshake's time in ns, -1 if unknown.
func (s *tlsSummary) hsNS() int64 {
	if s.hs&sumHSMask == 0 {
		return -1
	}
	return int64(s.hs&sumHSMask-1) * 1000
}

// alpnHTTP is tlsState.alpnHTTP.
func (s *tlsSummary) alpnHTTP() bool { return s.hs&sumALPNHTTP != 0 }

// h2Cand is tlsState.h2Cand at the handshake's end.
func (s *tlsSummary) h2Cand() (cand, sure bool) {
	cand = s.hs&sumH2 != 0
	return cand, cand && !isTLS13(s.version)
}

// clientCert is tlsState.clientCert at the handshake's end.
func (s *tlsSummary) clientCert() int8 { return int8(s.hs>>sumCertShift) - 1 }

func (s *tlsSummary) set() bool { return s.bits&sumSet != 0 }
func (s *tlsSummary) hrr() bool { return s.bits&sumHRR != 0 }

// maxSNINames bounds a worker's interned server names; past it,
// handshakes with new names keep their full state (correct, just larger).
const maxSNINames = 1<<16 - 1

// maybeSettleTLS replaces a completed, problem-free TLS handshake's
// parser state with its summary. Nothing after that point is reported:
// TLS 1.3's rejection window (the server's first record after the
// client's Finished) has passed, and later alerts are encrypted.
func (e *Engine) maybeSettleTLS(c *flowtable.Conn, fs *flowState) {
	t := e.tlsOf(fs)
	if t == nil || !t.est || t.reported || t.alertSet || t.pendingRej >= 0 || e.q(fs).events != 0 ||
		(t.tls13 && t.srvAfter < 1) || fs.pc.head >= 0 || e.q(fs).pcapName != "" ||
		// TLS 1.3: kept until the client's first record after its
		// Finished, to tell a request from an alert (see rejQuit).
		(t.tls13 && t.d[0].appRecs == 0 && e.now-t.cliFinTS < quitAlertWindow) ||
		t.nameOK == 0 || t.noALPN() { // kept to explain a quit (see quitExplained)
		return
	}
	sum := tlsSummary{version: t.version, offered: t.offered}
	if t.chTS != 0 || t.shSeen {
		sum.bits |= sumSet
	}
	if t.hrr {
		sum.bits |= sumHRR
	}
	if n := c.Size(0); t.d[0].appRecs == 0 && t.d[0].alertRecs == 0 && n > 0 && n <= sumNoReqMask {
		sum.bits |= uint16(n)
	}
	if t.chTS != 0 {
		sum.hs = uint32(min((t.estTS-t.chTS)/1000, sumHSMask-1)) + 1
	}
	sum.hs |= uint32(t.clientCert()+1) << sumCertShift
	if t.alpnHTTP {
		sum.hs |= sumALPNHTTP
	}
	if cand, _ := t.h2Cand(); cand {
		sum.hs |= sumH2
	}
	if t.resumed {
		sum.hs |= sumResumed
	}
	if t.sniLen > 0 {
		id, ok := e.sniID[string(t.SNI())]
		if !ok {
			if len(e.sniNames) >= maxSNINames {
				return
			}
			if e.sniID == nil {
				e.sniID = make(map[string]uint16)
			}
			e.sniNames = append(e.sniNames, append([]byte(nil), t.SNI()...))
			id = uint16(len(e.sniNames))
			e.sniID[string(t.SNI())] = id
		}
		sum.sni = id
	}
	e.dropProto(fs)
	h, sp := e.sums.get()
	*sp = sum
	fs.pk, fs.px = pkTLSSum, h
}

// checkCertName compares the names of the server's certificate (the
// Certificate message m, TLS <= 1.2) with the SNI.
func (t *tlsState) checkCertName(m []byte) {
	sni := t.SNI()
	match, n := false, 0
	ok := certDNSNames(m, func(name []byte) {
		if n == 0 {
			t.certNameLen = uint8(copy(t.certName[:], name))
		}
		n++
		match = match || nameMatches(name, sni)
	})
	if !ok {
		return
	}
	t.certNames = uint8(min(n, 255))
	t.nameOK = 0
	if match {
		t.nameOK = 1
	}
}

// readLeaf reads, from the server's Certificate message (TLS <= 1.2),
// its certificate's validity and, when it came alone, whether it is
// self-signed or sent without the chain that may lead to a root, and
// its issuer's name.
func (t *tlsState) readLeaf(m []byte) {
	f, certs, ok := leafTBS(m)
	if !ok {
		return
	}
	if nb, na, ok := validity(f[3]); ok {
		t.notBefore, t.notAfter = nb, na
	}
	if certs == 1 {
		t.selfSigned = string(f[2]) == string(f[4])
		t.leafOnly = !t.selfSigned
		t.issuerLen = uint8(copy(t.issuer[:], issuerCN(f[2])))
	}
}

// appendChainHint adds, to a client's rejection of the server's
// certificate, that the server sent it self-signed, or alone without the
// intermediate that may be missing.
func (t *tlsState) appendChainHint(dst []byte) []byte {
	if t.selfSigned {
		dst = append(dst, "; the server's certificate is self-signed"...)
		if t.issuerLen > 0 {
			dst = append(dst, " ("...)
			dst = appendText(dst, t.issuer[:t.issuerLen])
			dst = append(dst, ')')
		}
		if h := t.defaultCertHint(); h != "" {
			return append(append(dst, ": "...), h...)
		}
		return append(dst, ": give the client that certificate as a trusted CA, or the server a certificate from a CA the client trusts"...)
	}
	if !t.leafOnly {
		return dst
	}
	dst = append(dst, "; the server sent its certificate alone"...)
	if t.issuerLen > 0 {
		dst = append(dst, ", issued by "...)
		dst = appendText(dst, t.issuer[:t.issuerLen])
	}
	return append(dst, ": either that issuer is a root CA the client does not trust (give the client that CA), or an intermediate CA the server must send along (its certificate file, e.g. a Kubernetes TLS secret's tls.crt, should hold the full chain)"...)
}

// defaultCertHint says what it means when the server's certificate is an
// ingress controller's default one, which it serves to a name none of
// its routes has a certificate for ("" otherwise).
func (t *tlsState) defaultCertHint() string {
	issuer, name := string(t.issuer[:t.issuerLen]), string(t.certName[:t.certNameLen])
	switch {
	case issuer == "Kubernetes Ingress Controller Fake Certificate" || name == "ingress.local":
		return "it is ingress-nginx's default certificate, served when no Ingress's TLS hosts include the name the client asked for, or when that Ingress's TLS secret is missing or invalid (the controller's log says which): fix the Ingress's spec.tls hosts or its secret"
	case issuer == "TRAEFIK DEFAULT CERT" || strings.HasSuffix(name, ".traefik.default"):
		return "it is Traefik's default certificate, served when no router's TLS configuration matches the name the client asked for, or when its certificate's secret is missing: fix the route's tls (its IngressRoute or Ingress) or the TLS store"
	}
	return ""
}

// appendValidity adds, to a client's certificate_expired alert (TLS <=
// 1.2), when the server's certificate was valid against the time of the
// capture at ts: expired how long ago, not valid yet, or valid (then the
// client's clock is off).
func (t *tlsState) appendValidity(dst []byte, ts int64) []byte {
	if t.notAfter == 0 {
		return dst
	}
	now := ts / 1e9
	day := func(dst []byte, s int64) []byte {
		return time.Unix(s, 0).UTC().AppendFormat(dst, "2006-01-02 15:04 UTC")
	}
	switch {
	case now > t.notAfter:
		dst = append(dst, "; the server's certificate expired on "...)
		dst = day(dst, t.notAfter)
		dst = append(dst, ", "...)
		dst = appendAge(dst, now-t.notAfter)
		dst = append(dst, " before this connection: renew it (cert-manager's Certificate status, or the secret's tls.crt)"...)
	case now < t.notBefore:
		dst = append(dst, "; the server's certificate is valid only from "...)
		dst = day(dst, t.notBefore)
		dst = append(dst, ": the client's clock is behind, or the certificate was issued for later"...)
	default:
		dst = append(dst, "; the server's certificate is valid from "...)
		dst = day(dst, t.notBefore)
		dst = append(dst, " to "...)
		dst = day(dst, t.notAfter)
		dst = append(dst, " by this capture's clock: the client's clock is probably wrong"...)
	}
	return dst
}

// appendAge writes a span of seconds coarsely: days, hours, minutes or
// seconds, rounded down.
func appendAge(dst []byte, s int64) []byte {
	switch {
	case s >= 2*86400:
		return append(appendUint(dst, uint64(s/86400)), " days"...)
	case s >= 86400:
		return append(dst, "1 day"...)
	case s >= 2*3600:
		return append(appendUint(dst, uint64(s/3600)), " h"...)
	case s >= 120:
		return append(appendUint(dst, uint64(s/60)), " min"...)
	}
	return append(appendUint(dst, uint64(max(s, 0))), " s"...)
}

// appendHiddenName adds, to a client's bad_certificate alert over TLS
// 1.3 (the certificate encrypted), the name the certificate was checked
// against: clients that check it during the handshake with OpenSSL
// (Python's ssl, nginx's proxy_ssl_verify) send bad_certificate when it
// is not valid for that name or address (an untrusted or expired
// certificate has an alert of its own). curl and Node check the name
// after the handshake: an encrypted alert, or a close.
func (t *tlsState) appendHiddenName(dst []byte, c *flowtable.Conn) []byte {
	dst = append(dst, "; TLS 1.3 hides the certificate, but clients that check it with OpenSSL during the handshake (Python's ssl, nginx proxying) send this alert when the certificate is not valid for "...)
	if t.sniLen == 0 {
		dst = append(dst, "the address it connected to, "...)
		dst = c.Resp().AppendTo(dst)
		return append(dst, " (it sent no server name): connect by a name the certificate has, or add the address to its IP SANs"...)
	}
	dst = append(dst, "the name it asked for, "...)
	dst = appendText(dst, t.SNI())
	return append(dst, ": check that name against the certificate's (openssl s_client -servername NAME shows them)"...)
}

// appendNameMismatch writes "the server's certificate is for NAME (and N
// more names), not SNI".
func (t *tlsState) appendNameMismatch(dst []byte) []byte {
	dst = append(dst, "the server's certificate is for "...)
	dst = appendText(dst, t.certName[:t.certNameLen])
	if t.certNames > 1 {
		dst = append(dst, " (and "...)
		dst = appendUint(dst, uint64(t.certNames-1))
		dst = append(dst, " more name"...)
		if t.certNames > 2 {
			dst = append(dst, 's')
		}
		dst = append(dst, ')')
	}
	dst = append(dst, ", not for "...)
	dst = appendText(dst, t.SNI())
	return append(dst, ", the name the client asked for"...)
}
