package k8s

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlltagent/dlltagent/detectors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// setPodIP gives a pod object the address a kubelet would report.
func setPodIP(t *testing.T, c *cluster, p *corev1.Pod, ip string) {
	t.Helper()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := c.cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func makeService(t *testing.T, c *cluster, ns, name, clusterIP string) {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 5432}}},
	}
	if _, err := c.cs.CoreV1().Services(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// logLines collects what WatchNames says.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *logLines) wait(t *testing.T, text string) string {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.Contains(s, text) {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
	}
	t.Fatalf("WatchNames never said %q: %q", text, l.lines)
	return ""
}

func waitName(t *testing.T, n *Names, addr, want string) {
	t.Helper()
	a := netip.MustParseAddr(addr)
	var got []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got = n.Lookup(a); string(got) == want {
			return
		}
	}
	t.Fatalf("%s is named %s, want %s", addr, got, want)
}

// TestNames watches a real API server: pods, Services and nodes are named
// by their addresses, a change shows within a second, a deleted pod's
// name stays; an agent whose Role allows pods and Services in one
// namespace only names those, and says what it cannot name.
func TestNames(t *testing.T) {
	c := needCluster(t)
	ensureNS(t, c, "names-a")
	ensureNS(t, c, "names-b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	web := makePod(t, c, "names-a", "web-0", testNode, "")
	setPodIP(t, c, web, "198.18.7.10")
	db := makePod(t, c, "names-b", "db-0", testNode, "")
	setPodIP(t, c, db, "fd00:198:18:7::20")
	makeService(t, c, "names-b", "orders-db", "198.18.128.77")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "names-node"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.7.1"}, {Type: corev1.NodeHostName, Address: "names-node"}}}}
	if _, err := c.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cs.CoreV1().Nodes().Delete(context.Background(), "names-node", metav1.DeleteOptions{}) })

	var log logLines
	n := WatchNames(ctx, c.cs, "names-a", log.logf)
	line := log.wait(t, "records name their ends")
	if !strings.Contains(line, "(all namespaces)") {
		t.Errorf("admin should watch every namespace: %q", line)
	}
	waitName(t, n, "198.18.7.10", `{"kind":"pod","namespace":"names-a","name":"web-0"}`)
	waitName(t, n, "fd00:198:18:7::20", `{"kind":"pod","namespace":"names-b","name":"db-0"}`)
	waitName(t, n, "198.18.128.77", `{"kind":"service","namespace":"names-b","name":"orders-db"}`)
	waitName(t, n, "198.18.7.1", `{"kind":"node","name":"names-node"}`)
	if got := n.Lookup(netip.MustParseAddr("::ffff:198.18.7.10")); got == nil {
		t.Error("a v4-mapped address is not named")
	}
	if got := n.Lookup(netip.MustParseAddr("198.18.7.99")); got != nil {
		t.Errorf("an unknown address is named %s", got)
	}

	// A new pod shows up; a deleted one keeps its name for a while.
	api := makePod(t, c, "names-a", "api-0", testNode, "")
	setPodIP(t, c, api, "198.18.7.11")
	waitName(t, n, "198.18.7.11", `{"kind":"pod","namespace":"names-a","name":"api-0"}`)
	zero := int64(0) // gone at once, as after its kubelet confirmed
	if err := c.cs.CoreV1().Pods("names-a").Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := c.cs.CoreV1().Pods("names-a").Get(ctx, "web-0", metav1.GetOptions{}); err != nil {
			break
		}
	}
	time.Sleep(3 * nameDebounce)
	waitName(t, n, "198.18.7.10", `{"kind":"pod","namespace":"names-a","name":"web-0","deleted":true}`)
	if got, want := string(n.AppendConnHint(nil, netip.MustParseAddr("198.18.7.10"), 80, detectors.ConnNoAnswer)), "; 198.18.7.10 was pod names-a/web-0, deleted "; !strings.HasPrefix(got, want) {
		t.Errorf("deleted pod: got %q, want %q...", got, want)
	}
	// A pod being deleted (no kubelet here confirms it: it stays so).
	term := makePod(t, c, "names-a", "term-0", testNode, "")
	setPodIP(t, c, term, "198.18.7.12")
	waitName(t, n, "198.18.7.12", `{"kind":"pod","namespace":"names-a","name":"term-0"}`)
	if err := c.cs.CoreV1().Pods("names-a").Delete(ctx, "term-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "; 198.18.7.12 is pod names-a/term-0, which is terminating: it stopped serving while clients still reached it"
	var got string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !strings.HasPrefix(got, want); time.Sleep(50 * time.Millisecond) {
		got = string(n.AppendConnHint(nil, netip.MustParseAddr("198.18.7.12"), 8080, detectors.ConnReset))
	}
	if !strings.HasPrefix(got, want) {
		t.Errorf("terminating pod: got %q, want %q...", got, want)
	}
	// Its address taken by a new pod: the new name wins.
	web2 := makePod(t, c, "names-a", "web-1", testNode, "")
	setPodIP(t, c, web2, "198.18.7.10")
	waitName(t, n, "198.18.7.10", `{"kind":"pod","namespace":"names-a","name":"web-1"}`)

	// Failed lookups of Service names.
	makeService(t, c, "names-b", "kafka", corev1.ClusterIPNone)
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "names-b"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "payments.nowhere.test"}}
	if _, err := c.cs.CoreV1().Services("names-b").Create(ctx, ext, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * nameDebounce)
	hint := func(n *Names, name, client string, nx bool) string {
		return string(n.AppendDNSHint(nil, []byte(name), netip.MustParseAddr(client), nx))
	}
	for _, h := range []struct{ name, client, want string }{
		{"orders-db", "198.18.7.11", "; the Kubernetes API has no Service orders-db in namespace names-a, the client pod's; there is one in namespace names-b (orders-db.names-b)"},
		{"orders-db.names-a.svc.cluster.local.", "198.18.9.9", "; the Kubernetes API has no Service orders-db in namespace names-a; there is one in namespace names-b (orders-db.names-b)"},
		{"Nosuch.names-b.svc.cluster.local", "198.18.9.9", "; the Kubernetes API has no Service nosuch in namespace names-b, nor in any other namespace"},
		{"nosuch.names-b", "198.18.9.9", "; the Kubernetes API has no Service nosuch in namespace names-b, nor in any other namespace"},
		{"kafka.names-b.svc.cluster.local", "198.18.9.9", "; Service names-b/kafka is headless (clusterIP None)"},
		{"kafka-0.kafka.names-b.svc.cluster.local", "198.18.9.9", "; Service names-b/kafka exists, and a name under it names one of its pods"},
		{"payments.names-b.svc.cluster.local", "198.18.9.9", "; Service names-b/payments is an ExternalName: an alias (CNAME) of payments.nowhere.test, which does not exist"},
		{"orders-db.names-b.svc.cluster.local", "198.18.9.9", ""}, // exists: nothing to add
		{"orders-db.names-b", "198.18.9.9", ""},
		{"example.com", "198.18.7.11", ""},            // not a namespace
		{"orders-db", "198.18.9.9", ""},               // not a pod: its namespace is unknown
		{"www.example.com", "198.18.7.11", ""},        // three labels, no svc
		{"api.eu.svc.example.com", "198.18.7.11", ""}, // another zone, no such namespace
		{"orders-db.dta.svc.cluster.local", "198.18.9.9", "; the Kubernetes API has no Service orders-db in namespace dta; there is one in namespace names-b (orders-db.names-b): a Service of another namespace is reached by SERVICE.NAMESPACE; no pod or Service is in a namespace dta: is the namespace right?"},
	} {
		if got := hint(n, h.name, h.client, true); !strings.HasPrefix(got, h.want) || (h.want == "" && got != "") {
			t.Errorf("hint for %s from %s:\n got %q\nwant %q...", h.name, h.client, got, h.want)
		}
	}
	if got := hint(n, "kafka.names-b.svc.cluster.local", "198.18.9.9", false); got != "" {
		t.Errorf("a SERVFAIL for an existing headless Service got %q", got)
	}

	// Connections to a Service's cluster IP (orders-db: TCP 5432, its
	// pods' port the same).
	svcIP := netip.MustParseAddr("198.18.128.77")
	for _, h := range []struct {
		port uint16
		how  uint8
		want string
	}{
		{5433, detectors.ConnNoAnswer, "; 198.18.128.77 is Service names-b/orders-db, which has no TCP port 5433 (its ports: 5432): its cluster IP answers only on the ports the Service lists, so the client has the wrong port"},
		{5433, detectors.ConnRefused, "; 198.18.128.77 is Service names-b/orders-db, which has no TCP port 5433 (its ports: 5432)"},
		{5432, detectors.ConnRefused, "; 198.18.128.77 is Service names-b/orders-db, which sends port 5432 to the same port of its pods, where nothing listens"},
		{5432, detectors.ConnRejected, "; 198.18.128.77 is Service names-b/orders-db, which has no ready pod (its EndpointSlices list none): kube-proxy rejects its connections"},
		{5432, detectors.ConnNoAnswer, "; 198.18.128.77 is Service names-b/orders-db, which has no ready pod (its EndpointSlices list none): nothing behind it answers"},
		{5432, detectors.ConnReset, ""},
	} {
		if got := string(n.AppendConnHint(nil, svcIP, h.port, h.how)); !strings.HasPrefix(got, h.want) || (h.want == "" && got != "") {
			t.Errorf("port %d, how %d:\n got %q\nwant %q...", h.port, h.how, got, h.want)
		}
	}
	// Its pods become ready (the EndpointSlice controller's work, done
	// by hand: no controller manager runs here).
	yes, no := true, false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "orders-db-abcde", Namespace: "names-b", Labels: map[string]string{discoveryv1.LabelServiceName: "orders-db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"198.18.7.30"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
			{Addresses: []string{"198.18.7.31"}},
			{Addresses: []string{"198.18.7.32"}, Conditions: discoveryv1.EndpointConditions{Ready: &no}},
		},
	}
	if _, err := c.cs.DiscoveryV1().EndpointSlices("names-b").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want2 := "; 198.18.128.77 is Service names-b/orders-db, which has 2 ready pods: none answered (a NetworkPolicy dropping the client, or the pods' node or network)"
	var got2 string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && got2 != want2; time.Sleep(50 * time.Millisecond) {
		got2 = string(n.AppendConnHint(nil, svcIP, 5432, detectors.ConnNoAnswer))
	}
	if got2 != want2 {
		t.Errorf("ready pods: got %q, want %q", got2, want2)
	}
	if got := n.AppendConnHint(nil, netip.MustParseAddr("198.18.7.11"), 80, detectors.ConnRefused); len(got) != 0 {
		t.Errorf("a pod's address got a Service hint: %q", got)
	}
	websvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "names-b"},
		Spec: corev1.ServiceSpec{ClusterIP: "198.18.128.79", Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "admin", Port: 9090, TargetPort: intstr.FromInt32(9091)}}}}
	if _, err := c.cs.CoreV1().Services("names-b").Create(ctx, websvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitName(t, n, "198.18.128.79", `{"kind":"service","namespace":"names-b","name":"web"}`)
	for port, want := range map[uint16]string{
		80:   "; 198.18.128.79 is Service names-b/web, which sends port 80 to port http of its pods (targetPort), where nothing listens",
		9090: "; 198.18.128.79 is Service names-b/web, which sends port 9090 to port 9091 of its pods (targetPort), where nothing listens",
		443:  "; 198.18.128.79 is Service names-b/web, which has no TCP port 443 (its ports: 80, 9090)",
	} {
		if got := string(n.AppendConnHint(nil, netip.MustParseAddr("198.18.128.79"), port, detectors.ConnRefused)); !strings.HasPrefix(got, want) {
			t.Errorf("web:%d refused:\n got %q\nwant %q...", port, got, want)
		}
	}

	// NodePorts on the node's address: a Service with
	// externalTrafficPolicy Local whose one ready pod runs on another
	// node, a port of the NodePort range no Service has, a port outside
	// it.
	np := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "names-b"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "198.18.128.80", Selector: map[string]string{"app": "shop"},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}}}
	if _, err := c.cs.CoreV1().Services("names-b").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodeIP := netip.MustParseAddr("198.18.7.1")
	want3 := "; 198.18.7.1 is node names-node, and port 30080 is the NodePort of Service names-b/shop (its port 80), which has no ready pod (its EndpointSlices list none): kube-proxy has nowhere to send its connections"
	var got3 string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !strings.HasPrefix(got3, want3); time.Sleep(50 * time.Millisecond) {
		got3 = string(n.AppendConnHint(nil, nodeIP, 30080, detectors.ConnNoAnswer))
	}
	if !strings.HasPrefix(got3, want3) {
		t.Errorf("NodePort, no ready pod:\n got %q\nwant %q...", got3, want3)
	}
	other := "other-node"
	npSlice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "shop-abcde", Namespace: "names-b", Labels: map[string]string{discoveryv1.LabelServiceName: "shop"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.7.40"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}, NodeName: &other}},
	}
	if _, err := c.cs.DiscoveryV1().EndpointSlices("names-b").Create(ctx, npSlice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want4 := "; 198.18.7.1 is node names-node, and port 30080 is the NodePort of Service names-b/shop (its port 80), whose externalTrafficPolicy is Local, and none of whose 1 ready pods runs on this node: kube-proxy drops NodePort connections on a node without one"
	var got4 string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !strings.HasPrefix(got4, want4); time.Sleep(50 * time.Millisecond) {
		got4 = string(n.AppendConnHint(nil, nodeIP, 30080, detectors.ConnNoAnswer))
	}
	if !strings.HasPrefix(got4, want4) {
		t.Errorf("NodePort, Local, pod elsewhere:\n got %q\nwant %q...", got4, want4)
	}
	for _, h := range []struct {
		port uint16
		how  uint8
		want string
	}{
		{30080, detectors.ConnRefused, "; 198.18.7.1 is node names-node, and port 30080 is the NodePort of Service names-b/shop (its port 80), which kube-proxy sends to port 8080 of its pods, where nothing listens"},
		{30081, detectors.ConnNoAnswer, "; 198.18.7.1 is node names-node, and no Service has NodePort 30081: the Service is not of type NodePort or LoadBalancer"},
		{22, detectors.ConnRefused, ""},
		{30080, detectors.ConnReset, ""},
	} {
		if got := string(n.AppendConnHint(nil, nodeIP, h.port, h.how)); !strings.HasPrefix(got, h.want) || (h.want == "" && got != "") {
			t.Errorf("node port %d, how %d:\n got %q\nwant %q...", h.port, h.how, got, h.want)
		}
	}

	// The per-pod manifest's rights: a Role in the pod's namespace.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "names", Namespace: "names-a"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := c.cs.RbacV1().Roles("names-a").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "names", Namespace: "names-a"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "names"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "limited", APIGroup: "rbac.authorization.k8s.io"}}}
	if _, err := c.cs.RbacV1().RoleBindings("names-a").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lc := rest.CopyConfig(c.cfg)
	lc.BearerToken, lc.BearerTokenFile = limitedToken, ""
	limited, err := kubernetes.NewForConfig(lc)
	if err != nil {
		t.Fatal(err)
	}
	var llog logLines
	ln := WatchNames(ctx, limited, "names-a", llog.logf)
	llog.wait(t, "nodes are not named: not allowed to list them")
	llog.wait(t, "endpointslices (discovery.k8s.io) are not named: not allowed to list them")
	line = llog.wait(t, "records name their ends")
	if !strings.Contains(line, "(namespace names-a)") || strings.Contains(line, "node") {
		t.Errorf("limited scope: %q", line)
	}
	waitName(t, ln, "198.18.7.11", `{"kind":"pod","namespace":"names-a","name":"api-0"}`)
	if got := ln.Lookup(netip.MustParseAddr("198.18.128.77")); got != nil {
		t.Errorf("a Service of another namespace is named %s", got)
	}
	// It knows only names-a's Services: nothing said of names-b, and no
	// "nor in any other namespace".
	if got := hint(ln, "nosuch.names-b.svc.cluster.local", "198.18.9.9", true); got != "" {
		t.Errorf("limited: a hint about another namespace: %q", got)
	}
	if got, want := hint(ln, "orders-db", "198.18.7.11", true), "; the Kubernetes API has no Service orders-db in namespace names-a, the client pod's"; got != want {
		t.Errorf("limited: got %q, want %q", got, want)
	}

	// Rights granted later (the ClusterRole the DaemonSet's manifest
	// gives) take effect without a restart: the agent checks again.
	defer func(d time.Duration) { nameRetry = d }(nameRetry)
	nameRetry = 500 * time.Millisecond
	var glog logLines
	gn := WatchNames(ctx, limited, "names-a", glog.logf)
	glog.wait(t, "records name their ends")
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "names-later"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "services", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := c.cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "names-later"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "names-later"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "limited", APIGroup: "rbac.authorization.k8s.io"}}}
	if _, err := c.cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	glog.wait(t, "the agent may now list more")
	line = glog.wait(t, "node addresses")
	if !strings.Contains(line, "(all namespaces)") || !strings.Contains(line, "ready pods") {
		t.Errorf("after the grant: %q", line)
	}
	waitName(t, gn, "198.18.128.77", `{"kind":"service","namespace":"names-b","name":"orders-db"}`)
}
