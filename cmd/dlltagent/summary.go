package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runSummary prints a readable summary of an output directory: one line
// per diagnosis, the connections with their handshake times, the capture
// statistics and where the pcaps are.
func runSummary(args []string) int {
	all := len(args) == 2 && args[0] == "-all"
	if all {
		args = args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: dlltagent summary [-all] DIR")
		return 2
	}
	dir := args[0]
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fatalf("summary: %s is not a dlltagent output directory", dir)
	}
	if err := summarize(os.Stdout, dir, all); err != nil {
		return fatalf("summary: %v", err)
	}
	return 0
}

type rec map[string]any

func (r rec) s(k string) string {
	switch v := r[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func (r rec) f(k string) (float64, bool) {
	v, ok := r[k].(float64)
	return v, ok
}

func readRecords(path string) ([]rec, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []rec
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r rec
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// tunnelWords says which tunnel a connection came in, if it did.
func tunnelWords(r rec) string {
	t, ok := r["tunnel"].(map[string]any)
	if !ok {
		return ""
	}
	tr := rec(t)
	id := ""
	for _, k := range []string{"vni", "key", "session"} {
		if v := tr.s(k); v != "" {
			id = " " + k + " " + v
		}
	}
	return fmt.Sprintf(" (inside %s%s, %s -> %s)", strings.ToUpper(tr.s("type")), id, tr.s("outer_orig_h"), tr.s("outer_resp_h"))
}

// peerWords says what the ends of a connection are in Kubernetes, when the
// record names them (k8s.orig, k8s.resp), leaving out the pod captured.
func peerWords(r rec) string {
	var parts []string
	for _, end := range [...][2]string{{"k8s.resp", "id.resp_h"}, {"k8s.orig", "id.orig_h"}} {
		o, ok := r[end[0]].(map[string]any)
		if !ok {
			continue
		}
		n := rec(o)
		if n.s("kind") == "pod" && n.s("name") == r.s("k8s.pod") && n.s("namespace") == r.s("k8s.namespace") {
			continue
		}
		kind := n.s("kind")
		if kind == "service" {
			kind = "Service"
		}
		name := n.s("name")
		if ns := n.s("namespace"); ns != "" {
			name = ns + "/" + name
		}
		if d, _ := n["deleted"].(bool); d {
			name += ", deleted"
		}
		if strings.Contains(r.s("msg"), r.s(end[1])+" is ") {
			continue // the msg says it already
		}
		parts = append(parts, r.s(end[1])+" is "+kind+" "+name)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func hostPort(r rec, h, p string) string {
	a := r.s(h)
	if strings.Contains(a, ":") {
		a = "[" + a + "]"
	}
	if port := r.s(p); port != "" {
		return a + ":" + port
	}
	return a
}

func clock(ts float64) string {
	if ts == 0 {
		return "            "
	}
	return time.Unix(0, int64(ts*1e9)).UTC().Format("15:04:05.000")
}

// Past these, the summary groups the diagnoses by kind and lists only
// the connections with a problem (-all lists everything).
const (
	listEvents = 100
	listConns  = 100
	listGroups = 60
)

// groupKey is what makes two diagnoses the same kind: the note, the side
// that acted, and what it said (an alert, a status, a database error, a
// DNS answer and name); with byServer, the server too.
func groupKey(e rec, byServer bool) string {
	what := ""
	if db, ok := e["db"].(map[string]any); ok {
		what = rec(db).s("code")
	} else if t, ok := e["tls"].(map[string]any); ok {
		if a, ok := t["alert"].(map[string]any); ok {
			what = rec(a).s("name")
		}
	} else if d, ok := e["dns"].(map[string]any); ok {
		what = rec(d).s("rcode_name") + " " + rec(d).s("query")
	} else if h, ok := e["http"].(map[string]any); ok {
		what = rec(h).s("status")
	}
	k := e.s("note") + "\x00" + e.s("side") + "\x00" + what
	if byServer {
		k += "\x00" + hostPort(e, "id.resp_h", "id.resp_p")
	}
	return k
}

// printGroups prints one line per kind of diagnosis, the most frequent
// first, with its count, first and last time, and its first message.
// Kinds are per server unless that makes more than listGroups of them
// (many servers): then per kind alone, with how many servers.
func printGroups(w io.Writer, events []rec) {
	type group struct {
		first       rec
		n           int
		start, last float64
		servers     map[string]bool
	}
	var groups []*group
	for _, byServer := range []bool{true, false} {
		idx := map[string]*group{}
		groups = groups[:0]
		for _, e := range events {
			ts, _ := e.f("ts")
			k := groupKey(e, byServer)
			g := idx[k]
			if g == nil {
				g = &group{first: e, start: ts, servers: map[string]bool{}}
				idx[k] = g
				groups = append(groups, g)
			}
			g.n++
			g.last = ts
			g.servers[hostPort(e, "id.resp_h", "id.resp_p")] = true
		}
		if len(groups) <= listGroups {
			break
		}
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].n > groups[j].n })
	fmt.Fprintf(w, "Diagnoses (%d, %d kinds; each kind once, the most frequent first; all in netevents.jsonl, or summary -all)\n", len(events), len(groups))
	fmt.Fprintf(w, "  %6s  %-12s  %-12s  %-23s %s\n", "count", "first", "last", "note", "first of them")
	for i, g := range groups {
		if i == listGroups {
			fmt.Fprintf(w, "  ... %d more kinds\n", len(groups)-listGroups)
			break
		}
		line := fmt.Sprintf("  %6d  %s  %s  %-23s %s%s", g.n, clock(g.start), clock(g.last), g.first.s("note"), g.first.s("msg"), tunnelWords(g.first)+peerWords(g.first))
		switch n := len(g.servers) - 1; {
		case n == 1:
			line += " (the same with 1 other server)"
		case n > 1:
			line += fmt.Sprintf(" (the same with %d other servers)", n)
		}
		if p := g.first.s("pcap"); p != "" {
			line += "  [" + p + "]"
		}
		fmt.Fprintln(w, line)
	}
}

func summarize(w io.Writer, dir string, all bool) error {
	events, err := readRecords(filepath.Join(dir, "netevents.jsonl"))
	if err != nil {
		return err
	}
	flows, err := readRecords(filepath.Join(dir, "end_flows.jsonl"))
	if err != nil {
		return err
	}
	stats, err := readRecords(filepath.Join(dir, "stats.jsonl"))
	if err != nil {
		return err
	}
	if events == nil && flows == nil && stats == nil {
		return fmt.Errorf("%s has no netevents.jsonl, end_flows.jsonl or stats.jsonl", dir)
	}
	sort.SliceStable(events, func(i, j int) bool { a, _ := events[i].f("ts"); b, _ := events[j].f("ts"); return a < b })
	switch {
	case len(events) == 0:
		fmt.Fprintln(w, "Diagnoses (0)\n  none: no problem was seen")
	case !all && len(events) > listEvents:
		printGroups(w, events)
	default:
		fmt.Fprintf(w, "Diagnoses (%d)\n", len(events))
		for _, e := range events {
			ts, _ := e.f("ts")
			line := fmt.Sprintf("  %s  %-23s %s%s", clock(ts), e.s("note"), e.s("msg"), tunnelWords(e)+peerWords(e))
			if p := e.s("pcap"); p != "" {
				line += "  [" + p + "]"
			}
			fmt.Fprintln(w, line)
		}
	}
	sort.SliceStable(flows, func(i, j int) bool { a, _ := flows[i].f("ts"); b, _ := flows[j].f("ts"); return a < b })
	var tcp, other []rec
	for _, f := range flows {
		if f.s("proto") == "tcp" {
			tcp = append(tcp, f)
		} else {
			other = append(other, f)
		}
	}
	fmt.Fprintf(w, "\nTCP connections (%d)\n", len(tcp))
	if !all && len(tcp) > listConns {
		var bad []rec
		for _, f := range tcp {
			if _, ok := f["notes"]; ok {
				bad = append(bad, f)
			}
		}
		fmt.Fprintf(w, "  %d healthy not listed; ", len(tcp)-len(bad))
		if len(bad) > listConns {
			fmt.Fprintf(w, "the first %d of %d with a problem (all in end_flows.jsonl, or summary -all):\n", listConns, len(bad))
			bad = bad[:listConns]
		} else {
			fmt.Fprintf(w, "the %d with a problem (all in end_flows.jsonl, or summary -all):\n", len(bad))
		}
		tcp = bad
	}
	if len(tcp) > 0 {
		fmt.Fprintf(w, "  %-12s  %-44s %-10s %-6s %10s %-22s %-12s %s\n", "start", "client -> server", "svc", "state", "rtt ms", "tls", "end", "notes")
	}
	for _, f := range tcp {
		ts, _ := f.f("ts")
		rtt := "-"
		if v, ok := f.f("tcp_rtt_ms"); ok {
			rtt = fmt.Sprintf("%.3f", v)
		}
		tls := ""
		if t, ok := f["tls"].(map[string]any); ok {
			tr := rec(t)
			tls = tr.s("version")
			if hs, ok := tr.f("handshake_ms"); ok {
				tls += fmt.Sprintf(" %.1fms", hs)
			} else if t["established"] == false {
				tls += " failed"
			}
		}
		notes := ""
		if n, ok := f["notes"].([]any); ok {
			var ss []string
			for _, x := range n {
				ss = append(ss, fmt.Sprint(x))
			}
			notes = strings.Join(ss, ",")
		}
		fmt.Fprintf(w, "  %s  %-44s %-10s %-6s %10s %-22s %-12s %s\n", clock(ts),
			hostPort(f, "id.orig_h", "id.orig_p")+" -> "+hostPort(f, "id.resp_h", "id.resp_p"),
			f.s("service"), f.s("conn_state"), rtt, tls, f.s("end_reason"), notes)
	}
	if len(other) > 0 {
		byProto := map[string]int{}
		for _, f := range other {
			byProto[f.s("proto")+"/"+f.s("service")]++
		}
		var parts []string
		for k, v := range byProto {
			parts = append(parts, fmt.Sprintf("%d %s", v, strings.TrimSuffix(k, "/")))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "\nOther flows: %s\n", strings.Join(parts, ", "))
	}
	if len(stats) > 0 {
		s := stats[len(stats)-1]
		fmt.Fprintf(w, "\nCapture: %s packets, %s bytes; kernel drops %s, freezes %s, queue drops %s; %s flows, %s events, %s pcaps written\n",
			s.s("packets"), s.s("bytes"), s.s("kernel_drops"), s.s("kernel_freezes"), s.s("queue_drops"),
			s.s("flows_total"), s.s("events"), s.s("pcaps_written"))
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "pcaps")); err == nil {
		n := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".pcap") && !strings.HasPrefix(e.Name(), ".") {
				n++
			}
		}
		fmt.Fprintf(w, "Focused pcaps: %d in %s\n", n, filepath.Join(dir, "pcaps"))
	}
	return nil
}
