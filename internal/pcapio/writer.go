package pcapio

import (
	"encoding/binary"
	"io"
)

// FileHeaderLen and RecordHeaderLen are the sizes of a classic pcap file
// header and per-record header.
const (
	FileHeaderLen   = 24
	RecordHeaderLen = 16
)

// AppendFileHeader appends a little-endian, nanosecond-resolution classic
// pcap file header.
func AppendFileHeader(dst []byte, linkType int, snaplen int) []byte {
	var h [FileHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], uint32(linkType))
	return append(dst, h[:]...)
}

// AppendRecord appends one record (header and data) to dst. data may be
// shorter than origLen (a cut frame); the original length is kept.
func AppendRecord(dst []byte, ts int64, data []byte, origLen int) []byte {
	var h [RecordHeaderLen]byte
	PutRecordHeader(h[:], ts, len(data), origLen)
	dst = append(dst, h[:]...)
	return append(dst, data...)
}

// PutRecordHeader writes a nanosecond record header into h.
func PutRecordHeader(h []byte, ts int64, capLen, origLen int) {
	binary.LittleEndian.PutUint32(h[0:], uint32(ts/1e9))
	binary.LittleEndian.PutUint32(h[4:], uint32(ts%1e9))
	binary.LittleEndian.PutUint32(h[8:], uint32(capLen))
	binary.LittleEndian.PutUint32(h[12:], uint32(origLen))
}

// Writer writes a classic pcap stream.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter writes the file header and returns a Writer.
func NewWriter(w io.Writer, linkType int) (*Writer, error) {
	hdr := AppendFileHeader(nil, linkType, 262144)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// Write writes one record.
func (pw *Writer) Write(ts int64, data []byte, origLen int) error {
	pw.buf = AppendRecord(pw.buf[:0], ts, data, origLen)
	_, err := pw.w.Write(pw.buf)
	return err
}
