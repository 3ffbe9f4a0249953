package detectors

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// encodeFields encodes fields with x/net's HPACK encoder (the one Go's
// HTTP/2 client uses), starting from an empty dynamic table.
func encodeFields(t testing.TB, tableSize uint32, fields ...hpack.HeaderField) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	if tableSize != 4096 {
		enc.SetMaxDynamicTableSize(tableSize) // emits a size update first
	}
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func h2frame(typ, flags byte, id uint32, p []byte) []byte {
	n := len(p)
	h := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	return append(h, p...)
}

func decodedFields(t *testing.T, block []byte) []hpack.HeaderField {
	t.Helper()
	d := newH2Decoder(maxHeaderBlock)
	if err := d.decode(block, freshTable()); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var out []hpack.HeaderField
	for _, f := range d.fields {
		out = append(out, hpack.HeaderField{Name: string(d.bytes(f.name)), Value: string(d.bytes(f.value))})
	}
	return out
}

// TestHPACKStaticTable checks the static table against an independent
// encoder: each entry is encoded by x/net's encoder (as an indexed field,
// or a literal with an indexed name) and must decode to itself.
func TestHPACKStaticTable(t *testing.T) {
	for i, e := range hpackStatic {
		f := hpack.HeaderField{Name: e[0], Value: e[1]}
		if f.Value == "" {
			f.Value = "v" // a literal value with the indexed name
		}
		block := encodeFields(t, 4096, f)
		got := decodedFields(t, block)
		if len(got) != 1 || got[0].Name != f.Name || got[0].Value != f.Value {
			t.Errorf("static entry %d: encoded %q, decoded %v", i+1, f, got)
		}
		if e[1] != "" && block[0] != byte(0x80|(i+1)) || e[1] == "" && block[0] != byte(0x40|(i+1)) {
			t.Errorf("static entry %d (%s: %s): the encoder chose another index (%x): the tables differ", i+1, e[0], e[1], block)
		}
	}
}

// h2cStream is a client's start of an h2c connection: the preface,
// SETTINGS, WINDOW_UPDATE, then the first request's HEADERS (padded,
// with priority) split over a CONTINUATION.
func h2cStream(t testing.TB) []byte {
	block := encodeFields(t, 4096,
		hpack.HeaderField{Name: ":method", Value: "POST"},
		hpack.HeaderField{Name: ":scheme", Value: "http"},
		hpack.HeaderField{Name: ":path", Value: "/helloworld.Greeter/SayHello"},
		hpack.HeaderField{Name: ":authority", Value: "greeter.demo.test:50051"},
		hpack.HeaderField{Name: "content-type", Value: "application/grpc"},
		hpack.HeaderField{Name: "x-pepe", Value: "yes"},
		hpack.HeaderField{Name: "x-pepe", Value: "yes"}, // a reference to the dynamic table
		hpack.HeaderField{Name: "authorization", Value: "Bearer secret", Sensitive: true},
		hpack.HeaderField{Name: "te", Value: "trailers"},
	)
	s := []byte(h2Preface)
	s = append(s, h2frame(0x4, 0, 0, []byte{0, 3, 0, 0, 0, 100})...) // SETTINGS
	s = append(s, h2frame(0x8, 0, 0, []byte{0, 0x0f, 0, 1})...)      // WINDOW_UPDATE
	first := append([]byte{3}, []byte{0, 0, 0, 0, 16}...)            // pad length, priority
	first = append(first, block[:10]...)
	first = append(first, 0, 0, 0) // padding
	s = append(s, h2frame(h2Headers, h2Padded|h2Priority, 1, first)...)
	s = append(s, h2frame(h2Continuation, h2EndHeaders, 1, block[10:])...)
	return s
}

func TestH2FirstRequest(t *testing.T) {
	s := h2cStream(t)
	want := "POST /helloworld.Greeter/SayHello HTTP/2\r\nhost: greeter.demo.test:50051\r\n" +
		"content-type: application/grpc\r\nx-pepe: yes\r\nx-pepe: yes\r\nauthorization: Bearer secret\r\nte: trailers\r\n\r\n"
	// Every prefix of the stream is "more"; the whole of it is done.
	for n := 0; n < len(s); n++ {
		if _, st := h2HeaderBlock(s[:n], nil, false); st != h2More {
			t.Fatalf("prefix of %d bytes: status %d, want more", n, st)
		}
	}
	frag, st := h2HeaderBlock(s, nil, false)
	if st != h2Done {
		t.Fatalf("status %d", st)
	}
	d := newH2Decoder(maxHeaderBlock)
	if err := d.decode(frag, freshTable()); err != nil {
		t.Fatal(err)
	}
	if got := string(d.request(nil)); got != want {
		t.Errorf("request:\n%q\nwant\n%q", got, want)
	}
	// A smaller dynamic table (a size update first) and a host field.
	block := encodeFields(t, 64,
		hpack.HeaderField{Name: ":method", Value: "GET"},
		hpack.HeaderField{Name: ":path", Value: "/"},
		hpack.HeaderField{Name: "host", Value: "h.demo.test"},
		hpack.HeaderField{Name: "user-agent", Value: strings.Repeat("u", 40)},
		hpack.HeaderField{Name: "user-agent", Value: strings.Repeat("u", 40)},
	)
	if err := d.decode(block, freshTable()); err != nil {
		t.Fatal(err)
	}
	ua := strings.Repeat("u", 40)
	if got, w := string(d.request(nil)), "GET / HTTP/2\r\nhost: h.demo.test\r\nuser-agent: "+ua+"\r\nuser-agent: "+ua+"\r\n\r\n"; got != w {
		t.Errorf("request:\n%q\nwant\n%q", got, w)
	}
	// Not HTTP/2; a CONTINUATION without HEADERS; a frame between the
	// HEADERS and its CONTINUATION.
	for _, bad := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		append([]byte(h2Preface), h2frame(h2Continuation, h2EndHeaders, 1, []byte{0x82})...),
		append(append([]byte(h2Preface), h2frame(h2Headers, 0, 1, []byte{0x82})...), h2frame(0x8, 0, 0, []byte{0, 0, 0, 1})...),
	} {
		if _, st := h2HeaderBlock(bad, nil, false); st != h2Fail {
			t.Errorf("%q: status %d, want fail", bad, st)
		}
	}
}

// TestH2SearchAllocs: decoding a first request allocates nothing once
// the worker's decoder exists.
func TestH2SearchAllocs(t *testing.T) {
	s := h2cStream(t)
	d := newH2Decoder(maxHeaderBlock)
	frag := make([]byte, 0, maxHeaderBlock)
	req := make([]byte, 0, 2*maxHeaderBlock)
	needle := []byte("x-pepe")
	tab := freshTable()
	run := func() {
		f, _ := h2HeaderBlock(s, frag[:0], false)
		tab.reset(hpackDefaultMax)
		_ = d.decode(f, tab)
		if indexFold(d.request(req[:0]), needle) < 0 {
			t.Fatal("no match")
		}
	}
	run()
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items); run go test without -race")
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func FuzzH2Request(f *testing.F) {
	f.Add(h2cStream(f), false)
	f.Add([]byte(h2Preface+"\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x8a"), true)
	d := newH2Decoder(maxHeaderBlock)
	f.Fuzz(func(t *testing.T, b []byte, final bool) {
		frag, st := h2HeaderBlock(b, nil, final)
		if st == h2Done {
			_ = d.decode(frag, freshTable())
			req := d.request(nil)
			if len(req) > 0 && !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
				t.Fatalf("request text not ended: %q", req)
			}
		}
	})
}

// freshTable is the empty dynamic table a connection starts with.
func freshTable() *hpackTable {
	t := &hpackTable{}
	t.reset(hpackDefaultMax)
	return t
}
