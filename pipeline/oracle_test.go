package pipeline

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// needTshark skips when tshark is missing, except in CI where `make test`
// installs it and its absence is a failure.
func needTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is required in CI (make test installs it)")
		}
		t.Skip("tshark not installed: run `make test`, which installs it")
	}
	return p
}

type tsDir struct {
	pkts  int
	top   int64 // highest relative seq+len of non-RST segments
	first bool
}

type tsStream struct {
	orig, resp       string // "addr:port"
	synTS            float64
	syn, synack, ack bool
	rtt              float64 // seconds, -1 if none
	weird            bool    // an ACK acknowledges data never sent
	rstBeforeSynAck  bool    // tshark then takes the RST as the handshake's ACK
	respAckFirst     bool    // the responder spoke before the originator's ACK
	d                [2]tsDir
}

// tsharkStreams reads TCP conversations as tshark sees them.
func tsharkStreams(t *testing.T, tshark, path string) map[string]*tsStream {
	t.Helper()
	cmd := exec.Command(tshark, "-n", "-r", path, "-Y", "tcp",
		"-o", "tcp.relative_sequence_numbers:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE",
		"-T", "fields", "-E", "separator=|",
		"-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
		"-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport",
		"-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.reset",
		"-e", "tcp.seq", "-e", "tcp.len", "-e", "tcp.analysis.initial_rtt", "-e", "frame.time_epoch", "-e", "tcp.ack")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", path, err, stderr.String())
	}
	streams := map[string]*tsStream{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) < 15 {
			continue
		}
		first := func(s string) string { return strings.Split(s, ",")[0] }
		src := first(f[1]) + first(f[2])
		dst := first(f[4]) + first(f[5])
		sp, dp := first(f[3]), first(f[6])
		if strings.Contains(src, ":") {
			src = "[" + src + "]"
		}
		if strings.Contains(dst, ":") {
			dst = "[" + dst + "]"
		}
		from, to := src+":"+sp, dst+":"+dp
		id := first(f[0])
		s := streams[id]
		syn, ack, rst := f[7] == "1" || f[7] == "True", f[8] == "1" || f[8] == "True", f[9] == "1" || f[9] == "True"
		ts, _ := strconv.ParseFloat(f[13], 64)
		if s == nil {
			s = &tsStream{rtt: -1}
			streams[id] = s
			// Originator: the SYN sender; else the receiver of a SYN-ACK.
			switch {
			case syn && !ack:
				s.orig, s.resp = from, to
			default:
				s.orig, s.resp = to, from
				if !syn {
					s.orig, s.resp = from, to
				}
			}
		}
		d := 0
		if from != s.orig {
			d = 1
		}
		if syn && !ack && d == 0 && !s.syn {
			s.syn, s.synTS = true, ts
		}
		if syn && ack && d == 1 {
			s.synack = true
		}
		if rst && d == 1 && !s.synack {
			s.rstBeforeSynAck = true
		}
		if !syn && ack && !rst && d == 0 && s.synack {
			s.ack = true
		}
		if ackn, err := strconv.ParseInt(f[14], 10, 64); err == nil && ack && ackn > s.d[1-d].top+1 && ackn > 1 {
			s.weird = true
		}
		if !syn && ack && d == 1 && s.synack && !s.ack {
			s.respAckFirst = true // tshark then times the responder's ACK
		}
		if r, err := strconv.ParseFloat(f[12], 64); err == nil && s.rtt < 0 && !s.rstBeforeSynAck {
			s.rtt = r
		}
		s.d[d].pkts++
		seq, _ := strconv.ParseInt(f[10], 10, 64)
		l, _ := strconv.ParseInt(f[11], 10, 64)
		if !syn && !rst && seq > max(s.d[d].top, 1) {
			s.weird = true // a segment beyond any data sent (a gap, or a bogus sequence number)
		}
		if syn {
			seq++ // data on a SYN (TCP Fast Open) starts after the SYN
		}
		if !rst && l > 0 && seq+l > s.d[d].top {
			s.d[d].top = seq + l
		}
	}
	return streams
}

func addrPort(r record, h, p string) string {
	a := r.str(h)
	if strings.Contains(a, ":") {
		a = "[" + a + "]"
	}
	return fmt.Sprintf("%s:%d", a, int(r.num(p)))
}

// TestTsharkOracle checks every TCP connection with a full handshake
// against tshark: packets and payload bytes per direction, and tcp_rtt_ms
// equal to tcp.analysis.initial_rtt.
func TestTsharkOracle(t *testing.T) {
	tshark := needTshark(t)
	checked := 0
	for _, f := range corpusFiles(t) {
		path := filepath.Join(corpusDir, f)
		t.Run(f, func(t *testing.T) {
			_, flows, _ := analyse(t, path, 2, nil)
			streams := tsharkStreams(t, tshark, path)
			byTuple := map[string][]record{}
			for _, r := range flows {
				if r.str("proto") != "tcp" {
					continue
				}
				k := addrPort(r, "id.orig_h", "id.orig_p") + ">" + addrPort(r, "id.resp_h", "id.resp_p")
				byTuple[k] = append(byTuple[k], r)
			}
			for id, s := range streams {
				if !(s.syn && s.synack && s.ack) {
					continue
				}
				var got record
				for _, r := range byTuple[s.orig+">"+s.resp] {
					// The record whose lifetime holds the SYN (a SYN-ACK
					// captured before its SYN starts the record earlier).
					if r.num("ts") <= s.synTS+2e-6 && r.num("end_ts") >= s.synTS-2e-6 {
						got = r
					}
				}
				if got == nil {
					t.Errorf("stream %s %s>%s (SYN at %.6f): no end_flows record", id, s.orig, s.resp, s.synTS)
					continue
				}
				checked++
				if s.weird {
					// Deliberately inconsistent ACK numbers: sizes follow
					// Zeek (highest ACK counts), tshark counts data seen.
					continue
				}
				for d, name := range []string{"orig", "resp"} {
					if int(got.num(name+"_pkts")) != s.d[d].pkts {
						t.Errorf("stream %s %s_pkts = %v, tshark %d", id, name, got[name+"_pkts"], s.d[d].pkts)
					}
					want := max(0, s.d[d].top-1)
					if int64(got.num(name+"_bytes")) != want {
						t.Errorf("stream %s %s_bytes = %v, tshark sequence space %d", id, name, got[name+"_bytes"], want)
					}
				}
				if s.rtt >= 0 && !s.weird && !s.respAckFirst {
					if _, ok := got["tcp_rtt_ms"]; !ok {
						t.Errorf("stream %s: no tcp_rtt_ms, tshark initial_rtt %.6f s", id, s.rtt)
					} else if math.Abs(got.num("tcp_rtt_ms")-s.rtt*1000) > 0.0015 {
						t.Errorf("stream %s %s: tcp_rtt_ms %.3f, tshark initial_rtt %.6f ms", id, s.orig, got.num("tcp_rtt_ms"), s.rtt*1000)
					}
				}
			}
		})
	}
	t.Logf("%d connections checked against tshark", checked)
}
