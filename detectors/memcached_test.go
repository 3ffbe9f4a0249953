package detectors

import (
	"encoding/binary"
	"strings"
	"testing"
)

// TestMemcachedRepliesSplitAnywhere: the server's text answers are
// walked line by line and data block by data block wherever segments cut
// them, so error lines inside values (VALUE and meta VA) are never taken
// for errors, and the error after them is read once.
func TestMemcachedRepliesSplitAnywhere(t *testing.T) {
	fake := "SERVER_ERROR out of memory storing object\r\nVALUE x 0 99\r\n"
	stream := "VALUE item:1 0 " + itoa(len(fake)) + "\r\n" + fake + "\r\n" +
		"VALUE a-rather-long-key-as-applications-write-them:tenant-42:chunk:0123456789abcdef 5 " + itoa(len(fake)) + " 77\r\n" + fake + "\r\nEND\r\n" +
		"VA " + itoa(len(fake)) + " f5\r\n" + fake + "\r\n" +
		"STORED\r\nSERVER_ERROR object too large for cache\r\n"
	pre := client([]byte("get item:1 item:2\r\n"), []byte("set blob 0 0 2000000\r\n"))
	byCut, out := splitEvery(t, 11211, pre, []byte(stream))
	for i, got := range byCut {
		if len(got) != 1 || got[0] != "DB_ERROR SERVER_ERROR" {
			t.Errorf("cut at %d: %q", i, got)
		}
	}
	for _, l := range out.lines {
		if noteOf(l) == "DB_ERROR" && (!strings.Contains(string(l), `object too large for cache: the item is larger`) || !strings.Contains(string(l), `"bytes":2000000`)) {
			t.Errorf("%s", l)
			break
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// mcBin builds a binary-protocol message: magic, opcode, status (the
// vbucket in a request), extras, key and value.
func mcBin(magic, op byte, status uint16, extras, key, value string) []byte {
	h := make([]byte, 24)
	h[0], h[1] = magic, op
	binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
	h[4] = byte(len(extras))
	binary.BigEndian.PutUint16(h[6:], status)
	binary.BigEndian.PutUint32(h[8:], uint32(len(extras)+len(key)+len(value)))
	return append(h, extras+key+value...)
}

// TestMemcachedBinary: the binary protocol's statuses, split anywhere:
// a miss is the data's answer, a value too large and a SASL login refused
// are reported, with the size the client's set announced.
func TestMemcachedBinary(t *testing.T) {
	set := mcBin(0x80, 0x01, 0, strings.Repeat("\x00", 8), "blob", strings.Repeat("z", 3000))
	stream := append(mcBin(0x81, 0x00, 0x0001, "", "", "Not found"), mcBin(0x81, 0x01, 0x0003, "", "", "Too large.")...)
	stream = append(stream, mcBin(0x81, 0x21, 0x0020, "", "", "Auth failure")...)
	byCut, out := splitEvery(t, 11211, client(mcBin(0x80, 0x00, 0, "", "session:42", ""), set[:1000], set[1000:]), stream)
	for i, got := range byCut {
		if strings.Join(got, ",") != "DB_ERROR 0x0003,DB_ERROR 0x0020" {
			t.Errorf("cut at %d: %q", i, got)
		}
	}
	for _, l := range out.lines {
		// (The status's message is read when the body is in the
		// header's segment: the uncut replay's.)
		if s := string(l); strings.Contains(s, `0x0003`) && (!strings.Contains(s, `failed a write of 3000 bytes`) ||
			(strings.Contains(s, `"id.orig_p":20000,`) && !strings.Contains(s, `with status 0x0003 \"Too large.\"`))) {
			t.Errorf("%s", l)
			break
		}
	}
	// Past its connection limit, Memcached answers at accept, before
	// the client's command: recognised on any port.
	got := mongoRun(t, 21211, nil, []byte("ERROR Too many open connections\r\n"))
	if len(got) != 1 || !strings.Contains(got[0], `"system":"memcached","code":"ERROR"`) || !strings.Contains(got[0], "refused the connection of client") {
		t.Errorf("%q", got)
	}
	got = mongoRun(t, 11211, mcBin(0x80, 0x00, 0, "", "k", ""), []byte("ERROR Too many open connections\r\n"))
	if len(got) != 1 || !strings.Contains(got[0], "refused the connection of client 198.18.0.2 with ERROR Too many open connections:") {
		t.Errorf("binary client: %q", got)
	}
	if mcClientStart([]byte("get k\r\n"), 6379) || !mcClientStart([]byte("mn\r\n"), 11211) || mcClientStart([]byte("GET / HTTP/1.1\r\n"), 11211) {
		t.Error("mcClientStart")
	}
}
