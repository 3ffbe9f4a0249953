package k8s

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Follower tracks one pod on this node across restarts: the same pod's
// new sandbox, or its replacement from the same owner on the same node.
type Follower struct {
	CS       kubernetes.Interface
	NS, Name string
	Node     string // this node's name ("" = the pod's node)
	ProcRoot string // normally /proc

	uid   types.UID
	owner types.UID
}

// Target is what Resolve found.
type Target struct {
	NetNS    string
	PID      int
	Pod      string // current pod name
	UID      types.UID
	Replaced string // the previous pod's name when this one replaced it
}

// Resolve finds the pod (or its replacement) and a process of it on this
// node, and returns the path of its network namespace.
func (f *Follower) Resolve(ctx context.Context) (Target, error) {
	var t Target
	pod, err := f.CS.CoreV1().Pods(f.NS).Get(ctx, f.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && pod.DeletionTimestamp != nil):
		rep, rerr := f.replacement(ctx)
		if rerr != nil {
			return t, rerr
		}
		t.Replaced = f.Name
		f.Name = rep.Name
		pod = rep
	case err != nil:
		return t, fmt.Errorf("k8s: cannot get pod %s/%s: %w", f.NS, f.Name, err)
	}
	if pod.Spec.NodeName == "" {
		return t, fmt.Errorf("k8s: pod %s/%s is %w", f.NS, f.Name, ErrNotScheduled)
	}
	if f.Node == "" {
		f.Node = pod.Spec.NodeName
	} else if pod.Spec.NodeName != f.Node {
		return t, fmt.Errorf("k8s: pod %s/%s runs on node %s, this agent on %s: run the agent there (dlltagent manifest)", f.NS, f.Name, pod.Spec.NodeName, f.Node)
	}
	f.uid = pod.UID
	if c := metav1.GetControllerOf(pod); c != nil {
		f.owner = c.UID
	}
	ns, pid, err := FindPodNetNS(f.ProcRoot, string(pod.UID))
	if err != nil {
		return t, fmt.Errorf("k8s: pod %s/%s (uid %s): %w", f.NS, f.Name, pod.UID, err)
	}
	return Target{NetNS: ns, PID: pid, Pod: f.Name, UID: pod.UID, Replaced: t.Replaced}, nil
}

// ErrNoReplacement means the pod is gone and nothing replaced it (yet).
var ErrNoReplacement = errors.New("no replacement from the same owner on this node (yet)")

func (f *Follower) replacement(ctx context.Context) (*corev1.Pod, error) {
	if f.owner == "" || f.Node == "" {
		return nil, fmt.Errorf("k8s: pod %s/%s is gone and has no owner to follow: %w", f.NS, f.Name, ErrNoReplacement)
	}
	list, err := f.CS.CoreV1().Pods(f.NS).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", f.Node).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("k8s: cannot list pods on node %s: %w", f.Node, err)
	}
	var cands []corev1.Pod
	for _, p := range list.Items {
		if c := metav1.GetControllerOf(&p); c != nil && c.UID == f.owner && p.DeletionTimestamp == nil && p.UID != f.uid {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("k8s: pod %s/%s is gone: %w", f.NS, f.Name, ErrNoReplacement)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].CreationTimestamp.After(cands[j].CreationTimestamp.Time) })
	return &cands[0], nil
}
