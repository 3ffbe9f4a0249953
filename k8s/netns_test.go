package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeKubelet puts a real process into a real network namespace and a
// cgroup named the way the kubelet names a pod's: cgroupfs
// (kubepods/besteffort/pod<uid>, cgroup v1 pids) or systemd
// (kubepods.slice/.../kubepods-besteffort-pod<uid_>.slice, cgroup v2).
type fakePod struct {
	netns  string
	cmd    *exec.Cmd
	cgroup string
}

func startFakePod(t *testing.T, netns, uid string, systemd bool) *fakePod {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and cgroups")
	}
	var cg string
	if systemd {
		base := "/sys/fs/cgroup/unified"
		if _, err := os.Stat(base + "/cgroup.procs"); err != nil {
			base = "/sys/fs/cgroup" // a pure cgroup v2 host
		}
		cg = filepath.Join(base, "kubepods.slice", "kubepods-besteffort.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
	} else {
		base := "/sys/fs/cgroup/pids"
		if _, err := os.Stat(base); err != nil {
			base = "/sys/fs/cgroup"
		}
		cg = filepath.Join(base, "kubepods", "besteffort", "pod"+uid)
	}
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Skipf("cannot create cgroup %s: %v", cg, err)
	}
	cmd := exec.Command("ip", "netns", "exec", netns, "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs sleep in place: the pid is the sleeper's.
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		cmd.Process.Kill()
		t.Skipf("cannot move a process into %s: %v", cg, err)
	}
	fp := &fakePod{netns: netns, cmd: cmd, cgroup: cg}
	t.Cleanup(fp.stop)
	return fp
}

func (f *fakePod) stop() {
	if f.cmd.Process != nil {
		f.cmd.Process.Kill()
		f.cmd.Wait()
	}
	for d := f.cgroup; strings.Contains(d, "kubepods"); d = filepath.Dir(d) {
		os.Remove(d)
	}
}

func TestFindPodNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and cgroups")
	}
	exec.Command("ip", "netns", "add", "dltk8s-ns1").Run()
	defer exec.Command("ip", "netns", "del", "dltk8s-ns1").Run()
	for _, systemd := range []bool{false, true} {
		uid := "0f5e7a3c-1111-4a2b-9c3d-00000000000" + map[bool]string{false: "1", true: "2"}[systemd]
		fp := startFakePod(t, "dltk8s-ns1", uid, systemd)
		path, pid, err := FindPodNetNS("/proc", uid)
		if err != nil {
			t.Fatalf("systemd=%v: %v", systemd, err)
		}
		if pid != fp.cmd.Process.Pid {
			t.Errorf("found pid %d, want %d", pid, fp.cmd.Process.Pid)
		}
		want, _ := os.Readlink("/var/run/netns/dltk8s-ns1")
		got, _ := os.Readlink(path)
		a, _ := os.Stat(path)
		b, _ := os.Stat("/var/run/netns/dltk8s-ns1")
		if !os.SameFile(a, b) {
			t.Errorf("systemd=%v: %s (%s) is not the pod's namespace (%s)", systemd, path, got, want)
		}
		fp.stop()
	}
	if _, _, err := FindPodNetNS("/proc", "00000000-dead-beef-0000-000000000000"); err == nil {
		t.Error("found a process for a pod that does not exist")
	}
}
