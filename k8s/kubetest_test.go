package k8s

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// cluster is a real etcd and kube-apiserver on loopback.
type cluster struct {
	kubeconfig string
	cfg        *rest.Config
	cs         *kubernetes.Clientset
}

var (
	clusterOnce sync.Once
	theCluster  *cluster
	clusterErr  error
	clusterDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clusterDir != "" {
		stopCluster()
		os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

var procs []*exec.Cmd

func stopCluster() {
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Process.Kill()
		procs[i].Wait()
	}
}

// needCluster builds (once, cached in .cache/k8s) and starts the real
// control plane; without the binaries it skips, except in CI.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	clusterOnce.Do(func() { theCluster, clusterErr = startCluster() })
	if clusterErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kube-apiserver: %v", clusterErr)
		}
		t.Skipf("no kube-apiserver: %v (run scripts/build-k8s.sh)", clusterErr)
	}
	return theCluster
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster() (*cluster, error) {
	build := exec.Command("../scripts/build-k8s.sh")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build-k8s.sh: %v: %s", err, out)
	}
	// The same place scripts/build-k8s.sh uses: ${XDG_CACHE_HOME:-$HOME/.cache}.
	cacheDir := os.Getenv("XDG_CACHE_HOME")
	if cacheDir == "" {
		cacheDir = os.Getenv("HOME") + "/.cache"
	}
	bin := filepath.Join(cacheDir, "dlltagent", "k8s", "bin")
	if d := os.Getenv("K8S_CACHE"); d != "" {
		bin = filepath.Join(d, "bin")
	}
	dir, err := os.MkdirTemp("", "dlltagent-k8s")
	if err != nil {
		return nil, err
	}
	clusterDir = dir
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	const token = "dlltagent-test-admin-token"
	// A second user with no rights but what a test's Role grants it.
	os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"+limitedToken+",limited,limited\n"), 0o600)

	client, peer, secure := freePort(), freePort(), freePort()
	etcd := exec.Command(filepath.Join(bin, "etcd"), "--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", client), fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", client),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peer), fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peer),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", peer), "--log-level=error")
	etcd.Stdout, _ = os.Create(filepath.Join(dir, "etcd.log"))
	etcd.Stderr = etcd.Stdout
	if err := etcd.Start(); err != nil {
		return nil, err
	}
	procs = append(procs, etcd)
	api := exec.Command(filepath.Join(bin, "kube-apiserver"),
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", client),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", secure),
		"--endpoint-reconciler-type=none", "--service-cluster-ip-range=198.18.128.0/24",
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://dlltagent.test", "--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"), "--cert-dir="+filepath.Join(dir, "certs"),
		"--disable-admission-plugins=ServiceAccount", "--enable-priority-and-fairness=false", "--v=0")
	api.Stdout, _ = os.Create(filepath.Join(dir, "apiserver.log"))
	api.Stderr = api.Stdout
	if err := api.Start(); err != nil {
		return nil, err
	}
	procs = append(procs, api)
	host := fmt.Sprintf("https://127.0.0.1:%d", secure)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ready := false
	for i := 0; i < 240 && !ready; i++ {
		req, _ := http.NewRequest("GET", host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := hc.Do(req); err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
		if !ready {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if !ready {
		log, _ := os.ReadFile(filepath.Join(dir, "apiserver.log"))
		if len(log) > 3000 {
			log = log[len(log)-3000:]
		}
		return nil, fmt.Errorf("kube-apiserver not ready after 60 s: %s", log)
	}
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, host, token)), 0o600)
	cs, cfg, err := Client(kc)
	if err != nil {
		return nil, err
	}
	return &cluster{kubeconfig: kc, cfg: cfg, cs: cs}, nil
}

var _ = context.Background

const limitedToken = "dlltagent-test-limited-token"
