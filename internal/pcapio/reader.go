// Package pcapio reads and writes capture files: classic pcap (both byte
// orders, micro- and nanosecond timestamps) and pcapng (SHB/IDB/EPB/SPB/OPB,
// several interfaces, per-section byte order). Files are streamed: only one
// record is held in memory at a time.
package pcapio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Link types (https://www.tcpdump.org/linktypes.html) understood by decode.
const (
	LinkNull     = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet = 1   // IEEE 802.3
	LinkRaw      = 101 // raw IPv4/IPv6
	LinkRawAlt   = 12  // raw IP on some BSDs (DLT_RAW value)
	LinkLoop     = 108 // OpenBSD loopback: 4-byte network-order family
	LinkSLL      = 113 // Linux cooked capture v1
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2
)

// ErrNotCapture is returned when the input is neither pcap nor pcapng.
var ErrNotCapture = errors.New("pcapio: not a pcap or pcapng file")

// maxRecord bounds one record's captured length; larger values mean a
// corrupt file (the largest real snaplen is 262144).
const maxRecord = 1 << 20

// Record describes one captured packet. Data is valid until the next call
// to Next.
type Record struct {
	TS       int64 // nanoseconds since the Unix epoch
	CapLen   int   // bytes captured (len(Data))
	OrigLen  int   // bytes on the wire
	LinkType int
	Data     []byte
}

// Reader streams records from a pcap or pcapng file.
type Reader struct {
	r   *bufio.Reader
	buf []byte
	ng  bool

	// classic pcap
	bo       binary.ByteOrder
	nano     bool
	linkType int
	snaplen  int

	// pcapng
	ifaces []ngIface
	off    int64
}

type ngIface struct {
	linkType int
	snaplen  int
	tsMul    int64 // multiply raw timestamp to get ns (if >0)
	tsDiv    int64 // divide raw timestamp to get ns (if >0)
}

// Sniff reports whether head (the first bytes of a file, at least 4)
// starts like a pcap or pcapng file.
func Sniff(head []byte) error {
	if len(head) < 4 {
		return fmt.Errorf("%w (file is empty or shorter than a header)", ErrNotCapture)
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1, ngSHB:
		return nil
	}
	return ErrNotCapture
}

// NewReader detects the format from the magic number.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	rd := &Reader{r: br}
	magic, err := br.Peek(4)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w (file is empty or shorter than a header)", ErrNotCapture)
		}
		return nil, fmt.Errorf("pcapio: %w", err)
	}
	switch {
	case magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a:
		rd.ng = true
		if err := rd.readSHB(); err != nil {
			return nil, err
		}
		return rd, nil
	}
	var hdr [24]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w (truncated file header)", ErrNotCapture)
	}
	switch binary.LittleEndian.Uint32(hdr[:4]) {
	case 0xa1b2c3d4:
		rd.bo = binary.LittleEndian
	case 0xa1b23c4d:
		rd.bo, rd.nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		rd.bo = binary.BigEndian
	case 0x4d3cb2a1:
		rd.bo, rd.nano = binary.BigEndian, true
	default:
		return nil, ErrNotCapture
	}
	rd.snaplen = int(rd.bo.Uint32(hdr[16:20]))
	rd.linkType = int(rd.bo.Uint32(hdr[20:24]) & 0x0fffffff)
	return rd, nil
}

// LinkType returns the link type of a classic pcap file, or of the first
// interface of a pcapng file (-1 if none was seen yet).
func (rd *Reader) LinkType() int {
	if !rd.ng {
		return rd.linkType
	}
	if len(rd.ifaces) == 0 {
		return -1
	}
	return rd.ifaces[0].linkType
}

// Next reads the next packet record. It returns io.EOF at the clean end of
// the input and io.ErrUnexpectedEOF for a file cut inside a record (the
// records before it are valid).
func (rd *Reader) Next(rec *Record) error {
	if rd.ng {
		return rd.nextNG(rec)
	}
	h, err := rd.r.Peek(16)
	if err != nil {
		if len(h) == 0 && err == io.EOF {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	rd.r.Discard(16)
	sec := int64(rd.bo.Uint32(h[0:4]))
	frac := int64(rd.bo.Uint32(h[4:8]))
	capLen := int(rd.bo.Uint32(h[8:12]))
	origLen := int(rd.bo.Uint32(h[12:16]))
	if capLen > maxRecord || capLen < 0 {
		return fmt.Errorf("pcapio: corrupt record: captured length %d", capLen)
	}
	data, err := rd.take(capLen)
	if err != nil {
		return err
	}
	if !rd.nano {
		frac *= 1000
	}
	if origLen < capLen {
		origLen = capLen
	}
	*rec = Record{TS: sec*1e9 + frac, CapLen: capLen, OrigLen: origLen, LinkType: rd.linkType, Data: data}
	return nil
}

// take returns the next n bytes of the input, valid until the next read.
// They are a view of the read buffer when they fit in it (the record is
// not copied out of it), else copied into rd.buf.
func (rd *Reader) take(n int) ([]byte, error) {
	if n <= rd.r.Size() {
		b, err := rd.r.Peek(n)
		if err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		rd.r.Discard(n)
		return b, nil
	}
	if cap(rd.buf) < n {
		rd.buf = make([]byte, n)
	}
	rd.buf = rd.buf[:n]
	if _, err := io.ReadFull(rd.r, rd.buf); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return rd.buf, nil
}

// pcapng block types.
const (
	ngSHB = 0x0a0d0d0a
	ngIDB = 0x00000001
	ngOPB = 0x00000002
	ngSPB = 0x00000003
	ngEPB = 0x00000006
)

func (rd *Reader) readSHB() error {
	var h [12]byte
	if _, err := io.ReadFull(rd.r, h[:]); err != nil {
		return fmt.Errorf("%w (truncated pcapng section header)", ErrNotCapture)
	}
	switch binary.LittleEndian.Uint32(h[8:12]) {
	case 0x1a2b3c4d:
		rd.bo = binary.LittleEndian
	case 0x4d3c2b1a:
		rd.bo = binary.BigEndian
	default:
		return fmt.Errorf("%w (bad pcapng byte-order magic)", ErrNotCapture)
	}
	total := int(rd.bo.Uint32(h[4:8]))
	if total < 28 || total%4 != 0 || total > maxRecord {
		return fmt.Errorf("%w (bad pcapng section header length %d)", ErrNotCapture, total)
	}
	rd.ifaces = rd.ifaces[:0] // interfaces are per section
	if _, err := rd.r.Discard(total - 12); err != nil {
		return fmt.Errorf("%w (truncated pcapng section header)", ErrNotCapture)
	}
	return nil
}

func (rd *Reader) nextNG(rec *Record) error {
	for {
		hb, err := rd.r.Peek(8)
		if err != nil {
			if err == io.EOF && len(hb) == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		if binary.LittleEndian.Uint32(hb) == ngSHB {
			if err := rd.readSHB(); err != nil {
				return err
			}
			continue
		}
		typ := rd.bo.Uint32(hb[0:4])
		total := int(rd.bo.Uint32(hb[4:8]))
		if total < 12 || total%4 != 0 || total > maxRecord+64 {
			return fmt.Errorf("pcapio: corrupt pcapng block (type %#x, length %d)", typ, total)
		}
		blk, err := rd.take(total)
		if err != nil {
			return err
		}
		body := blk[8 : total-4]
		switch typ {
		case ngIDB:
			if len(body) < 8 {
				return fmt.Errorf("pcapio: corrupt pcapng interface block")
			}
			ifc := ngIface{linkType: int(rd.bo.Uint16(body[0:2])), snaplen: int(rd.bo.Uint32(body[4:8])), tsDiv: 0, tsMul: 1000}
			rd.parseIDBOptions(body[8:], &ifc)
			rd.ifaces = append(rd.ifaces, ifc)
		case ngEPB, ngOPB:
			if len(body) < 20 {
				return fmt.Errorf("pcapio: corrupt pcapng packet block")
			}
			var ifID int
			if typ == ngEPB {
				ifID = int(rd.bo.Uint32(body[0:4]))
			} else {
				ifID = int(rd.bo.Uint16(body[0:2]))
			}
			if ifID >= len(rd.ifaces) {
				return fmt.Errorf("pcapio: pcapng packet for undeclared interface %d", ifID)
			}
			ifc := &rd.ifaces[ifID]
			ts := int64(uint64(rd.bo.Uint32(body[4:8]))<<32 | uint64(rd.bo.Uint32(body[8:12])))
			capLen := int(rd.bo.Uint32(body[12:16]))
			origLen := int(rd.bo.Uint32(body[16:20]))
			if capLen < 0 || capLen > len(body)-20 {
				return fmt.Errorf("pcapio: corrupt pcapng packet block: captured length %d", capLen)
			}
			if origLen < capLen {
				origLen = capLen
			}
			*rec = Record{TS: ifc.ns(ts), CapLen: capLen, OrigLen: origLen, LinkType: ifc.linkType, Data: body[20 : 20+capLen]}
			return nil
		case ngSPB:
			if len(rd.ifaces) == 0 || len(body) < 4 {
				return fmt.Errorf("pcapio: pcapng simple packet block without interface")
			}
			ifc := &rd.ifaces[0]
			origLen := int(rd.bo.Uint32(body[0:4]))
			capLen := origLen
			if ifc.snaplen > 0 && capLen > ifc.snaplen {
				capLen = ifc.snaplen
			}
			if capLen > len(body)-4 {
				capLen = len(body) - 4
			}
			*rec = Record{TS: 0, CapLen: capLen, OrigLen: origLen, LinkType: ifc.linkType, Data: body[4 : 4+capLen]}
			return nil
		default:
			// Name resolution, statistics, custom blocks: skipped.
		}
	}
}

func (rd *Reader) parseIDBOptions(opts []byte, ifc *ngIface) {
	for len(opts) >= 4 {
		code := rd.bo.Uint16(opts[0:2])
		l := int(rd.bo.Uint16(opts[2:4]))
		if code == 0 || 4+l > len(opts) {
			return
		}
		if code == 9 && l >= 1 { // if_tsresol
			v := opts[4]
			var perSec int64 = 1
			if v&0x80 != 0 {
				exp := int(v & 0x7f)
				if exp > 62 {
					exp = 62
				}
				perSec = 1 << exp
			} else {
				exp := int(v)
				if exp > 18 {
					exp = 18
				}
				for i := 0; i < exp; i++ {
					perSec *= 10
				}
			}
			switch {
			case perSec == 1e9:
				ifc.tsMul, ifc.tsDiv = 1, 0
			case perSec < 1e9 && 1e9%perSec == 0:
				ifc.tsMul, ifc.tsDiv = 1e9/perSec, 0
			default:
				ifc.tsMul, ifc.tsDiv = 0, perSec
			}
		}
		opts = opts[4+((l+3)&^3):]
	}
}

func (ifc *ngIface) ns(raw int64) int64 {
	if ifc.tsDiv > 0 {
		sec := raw / ifc.tsDiv
		rem := raw % ifc.tsDiv
		return sec*1e9 + rem*1e9/ifc.tsDiv
	}
	return raw * ifc.tsMul
}
