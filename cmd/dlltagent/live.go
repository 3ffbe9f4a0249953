package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/pipeline"
	"github.com/dlltagent/dlltagent/ring"
)

func runLive(o *options) int {
	if o.selector != "" {
		s, err := openSink(o)
		if err != nil {
			return fatalf("%v", err)
		}
		ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer cancel()
		err = runSelector(ctx, o, s)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fatalf("%v", err)
		}
		return 0
	}
	netns := o.netns
	var resolve func(context.Context) (pipeline.Target, error)
	extra := new(atomic.Pointer[[]byte])
	if o.pod != "" {
		r, err := podResolver(o, extra)
		if err != nil {
			return fatalf("%v", err)
		}
		resolve = r
		netns = "pod" // resolved before every attach
		o.cfg.Extra = extra
	}
	rc := ring.Config{Iface: o.iface, NetNS: netns, Workers: o.workers, RingMB: o.ringMB}
	if err := rc.Validate(); err != nil {
		return fatalf("%v", err)
	}
	if resolve == nil {
		if err := ring.Check(rc); err != nil {
			return fatalf("%v", err)
		}
	}
	var metrics pipeline.Metrics
	if o.debugAddr != "" {
		ln, err := net.Listen("tcp", o.debugAddr)
		if err != nil {
			return fatalf("cannot serve metrics on -debug-addr %s: %v", o.debugAddr, err)
		}
		metrics.Publish()
		srv := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	s, err := openSink(o)
	if err != nil {
		return fatalf("%v", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ready := make(chan struct{})
	var workerStats []*detectors.Stats
	lo := pipeline.LiveOptions{
		Ring: rc, Config: o.cfg, StatsInterval: o.statsInterval, Ready: ready, Resolve: resolve,
		Logf: logStderr,
	}
	lo.Stats = &workerStats
	go func() {
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		metrics.Set(workerStats, s)
		// The sockets are open: keep only what re-attaching needs.
		if err := dropCapabilities(netns != ""); err != nil {
			fmt.Fprintf(os.Stderr, "dlltagent: note: capabilities not dropped: %v\n", err)
		}
	}()
	err = pipeline.RunLive(ctx, lo, s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fatalf("%v", err)
	}
	return 0
}
