package pipeline

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlltagent/dlltagent/decode"
	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/internal/pcapio"
	"github.com/dlltagent/dlltagent/sink"
)

// batchBytes is the frame bytes one batch carries to a worker.
const batchBytes = 1 << 20

type rec struct {
	ts     int64
	off, n int32
	orig   int32
	link   int32
}

type batch struct {
	data []byte
	recs []rec
	now  int64 // reader's packet time when sent: drives idle workers' timers
}

// OfflineOptions configures RunOffline.
type OfflineOptions struct {
	Workers       int
	Config        detectors.Config
	StatsInterval time.Duration
	Stop          *atomic.Bool // set to stop reading early (signal); flows are still flushed
}

// OfflineResult summarises a run.
type OfflineResult struct {
	Packets   uint64
	Truncated bool // the file ended inside a record
	Stats     []*detectors.Stats
}

// RunOffline reads a capture from r through the full pipeline into s.
func RunOffline(r io.Reader, o OfflineOptions, s *sink.Sink) (OfflineResult, error) {
	var res OfflineResult
	pr, err := pcapio.NewReader(r)
	if err != nil {
		return res, err
	}
	n := max(1, o.Workers)
	cfg := o.Config
	cfg.MaxFlows = max(1024, cfg.MaxFlows/n)
	cfg.PcapMemMB = max(1, cfg.PcapMemMB/n)
	stats := make([]*detectors.Stats, n)
	in := make([]chan *batch, n)
	free := make(chan *batch, 4*n)
	for i := 0; i < 4*n; i++ {
		free <- &batch{data: make([]byte, 0, batchBytes), recs: make([]rec, 0, 4096)}
	}
	var wg sync.WaitGroup
	out := Output{S: s, Blocking: true}
	sh := detectors.NewShared(n)
	for i := 0; i < n; i++ {
		stats[i] = &detectors.Stats{}
		in[i] = make(chan *batch, 2)
		eng := detectors.NewEngine(cfg, i, out, stats[i])
		eng.SetShared(sh)
		wg.Add(1)
		go func(i int, ch chan *batch) {
			defer wg.Done()
			for b := range ch {
				for j := range b.recs {
					rc := &b.recs[j]
					eng.Packet(rc.ts, int(rc.link), b.data[rc.off:rc.off+rc.n], int(rc.orig))
				}
				eng.Advance(b.now)
				// Every packet of this worker's up to the reader's
				// time b.now is analysed, and its timers up to then
				// ran.
				sh.Mark(i, b.now)
				b.data, b.recs = b.data[:0], b.recs[:0]
				free <- b
			}
			eng.PublishAccepted()
			sh.Finish(i)
			eng.Flush()
		}(i, in[i])
	}
	res.Stats = stats

	cur := make([]*batch, n)
	get := func(i int) *batch {
		if cur[i] == nil {
			cur[i] = <-free
		}
		return cur[i]
	}
	send := func(i int, now int64) {
		if cur[i] == nil {
			return
		}
		cur[i].now = now
		in[i] <- cur[i]
		cur[i] = nil
	}
	var (
		rc        pcapio.Record
		pkt       decode.Packet
		now       int64
		lastSync  int64
		lastStats int64
		readErr   error
	)
	statsEvery := int64(o.StatsInterval)
	for {
		if o.Stop != nil && o.Stop.Load() {
			break
		}
		err := pr.Next(&rc)
		if err != nil {
			if err == io.EOF {
				break
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				if o.Stop == nil || !o.Stop.Load() {
					res.Truncated = true
				}
				break
			}
			readErr = err
			break
		}
		res.Packets++
		if rc.TS > now {
			now = rc.TS
		}
		w := 0
		if n > 1 {
			decode.Parse(rc.LinkType, rc.Data, &pkt)
			if pkt.HasTransport() {
				w = detectors.Owner(&pkt, n)
			}
		}
		b := get(w)
		if len(b.data)+len(rc.Data) > cap(b.data) {
			send(w, now)
			b = get(w)
		}
		off := len(b.data)
		b.data = append(b.data, rc.Data...)
		b.recs = append(b.recs, rec{ts: rc.TS, off: int32(off), n: int32(len(rc.Data)), orig: int32(rc.OrigLen), link: int32(rc.LinkType)})
		if len(b.recs) == cap(b.recs) {
			send(w, now)
		}
		// Once a second of packet time, push every worker's batch so
		// timers advance everywhere.
		if now-lastSync >= int64(time.Second) {
			lastSync = now
			for i := 0; i < n; i++ {
				get(i)
				send(i, now)
			}
		}
		if statsEvery > 0 && now-lastStats >= statsEvery {
			if lastStats != 0 {
				sb := detectors.GetBuffer(detectors.KindStats)
				sb.B = StatsLine(sb.B, now, stats, s)
				s.Send(sb)
			}
			lastStats = now
		}
	}
	for i := 0; i < n; i++ {
		// Every worker ends at the capture's last packet time, even
		// one with nothing left to analyse: what is still open at the
		// end is reported as of then, whatever the number of workers.
		get(i)
		send(i, now)
		close(in[i])
	}
	wg.Wait()
	s.WaitPcaps(30 * time.Second)
	sb := detectors.GetBuffer(detectors.KindStats)
	sb.B = StatsLine(sb.B, now, stats, s)
	s.Send(sb)
	if readErr != nil {
		return res, fmt.Errorf("reading capture after %d packets: %w", res.Packets, readErr)
	}
	return res, nil
}
