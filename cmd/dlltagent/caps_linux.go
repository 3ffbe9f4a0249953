//go:build linux

package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropCapabilities reduces the effective, permitted and inheritable sets
// of every thread to CAP_NET_RAW (re-opening rings after the interface
// comes back) plus CAP_SYS_ADMIN when a network namespace must be
// re-entered (setns). Everything else root had (file access, ptrace,
// module loading...) is gone for the rest of the run.
func dropCapabilities(keepSysAdmin bool) error {
	keep := uint64(1) << unix.CAP_NET_RAW
	if keepSysAdmin {
		keep |= 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_SYS_PTRACE | 1<<unix.CAP_DAC_READ_SEARCH
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for i := range data {
		k := uint32(keep >> (32 * i))
		data[i].Effective &= k
		data[i].Permitted &= k
		data[i].Inheritable &= k
	}
	// Capabilities are per thread: apply to all of the process's threads.
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
