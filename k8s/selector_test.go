package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/internal/proctest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSelector runs the agent in DaemonSet mode against a real API
// server: two pods of this node match the selector, each with its own
// network namespace; one does not match. Both matching pods are captured
// and every record names its pod.
func TestSelector(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, cgroups, AF_PACKET")
	}
	c := needCluster(t)
	ns := "sel"
	ensureNS(t, c, ns)
	lab := startLab(t, "dltk8s", "dltk8s-pod2", "dltk8s-pod3")
	// Two more "pods" on the same server host.
	for i, name := range []string{"dltk8s-pod2", "dltk8s-pod3"} {
		peer := "eth" + string(rune('1'+i))
		run(t, "ip", "netns", "add", name)
		run(t, "ip", "link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", peer, "netns", "dltk8s-srv")
		subnet := "198.18." + string(rune('2'+i)) + "."
		run(t, "ip", "-n", name, "addr", "add", subnet+"2/24", "dev", "eth0")
		run(t, "ip", "-n", "dltk8s-srv", "addr", "add", subnet+"1/24", "dev", peer)
		run(t, "ip", "-n", name, "link", "set", "eth0", "up")
		run(t, "ip", "-n", "dltk8s-srv", "link", "set", peer, "up")
	}
	a := makePod(t, c, ns, "bird-front-a", testNode, "")
	b := makePod(t, c, ns, "bird-front-b", testNode, "")
	other := makePod(t, c, ns, "other", testNode, "")
	// "other" must not match: relabel it.
	other.Labels = map[string]string{"app": "other"}
	if _, err := c.cs.CoreV1().Pods(ns).Update(t.Context(), other, metav1UpdateOptions()); err != nil {
		t.Fatal(err)
	}
	startFakePod(t, "dltk8s-pod", string(a.UID), false)
	startFakePod(t, "dltk8s-pod2", string(b.UID), true)
	startFakePod(t, "dltk8s-pod3", string(other.UID), false)

	setPodIP(t, c, a, "198.18.0.2") // the lab's pod address: records name it
	agent, errPath := startK8sAgent(t, c, lab, "-selector", "app=bird-front", "-namespace", ns)
	out := filepath.Join(lab, "out")
	for i := 0; i < 100 && strings.Count(readFile(errPath), "capturing on") < 2; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(readFile(errPath), "capturing on"); n != 2 {
		t.Fatalf("%d captures started, want 2:\n%s", n, readFile(errPath))
	}
	waitText(t, errPath, "records name their ends", 10*time.Second)
	exec.Command("ip", "netns", "exec", "dltk8s-pod", "curl", "-s", "--max-time", "3", "http://198.18.0.1:81/").Run()
	exec.Command("ip", "netns", "exec", "dltk8s-pod2", "curl", "-s", "--max-time", "3", "http://198.18.2.1:81/").Run()
	exec.Command("ip", "netns", "exec", "dltk8s-pod3", "curl", "-s", "--max-time", "3", "http://198.18.3.1:81/").Run()
	events := filepath.Join(out, "netevents.jsonl")
	waitText(t, events, `"k8s.pod":"bird-front-a"`, 15*time.Second)
	waitText(t, events, `"k8s.pod":"bird-front-b"`, 15*time.Second)
	waitText(t, events, `"k8s.orig":{"kind":"pod","namespace":"`+ns+`","name":"bird-front-a"}`, 5*time.Second)
	if _, err := proctest.Terminate(agent, 5*time.Second); err != nil {
		t.Fatalf("agent: %v", err)
	}
	if strings.Contains(readFile(events), `"k8s.pod":"other"`) || strings.Contains(readFile(filepath.Join(out, "end_flows.jsonl")), "198.18.3.2") {
		t.Error("a pod that does not match the selector was captured")
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func metav1UpdateOptions() metav1.UpdateOptions { return metav1.UpdateOptions{} }
