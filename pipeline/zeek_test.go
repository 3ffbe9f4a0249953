package pipeline

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// zeekConns reads a Zeek conn.log (TSV with a #fields header).
func zeekConns(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#fields\t") {
			fields = strings.Split(line, "\t")[1:]
			continue
		}
		if strings.HasPrefix(line, "#") || fields == nil {
			continue
		}
		vals := strings.Split(line, "\t")
		m := map[string]string{}
		for i, k := range fields {
			if i < len(vals) {
				m[k] = vals[i]
			}
		}
		out = append(out, m)
	}
	return out
}

// TestZeekConnBaselines compares end_flows with Zeek's own conn.log for
// the same traces: conn_state, history, packets, IP bytes and payload
// bytes of every TCP and UDP connection.
func TestZeekConnBaselines(t *testing.T) {
	base := filepath.Join(corpusDir, "zeek/testing/btest")
	cases := []struct{ trace, log string }{
		{"Traces/pop3/pop3.pcap", "Baseline/scripts.base.protocols.pop3.basic/conn.log"},
		{"Traces/http/get.pcap", "Baseline/core.tcp.reassembly-known-ports/conn.log"},
		{"Traces/wikipedia.pcap", "Baseline/opt.basic/conn.log"},
	}
	for _, c := range cases {
		t.Run(c.trace, func(t *testing.T) {
			_, flows, _ := analyse(t, filepath.Join(base, c.trace), 1, nil)
			want := zeekConns(t, filepath.Join(base, c.log))
			used := map[int]bool{}
			n := 0
			for _, z := range want {
				if z["proto"] != "" && z["proto"] != "tcp" && z["proto"] != "udp" {
					continue
				}
				var got record
				for i, r := range flows {
					if used[i] || r.str("id.orig_h") != z["id.orig_h"] || strconv.Itoa(int(r.num("id.orig_p"))) != z["id.orig_p"] ||
						r.str("id.resp_h") != z["id.resp_h"] || strconv.Itoa(int(r.num("id.resp_p"))) != z["id.resp_p"] {
						continue
					}
					if d, ok := z["duration"]; ok && d != "-" {
						if zd, _ := strconv.ParseFloat(d, 64); absf(zd-r.num("duration")) > 2e-6 {
							continue
						}
					}
					got, used[i] = r, true
					break
				}
				if got == nil {
					t.Errorf("no record for Zeek connection %v", z)
					continue
				}
				n++
				for _, k := range []string{"conn_state", "history", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes", "orig_bytes", "resp_bytes", "duration"} {
					zv, ok := z[k]
					if !ok || zv == "-" {
						continue
					}
					var gv string
					switch v := got[k].(type) {
					case string:
						gv = v
					case float64:
						gv = strconv.FormatFloat(v, 'f', -1, 64)
						if k == "duration" {
							gv = strconv.FormatFloat(v, 'f', 6, 64)
						}
					}
					if gv != zv {
						t.Errorf("%s:%s > %s:%s %s = %s, Zeek %s", z["id.orig_h"], z["id.orig_p"], z["id.resp_h"], z["id.resp_p"], k, gv, zv)
					}
				}
			}
			if n == 0 {
				t.Fatal("no connection compared")
			}
		})
	}
	// conn_state-RST-behavior: one connection per trace, "history, state".
	out, err := os.ReadFile(filepath.Join(base, "Baseline/scripts.base.protocols.conn.conn_state-RST-behavior/out"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for i, trace := range []string{"single-rst", "syn-then-rst", "syn-then-ack-then-rst", "syn-then-stuff-then-rst"} {
		_, flows, _ := analyse(t, filepath.Join(base, "Traces/tcp", trace+".pcap"), 1, nil)
		if len(flows) != 1 {
			t.Fatalf("%s: %d records", trace, len(flows))
		}
		if got := flows[0].str("history") + ", " + flows[0].str("conn_state"); got != lines[i] {
			t.Errorf("%s: %q, Zeek %q", trace, got, lines[i])
		}
	}
}

// TestZeekVLAN checks the vlan and inner_vlan fields against Zeek's
// vlan-0 baselines (priority-tagged frames must not be dropped).
func TestZeekVLAN(t *testing.T) {
	base := filepath.Join(corpusDir, "zeek/testing/btest/Traces")
	for _, c := range []struct {
		trace        string
		vlan, inner  float64
		hasInnerVLAN bool
	}{{"http-vlan-0.pcap", 0, 0, false}, {"http-qinq-0.pcap", 0, 0, true}} {
		_, flows, _ := analyse(t, filepath.Join(base, c.trace), 1, nil)
		if len(flows) != 1 {
			t.Fatalf("%s: %d records", c.trace, len(flows))
		}
		f := flows[0]
		if v, ok := f["vlan"]; !ok || v.(float64) != c.vlan {
			t.Errorf("%s: vlan = %v", c.trace, f["vlan"])
		}
		if _, ok := f["inner_vlan"]; ok != c.hasInnerVLAN {
			t.Errorf("%s: inner_vlan = %v", c.trace, f["inner_vlan"])
		}
		if f.str("conn_state") != "SF" || f.str("history") != "ShADadFf" {
			t.Errorf("%s: %s %s", c.trace, f.str("conn_state"), f.str("history"))
		}
	}
}

func absf(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
