package pipeline

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tcpOf returns the TCP header of an Ethernet IPv4 frame, nil for others.
func tcpOf(data []byte) []byte {
	if len(data) < 14+20+14 || binary.BigEndian.Uint16(data[12:]) != 0x0800 || data[23] != 6 {
		return nil
	}
	return data[14+int(data[14]&15)*4:]
}

// TestTLSServerResetAfterCloseNotify: Go's client without keep-alive
// (its request says Connection: close) to nginx over TLS 1.3 and 1.2.
// nginx answers, sends its close_notify and closes; the client, done
// with the answer, sends its own. As captured, nginx's FIN came first
// and the client's close_notify after it was reset. On a busy server the
// close comes after the client's close_notify arrived, unread, and the
// kernel resets without a FIN: the capture with the server's FINs left
// out. Both are healthy exchanges: no TCP_RESET
// (testdata/lab/tls-connection-close.pcap).
func TestTLSServerResetAfterCloseNotify(t *testing.T) {
	const in = "../testdata/lab/tls-connection-close.pcap"
	dropped := 0
	path, ok := rewritePcap(t, in, 0, func(_ layers.LinkType, data []byte, _ *gopacket.CaptureInfo) ([]byte, bool) {
		if tcp := tcpOf(data); tcp != nil && binary.BigEndian.Uint16(tcp) == 9545 && tcp[13]&1 != 0 {
			dropped++
			return nil, false
		}
		return data, true
	})
	if !ok || dropped != 3 {
		t.Fatalf("%d server FINs dropped, want 3", dropped)
	}
	for _, p := range []string{in, path} {
		for _, workers := range []int{1, 2} {
			events, flows, _ := analyse(t, p, workers, nil)
			if len(events) != 0 || len(flows) != 4 {
				t.Errorf("%s, workers %d: %d flows, events %v; want 4 flows and none", p, workers, len(flows), events)
			}
		}
	}
}

// TestTLSClientResetAfterAnswerLate: the HTTP/2 exchanges of
// tls-client-reset-after-answer.pcap with the client's resets 150 ms
// later, as a busy machine delays a client reading the server's last
// frames (seen at 27 ms under load): still healthy, no TCP_RESET.
func TestTLSClientResetAfterAnswerLate(t *testing.T) {
	late := 0
	path, ok := rewritePcap(t, "../testdata/lab/tls-client-reset-after-answer.pcap", 0, func(_ layers.LinkType, data []byte, ci *gopacket.CaptureInfo) ([]byte, bool) {
		if tcp := tcpOf(data); tcp != nil && binary.BigEndian.Uint16(tcp[2:]) == 7443 && tcp[13]&4 != 0 {
			ci.Timestamp = ci.Timestamp.Add(150 * time.Millisecond)
			late++
		}
		return data, true
	})
	if !ok || late == 0 {
		t.Fatalf("no client reset moved")
	}
	events, _, _ := analyse(t, path, 1, nil)
	for _, e := range events {
		if e.str("note") == "TCP_RESET" {
			t.Errorf("%s", e.str("msg"))
		}
	}
}

// TestTLSH2JavaGoaway: Java's HttpClient over HTTP/2 inside TLS 1.3 to
// nginx, ten requests at a time: it opens a connection for each, keeps
// one and retires the others with a GOAWAY ("Requested by user"), a
// record larger than any control frame, then closes them only when the
// program exits seconds later. A goodbye, not a request left unanswered:
// no TLS_NO_RESPONSE (testdata/lab/tls-h2-java-goaway.pcap).
func TestTLSH2JavaGoaway(t *testing.T) {
	events, flows, _ := analyse(t, "../testdata/lab/tls-h2-java-goaway.pcap", 2, nil)
	if len(events) != 0 || len(flows) != 10 {
		t.Errorf("%d flows, events %v; want 10 flows and none", len(flows), events)
	}
}

// TestTLSSpareConnections: Go's HTTP/2 client closes the connections it
// dialled for concurrent requests beyond the first to complete, right
// after their handshake, as curl closes on a certificate it rejects.
// Their siblings went on, most of them analysed by another worker: no
// TLS_REJECTED_ENCRYPTED with any number of workers, and no pcap
// (testdata/lab/tls-h2-go-spare-connections.pcap). Over TLS 1.2 they
// close without a record, one with a reset: no TCP_RESET either
// (tls12-h2-go-spare-connections.pcap). curl's rejections in
// tls13-name-mismatch.pcap, beside a healthy connection for another
// name, are still reported.
func TestTLSSpareConnections(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		for in, n := range map[string]int{"tls-h2-go-spare-connections.pcap": 29, "tls12-h2-go-spare-connections.pcap": 23} {
			events, flows, dir := analyse(t, "../testdata/lab/"+in, workers, nil)
			if len(events) != 0 || len(flows) != n {
				t.Errorf("%s, workers %d: %d flows, events %v; want %d flows and none", in, workers, len(flows), events, n)
			}
			if pcaps, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*")); len(pcaps) != 0 {
				t.Errorf("%s, workers %d: pcaps %v", in, workers, pcaps)
			}
		}
		events, _, _ := analyse(t, "../testdata/lab/tls13-name-mismatch.pcap", workers, nil)
		quits := 0
		for _, e := range events {
			if e.str("note") == "TLS_REJECTED_ENCRYPTED" && e["after_tls_handshake"] == true {
				quits++
			}
		}
		if quits != 5 {
			t.Errorf("workers %d: %d rejections after the handshake in tls13-name-mismatch.pcap, want 5", workers, quits)
		}
	}
}
