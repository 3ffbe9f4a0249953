//go:build !linux

package main

func dropCapabilities(bool) error { return nil }
