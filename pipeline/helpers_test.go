package pipeline

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/sink"
)

// corpusDir holds copies of ../shared/corpus (see testdata/corpus/LICENSES.md).
const corpusDir = "../testdata/corpus"

type record map[string]any

func (r record) str(k string) string {
	v, _ := r[k].(string)
	return v
}

func (r record) num(k string) float64 {
	v, _ := r[k].(float64)
	return v
}

// analyse runs a capture through the full offline pipeline into a
// temporary directory and returns its records.
func analyse(t testing.TB, path string, workers int, cfg *detectors.Config) (events, flows []record, dir string) {
	t.Helper()
	dir = t.TempDir()
	s, err := sink.Open(sink.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := detectors.DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	_, err = RunOffline(f, OfflineOptions{Workers: workers, Config: c}, s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return readJSONL(t, filepath.Join(dir, "netevents.jsonl")), readJSONL(t, filepath.Join(dir, "end_flows.jsonl")), dir
}

func readJSONL(t testing.TB, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: invalid JSON line %q: %v", path, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// corpusFiles lists the captures of the corpus manifest.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		line := sc.Text()
		for i := 0; i < len(line); i++ {
			if line[i] == '\t' {
				out = append(out, line[:i])
				break
			}
		}
	}
	return out
}
