// Package deploy embeds the Kubernetes template so `dlltagent manifest`
// and monitorPod.sh fill in the very same file.
package deploy

import _ "embed"

// PodTemplate is dlltagent_pod.yaml.
//
//go:embed dlltagent_pod.yaml
var PodTemplate string
