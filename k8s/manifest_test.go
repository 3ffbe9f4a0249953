package k8s

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

const (
	testNS   = "shop"
	testPod  = "bird-front-569df4d45f-r7csn"
	testNode = "node-a"
)

func ensureNS(t *testing.T, c *cluster, ns string) {
	t.Helper()
	_, err := c.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// makePod creates a pod bound to a node, owned by a ReplicaSet (as a
// Deployment's pods are).
func makePod(t *testing.T, c *cluster, ns, name, node string, owner types.UID) *corev1.Pod {
	t.Helper()
	tru := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bird-front"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/bird-front:1"}},
		},
	}
	if owner != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "bird-front-569df4d45f", UID: owner, Controller: &tru}}
	}
	got, err := c.cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func agentBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dlltagent")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dlltagent").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	return bin
}

// TestManifest: every document dlltagent manifest writes is accepted by
// the real API server in a server-side dry run with strict field
// validation; pod not found and not scheduled give clear errors.
func TestManifest(t *testing.T) {
	c := needCluster(t)
	ensureNS(t, c, testNS)
	makePod(t, c, testNS, testPod, testNode, "5b0f6c1e-0000-4000-8000-00000000a001")
	bin := agentBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "manifest", testPod, testNS, "eth0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("manifest: %v %s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "dlltagent_search.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nodeName: " + testNode, "hostPID: true", "value: X-Pepe", "-pod=" + testNS + "/" + testPod, "-i=eth0", "privileged: false", "NET_RAW", "SYS_ADMIN", "hostPath"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	dyn, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	kinds := map[string]schema.GroupVersionResource{
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
		"Role":           {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		"RoleBinding":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
		"Pod":            {Version: "v1", Resource: "pods"},
	}
	n := 0
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvr, ok := kinds[u.GetKind()]
		if !ok {
			t.Fatalf("unexpected kind %s", u.GetKind())
		}
		_, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), &u,
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("%s %s rejected by the API server: %v", u.GetKind(), u.GetName(), err)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d documents, want 4", n)
	}

	// monitorPod.sh gives the same file through dlltagent on PATH.
	script, _ := filepath.Abs("../deploy/monitorPod.sh")
	sh := exec.Command(script, testPod, testNS)
	sh.Dir = t.TempDir()
	sh.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("monitorPod.sh: %v %s", err, out)
	}
	again, _ := os.ReadFile(filepath.Join(sh.Dir, "dlltagent_search.yaml"))
	if !bytes.Equal(again, raw) {
		t.Error("monitorPod.sh wrote a different manifest")
	}

	// Clear errors.
	for _, c2 := range []struct {
		args []string
		want string
		pre  func()
	}{
		{[]string{"manifest", "no-such-pod", testNS}, "not found", nil},
		{[]string{"manifest", "pending-pod", testNS}, "not scheduled", func() { makePod(t, c, testNS, "pending-pod", "", "") }},
	} {
		if c2.pre != nil {
			c2.pre()
		}
		cmd := exec.Command(bin, c2.args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c2.want) || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
			t.Errorf("%v: %v %q", c2.args, err, out)
		}
	}
}
