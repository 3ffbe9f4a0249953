package main

import "fmt"

func runLive(o *options) int {
	return fatalf("live capture is not available in this build")
}

func runSummary(args []string) int {
	return fatalf("summary: not implemented")
}

func runManifest(args []string) int {
	_ = fmt.Sprint
	return fatalf("manifest: not implemented")
}
