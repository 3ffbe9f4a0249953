package detectors

import (
	"testing"
	"time"
)

// stalled is a sink whose queue is always full.
type stalled struct{}

func (stalled) Send(b *Buffer) bool { return false }

// TestStalledSinkNeverBlocks: with the output queue full, the packet
// path goes on at full speed and counts what it could not hand over.
func TestStalledSinkNeverBlocks(t *testing.T) {
	frames := loadFrames(t, "../testdata/corpus/suricata-verify/tests/tls-duplicate-hello/input.pcap")
	var st Stats
	e := NewEngine(DefaultConfig(), 0, stalled{}, &st)
	done := make(chan struct{})
	go func() {
		for r := 0; r < 200; r++ {
			for _, f := range frames {
				e.Packet(f.ts+int64(r)*3600e9, f.link, f.data, f.orig)
			}
		}
		e.Flush()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine blocked on a stalled sink")
	}
	if st.QueueDrops.Load() == 0 {
		t.Error("records the sink could not take were not counted")
	}
}

// TestClockJumps: packet time going backwards (merged captures, a clock
// step) neither panics nor loses connections; expiry follows packet time.
func TestClockJumps(t *testing.T) {
	frames := loadFrames(t, "../testdata/corpus/zeek/testing/btest/Traces/http/get.pcap")
	out := &discard{}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, out, &st)
	base := frames[0].ts
	for i, f := range frames {
		ts := f.ts
		switch {
		case i == len(frames)/2:
			ts = base - 3600e9 // an hour back
		case i == len(frames)/2+1:
			ts = base + 86400e9 // a day ahead: everything idle expires
		}
		e.Packet(ts, f.link, f.data, f.orig)
	}
	e.Flush()
	if st.FlowsActive.Load() != 0 || st.Flows.Load() == 0 {
		t.Errorf("flows created %d, still active %d", st.Flows.Load(), st.FlowsActive.Load())
	}
}
