// Command afpcount counts packets with gopacket/afpacket (TPACKET_V3), the
// capture library the design card names: the baseline dlltagent's own ring
// (bench/ringcount) must beat in make bench.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/gopacket/afpacket"
)

func main() {
	iface := flag.String("i", "eth0", "interface")
	ringMB := flag.Int("ringMB", 64, "ring memory in MiB")
	flag.Parse()
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(*iface), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptBlockSize(1<<20), afpacket.OptFrameSize(2048), afpacket.OptNumBlocks(*ringMB),
		afpacket.OptPollTimeout(100*time.Millisecond), afpacket.OptBlockTimeout(10*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "afpcount:", err)
		os.Exit(1)
	}
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	fmt.Fprintln(os.Stderr, "afpcount: ready")
	var n, b uint64
	for !stop.Load() {
		data, _, err := tp.ZeroCopyReadPacketData()
		if err != nil {
			continue
		}
		n++
		b += uint64(len(data))
	}
	_, st, _ := tp.SocketStats()
	json.NewEncoder(os.Stdout).Encode(map[string]uint64{"packets": n, "bytes": b, "kernel_drops": uint64(st.Drops())})
}
