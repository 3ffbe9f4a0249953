package pipeline

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestDBLoginRefusedThenReset: libpq, refused inside TLS, closes at once;
// when the server's close_notify is already in its socket buffer, its
// kernel resets instead of sending a FIN. The two TLS logins with a
// wrong password of the PostgreSQL capture, their client FIN turned into
// a RST, are still refused logins, not resets; and two healthy TLS
// sessions whose client FIN is dropped (psql ending its session, the
// server's close_notify unread: the live test saw it) are nothing.
func TestDBLoginRefusedThenReset(t *testing.T) {
	turned, dropped := 0, 0
	path, ok := rewritePcap(t, "../testdata/lab/db-postgres-errors.pcap", 65536, func(link layers.LinkType, data []byte, _ *gopacket.CaptureInfo) ([]byte, bool) {
		if link != layers.LinkTypeEthernet {
			t.Fatalf("link type %v", link)
		}
		// IPv4 TCP from the client to 5432: ports 34322 and 34324.
		if len(data) > 14+20+14 && binary.BigEndian.Uint16(data[12:]) == 0x0800 && data[23] == 6 {
			tcp := data[14+int(data[14]&15)*4:]
			src, dst := binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:])
			if (src == 34322 || src == 34324) && dst == 5432 && tcp[13]&1 != 0 {
				tcp[13] = 0x04 // RST alone
				turned++
			} else if (src == 34322 || src == 34324) && dst == 5432 && tcp[13]&4 != 0 {
				return nil, false // the capture's own reset after the FIN: gone with it
			} else if (src == 56534 || src == 50564) && dst == 5432 && tcp[13]&1 != 0 {
				dropped++
				return nil, false // healthy sessions: their reset comes without a FIN
			}
		}
		return data, true
	})
	if !ok {
		t.Fatal("not a pcap file")
	}
	if turned != 2 || dropped != 2 {
		t.Fatalf("%d FINs turned into resets, %d dropped, want 2 and 2", turned, dropped)
	}
	events, _, _ := analyse(t, path, 1, nil)
	refused := 0
	for _, e := range events {
		if strings.Contains(e.str("msg"), "refused its login") {
			refused++
		}
		if e.str("note") == "TCP_RESET" {
			t.Errorf("%s", e.str("msg"))
		}
	}
	if refused != 2 {
		t.Errorf("%d refused logins, want 2", refused)
	}
}

// TestSnaplenCut: a capture taken with a short snaplen (tcpdump -s 200)
// has every large segment cut. What was not seen must not be judged: the
// same captures cut at 200 bytes make no TLS_HANDSHAKE_ABORTED that the
// whole captures do not (the cut ServerHello flight used to read as "the
// client closed before any ServerHello"). What was seen still is: every
// fatal alert in the clear (its own 7-byte segment, after a cut
// ClientHello or server flight), and a server closing without a byte
// after a cut ClientHello.
func TestSnaplenCut(t *testing.T) {
	for _, name := range []string{"db-postgres-tls-clients.pcap", "db-postgres-errors.pcap", "tls-no-response.pcap", "wget-selfsigned-tls13-tls12.pcap", "nginx-mtls-required.pcap",
		"tls-expired-certificate.pcap", "tls12-leaf-only-chain.pcap", "node-python-servers.pcap", "postgres-starttls.pcap", "tcp-proxy-upstream-down.pcap", "server-closes-at-accept.pcap"} {
		in := "../testdata/lab/" + name
		cut := 0
		path, ok := rewritePcap(t, in, 200, func(_ layers.LinkType, data []byte, ci *gopacket.CaptureInfo) ([]byte, bool) {
			if len(data) > 200 {
				data, ci.CaptureLength = data[:200], 200
				cut++
			}
			return data, true
		})
		if !ok {
			t.Fatalf("%s: not a pcap file", name)
		}
		if cut == 0 {
			t.Fatalf("%s: nothing to cut", name)
		}
		count := func(events []record, note string, silent bool) int {
			n := 0
			for _, e := range events {
				if e.str("note") == note && (!silent || strings.Contains(e.str("msg"), "before the ClientHello came") || strings.Contains(e.str("msg"), "without a byte of answer")) {
					n++
				}
			}
			return n
		}
		whole, _, _ := analyse(t, in, 1, nil)
		cutEvents, _, _ := analyse(t, path, 1, nil)
		if a, b := count(whole, "TLS_HANDSHAKE_ABORTED", false), count(cutEvents, "TLS_HANDSHAKE_ABORTED", false); b > a {
			t.Errorf("%s cut at 200 bytes (%d packets): %d TLS_HANDSHAKE_ABORTED, %d whole", name, cut, b, a)
		}
		if a, b := count(whole, "TLS_HANDSHAKE_ABORTED", true), count(cutEvents, "TLS_HANDSHAKE_ABORTED", true); b != a {
			t.Errorf("%s cut at 200 bytes: %d TLS_HANDSHAKE_ABORTED of a silent server, %d whole", name, b, a)
		}
		if a, b := count(whole, "TLS_ALERT", false), count(cutEvents, "TLS_ALERT", false); b != a {
			t.Errorf("%s cut at 200 bytes: %d TLS_ALERT, %d whole", name, b, a)
		}
	}
}
