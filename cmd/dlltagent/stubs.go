package main

import "fmt"

func resolvePodNetNS(pod string) (string, error) {
	return "", fmt.Errorf("-pod: not implemented yet; use -netns /proc/PID/ns/net")
}

func runManifest(args []string) int {
	return fatalf("manifest: not implemented")
}
