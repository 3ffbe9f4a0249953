package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/internal/jsonw"
	"github.com/dlltagent/dlltagent/ring"
	"github.com/dlltagent/dlltagent/sink"
)

// liveBehind is how far behind the clock a worker may still be given
// packets: those in a ring block the kernel has not retired (its timeout
// is 10 ms), tunnelled ones held 40 ms for their order, ICMP errors and
// DNS passed on by other workers. Verdicts that wait for every worker
// (detectors.Shared) wait that long.
const liveBehind = int64(200 * time.Millisecond)

// LiveOptions configures RunLive.
type LiveOptions struct {
	Ring          ring.Config
	Config        detectors.Config
	StatsInterval time.Duration
	// Stats receives the per-worker counters (for the metrics endpoint);
	// RunLive fills it before capturing.
	Stats *[]*detectors.Stats
	// Logf reports lifecycle messages (attach, detach) to the operator.
	Logf func(format string, a ...any)
	// Ready is closed once the rings are open and capturing.
	Ready chan struct{}
	// Resolve, if set, is called before every (re)attach to find the
	// network namespace to capture in (a pod that is followed across
	// restarts).
	Resolve func(ctx context.Context) (Target, error)
}

// Target is where Resolve says to capture.
type Target struct {
	NetNS     string
	Note, Msg string // a netevent to write, if Note is set
	// Alive, if set, is polled every second while attached; false means
	// the target is gone even though the interface still exists (our own
	// sockets keep a deleted network namespace alive), so detach.
	Alive func() bool
}

// RunLive captures on the configured interface until ctx is cancelled,
// then drains the rings, flushes every open flow (end_reason capture_end)
// and writes final stats. When the interface or its namespace goes away,
// it says so in a netevent, flushes, and re-attaches when an interface of
// that name is back.
func RunLive(ctx context.Context, o LiveOptions, s *sink.Sink) error {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := o.Ring.Validate(); err != nil {
		return err
	}
	n := o.Ring.Workers
	cfg := o.Config
	cfg.MaxFlows = max(1024, cfg.MaxFlows/n)
	cfg.PcapMemMB = max(1, cfg.PcapMemMB/n)
	stats := make([]*detectors.Stats, n)
	engines := make([]*detectors.Engine, n)
	out := Output{S: s, Blocking: false}
	sh := detectors.NewShared(n)
	for i := range engines {
		stats[i] = &detectors.Stats{}
		engines[i] = detectors.NewEngine(cfg, i, out, stats[i])
		engines[i].SetShared(sh)
	}
	if n > 1 {
		inboxes := make([]chan detectors.ICMPNotice, n)
		for i := range inboxes {
			inboxes[i] = make(chan detectors.ICMPNotice, 256)
		}
		for i, e := range engines {
			var peers []chan detectors.ICMPNotice
			for j := range inboxes {
				if j != i {
					peers = append(peers, inboxes[j])
				}
			}
			e.SetPeers(peers, inboxes[i])
		}
		fwd := make([]chan detectors.Forwarded, n)
		for i := range fwd {
			fwd[i] = make(chan detectors.Forwarded, 1024)
		}
		for _, e := range engines {
			e.SetForwardPeers(fwd)
		}
	}
	if o.Stats != nil {
		*o.Stats = stats
	}
	var alive func() bool
	if o.Resolve != nil {
		t, err := o.Resolve(ctx)
		if err != nil {
			return err
		}
		o.Ring.NetNS, alive = t.NetNS, t.Alive
		if t.Note != "" {
			captureEvent(s, t.Note, t.Msg)
		}
	}
	rings, _, err := ring.Open(o.Ring)
	if err != nil {
		return err
	}
	o.Logf("capturing on %s%s with %d workers (%d MiB ring each)", o.Ring.Iface, nsSuffix(o.Ring.NetNS), n, o.Ring.BlocksPerRing())
	if o.Ready != nil {
		close(o.Ready)
	}

	var mu sync.Mutex // guards cur (read by the stats loop)
	cur := rings
	base := make([]ring.Stats, n) // counters of rings closed before
	statsDone := make(chan struct{})
	stopStats := make(chan struct{})
	go func() {
		defer close(statsDone)
		statsLoop(o, s, stats, &mu, &cur, base, stopStats)
	}()

	for {
		gone := runAttached(ctx, cur, engines, sh, alive)
		mu.Lock()
		for i, r := range cur {
			if st, err := r.Stats(); err == nil {
				base[i].Packets += st.Packets
				base[i].Drops += st.Drops
				base[i].Freezes += st.Freezes
			}
			r.Close()
		}
		cur = nil
		mu.Unlock()
		if !gone {
			break
		}
		o.Logf("interface %s%s went away; flows flushed; waiting for it to come back", o.Ring.Iface, nsSuffix(o.Ring.NetNS))
		captureEvent(s, "CAPTURE_DETACHED", fmt.Sprintf("interface %s%s went away (pod or namespace gone?): open flows were flushed; waiting to re-attach", o.Ring.Iface, nsSuffix(o.Ring.NetNS)))
		var rs []*ring.Ring
		for rs == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				if o.Resolve != nil {
					t, rerr := o.Resolve(ctx)
					if rerr != nil {
						continue
					}
					o.Ring.NetNS, alive = t.NetNS, t.Alive
					if t.Note != "" {
						captureEvent(s, t.Note, t.Msg)
					}
				}
				rs, _, err = ring.Open(o.Ring)
				if err != nil {
					rs = nil
					continue
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
		if rs == nil {
			break
		}
		o.Logf("re-attached to %s%s", o.Ring.Iface, nsSuffix(o.Ring.NetNS))
		captureEvent(s, "CAPTURE_ATTACHED", fmt.Sprintf("re-attached to interface %s%s", o.Ring.Iface, nsSuffix(o.Ring.NetNS)))
		mu.Lock()
		cur = rs
		mu.Unlock()
	}
	close(stopStats)
	<-statsDone
	return nil
}

func nsSuffix(ns string) string {
	if ns == "" {
		return ""
	}
	return " in " + ns
}

// runAttached runs one worker per ring until ctx is done (returns false
// after draining and flushing) or a ring reports its interface gone
// (returns true after flushing).
func runAttached(ctx context.Context, rings []*ring.Ring, engines []*detectors.Engine, sh *detectors.Shared, alive func() bool) bool {
	var wg sync.WaitGroup
	goneCh := make(chan struct{})
	var goneOnce sync.Once
	if alive != nil {
		watch, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-watch.Done():
					return
				case <-goneCh:
					return
				case <-t.C:
					if !alive() {
						goneOnce.Do(func() { close(goneCh) })
						return
					}
				}
			}
		}()
	}
	for i, r := range rings {
		wg.Add(1)
		go func(w int, r *ring.Ring, e *detectors.Engine) {
			defer wg.Done()
			scratch := make([]byte, 0, ring.BlockSize+4)
			handle := func(p *ring.Packet) {
				data := p.Data
				if p.VLANValid && p.Link == 1 && len(data) >= 12 {
					// The tag was stripped by the driver: put it back so
					// the frame is what was on the wire.
					scratch = append(scratch[:0], data[:12]...)
					scratch = append(scratch, byte(p.VLANTPID>>8), byte(p.VLANTPID), byte(p.VLANTCI>>8), byte(p.VLANTCI))
					scratch = append(scratch, data[12:]...)
					data = scratch
				}
				e.Packet(p.TS, p.Link, data, p.OrigLen+len(data)-len(p.Data))
			}
			for {
				select {
				case <-ctx.Done():
					// Drain what the kernel already retired, then flush.
					drainRing(r, handle)
					// A partly filled block is retired by the kernel's
					// block timeout: give it that long once.
					r.Poll(20, handle)
					r.Poll(0, handle)
					e.DrainInbox()
					e.Advance(time.Now().UnixNano())
					e.Flush()
					return
				case <-goneCh:
					// The interface went away: the blocks the kernel
					// retired, and the one it was filling (its block
					// timer still retires it), hold the last packets,
					// often the very connections that show why.
					drainRing(r, handle)
					time.Sleep(goneRetire)
					drainRing(r, handle)
					e.DrainInbox()
					e.Advance(time.Now().UnixNano())
					e.Flush()
					return
				default:
				}
				err := r.Poll(100, handle)
				e.DrainInbox()
				now := time.Now().UnixNano()
				e.Advance(now)
				// What the kernel has not retired yet, and tunnelled
				// packets held for their order, are still to come.
				sh.Mark(w, now-liveBehind)
				if errors.Is(err, ring.ErrInterfaceGone) {
					goneOnce.Do(func() { close(goneCh) })
				}
			}
		}(i, r, engines[i])
	}
	wg.Wait()
	select {
	case <-goneCh:
		return ctx.Err() == nil
	default:
		return false
	}
}

// goneRetire is how long a ring whose interface went away is given for
// the kernel's block timer (10 ms) to retire its last, partly filled
// block.
const goneRetire = 50 * time.Millisecond

// drainRing walks the blocks the kernel has retired, without waiting.
func drainRing(r *ring.Ring, handle func(*ring.Packet)) {
	for k := 0; k < 64; k++ {
		if err := r.Poll(0, handle); err != nil {
			return
		}
	}
}

func statsLoop(o LiveOptions, s *sink.Sink, stats []*detectors.Stats, mu *sync.Mutex, cur *[]*ring.Ring, base []ring.Stats, stop chan struct{}) {
	every := o.StatsInterval
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastDrops, lastFreeze, lastQueue uint64
	record := func() {
		mu.Lock()
		for i := range stats {
			st := base[i]
			if i < len(*cur) {
				if rs, err := (*cur)[i].Stats(); err == nil {
					st.Packets += rs.Packets
					st.Drops += rs.Drops
					st.Freezes += rs.Freezes
				}
			}
			stats[i].KernelPkts.Store(st.Packets)
			stats[i].KernelDrops.Store(st.Drops)
			stats[i].KernelFreeze.Store(st.Freezes)
		}
		mu.Unlock()
		var drops, freeze, queue uint64
		for _, st := range stats {
			drops += st.KernelDrops.Load()
			freeze += st.KernelFreeze.Load()
			queue += st.QueueDrops.Load()
		}
		now := time.Now().UnixNano()
		if drops > lastDrops || queue > lastQueue {
			b := detectors.GetBuffer(detectors.KindEvent)
			b.B = append(b.B, `{"ts":`...)
			b.B = jsonw.Seconds(b.B, now)
			b.B = append(b.B, `,"note":"CAPTURE_LOSS","msg":"`...)
			b.B = jsonw.Uint(b.B, drops-lastDrops)
			b.B = append(b.B, " packets dropped by the kernel ring and "...)
			b.B = jsonw.Uint(b.B, queue-lastQueue)
			b.B = append(b.B, ` records dropped by the output queue since the last stats record: diagnoses may be incomplete (raise -ringMB or -workers)","kernel_drops":`...)
			b.B = jsonw.Uint(b.B, drops-lastDrops)
			b.B = append(b.B, `,"kernel_freezes":`...)
			b.B = jsonw.Uint(b.B, freeze-lastFreeze)
			b.B = append(b.B, `,"queue_drops":`...)
			b.B = jsonw.Uint(b.B, queue-lastQueue)
			b.B = append(b.B, "}\n"...)
			s.Send(b)
		}
		lastDrops, lastFreeze, lastQueue = drops, freeze, queue
		sb := detectors.GetBuffer(detectors.KindStats)
		sb.B = StatsLine(sb.B, now, stats, s)
		s.Send(sb)
	}
	for {
		select {
		case <-t.C:
			record()
		case <-stop:
			s.WaitPcaps(10 * time.Second) // the last record counts them all
			record()
			return
		}
	}
}

// captureEvent writes a capture lifecycle netevent.
func captureEvent(s *sink.Sink, note, msg string) {
	b := detectors.GetBuffer(detectors.KindEvent)
	b.B = append(b.B, `{"ts":`...)
	b.B = jsonw.Seconds(b.B, time.Now().UnixNano())
	b.B = append(b.B, `,"note":`...)
	b.B = jsonw.String(b.B, note)
	b.B = append(b.B, `,"msg":`...)
	b.B = jsonw.String(b.B, msg)
	b.B = append(b.B, "}\n"...)
	s.Send(b)
}
