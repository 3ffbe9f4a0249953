package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// rewritePcap copies the pcap at in to a temporary file, each packet as
// edit returns it, or left out when edit says so; snaplen 0 keeps in's.
// It returns the copy's path, or false when in is not a pcap file
// (pcapng).
func rewritePcap(t testing.TB, in string, snaplen uint32, edit func(link layers.LinkType, data []byte, ci *gopacket.CaptureInfo) ([]byte, bool)) (string, bool) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return "", false
	}
	if snaplen == 0 {
		snaplen = r.Snaplen()
	}
	path := filepath.Join(t.TempDir(), filepath.Base(in))
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(snaplen, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		data, keep := edit(r.LinkType(), data, &ci)
		if !keep {
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return path, true
}
