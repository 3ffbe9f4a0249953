package k8s

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client returns a clientset from, in order: the kubeconfig path given,
// $KUBECONFIG or ~/.kube/config, or the in-cluster service account.
func Client(kubeconfig string) (*kubernetes.Clientset, *rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		if cfg, err = rest.InClusterConfig(); err == nil {
			cfg.Timeout = 15 * time.Second
			cs, err := kubernetes.NewForConfig(cfg)
			return cs, cfg, err
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("k8s: no cluster access: no usable kubeconfig (KUBECONFIG, ~/.kube/config) and not running in a cluster: %w", err)
	}
	cfg.Timeout = 15 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("k8s: %w", err)
	}
	return cs, cfg, nil
}

// GetPod looks a pod up and explains the usual failures in words.
func GetPod(ctx context.Context, cs kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("k8s: pod %s not found in namespace %s", name, ns)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("k8s: not allowed to read pod %s/%s: %v", ns, name, err)
	case err != nil:
		return nil, fmt.Errorf("k8s: no cluster access: cannot get pod %s/%s: %w", ns, name, err)
	}
	return pod, nil
}

// ErrNotScheduled means the pod has no node yet.
var ErrNotScheduled = errors.New("not scheduled yet")

// SplitPod parses NAMESPACE/NAME (NAME alone means "default").
func SplitPod(s string) (ns, name string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "default", s
}
