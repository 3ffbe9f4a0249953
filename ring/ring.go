// Package ring reads packets from AF_PACKET TPACKET_V3 memory-mapped rings
// (packet(7), Documentation/networking/packet_mmap.rst): one socket and
// ring per worker, joined in one PACKET_FANOUT_HASH|PACKET_FANOUT_FLAG_DEFRAG
// group so the kernel's symmetric flow hash keeps both directions of a
// connection on one worker. Packets are read in place: no copy, no
// allocation. Pure Go on golang.org/x/sys/unix.
package ring

import (
	"errors"
	"fmt"
)

// BlockSize is the size of one ring block: it must hold the largest frame
// (64 KiB GSO/GRO frames pass unsplit over veth) with room to spare.
const BlockSize = 1 << 20

// MinBlocks is the fewest blocks a ring may have.
const MinBlocks = 4

// Config describes the rings of one capture.
type Config struct {
	Iface   string // interface name; "any": every interface of the namespace
	NetNS   string // network namespace path ("" = the current one)
	Workers int
	RingMB  int // total ring memory across workers
	// BlockTimeoutMS retires a partly filled block after this long, so
	// packets reach the workers quickly when traffic is light.
	BlockTimeoutMS int
	FanoutID       uint16 // 0 = derived from the process id
}

// Packet is one frame in the ring; Data is valid until the block that
// holds it is released.
type Packet struct {
	TS      int64 // ns since the epoch (kernel timestamp)
	Data    []byte
	OrigLen int
	// VLAN tag stripped by the NIC/driver and reported by the kernel
	// (TP_STATUS_VLAN_VALID); the caller re-inserts it.
	VLANValid bool
	VLANTCI   uint16
	VLANTPID  uint16
	// Link is the frame's link type (pcap LINKTYPE_*): the interface's,
	// or with Iface "any" the one of the interface it was seen on (-1:
	// one decode does not know).
	Link int
}

// Stats are the kernel's counters for one ring (PACKET_STATISTICS; the
// kernel resets them on every read, Stats accumulates).
type Stats struct {
	Packets uint64
	Drops   uint64
	Freezes uint64
}

// ErrNotSupported is returned on systems without AF_PACKET.
var ErrNotSupported = errors.New("ring: live capture needs Linux AF_PACKET")

// ErrInterfaceGone is returned by Poll when the interface was removed (or
// its namespace destroyed): the ring must be closed and reopened.
var ErrInterfaceGone = errors.New("ring: interface went away")

// Validate checks the geometry before anything is opened.
func (c *Config) Validate() error {
	if c.Workers < 1 {
		return fmt.Errorf("ring: need at least one worker")
	}
	if c.RingMB < 1 {
		return fmt.Errorf("ring: -ringMB must be at least 1")
	}
	if per := c.RingMB * (1 << 20) / c.Workers / BlockSize; per < MinBlocks {
		return fmt.Errorf("ring: -ringMB %d gives %d MiB per worker for %d workers; need at least %d MiB per worker (raise -ringMB or lower -workers)",
			c.RingMB, c.RingMB/c.Workers, c.Workers, MinBlocks*BlockSize>>20)
	}
	if c.BlockTimeoutMS <= 0 {
		c.BlockTimeoutMS = 10
	}
	return nil
}

// BlocksPerRing returns the number of blocks of each worker's ring.
func (c *Config) BlocksPerRing() int { return c.RingMB * (1 << 20) / c.Workers / BlockSize }
