// Command image writes the dlltagent container image as a tarball that
// `docker load` and `ctr import` read, without a Docker daemon: the static
// binary on an empty base, entrypoint /dlltagent.
//
//	go run ./deploy/image -bin bin/dlltagent -o bin/dlltagent-image.tar -tag dlltagent:dev
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	bin := flag.String("bin", "bin/dlltagent", "static dlltagent binary")
	out := flag.String("o", "bin/dlltagent-image.tar", "image tarball to write")
	tag := flag.String("tag", "ghcr.io/dlltagent/dlltagent:latest", "image reference")
	flag.Parse()
	if err := build(*bin, *out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(bin, out, tag string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	mtime := time.Unix(0, 0)
	for _, d := range []string{"var/", "var/lib/", "var/lib/dlltagent/", "tmp/"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime})
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "dlltagent", Mode: 0o755, Size: int64(len(data)), ModTime: mtime}); err != nil {
		return err
	}
	tw.Write(data)
	// kubectl cp runs tar in the container: dlltagent answers as tar.
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: mtime})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/tar", Linkname: "/dlltagent", Mode: 0o777, ModTime: mtime})
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/dlltagent"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": "dlltagent"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(tag)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	d, _ := img.Digest()
	fmt.Printf("wrote %s (%s, %s)\n", out, ref, d)
	return nil
}
