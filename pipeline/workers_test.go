package pipeline

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
)

// TestWorkersAgree: the output of an offline run does not depend on the
// number of workers, on every lab capture. Verdicts that look at other
// connections (a spare TLS connection's sibling, an unanswered SYN's
// accepted neighbour) wait for every worker to get that far, and events
// reported as of a deadline or the capture's end carry that time, not
// when a worker's timer happened to run. Pcap files are named by the
// problem's time too.
func TestWorkersAgree(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/lab/*.pcap")
	if len(paths) < 100 {
		t.Fatalf("%d lab captures", len(paths))
	}
	for _, p := range paths {
		e1, f1, _ := analyse(t, p, 1, nil)
		e3, f3, _ := analyse(t, p, 3, nil)
		for _, c := range []struct {
			what   string
			w1, w3 []record
		}{{"netevents", e1, e3}, {"end_flows", f1, f3}} {
			a, b := canonical(t, c.w1), canonical(t, c.w3)
			if !slices.Equal(a, b) {
				for i := range max(len(a), len(b)) {
					if i >= len(a) || i >= len(b) || a[i] != b[i] {
						t.Errorf("%s: %s differ with 3 workers (%d and %d lines); first:\n1: %.300s\n3: %.300s", filepath.Base(p), c.what, len(a), len(b), at(a, i), at(b, i))
						break
					}
				}
			}
		}
	}
}

// canonical returns rs as sorted JSON lines.
func canonical(t *testing.T, rs []record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}
