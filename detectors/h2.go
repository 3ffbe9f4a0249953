package detectors

import (
	"errors"

	"golang.org/x/net/http2/hpack"
)

// HTTP/2 with prior knowledge ("h2c": gRPC and other HTTP/2 services
// inside a cluster without TLS). The client's first HEADERS block is
// HPACK-compressed (RFC 7541), its names and values usually Huffman-coded,
// so the searched text is not in the bytes on the wire. The block is
// decoded into the HTTP/1 form the header search reads:
//
//	METHOD PATH HTTP/2
//	host: AUTHORITY        (unless the request has a host field)
//	name: value            (every other field, in order)
//
// A connection's first block is decoded with an empty dynamic table, as
// the encoder starts; entries it adds itself are kept while it is read.

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// isH2Preface reports whether b starts with the client connection preface.
func isH2Preface(b []byte) bool {
	return len(b) >= 16 && string(b[:16]) == h2Preface[:16]
}

// HTTP/2 frame types and flags used here (RFC 9113 §6).
const (
	h2Headers      = 0x1
	h2Continuation = 0x9
	h2EndHeaders   = 0x4
	h2Padded       = 0x8
	h2Priority     = 0x20
)

type h2Status int8

const (
	h2More h2Status = iota // the block is not complete yet
	h2Done                 // the block is complete
	h2Fail                 // not HTTP/2, or a malformed stream
)

// h2HeaderBlock finds the first HEADERS frame in the client's stream b
// (starting with the preface) and appends its header block fragment and
// those of its CONTINUATION frames to frag. With final (no more bytes
// will come) a truncated frame contributes what is there.
func h2HeaderBlock(b, frag []byte, final bool) ([]byte, h2Status) {
	if len(b) < len(h2Preface) {
		if string(b) != h2Preface[:len(b)] || final {
			return frag, h2Fail
		}
		return frag, h2More
	}
	if string(b[:len(h2Preface)]) != h2Preface {
		return frag, h2Fail
	}
	b = b[len(h2Preface):]
	var sid uint32 // stream of the HEADERS frame being read (0: none yet)
	for {
		if len(b) < 9 {
			if final {
				return frag, h2Fail
			}
			return frag, h2More
		}
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		typ, flags := b[3], b[4]
		id := (uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8])) & 0x7fffffff
		p := b[9:]
		if len(p) < n {
			if !final || sid == 0 && typ != h2Headers {
				if final {
					return frag, h2Fail
				}
				return frag, h2More
			}
			// The buffer is full: read the truncated fragment.
			flags |= h2EndHeaders
			flags &^= h2Padded
		} else {
			p = p[:n]
		}
		b = b[min(len(b), 9+n):]
		switch {
		case sid != 0:
			if typ != h2Continuation || id != sid {
				return frag, h2Fail // nothing may interleave a header block
			}
		case typ == h2Headers:
			if id == 0 {
				return frag, h2Fail
			}
			if flags&h2Padded != 0 {
				if len(p) < 1 || int(p[0]) >= len(p) {
					return frag, h2Fail
				}
				p = p[1 : len(p)-int(p[0])]
			}
			if flags&h2Priority != 0 {
				if len(p) < 5 {
					return frag, h2Fail
				}
				p = p[5:]
			}
			sid = id
		case typ == h2Continuation:
			return frag, h2Fail
		default:
			continue // SETTINGS, WINDOW_UPDATE, PRIORITY, PING, ...
		}
		frag = append(frag, p...)
		if flags&h2EndHeaders != 0 {
			return frag, h2Done
		}
	}
}

// hpackStatic is HPACK's static table (RFC 7541 Appendix A), from index 1.
var hpackStatic = [...][2]string{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""}, {"accept-encoding", "gzip, deflate"},
	{"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""}, {"access-control-allow-origin", ""},
	{"age", ""}, {"allow", ""}, {"authorization", ""}, {"cache-control", ""},
	{"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""},
	{"from", ""}, {"host", ""}, {"if-match", ""}, {"if-modified-since", ""},
	{"if-none-match", ""}, {"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
	{"link", ""}, {"location", ""}, {"max-forwards", ""}, {"proxy-authenticate", ""},
	{"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
	{"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
	{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""},
	{"www-authenticate", ""},
}

// maxH2Fields bounds the fields read from one block.
const maxH2Fields = 128

// span is a byte range of h2Decoder.text.
type span struct{ from, to uint16 }

// h2Field is a decoded field: its name and value, in the decoder's text.
type h2Field struct{ name, value span }

// h2Decoder decodes a header block without allocating: names and values
// are written into text, fields point into it. The dynamic table is the
// caller's: a fresh one for a connection's first block, or one kept
// across the blocks of one direction (h2c.go).
type h2Decoder struct {
	text   []byte
	fields []h2Field
	tab    *hpackTable
}

var errHPACK = errors.New("hpack: malformed or too large")

func newH2Decoder(textCap int) *h2Decoder {
	return &h2Decoder{
		text:   make([]byte, 0, textCap),
		fields: make([]h2Field, 0, maxH2Fields),
	}
}

// Write appends Huffman-decoded bytes to text (hpack.HuffmanDecode's
// output).
func (d *h2Decoder) Write(p []byte) (int, error) {
	if len(d.text)+len(p) > cap(d.text) {
		return 0, errHPACK
	}
	d.text = append(d.text, p...)
	return len(p), nil
}

func (d *h2Decoder) bytes(s span) []byte { return d.text[s.from:s.to] }

// field returns the value of the first field named name ("" if none).
func (d *h2Decoder) field(name string) ([]byte, bool) {
	for _, f := range d.fields {
		if string(d.bytes(f.name)) == name {
			return d.bytes(f.value), true
		}
	}
	return nil, false
}

// hpackTable is an HPACK dynamic table (RFC 7541 §2.3.2, §4): entries
// oldest first, their bytes in buf from ents[0].off.
type hpackTable struct {
	buf  []byte
	ents []hpackEntry
	size int // the table's HPACK size: bytes + 32 per entry
	max  int
}

type hpackEntry struct{ off, nlen, vlen int32 }

const (
	hpackDefaultMax = 4096
	// hpackMaxTable is the largest table followed; an encoder that asks
	// for more (a peer's SETTINGS_HEADER_TABLE_SIZE above it) is not.
	hpackMaxTable = 1 << 16
)

func (t *hpackTable) reset(max int) {
	t.buf, t.ents, t.size, t.max = t.buf[:0], t.ents[:0], 0, max
}

// setMax applies a dynamic table size update.
func (t *hpackTable) setMax(n int) bool {
	if n > hpackMaxTable {
		return false
	}
	t.max = n
	t.evict(0)
	return true
}

// evict drops the oldest entries until room more bytes fit.
func (t *hpackTable) evict(room int) {
	n := 0
	for n < len(t.ents) && t.size+room > t.max {
		e := t.ents[n]
		t.size -= int(e.nlen+e.vlen) + 32
		n++
	}
	t.ents = t.ents[:copy(t.ents, t.ents[n:])]
}

// add inserts an entry (an entry larger than the table empties it).
func (t *hpackTable) add(name, value []byte) {
	size := len(name) + len(value) + 32
	t.evict(size)
	if size > t.max {
		return
	}
	if len(t.ents) == 0 {
		t.buf = t.buf[:0]
	} else if first := int(t.ents[0].off); first > 0 && len(t.buf)+len(name)+len(value) > cap(t.buf) {
		t.buf = t.buf[:copy(t.buf, t.buf[first:])]
		for i := range t.ents {
			t.ents[i].off -= int32(first)
		}
	}
	off := int32(len(t.buf))
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, value...)
	t.ents = append(t.ents, hpackEntry{off, int32(len(name)), int32(len(value))})
	t.size += size
}

// at returns dynamic entry i (1 = the newest).
func (t *hpackTable) at(i int) (name, value []byte, ok bool) {
	if i < 1 || i > len(t.ents) {
		return nil, nil, false
	}
	e := t.ents[len(t.ents)-i]
	return t.buf[e.off : e.off+e.nlen], t.buf[e.off+e.nlen : e.off+e.nlen+e.vlen], true
}

// hpackInt reads an integer with an n-bit prefix (RFC 7541 §5.1).
func hpackInt(b []byte, n uint) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, b, false
	}
	mask := 1<<n - 1
	v := int(b[0]) & mask
	b = b[1:]
	if v < mask {
		return v, b, true
	}
	for m := uint(0); m <= 21; m += 7 {
		if len(b) == 0 {
			return 0, b, false
		}
		c := b[0]
		b = b[1:]
		v += int(c&0x7f) << m
		if c&0x80 == 0 {
			return v, b, true
		}
	}
	return 0, b, false // over 2^28: not a header block we read
}

// str reads a string literal (RFC 7541 §5.2) into text.
func (d *h2Decoder) str(b []byte) (span, []byte, error) {
	if len(b) == 0 {
		return span{}, b, errHPACK
	}
	huff := b[0]&0x80 != 0
	n, b, ok := hpackInt(b, 7)
	if !ok || n > len(b) {
		return span{}, b, errHPACK
	}
	raw := b[:n]
	b = b[n:]
	from := len(d.text)
	if huff {
		if _, err := hpack.HuffmanDecode(d, raw); err != nil {
			return span{}, b, errHPACK
		}
	} else if _, err := d.Write(raw); err != nil {
		return span{}, b, err
	}
	return span{uint16(from), uint16(len(d.text))}, b, nil
}

// static copies a table string into text.
func (d *h2Decoder) static(s string) (span, error) { return d.copyIn([]byte(s)) }

// copyIn copies b into text.
func (d *h2Decoder) copyIn(s []byte) (span, error) {
	from := len(d.text)
	if len(d.text)+len(s) > cap(d.text) {
		return span{}, errHPACK
	}
	d.text = append(d.text, s...)
	return span{uint16(from), uint16(len(d.text))}, nil
}

// indexed returns the name (and value) of table entry i.
func (d *h2Decoder) indexed(i int) (name, value span, err error) {
	switch {
	case i >= 1 && i <= len(hpackStatic):
		e := hpackStatic[i-1]
		if name, err = d.static(e[0]); err == nil {
			value, err = d.static(e[1])
		}
		return name, value, err
	case i > len(hpackStatic):
		n, v, ok := d.tab.at(i - len(hpackStatic))
		if !ok {
			break
		}
		if name, err = d.copyIn(n); err == nil {
			value, err = d.copyIn(v)
		}
		return name, value, err
	}
	return span{}, span{}, errHPACK
}

// decode reads an HPACK block into fields, updating the dynamic table
// tab. It stops at the first malformed or unreadable field, keeping those
// before it; tab is then no longer the encoder's.
func (d *h2Decoder) decode(b []byte, tab *hpackTable) error {
	d.text, d.fields, d.tab = d.text[:0], d.fields[:0], tab
	for len(b) > 0 {
		if len(d.fields) == cap(d.fields) {
			return errHPACK
		}
		var f h2Field
		var err error
		c := b[0]
		switch {
		case c&0x80 != 0: // indexed field
			var i int
			var ok bool
			if i, b, ok = hpackInt(b, 7); !ok {
				return errHPACK
			}
			if f.name, f.value, err = d.indexed(i); err != nil {
				return err
			}
		case c&0xe0 == 0x20: // dynamic table size update
			var n int
			var ok bool
			if n, b, ok = hpackInt(b, 5); !ok {
				return errHPACK
			}
			if !d.tab.setMax(n) {
				return errHPACK
			}
			continue
		default: // literal: with incremental indexing (01), without (0000), never indexed (0001)
			prefix := uint(4)
			if c&0xc0 == 0x40 {
				prefix = 6
			}
			var i int
			var ok bool
			if i, b, ok = hpackInt(b, prefix); !ok {
				return errHPACK
			}
			if i == 0 {
				f.name, b, err = d.str(b)
			} else {
				f.name, _, err = d.indexed(i)
			}
			if err == nil {
				f.value, b, err = d.str(b)
			}
			if err != nil {
				return err
			}
			if c&0xc0 == 0x40 {
				d.tab.add(d.bytes(f.name), d.bytes(f.value))
			}
		}
		d.fields = append(d.fields, f)
	}
	return nil
}

// request appends the decoded fields to dst in HTTP/1 form (see the top
// of the file). It returns dst unchanged when the block has no :method.
func (d *h2Decoder) request(dst []byte) []byte {
	var method, path, authority []byte
	host := false
	for _, f := range d.fields {
		name := d.bytes(f.name)
		switch string(name) {
		case ":method":
			method = d.bytes(f.value)
		case ":path":
			path = d.bytes(f.value)
		case ":authority":
			authority = d.bytes(f.value)
		case "host":
			host = true
		}
	}
	if len(method) == 0 {
		return dst
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/2\r\n"...)
	if !host && len(authority) > 0 {
		dst = append(dst, "host: "...)
		dst = append(dst, authority...)
		dst = append(dst, "\r\n"...)
	}
	for _, f := range d.fields {
		name := d.bytes(f.name)
		if len(name) > 0 && name[0] == ':' {
			continue
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, d.bytes(f.value)...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}
