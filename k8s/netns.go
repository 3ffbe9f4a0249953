// Package k8s connects dlltagent to Kubernetes: it finds a pod's network
// namespace on the node from the pod's UID, follows the pod across
// restarts and replacements through the API, and writes the manifest
// that runs the agent next to a pod (dlltagent manifest, monitorPod.sh).
package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoProcess means no process of the pod runs on this node (yet).
var ErrNoProcess = errors.New("k8s: no process of the pod found on this node")

// cgroupMarkers returns the substrings the kubelet puts in a pod's cgroup
// path: cgroupfs ".../pod<uid>/..." and systemd ".../kubepods-...-pod<uid
// with underscores>.slice/...", in cgroup v1 and v2 alike.
func cgroupMarkers(uid string) [][]byte {
	return [][]byte{
		[]byte("/pod" + uid + "/"),
		[]byte("/pod" + uid + "\n"),
		[]byte("-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"),
	}
}

// FindPodNetNS returns /proc/PID/ns/net for a process of the pod with
// the given UID, looking through procRoot (normally /proc; the agent runs
// with hostPID so it sees the node's processes).
func FindPodNetNS(procRoot, uid string) (string, int, error) {
	if uid == "" {
		return "", 0, fmt.Errorf("k8s: empty pod UID")
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return "", 0, fmt.Errorf("k8s: cannot list %s: %w", procRoot, err)
	}
	markers := cgroupMarkers(uid)
	self := os.Getpid()
	best := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		if !hasMarker(b, markers) {
			continue
		}
		// The lowest pid is the pod's oldest process (the sandbox's).
		if best == 0 || pid < best {
			best = pid
		}
	}
	if best == 0 {
		return "", 0, ErrNoProcess
	}
	return filepath.Join(procRoot, strconv.Itoa(best), "ns", "net"), best, nil
}

func hasMarker(cgroup []byte, markers [][]byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(cgroup))
	for sc.Scan() {
		line := append(sc.Bytes(), '\n')
		for _, m := range markers {
			if bytes.Contains(line, m) {
				return true
			}
		}
	}
	return false
}
