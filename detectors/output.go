package detectors

import "sync"

// Record kinds sent to the sink.
const (
	KindEvent = iota + 1
	KindFlow
	KindPcap
	KindStats
)

// Buffer is a pooled byte buffer carrying one encoded record (or a whole
// pcap file) from a worker to the sink.
type Buffer struct {
	Kind int
	Name string // pcap: path relative to the output directory
	B    []byte
}

var recordPool = sync.Pool{New: func() any { return &Buffer{B: make([]byte, 0, 1024)} }}

// batchPool holds the buffers workers gather records in (batchCap bytes:
// a batch goes out once it passes batchBytes, and one record is < 4 KiB).
var batchPool = sync.Pool{New: func() any { return &Buffer{B: make([]byte, 0, batchCap)} }}

const batchCap = batchBytes + 8<<10

// getBatch returns an empty batch buffer.
func getBatch(kind int) *Buffer {
	b := batchPool.Get().(*Buffer)
	b.Kind, b.Name, b.B = kind, "", b.B[:0]
	return b
}

// GetBuffer returns an empty buffer from the pool.
func GetBuffer(kind int) *Buffer {
	b := recordPool.Get().(*Buffer)
	b.Kind, b.Name, b.B = kind, "", b.B[:0]
	return b
}

// PutBuffer returns b to the pool. Very large buffers (pcaps) are dropped
// so the pool does not pin memory.
func PutBuffer(b *Buffer) {
	switch {
	case cap(b.B) > 256<<10:
	case cap(b.B) >= batchCap:
		batchPool.Put(b)
	default:
		recordPool.Put(b)
	}
}

// Output receives records from an Engine. Send must not retain b after it
// returns false; on true the receiver owns b and returns it with PutBuffer.
type Output interface {
	Send(b *Buffer) bool
}
