// Package sink is the single writer of an output directory:
// netevents.jsonl, end_flows.jsonl, stats.jsonl and pcaps/, with a stdout
// mirror. Workers hand it encoded records over a bounded queue; it never
// calls back into them.
package sink

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlltagent/dlltagent/detectors"
	"golang.org/x/sys/unix"
)

// Options configures a Sink.
type Options struct {
	Dir        string
	Stdout     io.Writer // nil: no mirror
	PcapDiskMB int       // total pcap disk cap (0: unlimited)
	QueueLen   int       // buffers (each a batch of records) the queue holds
	// MaxLogMB rotates netevents/end_flows/stats.jsonl past this size
	// (0: never): NAME -> NAME.1 -> ... -> NAME.KeepLogs.
	MaxLogMB int
	KeepLogs int
}

// Sink writes records to the output directory.
type Sink struct {
	opts     Options
	ch       chan *detectors.Buffer
	done     chan struct{}
	pcapCh   chan *detectors.Buffer
	pcapDone chan struct{}
	// pcapQueued is the bytes of pcaps waiting to be written.
	pcapQueued atomic.Int64
	// pcapPending counts pcaps queued or being written.
	pcapPending atomic.Int64
	events      *logFile
	flows       *logFile
	stats       *logFile
	out         *bufio.Writer
	reopen      chan struct{}

	pcaps     []pcapFile
	pcapBytes int64
	pcapDir   int // descriptor of pcaps/, -1 until opened

	// Counters, read by the metrics endpoint.
	PcapsWritten atomic.Uint64
	PcapsRemoved atomic.Uint64
	PcapsDropped atomic.Uint64 // pcaps not written: their queue was full
	WriteErrors  atomic.Uint64
	errReported  time.Time
	mu           sync.Mutex
}

type pcapFile struct {
	name string // in pcaps/
	size int64
}

// Open creates the directory (0700) and opens the files for appending
// (0600): a restart appends, never truncates.
func Open(o Options) (*Sink, error) {
	if o.QueueLen <= 0 {
		// Workers send batches of records (up to ~72 KiB each, see
		// detectors.batchBytes), so 1024 of them hold ~100,000 records
		// and at most 72 MiB, used only while the disk stalls: at
		// ~20,000 connections a second that rides out ~5 s of stall (a
		// third of that dropped records once in make bench's rate sweep,
		// after a gigabyte of output was written in a minute).
		o.QueueLen = 1024
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "pcaps"), 0o700); err != nil {
		return nil, fmt.Errorf("sink: cannot create output directory %s: %w", o.Dir, err)
	}
	s := &Sink{opts: o, ch: make(chan *detectors.Buffer, o.QueueLen), done: make(chan struct{}),
		pcapCh: make(chan *detectors.Buffer, maxPcapsQueued), pcapDone: make(chan struct{}), reopen: make(chan struct{}, 1), pcapDir: -1}
	for _, p := range []struct {
		name string
		lf   **logFile
	}{{"netevents.jsonl", &s.events}, {"end_flows.jsonl", &s.flows}, {"stats.jsonl", &s.stats}} {
		lf := &logFile{path: filepath.Join(o.Dir, p.name)}
		if err := lf.open(); err != nil {
			s.closeFiles()
			return nil, fmt.Errorf("sink: cannot write to output directory %s: %w", o.Dir, err)
		}
		*p.lf = lf
	}
	if o.Stdout != nil {
		s.out = bufio.NewWriterSize(o.Stdout, 16<<10)
	}
	s.scanPcaps()
	go s.run()
	go s.runPcaps()
	return s, nil
}

// scanPcaps accounts pcaps left by an earlier run against the disk cap.
func (s *Sink) scanPcaps() {
	ents, err := os.ReadDir(filepath.Join(s.opts.Dir, "pcaps"))
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && filepath.Ext(e.Name()) == ".pcap" {
			s.pcaps = append(s.pcaps, pcapFile{e.Name(), info.Size()})
			s.pcapBytes += info.Size()
		}
	}
}

// maxPcapQueued bounds the pcap bytes waiting for the pcap writer, and
// maxPcapsQueued their number. Failing connections end in bursts (a 5 s
// linger, timers); a 1024-entry queue overflowed in them although the
// writer kept up on average (live bench, failure-heavy mix: 2,382 of
// 9,836 pcaps dropped at 1024, none at 8192). Since refused and
// unanswered SYNs and DNS failures have pcaps of a few hundred bytes,
// the mix writes ~37,800 and 8192 overflowed at moments (173 dropped on
// a busy disk): the count bound is now 32768, 256 KiB of channel, while
// the bytes stay bounded.
const (
	maxPcapQueued  = 64 << 20
	maxPcapsQueued = 32768
)

// Send queues b, blocking while the queue is full (offline mode).
func (s *Sink) Send(b *detectors.Buffer) bool {
	if b.Kind == detectors.KindPcap {
		s.pcapQueued.Add(int64(len(b.B)))
		s.pcapPending.Add(1)
		s.pcapCh <- b
		return true
	}
	s.ch <- b
	return true
}

// TrySend queues b without blocking; it returns false when the queue is
// full (live mode: the caller counts the drop and keeps b). Pcaps have
// their own writer and queue, bounded in bytes, so a burst of file writes
// never costs a netevent or flow record; a pcap that does not fit is
// counted in PcapsDropped and refused the same way (the caller then does
// not name it in end_flows).
func (s *Sink) TrySend(b *detectors.Buffer) bool {
	if b.Kind == detectors.KindPcap {
		if s.pcapQueued.Load()+int64(len(b.B)) > maxPcapQueued {
			s.PcapsDropped.Add(1)
			return false
		}
		s.pcapPending.Add(1)
		select {
		case s.pcapCh <- b:
			s.pcapQueued.Add(int64(len(b.B)))
			return true
		default:
			s.pcapPending.Add(-1)
			s.PcapsDropped.Add(1)
			return false
		}
	}
	select {
	case s.ch <- b:
		return true
	default:
		return false
	}
}

// WaitPcaps waits, at most max, until every queued pcap is written, so a
// final stats record counts them.
func (s *Sink) WaitPcaps(max time.Duration) {
	deadline := time.Now().Add(max)
	for s.pcapPending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

// Close drains the queues, flushes and closes the files.
func (s *Sink) Close() error {
	close(s.ch)
	<-s.done
	close(s.pcapCh)
	<-s.pcapDone
	if s.pcapDir >= 0 {
		unix.Close(s.pcapDir)
		s.pcapDir = -1
	}
	return s.closeFiles()
}

// runPcaps writes pcap files (file creation is slow compared with
// appending a line).
func (s *Sink) runPcaps() {
	defer close(s.pcapDone)
	for b := range s.pcapCh {
		s.pcapQueued.Add(-int64(len(b.B)))
		if err := s.writePcap(b.Name, b.B); err != nil {
			s.fail(err)
		}
		detectors.PutBuffer(b)
		s.pcapPending.Add(-1)
	}
}

func (s *Sink) closeFiles() error {
	var first error
	for _, lf := range []*logFile{s.events, s.flows, s.stats} {
		if lf != nil {
			if err := lf.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	if s.out != nil {
		if err := s.out.Flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Reopen makes the sink close and reopen its files (SIGHUP, after
// logrotate moved them).
func (s *Sink) Reopen() {
	select {
	case s.reopen <- struct{}{}:
	default:
	}
}

// logFile is one append-only JSON Lines file with its size.
type logFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	size int64
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	l.f, l.w, l.size = f, bufio.NewWriterSize(f, 64<<10), 0
	if st, err := f.Stat(); err == nil {
		l.size = st.Size()
	}
	return nil
}

func (l *logFile) close() error {
	if l.f == nil {
		return nil
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func (l *logFile) write(b []byte) error {
	if l.f == nil {
		if err := l.open(); err != nil {
			return err
		}
	}
	n, err := l.w.Write(b)
	l.size += int64(n)
	return err
}

// rotate shifts NAME.k to NAME.k+1 (dropping the oldest), NAME to NAME.1,
// and starts a new NAME.
func (l *logFile) rotate(keep int) error {
	l.close()
	if keep < 1 {
		keep = 1
	}
	os.Remove(fmt.Sprintf("%s.%d", l.path, keep))
	for k := keep - 1; k >= 1; k-- {
		os.Rename(fmt.Sprintf("%s.%d", l.path, k), fmt.Sprintf("%s.%d", l.path, k+1))
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return err
	}
	return l.open()
}

func (s *Sink) run() {
	defer close(s.done)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-s.ch:
			if !ok {
				return
			}
			s.write(b)
			// Drain what is queued, then flush so live users see it.
			for n := 0; n < 1024; n++ {
				select {
				case b, ok := <-s.ch:
					if !ok {
						s.flush()
						return
					}
					s.write(b)
					continue
				default:
				}
				break
			}
			if len(s.ch) == 0 {
				s.flush()
			}
		case <-tick.C:
			s.flush()
		case <-s.reopen:
			s.flush()
			for _, lf := range []*logFile{s.events, s.flows, s.stats} {
				lf.close()
				if err := lf.open(); err != nil {
					s.fail(err)
				}
			}
		}
	}
}

func (s *Sink) flush() {
	for _, lf := range []*logFile{s.events, s.flows, s.stats} {
		if lf.f != nil {
			if err := lf.w.Flush(); err != nil {
				s.fail(err)
				lf.w.Reset(lf.f) // drop what cannot be written; capture goes on
			}
		}
	}
	if s.out != nil {
		s.out.Flush()
	}
}

func (s *Sink) fail(err error) {
	s.WriteErrors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.errReported) > 10*time.Second {
		s.errReported = time.Now()
		fmt.Fprintf(os.Stderr, "dlltagent: sink: write error (capture goes on; counted in stats): %v\n", err)
	}
}

func (s *Sink) write(b *detectors.Buffer) {
	var lf *logFile
	switch b.Kind {
	case detectors.KindEvent:
		lf = s.events
	case detectors.KindFlow:
		lf = s.flows
	case detectors.KindStats:
		lf = s.stats
	}
	if lf != nil {
		if err := lf.write(b.B); err != nil {
			s.fail(err)
			if lf.f != nil {
				lf.w.Reset(lf.f)
			}
		}
		if s.out != nil && b.Kind != detectors.KindStats {
			s.out.Write(b.B)
		}
		if max := int64(s.opts.MaxLogMB) << 20; max > 0 && lf.size >= max {
			if err := lf.rotate(s.opts.KeepLogs); err != nil {
				s.fail(err)
			}
		}
	}
	detectors.PutBuffer(b)
}

// writePcap writes to a temporary name and renames, so a reader never sees
// half a file; then enforces the disk cap, oldest first. It works relative
// to a descriptor of pcaps/ with plain system calls: creating thousands of
// small files is the offline run's largest cost, and os.WriteFile plus
// os.Rename spent 10 calls per file (poller registration, fcntl, a stat of
// the target) where 4 do.
func (s *Sink) writePcap(name string, data []byte) error {
	if s.pcapDir < 0 {
		dir := filepath.Join(s.opts.Dir, "pcaps")
		os.MkdirAll(dir, 0o700)
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: dir, Err: err}
		}
		s.pcapDir = fd
	}
	base := filepath.Base(name)
	tmp := "." + base + ".tmp"
	err := writeAt(s.pcapDir, tmp, data)
	if err == nil {
		if err = unix.Renameat(s.pcapDir, tmp, s.pcapDir, base); err != nil {
			unix.Unlinkat(s.pcapDir, tmp, 0)
		}
	}
	if err != nil {
		if err == unix.ENOENT || err == unix.ESTALE {
			unix.Close(s.pcapDir) // pcaps/ was removed: recreate it next time
			s.pcapDir = -1
		}
		return &os.PathError{Op: "write", Path: filepath.Join(s.opts.Dir, name), Err: err}
	}
	s.PcapsWritten.Add(1)
	s.pcaps = append(s.pcaps, pcapFile{base, int64(len(data))})
	s.pcapBytes += int64(len(data))
	if limit := int64(s.opts.PcapDiskMB) << 20; limit > 0 {
		for s.pcapBytes > limit && len(s.pcaps) > 1 {
			old := s.pcaps[0]
			s.pcaps = s.pcaps[1:]
			s.pcapBytes -= old.size
			if unix.Unlinkat(s.pcapDir, old.name, 0) == nil {
				s.PcapsRemoved.Add(1)
			}
		}
	}
	return nil
}

// writeAt creates name in directory dirfd (0600) and writes data to it.
func writeAt(dirfd int, name string, data []byte) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(fd, data)
		if err == unix.EINTR {
			err = nil
		}
		data = data[max(n, 0):]
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(dirfd, name, 0)
	}
	return err
}
