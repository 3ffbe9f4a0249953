package k8s

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/dlltagent/dlltagent/detectors"
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
	snap     atomic.Pointer[snapshot]
	kick     chan struct{}
	kept     int // names in the snapshot kept after their object went
	logf     func(string, ...any)
	svcScope string // the namespace Services are listed in ("": all)
	svcsOK   bool   // Services are listed at all
	epScope  string // the same for EndpointSlices
	epsOK    bool
	eps      cache.SharedIndexInformer
	retry    time.Duration // nameRetry when started
}

// snapshot is what the workers read: rebuilt whole on every change,
// never written after it is stored.
type snapshot struct {
	addr     map[netip.Addr]named
	svc      map[string][]svcRef // Service name → where one is
	nss      map[string]bool     // namespaces with a Service or a pod
	ready    map[string]int      // "ns/name" → the Service's ready endpoints
	readyOn  map[string]int      // "ns/name/node" → those on a node
	nodePort map[uint16]nodePort // TCP NodePorts of NodePort and LoadBalancer Services
	svcScope string
	svcsOK   bool
	epScope  string
	epsOK    bool
}

// readyPods returns how many ready endpoints the Service ns/name has, and
// whether that is known (its namespace's EndpointSlices are listed).
func (s *snapshot) readyPods(ns, name string) (int, bool) {
	if !s.epsOK || s.epScope != "" && s.epScope != ns {
		return 0, false
	}
	return s.ready[ns+"/"+name], true
}

// nodePort is the Service a NodePort belongs to, and what it does there.
type nodePort struct {
	svc   *service
	port  servicePort // the Service's port it stands for
	local bool        // externalTrafficPolicy Local
}

// named is what an address is.
type named struct {
	obj         []byte // the JSON object records carry
	ns          string // a pod's namespace
	name        string // a pod's name (a node's too)
	pod         bool
	node        bool
	terminating bool     // a pod being deleted, still holding its address
	gone        int64    // a deleted object's name kept: when it went (Unix ns)
	svc         *service // a Service's cluster IP: the Service
}

// service is what a Service's cluster IP answers for.
type service struct {
	ns, name string
	ports    []servicePort // TCP
}

type servicePort struct {
	port   uint16
	target string // targetPort: a number or the pods' port name
}

// svcRef is one Service of a given name.
type svcRef struct {
	ns       string
	headless bool
	external string // an ExternalName Service's target
}

const (
	nameGrace    = 5 * time.Minute
	nameDebounce = 500 * time.Millisecond
)

// nameRetry is how often the rights are checked again while some objects
// cannot be listed everywhere: a Role or ClusterRole granted after the
// agent started takes effect without a restart.
var nameRetry = 5 * time.Minute

// Lookup returns the JSON object naming a ({"kind":"service",
// "namespace":…,"name":…}), or nil. Safe from any goroutine; it takes
// no lock and allocates nothing.
func (n *Names) Lookup(a netip.Addr) []byte {
	m := n.snap.Load()
	if m == nil {
		return nil
	}
	return m.addr[a.Unmap()].obj
}

// WatchNames starts watching pods, Services and nodes, cluster-wide where
// the agent may list them, else pods and Services in namespace ns (the
// per-pod manifest's Role), until ctx ends. Names arrive as the watches
// sync; logf says once what is named and what is not allowed.
func WatchNames(ctx context.Context, cs kubernetes.Interface, ns string, logf func(string, ...any)) *Names {
	n := &Names{kick: make(chan struct{}, 1), logf: logf, retry: nameRetry}
	go n.run(ctx, cs, ns)
	return n
}

// scope finds where list is allowed: every namespace, else ns alone. It
// returns ok false, after saying why (unless quiet), when neither is.
func (n *Names) scope(ctx context.Context, what, ns string, quiet bool, list func(context.Context, string) error) (string, bool) {
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
	if !quiet {
		n.logf("names: %s are not named: %s", what, why)
	}
	return "", false
}

// rights is where the agent may list each kind of object (see scope).
type rights struct {
	podNS, svcNS, epNS             string
	podsOK, svcsOK, epsOK, nodesOK bool
}

// all reports whether every kind may be listed in every namespace.
func (r rights) all() bool {
	return r.podsOK && r.svcsOK && r.epsOK && r.nodesOK &&
		r.podNS == metav1.NamespaceAll && r.svcNS == metav1.NamespaceAll && r.epNS == metav1.NamespaceAll
}

// wider reports whether r allows more than o: a kind o could not list, or
// every namespace where o had one.
func (r rights) wider(o rights) bool {
	more := func(ok bool, ns string, ook bool, ons string) bool {
		return ok && (!ook || (ns == metav1.NamespaceAll && ons != metav1.NamespaceAll))
	}
	return more(r.podsOK, r.podNS, o.podsOK, o.podNS) || more(r.svcsOK, r.svcNS, o.svcsOK, o.svcNS) ||
		more(r.epsOK, r.epNS, o.epsOK, o.epNS) || (r.nodesOK && !o.nodesOK)
}

// rights asks the API server where the agent may list each kind of object.
func (n *Names) rights(ctx context.Context, cs kubernetes.Interface, ns string, quiet bool) rights {
	one := metav1.ListOptions{Limit: 1}
	var r rights
	r.podNS, r.podsOK = n.scope(ctx, "pods", ns, quiet, func(c context.Context, ns string) error {
		_, err := cs.CoreV1().Pods(ns).List(c, one)
		return err
	})
	r.svcNS, r.svcsOK = n.scope(ctx, "services", ns, quiet, func(c context.Context, ns string) error {
		_, err := cs.CoreV1().Services(ns).List(c, one)
		return err
	})
	if r.svcsOK {
		r.epNS, r.epsOK = n.scope(ctx, "endpointslices (discovery.k8s.io)", ns, quiet, func(c context.Context, ns string) error {
			_, err := cs.DiscoveryV1().EndpointSlices(ns).List(c, one)
			return err
		})
	}
	_, r.nodesOK = n.scope(ctx, "nodes", "", quiet, func(c context.Context, _ string) error {
		_, err := cs.CoreV1().Nodes().List(c, one)
		return err
	})
	return r
}

// run watches what the agent may list, and starts over when a later check
// finds it may list more.
func (n *Names) run(ctx context.Context, cs kubernetes.Interface, ns string) {
	r := n.rights(ctx, cs, ns, false)
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		next, again := n.watch(wctx, cs, ns, r)
		cancel()
		if !again {
			return
		}
		r = next
	}
}

// watch runs the informers rights r allow until ctx ends, or until a
// check every nameRetry finds wider rights, which it returns.
func (n *Names) watch(ctx context.Context, cs kubernetes.Interface, ns string, r rights) (rights, bool) {
	podNS, podsOK, svcNS, svcsOK, epNS, epsOK, nodesOK := r.podNS, r.podsOK, r.svcNS, r.svcsOK, r.epNS, r.epsOK, r.nodesOK
	n.eps = nil
	var retry <-chan time.Time
	if !r.all() {
		t := time.NewTicker(n.retry)
		defer t.Stop()
		retry = t.C
	}
	recheck := func() (rights, bool) {
		nr := n.rights(ctx, cs, ns, true)
		if ctx.Err() != nil || !nr.wider(r) {
			return r, false
		}
		n.logf("names: the agent may now list more (a Role granted since): watching again")
		return nr, true
	}
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
	if epsOK {
		inf := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(epNS)).Discovery().V1().EndpointSlices().Informer()
		inf.SetTransform(slimSlice)
		n.eps = start(inf)
	}
	if nodesOK {
		inf := informers.NewSharedInformerFactory(cs, 0).Core().V1().Nodes().Informer()
		inf.SetTransform(slimNode)
		nodes = start(inf)
	}
	if len(synced) > 0 {
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			return r, false
		}
		n.announce(r, pods, svcs, nodes)
	}
	t := time.NewTicker(time.Minute) // expires the names kept for gone objects
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return r, false
		case <-retry:
			if nr, ok := recheck(); ok {
				return nr, true
			}
			continue
		case <-n.kick:
			// Gather a burst of changes (a rollout) into one rebuild.
			select {
			case <-ctx.Done():
				return r, false
			case <-time.After(nameDebounce):
			}
		case <-t.C:
			if n.kept == 0 {
				continue
			}
		}
		if len(synced) > 0 {
			n.rebuild(pods, svcs, nodes)
		}
	}
}

// announce builds the first snapshot from the synced informers rights r
// allowed and says what records are named from.
func (n *Names) announce(r rights, pods, svcs, nodes cache.SharedIndexInformer) {
	n.svcScope, n.svcsOK, n.epScope, n.epsOK = r.svcNS, r.svcsOK, r.epNS, r.epsOK
	np, ns2, nn := n.rebuild(pods, svcs, nodes)
	where := func(scope string) string {
		if scope == metav1.NamespaceAll {
			return "all namespaces"
		}
		return "namespace " + scope
	}
	var parts []string
	if r.podsOK {
		parts = append(parts, strconv.Itoa(np)+" pod addresses ("+where(r.podNS)+")")
	}
	if r.svcsOK {
		parts = append(parts, strconv.Itoa(ns2)+" Service addresses ("+where(r.svcNS)+")")
	}
	if r.nodesOK {
		parts = append(parts, strconv.Itoa(nn)+" node addresses")
	}
	if r.epsOK {
		parts = append(parts, "Services' ready pods ("+where(r.epNS)+")")
	}
	n.logf("names: records name their ends from %s", strings.Join(parts, ", "))
}

func (n *Names) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// rebuild makes a new snapshot from the informers' stores and returns how
// many pod, Service and node addresses it holds.
func (n *Names) rebuild(pods, svcs, nodes cache.SharedIndexInformer) (np, ns, nn int) {
	m := map[netip.Addr]named{}
	sv := map[string][]svcRef{}
	nps := map[uint16]nodePort{}
	put := func(s string, v named) int {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return 0
		}
		m[a.Unmap()] = v
		return 1
	}
	if nodes != nil {
		for _, o := range nodes.GetStore().List() {
			nd, ok := o.(*corev1.Node)
			if !ok {
				continue
			}
			v := named{obj: nameObject("node", "", nd.Name), name: nd.Name, node: true}
			for _, a := range nd.Status.Addresses {
				if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
					nn += put(a.Address, v)
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
			r := svcRef{ns: s.Namespace, headless: s.Spec.ClusterIP == corev1.ClusterIPNone}
			if s.Spec.Type == corev1.ServiceTypeExternalName {
				r.external = s.Spec.ExternalName
			}
			sv[s.Name] = append(sv[s.Name], r)
			v := named{obj: nameObject("service", s.Namespace, s.Name)}
			vc := v
			if s.Spec.Type != corev1.ServiceTypeExternalName {
				vc.svc = &service{ns: s.Namespace, name: s.Name}
				for _, p := range s.Spec.Ports {
					if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
						t := p.TargetPort.String()
						if p.TargetPort.IntValue() == 0 && p.TargetPort.StrVal == "" {
							t = strconv.Itoa(int(p.Port)) // unset: the same port
						}
						vc.svc.ports = append(vc.svc.ports, servicePort{port: uint16(p.Port), target: t})
						if p.NodePort != 0 {
							nps[uint16(p.NodePort)] = nodePort{svc: vc.svc, port: vc.svc.ports[len(vc.svc.ports)-1],
								local: s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal}
						}
					}
				}
			}
			for _, ip := range s.Spec.ClusterIPs {
				ns += put(ip, vc) // kube-proxy translates the cluster IP's ports only
			}
			for _, ip := range s.Spec.ExternalIPs {
				ns += put(ip, v)
			}
			for _, in := range s.Status.LoadBalancer.Ingress {
				ns += put(in.IP, v)
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
				v := named{obj: nameObject("pod", p.Namespace, p.Name), ns: p.Namespace, name: p.Name, pod: true,
					terminating: p.DeletionTimestamp != nil && !(p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)}
				for _, ip := range p.Status.PodIPs {
					np += put(ip.IP, v)
				}
				if len(p.Status.PodIPs) == 0 && p.Status.PodIP != "" {
					np += put(p.Status.PodIP, v)
				}
			}
		}
	}
	now := time.Now().UnixNano()
	n.kept = 0
	if prev := n.snap.Load(); prev != nil {
		for a, v := range prev.addr {
			if _, ok := m[a]; ok {
				continue // held by an object (again)
			}
			if v.gone == 0 {
				// Said in the records: a client still connecting to a
				// deleted pod's address cached it (a JVM's DNS cache, a
				// client of a headless Service holding on to old IPs).
				v.obj = append(v.obj[:len(v.obj)-1:len(v.obj)-1], `,"deleted":true}`...)
				v.gone = now
			}
			if now-v.gone < int64(nameGrace) {
				m[a] = v
				n.kept++
			}
		}
	}
	nss := map[string]bool{}
	for _, refs := range sv {
		for _, r := range refs {
			nss[r.ns] = true
		}
	}
	for _, v := range m {
		if v.pod {
			nss[v.ns] = true
		}
	}
	ready, readyOn := map[string]int{}, map[string]int{}
	if n.eps != nil {
		for _, o := range n.eps.GetStore().List() {
			es, ok := o.(*discoveryv1.EndpointSlice)
			if !ok || es.Labels[discoveryv1.LabelServiceName] == "" {
				continue
			}
			k := es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName]
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					ready[k]++
					if ep.NodeName != nil {
						readyOn[k+"/"+*ep.NodeName]++
					}
				}
			}
		}
	}
	n.snap.Store(&snapshot{addr: m, svc: sv, nss: nss, ready: ready, readyOn: readyOn, nodePort: nps, svcScope: n.svcScope, svcsOK: n.svcsOK, epScope: n.epScope, epsOK: n.epsOK})
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
		Spec: corev1.ServiceSpec{ClusterIP: s.Spec.ClusterIP, ClusterIPs: s.Spec.ClusterIPs, ExternalIPs: s.Spec.ExternalIPs, Type: s.Spec.Type,
			ExternalName: s.Spec.ExternalName, Ports: s.Spec.Ports, ExternalTrafficPolicy: s.Spec.ExternalTrafficPolicy},
		Status: corev1.ServiceStatus{LoadBalancer: s.Status.LoadBalancer},
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

// AppendDNSHint appends to a failed lookup's msg what the API says of the
// name, when it is a Service's: SVC.NS.svc.ZONE, HOST.SVC.NS.svc.ZONE (a
// StatefulSet's pod), SVC.NS for a namespace the cluster has, or a bare
// SVC asked by a pod (the last step of its search-list walk, which tried
// SVC in the pod's own namespace first). It says that no Service of that
// name is in that namespace, and where one is; or, for a name that does
// not exist (nx), that the Service is headless and has no ready pod to
// resolve to, or an ExternalName whose target does not exist. Nothing when the Services of that namespace are not listed.
func (n *Names) AppendDNSHint(dst []byte, name []byte, client netip.Addr, nx bool) []byte {
	snap := n.snap.Load()
	if snap == nil || !snap.svcsOK || len(name) == 0 || len(name) > 253 {
		return dst
	}
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(string(name), ".")), ".")
	var svc, ns, host string
	own := false
	k := -1
	for i, l := range labels {
		if l == "svc" && i >= 2 {
			k = i
			break
		}
	}
	switch {
	case k >= 2:
		svc, ns = labels[k-2], labels[k-1]
		if k >= 3 {
			host = labels[k-3]
		}
		if zone := strings.Join(labels[k+1:], "."); !snap.nss[ns] && zone != "" && zone != "cluster.local" {
			return dst // a.b.svc.example.com: not the cluster's
		}
	case len(labels) == 2:
		svc, ns = labels[0], labels[1]
		if !snap.nss[ns] {
			return dst // example.com, not a Service
		}
	case len(labels) == 1:
		v := snap.addr[client.Unmap()]
		if !v.pod {
			return dst
		}
		svc, ns, own = labels[0], v.ns, true
	default:
		return dst
	}
	if snap.svcScope != "" && ns != snap.svcScope {
		return dst
	}
	var here *svcRef
	var others []string
	for i, r := range snap.svc[svc] {
		if r.ns == ns {
			here = &snap.svc[svc][i]
		} else {
			others = append(others, r.ns)
		}
	}
	if here != nil {
		switch {
		case !nx:
		case host != "":
			dst = append(dst, "; Service "...)
			dst = append(dst, ns+"/"+svc...)
			dst = append(dst, " exists, and a name under it names one of its pods: only a headless Service has those, for each ready pod whose subdomain is "...)
			dst = append(dst, svc...)
			dst = append(dst, " (a StatefulSet's pod not ready or not there yet, or a StatefulSet whose serviceName is another Service)"...)
		case here.external != "":
			dst = append(dst, "; Service "...)
			dst = append(dst, ns+"/"+svc...)
			dst = append(dst, " is an ExternalName: an alias (CNAME) of "...)
			dst = jsonw.Escaped(dst, []byte(here.external))
			dst = append(dst, ", which does not exist"...)
		case here.headless:
			dst = append(dst, "; Service "...)
			dst = append(dst, ns+"/"+svc...)
			dst = append(dst, " is headless (clusterIP None): its name resolves to its ready pods only, and it has none (no pod matches its selector, or none is ready)"...)
		}
		return dst
	}
	dst = append(dst, "; the Kubernetes API has no Service "...)
	dst = jsonw.Escaped(dst, []byte(svc))
	dst = append(dst, " in namespace "...)
	dst = jsonw.Escaped(dst, []byte(ns))
	if own {
		dst = append(dst, ", the client pod's"...)
	}
	switch {
	case len(others) > 0:
		sort.Strings(others)
		if len(others) > 3 {
			others = others[:3]
		}
		if len(others) == 1 {
			dst = append(dst, "; there is one in namespace "...)
		} else {
			dst = append(dst, "; there are some in namespaces "...)
		}
		for i, o := range others {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, o...)
			dst = append(dst, " ("...)
			dst = append(dst, svc+"."+o...)
			dst = append(dst, ')')
		}
		dst = append(dst, ": a Service of another namespace is reached by SERVICE.NAMESPACE"...)
	case snap.svcScope == "":
		dst = append(dst, ", nor in any other namespace (a typo, or a Service not deployed yet)"...)
	}
	if !snap.nss[ns] && snap.svcScope == "" {
		dst = append(dst, "; no pod or Service is in a namespace "...)
		dst = jsonw.Escaped(dst, []byte(ns))
		dst = append(dst, ": is the namespace right?"...)
	}
	return dst
}

// AppendConnHint appends to a failed TCP connection's msg what the
// Service whose cluster IP it went to says of the port: that the Service
// has no such port (kube-proxy translates only the ports a Service
// lists; the SYN then goes nowhere), or, refused, which port of its pods
// (targetPort) it was sent to, where nothing listens; rejected with ICMP,
// that no pod behind it is ready. To a pod that is terminating, or was
// deleted (its name kept), it says that.
func (n *Names) AppendConnHint(dst []byte, server netip.Addr, port uint16, how uint8) []byte {
	snap := n.snap.Load()
	if snap == nil {
		return dst
	}
	v := snap.addr[server.Unmap()]
	if (v.pod || v.svc != nil) && v.gone != 0 || v.pod && v.terminating {
		dst = append(dst, "; "...)
		dst = append(dst, server.Unmap().String()...)
		if v.gone != 0 {
			if v.pod {
				dst = append(dst, " was pod "...)
				dst = append(dst, v.ns+"/"+v.name...)
			} else {
				dst = append(dst, " was Service "...)
				dst = append(dst, v.svc.ns+"/"+v.svc.name...)
			}
			dst = append(dst, ", deleted "...)
			dst = jsonw.Uint(dst, uint64(max(0, time.Now().UnixNano()-v.gone)/1e9))
			dst = append(dst, " s before: the client still connects to an address it cached (a JVM's DNS cache, a connection pool, a client of a headless Service holding on to old addresses)"...)
		} else {
			dst = append(dst, " is pod "...)
			dst = append(dst, v.ns+"/"+v.name...)
			dst = append(dst, ", which is terminating: it stopped serving while clients still reached it (endpoints are removed a moment after a pod starts to stop: an application that exits on SIGTERM at once, with no preStop delay, drops these)"...)
		}
		return dst
	}
	if v.node && v.gone == 0 && how != detectors.ConnReset {
		return snap.appendNodePortHint(dst, server, v.name, port, how)
	}
	s := v.svc
	if s == nil || len(s.ports) == 0 || how == detectors.ConnReset {
		return dst // a reset says nothing of the Service's ports
	}
	var p *servicePort
	for i := range s.ports {
		if s.ports[i].port == port {
			p = &s.ports[i]
		}
	}
	ready, known := snap.readyPods(s.ns, s.name)
	if p != nil && how == detectors.ConnNoAnswer && !known {
		// Unanswered on a port it has: the pods' side (a NetworkPolicy,
		// pods that do not answer), or no pod behind it.
		return dst
	}
	dst = append(dst, "; "...)
	dst = append(dst, server.Unmap().String()...)
	dst = append(dst, " is Service "...)
	dst = append(dst, s.ns+"/"+s.name...)
	if p == nil {
		dst = append(dst, ", which has no TCP port "...)
		dst = jsonw.Uint(dst, uint64(port))
		dst = append(dst, " (its ports: "...)
		for i, q := range s.ports {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			if i == 8 {
				dst = append(dst, "..."...)
				break
			}
			dst = jsonw.Uint(dst, uint64(q.port))
		}
		dst = append(dst, "): its cluster IP answers only on the ports the Service lists, so the client has the wrong port"...)
		return dst
	}
	switch how {
	case detectors.ConnRefused:
		dst = append(dst, ", which sends port "...)
		dst = jsonw.Uint(dst, uint64(port))
		if p.target == strconv.Itoa(int(port)) {
			dst = append(dst, " to the same port of its pods"...)
		} else {
			dst = append(dst, " to port "...)
			dst = jsonw.Escaped(dst, []byte(p.target))
			dst = append(dst, " of its pods (targetPort)"...)
		}
		dst = append(dst, ", where nothing listens: a targetPort that is not the port the container listens on, or an application listening on 127.0.0.1 only"...)
	case detectors.ConnRejected:
		switch {
		case known && ready == 0:
			dst = append(dst, ", which has no ready pod (its EndpointSlices list none): kube-proxy rejects its connections (no pod matches its selector, or none passes its readiness probe)"...)
		case known:
			dst = append(dst, ", which has "...)
			dst = jsonw.Uint(dst, uint64(ready))
			dst = append(dst, " ready pods now: kube-proxy rejects connections to a Service none of whose pods is ready, so none was then (pods restarting or failing their readiness probe), or another rule rejects it"...)
		default:
			dst = append(dst, ": kube-proxy rejects connections to a Service none of whose pods is ready (no pod matches its selector, or none passes its readiness probe)"...)
		}
	case detectors.ConnNoAnswer:
		if ready == 0 {
			dst = append(dst, ", which has no ready pod (its EndpointSlices list none): nothing behind it answers (no pod matches its selector, or none passes its readiness probe)"...)
		} else {
			dst = append(dst, ", which has "...)
			dst = jsonw.Uint(dst, uint64(ready))
			dst = append(dst, " ready pods: none answered (a NetworkPolicy dropping the client, or the pods' node or network)"...)
		}
	}
	return dst
}

// NodePort range, kube-apiserver's default --service-node-port-range.
const nodePortMin, nodePortMax = 30000, 32767

// appendNodePortHint says what a failed connection to port of node's
// address server met: a Service's NodePort (kube-proxy's rules), or a
// port in the NodePort range no Service has.
func (s *snapshot) appendNodePortHint(dst []byte, server netip.Addr, node string, port uint16, how uint8) []byte {
	np, ok := s.nodePort[port]
	if !ok && (port < nodePortMin || port > nodePortMax || !s.svcsOK || s.svcScope != "") {
		return dst // not a NodePort, or not every Service is listed
	}
	dst = append(dst, "; "...)
	dst = append(dst, server.Unmap().String()...)
	dst = append(dst, " is node "...)
	dst = append(dst, node...)
	if !ok {
		dst = append(dst, ", and no Service has NodePort "...)
		dst = jsonw.Uint(dst, uint64(port))
		return append(dst, ": the Service is not of type NodePort or LoadBalancer, or its nodePort is another (allocated anew when the Service was recreated)"...)
	}
	sv := np.svc
	ready, known := s.readyPods(sv.ns, sv.name)
	dst = append(dst, ", and port "...)
	dst = jsonw.Uint(dst, uint64(port))
	dst = append(dst, " is the NodePort of Service "...)
	dst = append(dst, sv.ns+"/"+sv.name...)
	dst = append(dst, " (its port "...)
	dst = jsonw.Uint(dst, uint64(np.port.port))
	dst = append(dst, ')')
	switch {
	case how == detectors.ConnRefused:
		dst = append(dst, ", which kube-proxy sends to port "...)
		dst = jsonw.Escaped(dst, []byte(np.port.target))
		dst = append(dst, " of its pods, where nothing listens: a targetPort that is not the port the container listens on, or an application listening on 127.0.0.1 only"...)
	case known && ready == 0:
		dst = append(dst, ", which has no ready pod (its EndpointSlices list none): kube-proxy "...)
		if how == detectors.ConnRejected {
			dst = append(dst, "rejects"...)
		} else {
			dst = append(dst, "has nowhere to send"...)
		}
		dst = append(dst, " its connections (no pod matches its selector, or none passes its readiness probe)"...)
	case np.local && how == detectors.ConnNoAnswer && known && s.readyOn[sv.ns+"/"+sv.name+"/"+node] == 0:
		dst = append(dst, ", whose externalTrafficPolicy is Local, and none of whose "...)
		dst = jsonw.Uint(dst, uint64(ready))
		dst = append(dst, " ready pods runs on this node: kube-proxy drops NodePort connections on a node without one, so a load balancer must send only to nodes that pass its health check (healthCheckNodePort), or the policy be Cluster"...)
	case np.local && how == detectors.ConnNoAnswer && !known:
		dst = append(dst, ", whose externalTrafficPolicy is Local: kube-proxy drops NodePort connections on a node that runs no ready pod of the Service"...)
	case how == detectors.ConnNoAnswer && known:
		dst = append(dst, ", which has "...)
		dst = jsonw.Uint(dst, uint64(ready))
		dst = append(dst, " ready pods: none answered (a NetworkPolicy dropping the client, or the pods' node or network)"...)
	case how == detectors.ConnRejected:
		dst = append(dst, ": kube-proxy rejects connections to a Service none of whose pods is ready"...)
	}
	return dst
}

// slimSlice keeps of an EndpointSlice its Service and whether each
// endpoint is ready (unset counts as ready, as the API says to read it).
func slimSlice(obj any) (any, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: es.Name, Namespace: es.Namespace, UID: es.UID, ResourceVersion: es.ResourceVersion,
			Labels: map[string]string{discoveryv1.LabelServiceName: es.Labels[discoveryv1.LabelServiceName]}},
		AddressType: es.AddressType,
		Endpoints:   make([]discoveryv1.Endpoint, len(es.Endpoints)),
	}
	yes, no := true, false
	for i, ep := range es.Endpoints {
		out.Endpoints[i].NodeName = ep.NodeName
		out.Endpoints[i].Conditions.Ready = &yes
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			out.Endpoints[i].Conditions.Ready = &no
		}
	}
	return out, nil
}
