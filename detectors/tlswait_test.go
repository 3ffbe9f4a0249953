package detectors

import "testing"

// TestSameRecords: a run of whole application-data records of one
// length (session tickets) is told from anything else in a segment.
func TestSameRecords(t *testing.T) {
	rec := func(n int) []byte {
		b := make([]byte, 5+n)
		b[0], b[1], b[2], b[3], b[4] = recAppData, 3, 3, byte(n>>8), byte(n)
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		b    []byte
		size uint16
		n    int
	}{
		{"one record", rec(250), 250, 1},
		{"two of one size", cat(rec(250), rec(250)), 250, 2},
		{"two sizes", cat(rec(250), rec(251)), 0, 0},
		{"a record cut by the segment's end", rec(250)[:100], 0, 0},
		{"a record and the start of the next", cat(rec(250), rec(250)[:3]), 0, 0},
		{"an alert record", append([]byte{21, 3, 3, 0, 2}, 1, 0), 0, 0},
		{"empty", nil, 0, 0},
	} {
		if size, n := sameRecords(tc.b); size != tc.size || n != tc.n {
			t.Errorf("%s: got %d×%d, want %d×%d", tc.name, n, size, tc.n, tc.size)
		}
	}
}

// TestTLSSilence: which server bytes after a request inside TLS leave it
// unanswered.
func TestTLSSilence(t *testing.T) {
	l := &reqLine{tls: true, n: 1, srv: 1000, at: 1e9}
	for _, tc := range []struct {
		name   string
		segs   []int // record lengths, one segment each
		silent bool
	}{
		{"nothing", nil, true},
		{"two tickets", []int{250, 250}, true},
		{"two tickets, then an answer", []int{250, 250, 400}, false},
		{"three records of one size: the third is an answer", []int{250, 250, 250}, false},
		{"one record: a ticket or a small answer", []int{250}, false},
		{"a close_notify: no answer", []int{19}, true},
		{"two tickets and a close_notify", []int{250, 250, 19}, true},
		{"a small answer", []int{40}, false},
	} {
		*l = reqLine{tls: true, n: 1, srv: 1000, at: 1e9}
		size := l.srv
		for _, n := range tc.segs {
			b := make([]byte, 5+n)
			b[0], b[3], b[4] = recAppData, byte(n>>8), byte(n)
			size += uint64(len(b))
			l.serverData(b, 1e9+1e6, true)
		}
		if got := l.silent(size); got != tc.silent {
			t.Errorf("%s: silent %v, want %v", tc.name, got, tc.silent)
		}
	}
	*l = reqLine{tls: true, n: 2, srv: 1000, at: 1e9}
	b := []byte{recAppData, 3, 3, 0, 250}
	l.serverData(append(b, make([]byte, 250)...), 1e9+1e6, true)
	l.serverData(append(b, make([]byte, 250)...), 1e9+1e6, true)
	if l.silent(1000 + 2*255) {
		t.Error("a later request's answer taken for tickets")
	}
}

// TestH2Records: what the sizes of a segment's TLS records say of the
// HTTP/2 frames inside, with the sizes real stacks send (curl, Go, nginx,
// Java's padded records; TLS 1.2 with AES-GCM and ChaCha20).
func TestH2Records(t *testing.T) {
	rec := appRecords
	const (
		ctl, sig, pad, cancel, pair, small = tlsH2Ctl, tlsH2Sig, tlsH2Pad, tlsH2Cancel, tlsH2Pair, tlsH2Small
	)
	for _, tc := range []struct {
		name        string
		b           []byte
		tls13, pads bool
		want        uint8
	}{
		{"TLS 1.3 SETTINGS acknowledgement", rec(26), true, false, ctl | sig | small},
		{"Java's, padded", rec(42), true, false, ctl | sig | pad | small},
		{"RST_STREAM or WINDOW_UPDATE", rec(30), true, false, ctl | cancel | small},
		{"Java's RST_STREAM", rec(46), true, true, ctl | cancel | small},
		{"Go's RST_STREAM with a PING", rec(47), true, false, ctl | pair | small},
		{"WINDOW_UPDATE and acknowledgement", rec(39), true, false, ctl | small},
		{"PING acknowledgement", rec(34), true, false, ctl | small},
		{"Go's preface", rec(56), true, false, small},
		{"nginx's preface", rec(57), true, false, small},
		{"an answer", rec(165), true, false, 0},
		{"a session ticket", rec(266), true, false, 0},
		{"preface and acknowledgement", rec(56, 26), true, false, sig | small},
		{"TLS 1.2 GCM acknowledgement", rec(33), false, false, ctl | small},
		{"TLS 1.2 GCM RST_STREAM", rec(37), false, false, ctl | cancel | small},
		{"TLS 1.2 ChaCha20 RST_STREAM", rec(29), false, false, ctl | cancel | small},
		{"TLS 1.2 GCM RST_STREAM with a PING", rec(54), false, false, ctl | pair | small},
		{"TLS 1.2 preface", rec(64), false, false, small},
		{"a record cut by the segment's end", rec(26)[:20], true, false, 0},
		{"an alert record", append([]byte{21, 3, 3, 0, 2}, 1, 0), false, false, 0},
	} {
		if got := h2Records(tc.b, tc.tls13, tc.pads); got != tc.want {
			t.Errorf("%s: got %05b, want %05b", tc.name, got, tc.want)
		}
	}
}

// TestH2Rest: a segment's control-frame records are set apart from the
// rest, which may be session tickets only if they are of one size.
func TestH2Rest(t *testing.T) {
	rec := appRecords
	for _, tc := range []struct {
		name string
		b    []byte
		ctl  int
		size uint16
		n    int
	}{
		{"Node's tickets and SETTINGS", rec(282, 282, 35), 40, 282, 2},
		{"control frames alone", rec(26, 30), 66, 0, 0},
		{"an answer", rec(165), 0, 165, 1},
		{"two sizes besides", rec(282, 165, 26), 0, 0, -1},
		{"cut", rec(282)[:100], 0, 0, -1},
	} {
		if ctl, size, n := h2Rest(tc.b, true, false); ctl != tc.ctl || size != tc.size || n != tc.n {
			t.Errorf("%s: got %d, %d×%d, want %d, %d×%d", tc.name, ctl, n, size, tc.ctl, tc.n, tc.size)
		}
	}
}

// TestFirstOf: a ClientHello's suites or groups, named up to a few and
// counted, GREASE and the renegotiation signal left out.
func TestFirstOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		b     []byte
		first []uint16
		n     uint8
	}{
		{"one group", []byte{0, 0x1d}, []uint16{0x1d, 0, 0}, 1},
		{"Chrome's GREASE first", []byte{0x2a, 0x2a, 0x13, 1, 0x13, 2, 0x13, 3, 0xc0, 0x2b}, []uint16{0x1301, 0x1302, 0x1303}, 4},
		{"OpenSSL's signal last", []byte{0x13, 2, 0x13, 3, 0x13, 1, 0xc0, 0x2c, 0, 0xff}, []uint16{0x1302, 0x1303, 0x1301}, 4},
		{"short, with the signal", []byte{0xc0, 0x2f, 0, 0xff}, []uint16{0xc02f, 0, 0}, 1},
		{"odd length", []byte{0, 0x17, 0}, []uint16{0x17, 0, 0}, 1},
		{"empty", nil, []uint16{0, 0, 0}, 0},
	} {
		var dst [3]uint16
		if n := firstOf(tc.b, dst[:]); n != tc.n || dst != [3]uint16(tc.first) {
			t.Errorf("%s: got %d %04x, want %d %04x", tc.name, n, dst, tc.n, tc.first)
		}
	}
}

// appRecords returns whole TLS application-data records of the given
// lengths, one after the other, as a segment holds them.
func appRecords(ns ...int) []byte {
	var out []byte
	for _, n := range ns {
		b := make([]byte, 5+n)
		b[0], b[1], b[2], b[3], b[4] = recAppData, 3, 3, byte(n>>8), byte(n)
		out = append(out, b...)
	}
	return out
}
