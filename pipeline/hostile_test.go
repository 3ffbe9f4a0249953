package pipeline

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/internal/pcapio"
	"github.com/dlltagent/dlltagent/sink"
)

// run analyses data in-process; a panic fails the test.
func runBytes(t *testing.T, data []byte, cfg detectors.Config) error {
	t.Helper()
	dir := t.TempDir()
	s, err := sink.Open(sink.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = RunOffline(bytes.NewReader(data), OfflineOptions{Workers: 2, Config: cfg}, s)
	s.Close()
	return err
}

// TestHostileCaptures feeds hundreds of mutated copies of real captures
// (flipped bytes, cut records, bogus lengths), random bytes and an empty
// file: the pipeline must never panic.
func TestHostileCaptures(t *testing.T) {
	rnd := rand.New(rand.NewSource(42))
	var files []string
	for _, f := range corpusFiles(t) {
		files = append(files, filepath.Join(corpusDir, f))
	}
	// The lab's captures too: tunnels (VXLAN), h2c, STARTTLS, proxies.
	lab, _ := filepath.Glob("../testdata/lab/*.pcap")
	files = append(files, lab...)
	cfg := detectors.DefaultConfig()
	cfg.SearchHeader = "host"
	runs := 0
	for _, f := range files {
		orig, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for m := 0; m < 6; m++ {
			b := append([]byte(nil), orig...)
			switch m {
			case 0: // flip bytes after the file header
				for i := 0; i < 1+len(b)/200; i++ {
					j := 24 + rnd.Intn(max(1, len(b)-24))
					if j < len(b) {
						b[j] ^= byte(1 + rnd.Intn(255))
					}
				}
			case 1: // cut anywhere
				b = b[:rnd.Intn(len(b))]
			case 2: // a bogus captured length in the first record
				if len(b) > 40 {
					binary.LittleEndian.PutUint32(b[32:], rnd.Uint32())
				}
			case 3: // zero a run of bytes (lengths, headers)
				j := rnd.Intn(len(b))
				for k := j; k < min(len(b), j+64); k++ {
					b[k] = 0
				}
			case 4: // shuffle payload bytes of every 7th byte
				for j := 64; j+8 < len(b); j += 7 {
					b[j], b[j+3] = b[j+3], b[j]
				}
			case 5: // random bytes behind a valid header
				for j := 24; j < len(b); j++ {
					if rnd.Intn(4) == 0 {
						b[j] = byte(rnd.Intn(256))
					}
				}
			}
			runBytes(t, b, cfg)
			runs++
		}
	}
	for i := 0; i < 20; i++ {
		b := make([]byte, rnd.Intn(4096))
		rnd.Read(b)
		if err := runBytes(t, b, cfg); err == nil && len(b) >= 4 {
			t.Errorf("random bytes accepted as a capture")
		}
		runs++
	}
	if err := runBytes(t, nil, cfg); err == nil {
		t.Error("empty input accepted")
	}
	t.Logf("%d hostile inputs survived", runs)
}

// TestFloodBounded: a SYN flood of many distinct flows with a small
// table: memory stays bounded by evicting the connection idle longest,
// every connection still gets a record, and the events are summarised
// rather than written one per flow.
func TestFloodBounded(t *testing.T) {
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, pcapio.LinkEthernet)
	const n = 100000
	frame := make([]byte, 54)
	copy(frame[12:], []byte{0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 0, 198, 19, 0, 1})
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint16(frame[28:], uint16(i))
		frame[27] = byte(i >> 16)
		binary.BigEndian.PutUint16(frame[34:], uint16(1024+i%60000))
		binary.BigEndian.PutUint16(frame[36:], 443)
		frame[46] = 5 << 4
		frame[47] = 0x02 // SYN
		w.Write(int64(1_780_000_000e9)+int64(i)*10e3, frame, len(frame))
	}
	cfg := detectors.DefaultConfig()
	cfg.MaxFlows = 20000
	dir := t.TempDir()
	s, _ := sink.Open(sink.Options{Dir: dir})
	res, err := RunOffline(&buf, OfflineOptions{Workers: 2, Config: cfg}, s)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var evicted, suppressed uint64
	for _, st := range res.Stats {
		evicted += st.FlowsEvicted.Load()
		suppressed += st.Suppressed.Load()
	}
	events := readJSONL(t, filepath.Join(dir, "netevents.jsonl"))
	flows := readJSONL(t, filepath.Join(dir, "end_flows.jsonl"))
	if evicted < uint64(n-cfg.MaxFlows) || len(flows) != n {
		t.Errorf("evicted %d, records %d", evicted, len(flows))
	}
	if len(events) > 200 || suppressed == 0 {
		t.Errorf("%d event lines (%d suppressed): not summarised", len(events), suppressed)
	}
	sum := 0
	for _, e := range events {
		if e["summary"] == true {
			sum += int(e.num("suppressed"))
		}
	}
	if sum == 0 {
		t.Error("no summary event counts the suppressed events")
	}
}
