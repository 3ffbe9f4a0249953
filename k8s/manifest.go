package k8s

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/dlltagent/dlltagent/deploy"
)

// DefaultImage is the agent image the manifest names.
const DefaultImage = "ghcr.io/dlltagent/dlltagent:latest"

var ifaceRe = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,15}$`)

// ManifestFor looks the pod up and fills the template: the agent pinned
// to the pod's node, watching IFACE inside the pod's network namespace.
func ManifestFor(ctx context.Context, cs kubernetes.Interface, ns, pod, iface, image string) (string, error) {
	if !ifaceRe.MatchString(iface) {
		return "", fmt.Errorf("k8s: bad interface name %q", iface)
	}
	p, err := GetPod(ctx, cs, ns, pod)
	if err != nil {
		return "", err
	}
	if p.Spec.NodeName == "" {
		return "", fmt.Errorf("k8s: pod %s/%s is %w: it has no node; try again once it is scheduled", ns, pod, ErrNotScheduled)
	}
	if image == "" {
		image = DefaultImage
	}
	return Fill(deploy.PodTemplate, map[string]string{
		"AGENT_NAME": AgentName(pod), "NAMESPACE": ns, "POD": pod,
		"NODE": p.Spec.NodeName, "IFACE": iface, "IMAGE": image,
	}), nil
}

// AgentName is the agent pod's name for a target pod (a DNS label).
func AgentName(pod string) string {
	n := "dlltagent-" + pod
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-.")
	}
	return n
}

// Fill replaces ${NAME} placeholders.
func Fill(tmpl string, vals map[string]string) string {
	var pairs []string
	for k, v := range vals {
		pairs = append(pairs, "${"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}
