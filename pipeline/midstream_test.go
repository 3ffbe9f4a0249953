package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// TestMidstreamNoFirstBytes: a capture that begins inside connections
// (the agent started while they were open) shows no side's first bytes:
// a response body, then the client's next keep-alive request, is no
// server speaking first. Every lab capture, its first 3, 8, 16 or 32
// packets cut off, gives no PROTOCOL_MISMATCH (the two captures made of
// mismatches aside).
func TestMidstreamNoFirstBytes(t *testing.T) {
	files, err := filepath.Glob("../testdata/lab/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatal("no lab captures", err)
	}
	for _, path := range files {
		if strings.Contains(path, "protocol-mismatch") {
			continue
		}
		for _, cut := range []int{3, 8, 16, 32} {
			out, ok := cutHead(t, path, cut)
			if !ok {
				break
			}
			events, _, _ := analyse(t, out, 1, nil)
			for _, e := range events {
				if e.str("note") == "PROTOCOL_MISMATCH" {
					t.Errorf("%s without its first %d packets: %s", filepath.Base(path), cut, e.str("msg"))
				}
			}
		}
	}
}

// cutHead writes path's packets after its first n to a temporary pcap;
// false if it is not a pcap file or has no more than n packets.
func cutHead(t *testing.T, path string, n int) (string, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return "", false // pcapng: left out
	}
	out := filepath.Join(t.TempDir(), "cut.pcap")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	i, kept := 0, 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if i++; i <= n {
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		kept++
	}
	return out, kept > 0
}
