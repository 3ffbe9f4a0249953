package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
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

// TestDNSFloodBounded: a flood of lookups of distinct names, each
// answered NXDOMAIN (a random-subdomain attack, or a client walking
// generated names). Each name has its own share of the rate limit, but
// all names of one server share a ceiling: the lines stay bounded and
// every failure is either written or counted in a summary.
func TestDNSFloodBounded(t *testing.T) {
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, pcapio.LinkEthernet)
	const n = 5000
	frame := func(query bool, port uint16, id uint16, name string) []byte {
		dns := []byte{byte(id >> 8), byte(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
		if !query {
			dns[2], dns[3] = 0x81, 0x83 // a response, RD RA, NXDOMAIN
		}
		for _, l := range bytes.Split([]byte(name), []byte(".")) {
			dns = append(dns, byte(len(l)))
			dns = append(dns, l...)
		}
		dns = append(dns, 0, 0, 1, 0, 1) // A IN
		f := make([]byte, 42, 42+len(dns))
		copy(f[12:], []byte{0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0})
		binary.BigEndian.PutUint16(f[16:], uint16(28+len(dns)))
		cli, srv := []byte{198, 18, 0, 2}, []byte{198, 18, 0, 53}
		sp, dp := port, uint16(53)
		if !query {
			cli, srv, sp, dp = srv, cli, dp, sp
		}
		copy(f[26:], cli)
		copy(f[30:], srv)
		binary.BigEndian.PutUint16(f[34:], sp)
		binary.BigEndian.PutUint16(f[36:], dp)
		binary.BigEndian.PutUint16(f[38:], uint16(8+len(dns)))
		return append(f, dns...)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("x%d.flood.test", i)
		ts := int64(1_780_000_000e9) + int64(i)*1e6
		q, a := frame(true, uint16(1024+i), uint16(i), name), frame(false, uint16(1024+i), uint16(i), name)
		w.Write(ts, q, len(q))
		w.Write(ts+200e3, a, len(a))
	}
	dir := t.TempDir()
	s, _ := sink.Open(sink.Options{Dir: dir})
	_, err := RunOffline(&buf, OfflineOptions{Workers: 2, Config: detectors.DefaultConfig()}, s)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines, folded := 0, 0
	for _, e := range readJSONL(t, filepath.Join(dir, "netevents.jsonl")) {
		switch {
		case e.str("note") != "DNS_ERROR":
			t.Errorf("%s: %s", e.str("note"), e.str("msg"))
		case e["summary"] == true:
			folded += int(e.num("suppressed"))
		default:
			lines++
		}
	}
	t.Logf("%d lines, %d folded", lines, folded)
	if lines > 100 || lines+folded != n {
		t.Errorf("%d lines and %d folded for %d failed lookups", lines, folded, n)
	}
}
