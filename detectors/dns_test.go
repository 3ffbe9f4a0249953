package detectors

import (
	"net"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"
)

// dnsMsg is one DNS message of a crafted lookup: a query from the client
// (198.18.0.2:port) or the server's answer, gap ns after the previous one.
type dnsMsg struct {
	port   uint16
	answer bool
	id     uint16
	name   string
	qtype  layers.DNSType
	rcode  layers.DNSResponseCode
	tc     bool
	rrs    []layers.DNSResourceRecord // answer section
	gap    int64
}

// lookup runs the messages through an engine and returns the notes and
// messages of its events.
func lookup(t *testing.T, msgs []dnsMsg) (notes []string, lines []string) {
	t.Helper()
	out := &collect{}
	var st Stats
	e := NewEngine(DefaultConfig(), 0, out, &st)
	cli, srv := net.IPv4(198, 18, 0, 2), net.IPv4(198, 18, 0, 1)
	ts := int64(1e18)
	for _, m := range msgs {
		ts += m.gap
		d := &layers.DNS{ID: m.id, RD: true, QR: m.answer, TC: m.tc, ResponseCode: m.rcode,
			Questions: []layers.DNSQuestion{{Name: []byte(m.name), Type: m.qtype, Class: layers.DNSClassIN}}}
		if m.answer {
			d.RA = true
			d.Answers = m.rrs
		}
		src, dst, sp, dp := cli, srv, m.port, uint16(53)
		if m.answer {
			src, dst, sp, dp = srv, cli, 53, m.port
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
		udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
		udp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		f := serializeLayers(t, eth, ip, udp, d)
		e.Packet(ts, 1, f, len(f))
	}
	e.Advance(ts + 10e9)
	e.Flush()
	for _, l := range out.lines {
		if n := noteOf(l); n != "" {
			notes = append(notes, n)
			lines = append(lines, string(l))
		}
	}
	return notes, lines
}

func aRR(name string) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IPv4(198, 18, 0, 1)}
}

func aaaaRR(name string) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeAAAA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP("fd00:198:18::1")}
}

func cnameRR(name, target string) layers.DNSResourceRecord {
	return layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 60, CNAME: []byte(target)}
}

// TestDNSLookupOutcomes: a lookup fails when no query of the client's for
// the name got an address: NXDOMAIN, or NOERROR answers without any
// address (NODATA, one event for A and AAAA). An empty or NXDOMAIN answer
// for one type is no failure when the other type resolved, before or
// after it, however slowly.
func TestDNSLookupOutcomes(t *testing.T) {
	const A, AAAA = layers.DNSTypeA, layers.DNSTypeAAAA
	const ok, nx = layers.DNSResponseCodeNoErr, layers.DNSResponseCodeNXDomain
	name := "svc.demo.test"
	cases := []struct {
		desc  string
		msgs  []dnsMsg
		notes string
		msg   string // in the event's text
	}{
		{"A and AAAA empty: one NODATA for both", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, id: 2, name: name, qtype: AAAA, gap: 50e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, gap: 300e3},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: ok, gap: 50e3},
		}, "DNS_NODATA", "answered the A and AAAA queries for svc.demo.test with no address"},
		{"only A asked, empty", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, gap: 300e3},
		}, "DNS_NODATA", "no IPv4 address record"},
		{"AAAA empty, A resolved", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, id: 2, name: name, qtype: AAAA, gap: 50e3},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: ok, gap: 300e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{aRR(name)}, gap: 50e3},
		}, "", ""},
		{"AAAA empty first, A resolved 2 s later (slow upstream): no NODATA, the slowness is reported", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40001, id: 2, name: name, qtype: AAAA, gap: 50e3},
			{port: 40001, answer: true, id: 2, name: name, qtype: AAAA, rcode: ok, gap: 300e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{aRR(name)}, gap: 2e9},
		}, "DNS_LATE_ANSWER", "and the client had not re-sent it"},
		{"AAAA NXDOMAIN from a server that has only an IPv4 address, A resolved", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, id: 2, name: name, qtype: AAAA, gap: 50e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{aRR(name)}, gap: 300e3},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: nx, gap: 50e3},
		}, "", ""},
		{"Go: AAAA NXDOMAIN, then A asked from another socket 0.4 ms later and resolved", []dnsMsg{
			{port: 40000, id: 2, name: name, qtype: AAAA},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: nx, gap: 300e3},
			{port: 40001, id: 1, name: name, qtype: A, gap: 400e3},
			{port: 40001, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{aRR(name)}, gap: 100e3},
		}, "", ""},
		{"a failed lookup, then another process's lookup that resolves", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, gap: 300e3},
			{port: 40001, id: 2, name: name, qtype: A, gap: 35e6},
			{port: 40001, id: 3, name: name, qtype: AAAA, gap: 50e3},
			{port: 40001, answer: true, id: 2, name: name, qtype: A, rcode: ok, gap: 300e3},
			{port: 40001, answer: true, id: 3, name: name, qtype: AAAA, rcode: ok, rrs: []layers.DNSResourceRecord{aaaaRR(name)}, gap: 50e3},
		}, "DNS_NODATA", "no IPv4 address record"},
		{"A asked after AAAA resolved (single-request)", []dnsMsg{
			{port: 40000, id: 2, name: name, qtype: AAAA},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: ok, rrs: []layers.DNSResourceRecord{aaaaRR(name)}, gap: 300e3},
			{port: 40000, id: 1, name: name, qtype: A, gap: 100e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, gap: 300e3},
		}, "", ""},
		{"A NXDOMAIN and AAAA NXDOMAIN: the name does not exist", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, id: 2, name: name, qtype: AAAA, gap: 50e3},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: nx, gap: 300e3},
			{port: 40000, answer: true, id: 2, name: name, qtype: AAAA, rcode: nx, gap: 50e3},
		}, "DNS_ERROR,DNS_ERROR", "NXDOMAIN"},
		{"a CNAME to nothing is no address", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{cnameRR(name, "gone.demo.test")}, gap: 300e3},
		}, "DNS_NODATA", "no IPv4 address record"},
		{"a CNAME chain ending in an address", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{cnameRR(name, "lb.demo.test"), aRR("lb.demo.test")}, gap: 300e3},
		}, "", ""},
		{"a truncated empty answer (the client asks again over TCP)", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: A},
			{port: 40000, answer: true, id: 1, name: name, qtype: A, rcode: ok, tc: true, gap: 300e3},
		}, "", ""},
		{"NODATA on a search-list step", []dnsMsg{
			{port: 40000, id: 1, name: "svc.ns1.svc.cluster.local", qtype: A},
			{port: 40000, answer: true, id: 1, name: "svc.ns1.svc.cluster.local", qtype: A, rcode: ok, gap: 300e3},
			{port: 40001, id: 3, name: name, qtype: A, gap: 100e3},
			{port: 40001, answer: true, id: 3, name: name, qtype: A, rcode: ok, rrs: []layers.DNSResourceRecord{aRR(name)}, gap: 300e3},
		}, "", ""},
		{"other types are not addresses", []dnsMsg{
			{port: 40000, id: 1, name: name, qtype: layers.DNSTypeMX},
			{port: 40000, answer: true, id: 1, name: name, qtype: layers.DNSTypeMX, rcode: ok, gap: 300e3},
		}, "", ""},
	}
	for _, tc := range cases {
		notes, lines := lookup(t, tc.msgs)
		if got := strings.Join(notes, ","); got != tc.notes {
			t.Errorf("%s: events %q, want %q\n%s", tc.desc, got, tc.notes, strings.Join(lines, "\n"))
			continue
		}
		if tc.msg != "" && !strings.Contains(lines[0], tc.msg) {
			t.Errorf("%s: %s\nwant %q in it", tc.desc, lines[0], tc.msg)
		}
		if tc.notes == "DNS_NODATA" && !strings.Contains(lines[0], `"rcode":0,"rcode_name":"NODATA"`) {
			t.Errorf("%s: %s", tc.desc, lines[0])
		}
	}
}
