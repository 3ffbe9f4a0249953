package k8s

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/internal/proctest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v %s", args, err, out)
	}
}

// startLab builds the test network (scripts/lab.sh) named name; extra
// namespaces are deleted at cleanup too. It returns the state directory.
func startLab(t *testing.T, name string, extra ...string) string {
	t.Helper()
	lab := t.TempDir()
	labBin := filepath.Join(lab, "dlltlab")
	run(t, "go", "build", "-o", labBin, "../cmd/dlltlab")
	t.Cleanup(func() {
		exec.Command("../scripts/lab.sh", "down", name, lab).Run()
		for _, ns := range extra {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	run(t, "../scripts/lab.sh", "up", name, lab, labBin)
	return lab
}

// startK8sAgent runs the agent as this node's (NODE_NAME=node-a) with
// args, output in dir/out; it returns the command and its stderr path.
func startK8sAgent(t *testing.T, c *cluster, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	bin := agentBinary(t)
	args = append(args, "-kubeconfig", c.kubeconfig, "-i", "eth0", "-o", filepath.Join(dir, "out"),
		"-quiet", "-debug-addr", "", "-stats-interval", "1s")
	agent := exec.Command(bin, args...)
	agent.Env = append(os.Environ(), "NODE_NAME="+testNode)
	errf, _ := os.Create(filepath.Join(dir, "agent.err"))
	agent.Stderr = errf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	return agent, errf.Name()
}

func waitText(t *testing.T, path, text string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), text) {
			return
		}
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never showed %q:\n%s", path, text, b)
}

// TestFollowPod runs the agent with -pod against a real API server and a
// "pod" made of a network namespace and a process in a kubelet-named
// cgroup; the pod is then deleted and replaced by its owner on the same
// node, with a new network namespace, and the agent follows it.
func TestFollowPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, cgroups, AF_PACKET")
	}
	c := needCluster(t)
	ns := "follow"
	ensureNS(t, c, ns)
	const owner = "7d2c1b0a-2222-4c3d-8e4f-00000000b001"
	pod1 := makePod(t, c, ns, "bird-front-569df4d45f-r7csn", testNode, owner)

	// What the pod talks to: a pod of another namespace (the lab's
	// server host) and a Service's cluster IP (an address of the server
	// host, standing in for kube-proxy's translation further on).
	setPodIP(t, c, pod1, "198.18.0.2")
	ensureNS(t, c, "follow-data")
	setPodIP(t, c, makePod(t, c, "follow-data", "db-0", testNode, ""), "198.18.0.1")
	makeService(t, c, "follow-data", "postgres", "198.18.128.10")

	lab := startLab(t, "dltk8f", "dltk8f-pod2")
	run(t, "ip", "-n", "dltk8f-srv", "addr", "add", "198.18.128.10/32", "dev", "eth0")
	run(t, "ip", "-n", "dltk8f-pod", "route", "add", "198.18.128.0/24", "dev", "eth0")
	fp1 := startFakePod(t, "dltk8f-pod", string(pod1.UID), false)
	agent, errPath := startK8sAgent(t, c, lab, "-pod", ns+"/"+pod1.Name, "-workers", "1")
	out := filepath.Join(lab, "out")
	waitText(t, errPath, "capturing on", 10*time.Second)
	waitText(t, errPath, "records name their ends", 10*time.Second)
	events := filepath.Join(out, "netevents.jsonl")

	exec.Command("ip", "netns", "exec", "dltk8f-pod", "curl", "-s", "http://198.18.0.1:81/").Run()
	exec.Command("ip", "netns", "exec", "dltk8f-pod", "curl", "-s", "http://198.18.128.10:81/").Run()
	exec.Command("ip", "netns", "exec", "dltk8f-pod", "curl", "-s", "http://198.18.128.10:5432/").Run()
	waitText(t, events, `"k8s.pod":"`+pod1.Name+`"`, 15*time.Second)
	waitText(t, events, `"k8s.resp":{"kind":"service","namespace":"follow-data","name":"postgres"}`, 15*time.Second)
	for _, want := range []string{
		`"k8s.orig":{"kind":"pod","namespace":"follow","name":"` + pod1.Name + `"}`,
		`"k8s.resp":{"kind":"pod","namespace":"follow-data","name":"db-0"}`,
		// The Service has port 5432 only; nothing listens on 5432 there.
		"198.18.128.10 is Service follow-data/postgres, which has no TCP port 81 (its ports: 5432)",
		"198.18.128.10 is Service follow-data/postgres, which sends port 5432 to the same port of its pods, where nothing listens",
	} {
		waitText(t, events, want, 5*time.Second)
	}
	// The pod asks for "postgres" as a pod's resolver does (its
	// namespace's search list, ndots:5): the Service is in another
	// namespace, and the last step's failure says so.
	exec.Command("ip", "netns", "exec", "dltk8f-pod", "env", "LOCALDOMAIN=follow.svc.cluster.local svc.cluster.local cluster.local",
		"RES_OPTIONS=ndots:5 timeout:1 attempts:3", "timeout", "15", "getent", "ahostsv4", "postgres").Run()
	waitText(t, events, "the Kubernetes API has no Service postgres in namespace follow, the client pod's; there is one in namespace follow-data (postgres.follow-data)", 10*time.Second)
	// db-0 starts to stop (no kubelet here finishes it): the server that
	// resets every connection on :7000 now reads as that pod stopping.
	if err := c.cs.CoreV1().Pods("follow-data").Delete(context.Background(), "db-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the watch, then its debounce
	exec.Command("ip", "netns", "exec", "dltk8f-pod", "curl", "-s", "-m", "3", "http://198.18.0.1:7000/").Run()
	waitText(t, events, "198.18.0.1 is pod follow-data/db-0, which is terminating", 10*time.Second)
	sum, err := exec.Command(agent.Path, "summary", out).CombinedOutput()
	if err != nil || !strings.Contains(string(sum), "198.18.128.10 is Service follow-data/postgres") || !strings.Contains(string(sum), "198.18.0.1 is pod follow-data/db-0") {
		t.Errorf("summary does not name the ends (%v):\n%s", err, sum)
	}

	// The pod is killed: its object goes, its process and network
	// namespace with it (and the veth). Its owner starts a replacement on
	// the same node, with a new namespace.
	if err := c.cs.CoreV1().Pods(ns).Delete(context.Background(), pod1.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	fp1.stop()
	run(t, "ip", "netns", "del", "dltk8f-pod")
	waitText(t, events, "CAPTURE_DETACHED", 10*time.Second)
	// The kernel dismantles a deleted namespace in the background: the
	// veth's other end leaves the server's namespace when that is done,
	// seconds later on a busy machine. The new pod's veth needs its name.
	for i := 0; i < 100 && exec.Command("ip", "-n", "dltk8f-srv", "link", "show", "eth0").Run() == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	exec.Command("ip", "-n", "dltk8f-srv", "link", "del", "eth0").Run()

	pod2 := makePod(t, c, ns, "bird-front-569df4d45f-x9k2p", testNode, owner)
	run(t, "ip", "netns", "add", "dltk8f-pod2")
	run(t, "ip", "link", "add", "eth0", "netns", "dltk8f-pod2", "type", "veth", "peer", "name", "eth0", "netns", "dltk8f-srv")
	run(t, "ip", "-n", "dltk8f-pod2", "addr", "add", "198.18.0.2/24", "dev", "eth0")
	run(t, "ip", "-n", "dltk8f-srv", "addr", "add", "198.18.0.1/24", "dev", "eth0")
	run(t, "ip", "-n", "dltk8f-pod2", "link", "set", "eth0", "up")
	run(t, "ip", "-n", "dltk8f-srv", "link", "set", "eth0", "up")
	startFakePod(t, "dltk8f-pod2", string(pod2.UID), true)
	waitText(t, events, "POD_REPLACED", 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	exec.Command("ip", "netns", "exec", "dltk8f-pod2", "curl", "-s", "http://198.18.0.1:81/").Run()
	waitText(t, events, `"k8s.pod":"`+pod2.Name+`"`, 15*time.Second)

	if _, err := proctest.Terminate(agent, 5*time.Second); err != nil {
		t.Fatalf("agent: %v", err)
	}
	flows, _ := os.ReadFile(filepath.Join(out, "end_flows.jsonl"))
	if !strings.Contains(string(flows), `"k8s.namespace":"follow"`) {
		t.Errorf("end_flows records lack k8s fields:\n%s", flows)
	}
}
