package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestMidstreamNoFirstBytes: a capture that begins inside connections
// (the agent started while they were open) shows no side's first bytes:
// a response body, then the client's next keep-alive request, is no
// server speaking first. Every lab capture, its first 3, 8, 16 or 32
// packets cut off, gives no PROTOCOL_MISMATCH (the captures staged for
// mismatches aside).
func TestMidstreamNoFirstBytes(t *testing.T) {
	files, err := filepath.Glob("../testdata/lab/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatal("no lab captures", err)
	}
	for _, path := range files {
		if strings.Contains(path, "protocol-mismatch") || strings.Contains(path, "proxy-protocol") {
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
	i, kept := 0, 0
	out, ok := rewritePcap(t, path, 0, func(_ layers.LinkType, data []byte, _ *gopacket.CaptureInfo) ([]byte, bool) {
		if i++; i <= n {
			return nil, false
		}
		kept++
		return data, true
	})
	return out, ok && kept > 0
}
