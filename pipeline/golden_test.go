package pipeline

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden runs every corpus capture and compares netevents and
// end_flows with reviewed golden files (go test ./pipeline -update
// rewrites them; review the diff by eye).
func TestGolden(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(f, func(t *testing.T) {
			_, _, dir := analyse(t, filepath.Join(corpusDir, f), 1, nil)
			var got bytes.Buffer
			for _, name := range []string{"netevents.jsonl", "end_flows.jsonl"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
			}
			golden := filepath.Join("..", "testdata", "golden", strings.ReplaceAll(f, "/", "_")+".golden.jsonl")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pipeline -update)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", golden, lineDiff(string(want), got.String()))
			}
		})
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return out.String()
}

// checkPcap verifies a focused pcap with tshark (when installed): it
// opens, holds at least minPkts packets, and is at most 2 MiB.
func checkPcap(t *testing.T, path string, minPkts int) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2<<20 {
		t.Errorf("%s is %d bytes, over 2 MiB", path, st.Size())
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		return
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark cannot read %s: %v", path, err)
	}
	if n := strings.Count(string(out), "\n"); n < minPkts {
		t.Errorf("%s has %d packets, want at least %d", path, n, minPkts)
	}
}
