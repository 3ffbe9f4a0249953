package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/dlltagent/dlltagent/internal/jsonw"
	"github.com/dlltagent/dlltagent/k8s"
	"github.com/dlltagent/dlltagent/pipeline"
	"github.com/dlltagent/dlltagent/ring"
	"github.com/dlltagent/dlltagent/sink"
)

// runSelector is DaemonSet mode: capture every pod on this node that
// matches -selector, one capture per pod network namespace, all into one
// output directory; every record carries k8s.namespace and k8s.pod.
func runSelector(ctx context.Context, o *options, s *sink.Sink) error {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return fmt.Errorf("-selector needs NODE_NAME (the DaemonSet sets it from spec.nodeName)")
	}
	cs, _, err := k8s.Client(o.kubeconfig)
	if err != nil {
		return err
	}
	type capture struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	active := map[string]*capture{}
	var wg sync.WaitGroup
	logf := logStderr
	if o.names {
		o.cfg.Names = k8s.WatchNames(ctx, cs, o.namespace, logf)
	}
	scan := func() {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		list, err := cs.CoreV1().Pods(o.namespace).List(c, metav1.ListOptions{
			LabelSelector: o.selector,
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		})
		if err != nil {
			logf("selector: cannot list pods: %v", err)
			return
		}
		seen := map[string]bool{}
		for i := range list.Items {
			p := &list.Items[i]
			if p.DeletionTimestamp != nil || p.Spec.HostNetwork {
				continue
			}
			uid := string(p.UID)
			netns, _, err := k8s.FindPodNetNS(o.procRoot, uid)
			if err != nil {
				continue // not running yet
			}
			seen[uid] = true
			if active[uid] != nil {
				continue
			}
			extra := new(atomic.Pointer[[]byte])
			b := []byte(`,"k8s.namespace":`)
			b = jsonw.String(b, p.Namespace)
			b = append(b, `,"k8s.pod":`...)
			b = jsonw.String(b, p.Name)
			extra.Store(&b)
			cfg := o.cfg
			cfg.Extra = extra
			cctx, ccancel := context.WithCancel(ctx)
			cp := &capture{cancel: ccancel, done: make(chan struct{})}
			active[uid] = cp
			name := p.Namespace + "/" + p.Name
			lo := pipeline.LiveOptions{
				Ring:   ring.Config{Iface: o.iface, NetNS: netns, Workers: 1, RingMB: max(4, o.ringMB/4)},
				Config: cfg, StatsInterval: o.statsInterval,
				Logf: func(f string, a ...any) { logf("%s: "+f, append([]any{name}, a...)...) },
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(cp.done)
				if err := pipeline.RunLive(cctx, lo, s); err != nil {
					logf("%s: %v", name, err)
				}
			}()
		}
		for uid, cp := range active {
			if !seen[uid] {
				cp.cancel() // the pod is gone: flush its flows
				delete(active, uid)
			}
		}
	}
	scan()
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, cp := range active {
				cp.cancel()
			}
			wg.Wait()
			return nil
		case <-t.C:
			scan()
		}
	}
}
