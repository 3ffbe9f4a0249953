package k8s

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/dlltagent/dlltagent/internal/jsonw"
)

// Names maps the cluster's addresses to what holds them: a pod, a Service
// (its cluster IPs, external IPs and load balancer addresses) or a node.
// A watch of the API keeps it current; records name their two ends from
// it, so "10.96.41.7:5432 refused" reads as the Service it is.
//
// An address whose pod or Service went away keeps its name for
// nameGrace: a connection refused by a pod that just died is when the
// name matters most.
type Names struct {
	snap atomic.Pointer[map[netip.Addr][]byte] // address → JSON object
	kick chan struct{}
	gone map[netip.Addr]time.Time // names kept after their object went
	logf func(string, ...any)
}

const (
	nameGrace    = 5 * time.Minute
	nameDebounce = 500 * time.Millisecond
)

// Lookup returns the JSON object naming a ({"kind":"service",
// "namespace":…,"name":…}), or nil. Safe from any goroutine; it takes
// no lock and allocates nothing.
func (n *Names) Lookup(a netip.Addr) []byte {
	m := n.snap.Load()
	if m == nil {
		return nil
	}
	return (*m)[a.Unmap()]
}

// WatchNames starts watching pods, Services and nodes, cluster-wide where
// the agent may list them, else pods and Services in namespace ns (the
// per-pod manifest's Role), until ctx ends. Names arrive as the watches
// sync; logf says once what is named and what is not allowed.
func WatchNames(ctx context.Context, cs kubernetes.Interface, ns string, logf func(string, ...any)) *Names {
	n := &Names{kick: make(chan struct{}, 1), gone: map[netip.Addr]time.Time{}, logf: logf}
	go n.run(ctx, cs, ns)
	return n
}

// scope finds where list is allowed: every namespace, else ns alone. It
// returns ok false, after saying why, when neither is.
func (n *Names) scope(ctx context.Context, what, ns string, list func(context.Context, string) error) (string, bool) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := list(c, metav1.NamespaceAll)
	if err == nil {
		return metav1.NamespaceAll, true
	}
	if apierrors.IsForbidden(err) && ns != "" && what != "nodes" {
		if err2 := list(c, ns); err2 == nil {
			return ns, true
		}
	}
	var why string
	switch {
	case apierrors.IsForbidden(err):
		why = "not allowed to list them (give the agent's role list and watch on " + what + ")"
	case errors.Is(err, context.DeadlineExceeded):
		why = "the API server did not answer in 10 s"
	default:
		why = err.Error()
	}
	n.logf("names: %s are not named: %s", what, why)
	return "", false
}

func (n *Names) run(ctx context.Context, cs kubernetes.Interface, ns string) {
	one := metav1.ListOptions{Limit: 1}
	podNS, podsOK := n.scope(ctx, "pods", ns, func(c context.Context, ns string) error {
		_, err := cs.CoreV1().Pods(ns).List(c, one)
		return err
	})
	svcNS, svcsOK := n.scope(ctx, "services", ns, func(c context.Context, ns string) error {
		_, err := cs.CoreV1().Services(ns).List(c, one)
		return err
	})
	_, nodesOK := n.scope(ctx, "nodes", "", func(c context.Context, _ string) error {
		_, err := cs.CoreV1().Nodes().List(c, one)
		return err
	})
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { n.poke() },
		UpdateFunc: func(any, any) { n.poke() },
		DeleteFunc: func(any) { n.poke() },
	}
	var pods, svcs, nodes cache.SharedIndexInformer
	var synced []cache.InformerSynced
	start := func(inf cache.SharedIndexInformer) cache.SharedIndexInformer {
		inf.AddEventHandler(kick)
		go inf.Run(ctx.Done())
		synced = append(synced, inf.HasSynced)
		return inf
	}
	if podsOK {
		inf := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(podNS)).Core().V1().Pods().Informer()
		// Keep only what names an address: a large cluster's pods
		// would otherwise be held whole.
		inf.SetTransform(slimPod)
		pods = start(inf)
	}
	if svcsOK {
		inf := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(svcNS)).Core().V1().Services().Informer()
		inf.SetTransform(slimService)
		svcs = start(inf)
	}
	if nodesOK {
		inf := informers.NewSharedInformerFactory(cs, 0).Core().V1().Nodes().Informer()
		inf.SetTransform(slimNode)
		nodes = start(inf)
	}
	if len(synced) == 0 {
		return
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	np, ns2, nn := n.rebuild(pods, svcs, nodes)
	where := func(scope string) string {
		if scope == metav1.NamespaceAll {
			return "all namespaces"
		}
		return "namespace " + scope
	}
	var parts []string
	if podsOK {
		parts = append(parts, itoa(np)+" pod addresses ("+where(podNS)+")")
	}
	if svcsOK {
		parts = append(parts, itoa(ns2)+" Service addresses ("+where(svcNS)+")")
	}
	if nodesOK {
		parts = append(parts, itoa(nn)+" node addresses")
	}
	msg := "names: records name their ends from " + strings.Join(parts, ", ")
	n.logf("%s", msg)
	t := time.NewTicker(time.Minute) // expires the names kept for gone objects
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
			// Gather a burst of changes (a rollout) into one rebuild.
			select {
			case <-ctx.Done():
				return
			case <-time.After(nameDebounce):
			}
		case <-t.C:
			if len(n.gone) == 0 {
				continue
			}
		}
		n.rebuild(pods, svcs, nodes)
	}
}

func (n *Names) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func itoa(v int) string { return string(jsonw.Uint(nil, uint64(v))) }

// rebuild makes a new snapshot from the informers' stores and returns how
// many pod, Service and node addresses it holds.
func (n *Names) rebuild(pods, svcs, nodes cache.SharedIndexInformer) (np, ns, nn int) {
	m := map[netip.Addr][]byte{}
	put := func(s string, obj []byte) int {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return 0
		}
		m[a.Unmap()] = obj
		return 1
	}
	if nodes != nil {
		for _, o := range nodes.GetStore().List() {
			nd, ok := o.(*corev1.Node)
			if !ok {
				continue
			}
			obj := nameObject("node", "", nd.Name)
			for _, a := range nd.Status.Addresses {
				if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
					nn += put(a.Address, obj)
				}
			}
		}
	}
	if svcs != nil {
		for _, o := range svcs.GetStore().List() {
			s, ok := o.(*corev1.Service)
			if !ok {
				continue
			}
			obj := nameObject("service", s.Namespace, s.Name)
			for _, ip := range s.Spec.ClusterIPs {
				ns += put(ip, obj)
			}
			for _, ip := range s.Spec.ExternalIPs {
				ns += put(ip, obj)
			}
			for _, in := range s.Status.LoadBalancer.Ingress {
				ns += put(in.IP, obj)
			}
		}
	}
	if pods != nil {
		// An address a finished or terminating pod held may be another
		// pod's now: those first, so that a live pod's name wins. A
		// host-network pod's address is its node's.
		list := pods.GetStore().List()
		for pass := 0; pass < 2; pass++ {
			for _, o := range list {
				p, ok := o.(*corev1.Pod)
				if !ok || p.Spec.HostNetwork {
					continue
				}
				done := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil
				if done != (pass == 0) {
					continue
				}
				obj := nameObject("pod", p.Namespace, p.Name)
				for _, ip := range p.Status.PodIPs {
					np += put(ip.IP, obj)
				}
				if len(p.Status.PodIPs) == 0 && p.Status.PodIP != "" {
					np += put(p.Status.PodIP, obj)
				}
			}
		}
	}
	now := time.Now()
	if prev := n.snap.Load(); prev != nil {
		for a, obj := range *prev {
			if _, ok := m[a]; ok {
				delete(n.gone, a) // held by an object again
				continue
			}
			at, kept := n.gone[a]
			if !kept {
				n.gone[a], at = now, now
			}
			if now.Sub(at) < nameGrace {
				m[a] = obj
			} else {
				delete(n.gone, a)
			}
		}
	}
	n.snap.Store(&m)
	return np, ns, nn
}

// nameObject is the JSON object records carry for one address.
func nameObject(kind, ns, name string) []byte {
	b := append([]byte(nil), `{"kind":"`...)
	b = append(b, kind...)
	b = append(b, '"')
	if ns != "" {
		b = append(b, `,"namespace":`...)
		b = jsonw.String(b, ns)
	}
	b = append(b, `,"name":`...)
	b = jsonw.String(b, name)
	return append(b, '}')
}

func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion, DeletionTimestamp: p.DeletionTimestamp},
		Spec:       corev1.PodSpec{HostNetwork: p.Spec.HostNetwork},
		Status:     corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}

func slimService(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion},
		Spec:       corev1.ServiceSpec{ClusterIPs: s.Spec.ClusterIPs, ExternalIPs: s.Spec.ExternalIPs},
		Status:     corev1.ServiceStatus{LoadBalancer: s.Status.LoadBalancer},
	}, nil
}

func slimNode(obj any) (any, error) {
	nd, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nd.Name, UID: nd.UID, ResourceVersion: nd.ResourceVersion},
		Status:     corev1.NodeStatus{Addresses: nd.Status.Addresses},
	}, nil
}
