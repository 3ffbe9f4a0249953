package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// runTar is a minimal `tar cf - [-C DIR] PATH...` so that `kubectl cp`
// can copy pcaps out of the agent's container, whose image holds nothing
// but this binary (the image links /bin/tar to it). Only creation to
// standard output is supported.
func runTar(args []string) int {
	if len(args) < 2 || !strings.Contains(args[0], "c") || args[1] != "-" {
		fmt.Fprintln(os.Stderr, "tar: only `tar cf - [-C DIR] PATH...` is supported (for kubectl cp)")
		return 2
	}
	args = args[2:]
	dir := ""
	tw := tar.NewWriter(os.Stdout)
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if a == "-C" && len(args) > 0 {
			dir, args = args[0], args[1:]
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		root := filepath.Join(dir, a)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() && !info.IsDir() {
				return nil
			}
			hdr, err := tar.FileInfoHeader(info, "")
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if dir == "" {
				rel = strings.TrimPrefix(p, "/")
			}
			hdr.Name = filepath.ToSlash(rel)
			if info.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if info.Mode().IsRegular() {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				if _, err := io.Copy(tw, f); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "tar:", err)
			return 1
		}
	}
	if err := tw.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "tar:", err)
		return 1
	}
	return 0
}
