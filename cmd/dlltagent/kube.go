package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/dlltagent/dlltagent/internal/jsonw"
	"github.com/dlltagent/dlltagent/k8s"
	"github.com/dlltagent/dlltagent/pipeline"
)

// runManifest implements `dlltagent manifest POD [NAMESPACE] [IFACE]`.
func runManifest(args []string) int {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	out := fs.String("o", "dlltagent_search.yaml", "output `file` (- for standard output)")
	image := fs.String("image", k8s.DefaultImage, "agent container `image`")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `path` (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dlltagent manifest [flags] POD [NAMESPACE] [IFACE]   (defaults: namespace default, interface eth0)")
		fs.PrintDefaults()
	}
	// Flags may come before or after the positional arguments.
	var pos []string
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	if len(pos) < 1 || len(pos) > 3 {
		fs.Usage()
		return 2
	}
	pod, ns, iface := pos[0], "default", "eth0"
	if len(pos) > 1 {
		ns = pos[1]
	}
	if len(pos) > 2 {
		iface = pos[2]
	}
	cs, _, err := k8s.Client(*kubeconfig)
	if err != nil {
		return fatalf("manifest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := k8s.ManifestFor(ctx, cs, ns, pod, iface, *image)
	if err != nil {
		return fatalf("manifest: %v", err)
	}
	if *out == "-" {
		fmt.Print(m)
		return 0
	}
	if err := os.WriteFile(*out, []byte(m), 0o644); err != nil {
		return fatalf("manifest: %v", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: dlltagent for pod %s/%s, interface %s\nnext: kubectl apply -f %s && kubectl logs -f -n %s %s\n",
		*out, ns, pod, iface, *out, ns, k8s.AgentName(pod))
	return 0
}

// podResolver returns the live pipeline's Resolve hook for -pod: it finds
// the pod's network namespace on this node, follows the pod to its
// replacement, and keeps the k8s fields of every record up to date.
func podResolver(o *options, extra *atomic.Pointer[[]byte]) (func(context.Context) (pipeline.Target, error), error) {
	ns, name := k8s.SplitPod(o.pod)
	cs, _, err := k8s.Client(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	f := &k8s.Follower{CS: cs, NS: ns, Name: name, Node: os.Getenv("NODE_NAME"), ProcRoot: o.procRoot}
	if o.names {
		o.cfg.Names = k8s.WatchNames(context.Background(), cs, ns, logStderr)
	}
	setExtra := func(pod string) {
		b := []byte(`,"k8s.namespace":`)
		b = jsonw.String(b, ns)
		b = append(b, `,"k8s.pod":`...)
		b = jsonw.String(b, pod)
		extra.Store(&b)
	}
	var lastUID string
	return func(ctx context.Context) (pipeline.Target, error) {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t, err := f.Resolve(c)
		if err != nil {
			return pipeline.Target{}, err
		}
		setExtra(t.Pod)
		note, msg := "", ""
		switch {
		case t.Replaced != "":
			note = "POD_REPLACED"
			msg = fmt.Sprintf("pod %s/%s was replaced by %s (same owner, same node): capturing its %s now", ns, t.Replaced, t.Pod, o.iface)
		case lastUID != "" && lastUID != string(t.UID):
			note = "POD_REPLACED"
			msg = fmt.Sprintf("pod %s/%s was recreated (new uid %s): capturing its %s now", ns, t.Pod, t.UID, o.iface)
		case lastUID != "":
			note = "POD_SANDBOX_RESTARTED"
			msg = fmt.Sprintf("pod %s/%s has a new network namespace (sandbox restarted): capturing its %s now", ns, t.Pod, o.iface)
		}
		lastUID = string(t.UID)
		// The pod is alive while the process found lives in the same
		// network namespace.
		want, err := os.Stat(t.NetNS)
		if err != nil {
			return pipeline.Target{}, err
		}
		alive := func() bool {
			cur, err := os.Stat(t.NetNS)
			return err == nil && os.SameFile(cur, want)
		}
		return pipeline.Target{NetNS: t.NetNS, Note: note, Msg: msg, Alive: alive}, nil
	}, nil
}

// logStderr prints one line of the agent's log.
func logStderr(f string, a ...any) { fmt.Fprintf(os.Stderr, "dlltagent: "+f+"\n", a...) }
