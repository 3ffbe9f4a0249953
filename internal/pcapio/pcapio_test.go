package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func classic(bo binary.ByteOrder, magic uint32, link uint32, recs [][]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	bo.PutUint32(h[0:], magic)
	bo.PutUint16(h[4:], 2)
	bo.PutUint16(h[6:], 4)
	bo.PutUint32(h[16:], 65535)
	bo.PutUint32(h[20:], link)
	b.Write(h)
	for i, r := range recs {
		rh := make([]byte, 16)
		bo.PutUint32(rh[0:], 1700000000)
		bo.PutUint32(rh[4:], uint32(500+i))
		bo.PutUint32(rh[8:], uint32(len(r)))
		bo.PutUint32(rh[12:], uint32(len(r)+10)) // cut by a snaplen
		b.Write(rh)
		b.Write(r)
	}
	return b.Bytes()
}

func TestClassicVariants(t *testing.T) {
	recs := [][]byte{[]byte("first"), []byte("second!")}
	for _, c := range []struct {
		name  string
		bo    binary.ByteOrder
		magic uint32
		ns    int64
	}{
		{"le-us", binary.LittleEndian, 0xa1b2c3d4, 500 * 1000},
		{"be-us", binary.BigEndian, 0xa1b2c3d4, 500 * 1000},
		{"le-ns", binary.LittleEndian, 0xa1b23c4d, 500},
		{"be-ns", binary.BigEndian, 0xa1b23c4d, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(classic(c.bo, c.magic, 113, recs)))
			if err != nil {
				t.Fatal(err)
			}
			var rec Record
			for i, want := range recs {
				if err := r.Next(&rec); err != nil {
					t.Fatal(err)
				}
				if string(rec.Data) != string(want) || rec.LinkType != 113 || rec.OrigLen != len(want)+10 {
					t.Errorf("record %d: %+v", i, rec)
				}
				if i == 0 && rec.TS != 1700000000*1e9+c.ns {
					t.Errorf("ts %d", rec.TS)
				}
			}
			if err := r.Next(&rec); err != io.EOF {
				t.Errorf("end: %v", err)
			}
		})
	}
}

func ngBlock(typ uint32, body []byte) []byte {
	pad := (4 - len(body)%4) % 4
	total := 12 + len(body) + pad
	b := make([]byte, 0, total)
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = append(b, body...)
	b = append(b, make([]byte, pad)...)
	return binary.LittleEndian.AppendUint32(b, uint32(total))
}

func TestPcapngInterfaces(t *testing.T) {
	var f []byte
	shb := binary.LittleEndian.AppendUint32(nil, 0x1a2b3c4d)
	shb = append(shb, 1, 0, 0, 0)
	shb = binary.LittleEndian.AppendUint64(shb, ^uint64(0))
	f = append(f, ngBlock(ngSHB, shb)...)
	// iface 0: Ethernet, default microseconds; iface 1: raw IP, ns (tsresol 9).
	f = append(f, ngBlock(ngIDB, []byte{1, 0, 0, 0, 0, 0, 1, 0})...)
	f = append(f, ngBlock(ngIDB, []byte{101, 0, 0, 0, 0, 0, 1, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0})...)
	f = append(f, ngBlock(0x0BAD, []byte{1, 2, 3, 4})...) // unknown block: skipped
	epb := func(iface uint32, ts uint64, data []byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, iface)
		b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
		b = binary.LittleEndian.AppendUint32(b, uint32(ts))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	f = append(f, ngBlock(ngEPB, epb(0, 1_700_000_000_000_001, []byte("eth")))...)
	f = append(f, ngBlock(ngEPB, epb(1, 1_700_000_000_000_000_002, []byte("raw ip")))...)
	f = append(f, ngBlock(ngSPB, append(binary.LittleEndian.AppendUint32(nil, 3), "spb"...))...)
	r, err := NewReader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	want := []struct {
		data string
		link int
		ts   int64
	}{{"eth", 1, 1_700_000_000_000_001_000}, {"raw ip", 101, 1_700_000_000_000_000_002}, {"spb", 1, 0}}
	for i, w := range want {
		if err := r.Next(&rec); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(rec.Data) != w.data || rec.LinkType != w.link || rec.TS != w.ts {
			t.Errorf("record %d: %q link %d ts %d", i, rec.Data, rec.LinkType, rec.TS)
		}
	}
	if err := r.Next(&rec); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := NewReader(bytes.NewReader(nil)); !errors.Is(err, ErrNotCapture) {
		t.Errorf("empty: %v", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))); !errors.Is(err, ErrNotCapture) {
		t.Errorf("text: %v", err)
	}
	f := classic(binary.LittleEndian, 0xa1b2c3d4, 1, [][]byte{[]byte("abcdef")})
	r, _ := NewReader(bytes.NewReader(f[:len(f)-2]))
	var rec Record
	if err := r.Next(&rec); err != io.ErrUnexpectedEOF {
		t.Errorf("cut record: %v", err)
	}
	bad := classic(binary.LittleEndian, 0xa1b2c3d4, 1, [][]byte{[]byte("x")})
	binary.LittleEndian.PutUint32(bad[24+8:], 1<<30)
	r, _ = NewReader(bytes.NewReader(bad))
	if err := r.Next(&rec); err == nil || err == io.EOF {
		t.Errorf("huge caplen accepted: %v", err)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w, _ := NewWriter(&b, 1)
	w.Write(1_700_000_000_123_456_789, []byte("frame"), 9000)
	r, err := NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := r.Next(&rec); err != nil || rec.TS != 1_700_000_000_123_456_789 || rec.OrigLen != 9000 || string(rec.Data) != "frame" {
		t.Fatalf("%v %+v", err, rec)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(classic(binary.LittleEndian, 0xa1b2c3d4, 1, [][]byte{[]byte("abc")}))
	f.Add(classic(binary.BigEndian, 0xa1b23c4d, 113, [][]byte{{}}))
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a}) // pcapng SHB cut
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var rec Record
		for i := 0; i < 1000; i++ {
			if r.Next(&rec) != nil {
				return
			}
		}
	})
}
