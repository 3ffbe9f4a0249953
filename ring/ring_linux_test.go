//go:build linux

package ring

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Iface: "eth0", Workers: 0, RingMB: 64}, "at least one worker"},
		{Config{Iface: "eth0", Workers: 4, RingMB: 8}, "need at least 4 MiB per worker"},
		{Config{Iface: "eth0", Workers: 2, RingMB: 0}, "at least 1"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}

// openTwo opens two rings in one fanout group on iface in namespace ns,
// closed when the test ends.
func openTwo(t *testing.T, iface, ns string) ([]*Ring, int) {
	t.Helper()
	rings, link, err := Open(Config{Iface: iface, NetNS: "/var/run/netns/" + ns, Workers: 2, RingMB: 8, BlockTimeoutMS: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, r := range rings {
			r.Close()
		}
	})
	return rings, link
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("AF_PACKET and network namespaces need root")
	}
}

// TestCaptureInNamespace opens two rings in one fanout group inside a
// fresh network namespace, sends UDP over its loopback, and sees every
// packet exactly once across the rings.
func TestCaptureInNamespace(t *testing.T) {
	needRoot(t)
	ns := "dltring-t1"
	exec.Command("ip", "netns", "add", ns).Run()
	defer exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	rings, link := openTwo(t, "lo", ns)
	if link != 1 {
		t.Errorf("loopback link type %d, want Ethernet", link)
	}
	const n = 50
	out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c",
		"for i in $(seq 50); do printf x > /dev/udp/127.0.0.1/9; done 2>/dev/null; echo done").CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	seen, udp := 0, 0
	count := func(p *Packet) {
		if len(p.Data) > 14 && p.TS > 0 && p.OrigLen >= len(p.Data) {
			seen++
		}
		// Ethernet (zeroed on lo), IPv4 without options, UDP to port 9.
		if d := p.Data; len(d) >= 38 && d[12] == 0x08 && d[13] == 0 && d[14+9] == 17 && d[14+22] == 0 && d[14+23] == 9 {
			udp++
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for udp < n && time.Now().Before(deadline) {
		for _, r := range rings {
			r.Poll(20, count)
		}
	}
	for _, r := range rings { // late duplicates, if any
		r.Poll(20, count)
	}
	// Each datagram once: Linux hands an AF_PACKET socket every packet
	// on lo twice, leaving and arriving, and the ring's filter drops the
	// first copy (plus the ICMP port unreachables, also once).
	if udp != n {
		t.Fatalf("saw %d datagrams to port 9 (%d packets), want %d", udp, seen, n)
	}
	var st Stats
	for _, r := range rings {
		s, err := r.Stats()
		if err != nil {
			t.Fatal(err)
		}
		st.Packets += s.Packets
		st.Drops += s.Drops
	}
	if st.Packets < n || st.Drops != 0 {
		t.Errorf("kernel stats %+v", st)
	}
}

// TestCaptureAny: Iface "any" sees every interface of the namespace:
// datagrams leaving over a veth (outgoing copies kept) and over lo (its
// outgoing copies dropped), each once, with their link type.
func TestCaptureAny(t *testing.T) {
	needRoot(t)
	a, b := "dltring-t3a", "dltring-t3b"
	for _, ns := range []string{a, b} {
		exec.Command("ip", "netns", "add", ns).Run()
		defer exec.Command("ip", "netns", "del", ns).Run()
		exec.Command("ip", "-n", ns, "link", "set", "lo", "up").Run()
	}
	for _, c := range [][]string{
		{"link", "add", "v0", "netns", a, "type", "veth", "peer", "name", "v1", "netns", b},
		{"-n", a, "addr", "add", "198.18.251.1/30", "dev", "v0"},
		{"-n", b, "addr", "add", "198.18.251.2/30", "dev", "v1"},
		{"-n", a, "link", "set", "v0", "up"},
		{"-n", b, "link", "set", "v1", "up"},
	} {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", c, err, out)
		}
	}
	rings, _ := openTwo(t, "any", a)
	const n = 20
	out, err := exec.Command("ip", "netns", "exec", a, "bash", "-c",
		"for i in $(seq 20); do printf x > /dev/udp/127.0.0.1/9; printf y > /dev/udp/198.18.251.2/9; done 2>/dev/null; echo done").CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	var lo, veth, other int
	count := func(p *Packet) {
		d := p.Data
		if p.Link != 1 || len(d) < 38 || d[12] != 0x08 || d[13] != 0 || d[14+9] != 17 || d[14+22] != 0 || d[14+23] != 9 {
			other++
			return
		}
		switch d[14+19] { // the destination's last byte
		case 1:
			lo++
		case 2:
			veth++
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for (lo < n || veth < n) && time.Now().Before(deadline) {
		for _, r := range rings {
			r.Poll(20, count)
		}
	}
	for _, r := range rings {
		r.Poll(20, count)
	}
	if lo != n || veth != n {
		t.Errorf("datagrams seen: %d over lo, %d over the veth; want %d each (%d other packets)", lo, veth, n, other)
	}
}

func TestErrors(t *testing.T) {
	needRoot(t)
	if _, _, err := Open(Config{Iface: "nonexistent0", Workers: 1, RingMB: 8}); err == nil || !strings.Contains(err.Error(), "unknown interface") {
		t.Errorf("unknown interface: %v", err)
	}
	if _, _, err := Open(Config{Iface: "lo", NetNS: "/var/run/netns/no-such-ns", Workers: 1, RingMB: 8}); err == nil || !strings.Contains(err.Error(), "network namespace") {
		t.Errorf("missing namespace: %v", err)
	}
}

// TestInterfaceGone: deleting the interface is reported by Poll.
func TestInterfaceGone(t *testing.T) {
	needRoot(t)
	ns := "dltring-t2"
	exec.Command("ip", "netns", "add", ns).Run()
	defer exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	exec.Command("ip", "-n", ns, "link", "set", "v0", "up").Run()
	rings, _, err := Open(Config{Iface: "v0", NetNS: "/var/run/netns/" + ns, Workers: 1, RingMB: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer rings[0].Close()
	exec.Command("ip", "-n", ns, "link", "del", "v0").Run()
	var got error
	for i := 0; i < 20 && got == nil; i++ {
		got = rings[0].Poll(50, func(*Packet) {})
	}
	if !errors.Is(got, ErrInterfaceGone) {
		t.Fatalf("Poll after the interface was deleted: %v", got)
	}
}
