// Command ringcount counts packets on an interface with dlltagent's own
// TPACKET_V3 ring (package ring) and nothing else: the capture-loop cost
// that make bench compares with gopacket/afpacket (bench/afpcount).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dlltagent/dlltagent/ring"
)

func main() {
	iface := flag.String("i", "eth0", "interface")
	workers := flag.Int("workers", 1, "rings")
	ringMB := flag.Int("ringMB", 64, "ring memory in MiB")
	flag.Parse()
	rings, _, err := ring.Open(ring.Config{Iface: *iface, Workers: *workers, RingMB: *ringMB})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringcount:", err)
		os.Exit(1)
	}
	var stop atomic.Bool
	var pkts, bytes atomic.Uint64
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	fmt.Fprintln(os.Stderr, "ringcount: ready")
	var wg sync.WaitGroup
	for _, r := range rings {
		wg.Add(1)
		go func(r *ring.Ring) {
			defer wg.Done()
			var n, b uint64
			fn := func(p *ring.Packet) { n++; b += uint64(len(p.Data)) }
			for !stop.Load() {
				r.Poll(100, fn)
			}
			r.Poll(0, fn)
			pkts.Add(n)
			bytes.Add(b)
		}(r)
	}
	wg.Wait()
	var drops uint64
	for _, r := range rings {
		st, _ := r.Stats()
		drops += st.Drops
	}
	json.NewEncoder(os.Stdout).Encode(map[string]uint64{"packets": pkts.Load(), "bytes": bytes.Load(), "kernel_drops": drops})
}
