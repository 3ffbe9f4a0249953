package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/internal/proctest"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dlltagent-cmd")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "dlltagent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build: static, so capabilities can be dropped on all threads
	if out, err := build.CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const corpus = "../../testdata/corpus/"

// TestBadInput: every bad input gives one clear line on stderr and a
// non-zero exit, never a panic.
func TestBadInput(t *testing.T) {
	tmp := t.TempDir()
	text := filepath.Join(tmp, "notes.txt")
	os.WriteFile(text, []byte("this is not a capture\n"), 0o644)
	empty := filepath.Join(tmp, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	ro := filepath.Join(tmp, "ro")
	os.WriteFile(ro, []byte("a file where a directory should be"), 0o644)
	good := corpus + "arkime/tests/pcap/dns-error.pcap"
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-r", filepath.Join(tmp, "nope.pcap"), "-o", tmp + "/o1"}, "cannot open capture file"},
		{"not a capture", []string{"-r", text, "-o", tmp + "/o2"}, "is not a pcap or pcapng capture file"},
		{"empty file", []string{"-r", empty, "-o", tmp + "/o3"}, "is not a pcap or pcapng capture file"},
		{"directory", []string{"-r", tmp, "-o", tmp + "/o4"}, "is a directory"},
		{"unwritable output", []string{"-r", good, "-o", filepath.Join(ro, "sub")}, "cannot create output directory"},
		{"bad flag value", []string{"-r", good, "-workers", "-1"}, "-workers must be"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"unknown interface", []string{"-i", "nosuch0", "-o", tmp + "/o5", "-debug-addr", ""}, "unknown interface"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0; output %s", out)
			}
			if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
				t.Fatalf("panicked: %s", out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("output %q does not say %q", out, c.want)
			}
		})
	}
}

func TestStdinAndStdout(t *testing.T) {
	f, err := os.Open(corpus + "arkime/tests/pcap/dns-error.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "-r", "-", "-o", dir)
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// The stdout mirror holds the event and the flow, as JSON lines.
	var notes []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %q", sc.Text())
		}
		if n, ok := m["note"].(string); ok {
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 || notes[0] != "DNS_ERROR" {
		t.Fatalf("notes on stdout: %v", notes)
	}
	for _, name := range []string{"netevents.jsonl", "end_flows.jsonl", "stats.jsonl"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
		if st != nil && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	// A second run appends, never truncates.
	f.Seek(0, 0)
	cmd = exec.Command(bin, "-r", "-", "-o", dir, "-quiet")
	cmd.Stdin = f
	if out, err := cmd.Output(); err != nil || len(out) != 0 {
		t.Fatalf("quiet run: %v %q", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "netevents.jsonl"))
	if strings.Count(string(b), "\n") != 2 {
		t.Errorf("netevents after two runs:\n%s", b)
	}
}

// TestCutFile: a file cut inside a record is analysed up to the cut, with
// a warning, and exit 0.
func TestCutFile(t *testing.T) {
	b, err := os.ReadFile(corpus + "zeek/testing/btest/Traces/http/get.pcap")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cut := filepath.Join(tmp, "cut.pcap")
	os.WriteFile(cut, b[:len(b)-100], 0o644)
	out, err := exec.Command(bin, "-r", cut, "-o", tmp+"/o", "-quiet").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ends inside a record") {
		t.Fatalf("%v: %s", err, out)
	}
	flows, _ := os.ReadFile(tmp + "/o/end_flows.jsonl")
	if !strings.Contains(string(flows), `"history":"ShADadF`) {
		t.Errorf("flow not analysed up to the cut: %s", flows)
	}
}

// TestSigtermOnPipe: SIGTERM while reading a pipe that stays open
// (tcpdump -w - | dlltagent -r -) flushes what was read and exits 0.
func TestSigtermOnPipe(t *testing.T) {
	b, err := os.ReadFile(corpus + "zeek/testing/btest/Traces/http/get.pcap")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "-r", "-", "-o", dir, "-quiet")
	w, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Write(b) // and keep the pipe open
	time.Sleep(500 * time.Millisecond)
	if _, err := proctest.Terminate(cmd, 5*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	w.Close()
	flows, _ := os.ReadFile(filepath.Join(dir, "end_flows.jsonl"))
	if !strings.Contains(string(flows), `"conn_state":"SF"`) {
		t.Errorf("flows read before SIGTERM were not flushed: %q", flows)
	}
}

// TestTarApplet: invoked as tar, the binary writes what kubectl cp reads.
func TestTarApplet(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "out", "pcaps"), 0o700)
	os.WriteFile(filepath.Join(dir, "out", "pcaps", "a.pcap"), []byte("pcap bytes"), 0o600)
	link := filepath.Join(dir, "tar")
	os.Symlink(bin, link)
	out, err := exec.Command(link, "cf", "-", "-C", dir, "out").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tar", "xf", "-", "-C", t.TempDir())
	cmd.Stdin = strings.NewReader(string(out))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("system tar cannot read it: %v %s", err, b)
	}
	if !strings.Contains(string(out), "out/pcaps/a.pcap") {
		t.Error("file missing from the archive")
	}
}

// TestAutoWorkers: the default -workers follows the CPUs the agent may
// use, up to 4, and live no more than the ring holds (4 MiB each).
func TestAutoWorkers(t *testing.T) {
	for _, tc := range []struct {
		cpus, ringMB int
		live         bool
		want         int
	}{
		{1, 64, true, 1}, {2, 64, true, 2}, {64, 64, true, 4}, {512, 64, false, 4},
		{64, 8, true, 2}, {64, 4, true, 1}, {64, 1, true, 1}, {3, 1, false, 3},
	} {
		if got := autoWorkers(tc.cpus, tc.ringMB, tc.live); got != tc.want {
			t.Errorf("autoWorkers(%d, %d, %v) = %d, want %d", tc.cpus, tc.ringMB, tc.live, got, tc.want)
		}
	}
}

// TestSummaryTunnel: `dlltagent summary` of a node capture's output says
// which tunnel each diagnosis came through.
func TestSummaryTunnel(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(bin, "-r", "../../testdata/lab/vxlan-overlay.pcap", "-o", dir, "-quiet").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	out, err := exec.Command(bin, "summary", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"TCP_REFUSED             server 198.18.244.1:9 refused",
		"(inside VXLAN vni 1, 198.18.0.2 -> 198.18.0.1)",
		"(inside VXLAN vni 42, fd00:198:18::2 -> fd00:198:18::1)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// TestSummaryGroups: past 100 diagnoses the summary groups them by kind,
// most frequent first, and past 100 connections lists only those with a
// problem; -all lists every one. On a generated mix of 800 connections.
func TestSummaryGroups(t *testing.T) {
	dir := t.TempDir()
	mix := filepath.Join(dir, "mix.pcap")
	if out, err := exec.Command("go", "run", "../../bench/gen", "-o", mix, "-conns", "800", "-seed", "3").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	outDir := filepath.Join(dir, "out")
	if out, err := exec.Command(bin, "-r", mix, "-o", outDir, "-quiet").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	events, err := os.ReadFile(filepath.Join(outDir, "netevents.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(events), "\n")
	if n <= 100 {
		t.Fatalf("the mix made %d diagnoses: too few to group", n)
	}
	out, err := exec.Command(bin, "summary", outDir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	s := string(out)
	if !strings.HasPrefix(s, fmt.Sprintf("Diagnoses (%d, ", n)) || !strings.Contains(s, " healthy not listed; ") || strings.Count(s, "\n") > 250 {
		t.Errorf("grouped summary (%d diagnoses):\n%s", n, s)
	}
	// The counts add up to the diagnoses (or the kinds not listed hold the rest).
	sum := 0
	for _, l := range strings.Split(s, "\n")[2:] {
		var c int
		if _, err := fmt.Sscanf(l, "%d", &c); err != nil {
			break
		}
		sum += c
	}
	if sum > n || (sum < n && !strings.Contains(s, "more kinds")) {
		t.Errorf("counts add up to %d of %d", sum, n)
	}
	out, err = exec.Command(bin, "summary", "-all", outDir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if !strings.HasPrefix(string(out), fmt.Sprintf("Diagnoses (%d)\n", n)) || strings.Count(string(out), "\n") < n {
		t.Errorf("summary -all:\n%.2000s", out)
	}
}
