package sink

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/detectors"
)

func record(kind int, s string) *detectors.Buffer {
	b := detectors.GetBuffer(kind)
	b.B = append(b.B, s...)
	return b
}

func TestRotateBySize(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, MaxLogMB: 1, KeepLogs: 2})
	if err != nil {
		t.Fatal(err)
	}
	line := `{"note":"X","msg":"` + strings.Repeat("a", 1000) + `"}` + "\n"
	for i := 0; i < 4000; i++ { // about 4 MiB
		s.Send(record(detectors.KindEvent, line))
	}
	s.Close()
	for _, name := range []string{"netevents.jsonl", "netevents.jsonl.1", "netevents.jsonl.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Size() > 1<<20+int64(len(line)) {
			t.Errorf("%s is %d bytes, over the 1 MiB limit", name, st.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "netevents.jsonl.3")); err == nil {
		t.Error("more rotated files kept than asked")
	}
}

func TestReopenAfterMove(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir})
	s.Send(record(detectors.KindFlow, "{\"a\":1}\n"))
	time.Sleep(100 * time.Millisecond)
	// logrotate moves the file, then signals (SIGHUP -> Reopen).
	os.Rename(filepath.Join(dir, "end_flows.jsonl"), filepath.Join(dir, "end_flows.jsonl.old"))
	s.Reopen()
	time.Sleep(100 * time.Millisecond)
	s.Send(record(detectors.KindFlow, "{\"a\":2}\n"))
	s.Close()
	cur, _ := os.ReadFile(filepath.Join(dir, "end_flows.jsonl"))
	old, _ := os.ReadFile(filepath.Join(dir, "end_flows.jsonl.old"))
	if string(old) != "{\"a\":1}\n" || string(cur) != "{\"a\":2}\n" {
		t.Errorf("old %q new %q", old, cur)
	}
}

func TestPcapDiskCapAndAtomicNames(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, PcapDiskMB: 1})
	for i := 0; i < 10; i++ {
		b := detectors.GetBuffer(detectors.KindPcap)
		b.Name = filepath.Join("pcaps", "p"+string(rune('a'+i))+".pcap")
		b.B = append(b.B, bytes.Repeat([]byte{1}, 300<<10)...)
		s.Send(b)
	}
	s.Close()
	ents, _ := os.ReadDir(filepath.Join(dir, "pcaps"))
	var total int64
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
		info, _ := e.Info()
		total += info.Size()
	}
	if total > 1<<20 || s.PcapsRemoved.Load() == 0 {
		t.Errorf("pcaps use %d bytes, %d removed", total, s.PcapsRemoved.Load())
	}
	// The newest survive.
	if _, err := os.Stat(filepath.Join(dir, "pcaps", "pj.pcap")); err != nil {
		t.Error("the newest pcap was removed")
	}
}

// TestDiskFull writes into a 1 MiB tmpfs: writes fail, are counted, and
// the sink keeps accepting records (capture goes on).
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	line := `{"msg":"` + strings.Repeat("x", 2000) + `"}` + "\n"
	done := make(chan struct{})
	go func() {
		for i := 0; i < 2000; i++ { // 4 MiB into 1 MiB
			s.Send(record(detectors.KindFlow, line))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sink blocked on a full disk")
	}
	s.Close()
	if s.WriteErrors.Load() == 0 {
		t.Error("write errors were not counted")
	}
}

// TestPcapQueueFullRefuses: live, a pcap that does not fit the pcap queue
// is refused (the worker then leaves it out of end_flows) and counted.
func TestPcapQueueFullRefuses(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pcapQueued.Store(maxPcapQueued)
	b := detectors.GetBuffer(detectors.KindPcap)
	b.Name, b.B = "pcaps/x.pcap", make([]byte, 100)
	if s.TrySend(b) {
		t.Fatal("accepted a pcap over the queue bound")
	}
	if s.PcapsDropped.Load() != 1 {
		t.Fatalf("pcaps dropped %d", s.PcapsDropped.Load())
	}
	s.pcapQueued.Store(0)
	if !s.TrySend(b) {
		t.Fatal("refused a pcap with room")
	}
}
