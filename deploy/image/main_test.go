package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageTarball builds an image around a file and reads it back the
// way docker load would: one layer holding /dlltagent, entrypoint set.
func TestImageTarball(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "dlltagent")
	os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755)
	out := filepath.Join(dir, "img.tar")
	if err := build(bin, out, "example.test/dlltagent:t"); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/dlltagent" || cf.OS != "linux" {
		t.Errorf("config %+v", cf.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
}
