// Package proctest holds helpers for tests that run dlltagent as a real
// process.
package proctest

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Terminate sends SIGTERM to a started command and waits at most within
// for it to exit (killing it then). It returns how long the exit took and
// the exit error, or an error saying it did not exit in time.
func Terminate(cmd *exec.Cmd, within time.Duration) (time.Duration, error) {
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(within):
		cmd.Process.Kill()
		<-done
		return time.Since(start), fmt.Errorf("no exit within %v of SIGTERM", within)
	}
}
