// Package detectors runs per-flow state machines over decoded packets —
// TCP, TLS, ICMP, DNS and HTTP header search — on top of one worker's
// flow table, and emits netevents, end_flows records and focused pcaps.
// An Engine is owned by one goroutine.
package detectors

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Config holds the detector settings shared by all workers.
type Config struct {
	SearchHeader string        // text searched in a connection's HTTP request headers, first request and later ones ("" = off)
	Track        time.Duration // how long a header-matched connection is tracked
	SynTimeout   time.Duration // unanswered SYN deadline
	DNSTimeout   time.Duration // unanswered DNS query deadline
	TCPIdle      time.Duration
	UDPIdle      time.Duration
	CloseLinger  time.Duration // quiet time after a close before the record is written
	SlowResponse time.Duration // an HTTP/1.x answer's first byte this long after its request is reported (0: off)

	MaxFlows    int // per worker
	PcapMemMB   int // per worker arena for focused pcap buffers
	PcapMaxKB   int // per pcap file
	EventBurst  int // events per (code, destination) per EventWindow before summarising
	EventWindow time.Duration

	// Extra, if set, holds JSON members (",\"k8s.pod\":...") appended to
	// every record; it can change while running (pod replaced).
	Extra *atomic.Pointer[[]byte]

	// Names, if set, names the ends of every record and event: its
	// Lookup returns a JSON object for an address (in Kubernetes the
	// pod, Service or node holding it), written as "k8s.orig" and
	// "k8s.resp", or nil. Called on the workers: it must not block.
	Names Namer
}

// Namer names addresses; see Config.Names.
type Namer interface {
	Lookup(a netip.Addr) []byte
	// AppendDNSHint appends to a DNS_ERROR's msg what the cluster says
	// of a name that failed for client (nx: NXDOMAIN), or nothing.
	AppendDNSHint(dst, name []byte, client netip.Addr, nx bool) []byte
	// AppendConnHint appends to a TCP connection's failure msg what the
	// cluster says of its server address and port (how: ConnRefused,
	// ConnNoAnswer, ConnRejected, ConnReset), or nothing.
	AppendConnHint(dst []byte, server netip.Addr, port uint16, how uint8) []byte
}

// How a TCP connection failed, for Namer.AppendConnHint.
const (
	ConnRefused  uint8 = 1 + iota // SYN answered by RST
	ConnNoAnswer                  // SYN unanswered
	ConnRejected                  // ICMP unreachable from the server's address
	ConnReset                     // the server reset it
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Track:        30 * time.Second,
		SynTimeout:   3 * time.Second,
		DNSTimeout:   5 * time.Second,
		TCPIdle:      5 * time.Minute,
		UDPIdle:      time.Minute,
		CloseLinger:  5 * time.Second,
		SlowResponse: 3 * time.Second,
		MaxFlows:     1 << 19,
		PcapMemMB:    64,
		PcapMaxKB:    2048,
		EventBurst:   20,
		EventWindow:  10 * time.Second,
	}
}
