//go:build linux

package ring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is one worker's TPACKET_V3 socket and mapping.
type Ring struct {
	fd       int
	mem      []byte
	nblocks  int
	next     int // next block to look at
	pfd      []unix.PollFd
	stats    Stats
	linkType int
	any      bool // bound to every interface: the link type is per packet

	// The socket is non-blocking and registered with the Go runtime's
	// poller: Poll parks the goroutine instead of blocking an OS thread in
	// poll(2). A thread blocked in a system call makes the runtime's
	// monitor hand its P to another thread and wake every 20 µs; on a
	// virtual machine those context switches cost more CPU than the
	// analysis (perf, live bench). file is nil if registration failed,
	// and Poll falls back to poll(2).
	file    *os.File
	rc      syscall.RawConn
	woken   bool // readyOrGone was called before: the runtime woke us
	gone    bool
	readyFn func(uintptr) bool
}

// Link types handed to decode.
const (
	linkEthernet = 1
	linkRaw      = 101
)

// sllOffset is where a frame's sockaddr_ll sits after its tpacket3_hdr:
// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) (packet_mmap.rst).
const sllOffset = (int(unsafe.Sizeof(unix.Tpacket3Hdr{})) + 15) &^ 15

// blockStatus returns a pointer to block i's block_status word (the
// first field of tpacket_hdr_v1, 8 bytes into the block descriptor).
// packet_mmap.rst: the kernel sets TP_STATUS_USER when a block is
// retired to user space; user space hands it back by storing
// TP_STATUS_KERNEL. Both sides access it as a shared word, so it is read
// and written atomically here.
func (r *Ring) blockStatus(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*BlockSize+8]))
}

// Open creates cfg.Workers rings on cfg.Iface (inside cfg.NetNS when set)
// in one fanout group. It returns the rings and the link type of their
// frames.
func Open(cfg Config) ([]*Ring, int, error) {
	if err := cfg.Validate(); err != nil {
		return nil, 0, err
	}
	var rings []*Ring
	var link int
	err := inNetNS(cfg.NetNS, func() error {
		var ifindex, lo int
		if cfg.Iface == "any" {
			// Bound to interface 0: every interface. The copies leaving
			// the loopback interface are dropped as on lo itself.
			link = linkEthernet
			if i, _, err := ifaceInfo("lo"); err == nil {
				lo = i
			}
		} else {
			i, arphrd, err := ifaceInfo(cfg.Iface)
			if err != nil {
				return err
			}
			ifindex, link = i, linkOf(arphrd)
			if arphrd == unix.ARPHRD_LOOPBACK {
				lo = i
			}
		}
		fanout := cfg.FanoutID
		if fanout == 0 {
			fanout = uint16(os.Getpid())
		}
		for w := 0; w < cfg.Workers; w++ {
			r, err := openOne(cfg, ifindex, fanout, lo)
			if err != nil {
				for _, o := range rings {
					o.Close()
				}
				rings = nil
				return err
			}
			r.linkType, r.any = link, ifindex == 0
			rings = append(rings, r)
		}
		return nil
	})
	return rings, link, err
}

// Check verifies, without opening rings, that the interface exists (in
// the namespace, if any) and that AF_PACKET sockets may be created: bad
// input is reported before anything is written.
func Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return inNetNS(cfg.NetNS, func() error {
		if cfg.Iface == "any" {
			// Every interface: nothing to look up.
		} else if _, _, err := ifaceInfo(cfg.Iface); err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return fmt.Errorf("ring: need CAP_NET_RAW to capture: run as root or add the capability (%w)", err)
			}
			return os.NewSyscallError("socket", err)
		}
		return unix.Close(fd)
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// linkOf maps an interface's hardware type to the link type of the
// frames a SOCK_RAW packet socket reads from it: Ethernet (loopback
// included: a zeroed Ethernet header), raw IP for the interfaces with no
// link header (tun, WireGuard, IP-in-IP, SIT, GRE), -1 for others.
func linkOf(arphrd uint16) int {
	switch arphrd {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return linkEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE, unix.ARPHRD_IP6GRE:
		return linkRaw
	}
	return -1
}

func ifaceInfo(name string) (index int, arphrd uint16, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, 0, fmt.Errorf("ring: bad interface name %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, 0, fmt.Errorf("ring: unknown interface %q: %w", name, err)
	}
	index = int(ifr.Uint32())
	hw, _ := unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, hw); err == nil {
		arphrd = hw.Uint16()
	}
	return index, arphrd, nil
}

// skipLoopbackOutgoing returns a classic BPF socket filter that drops
// the packets leaving (PACKET_OUTGOING) the loopback interface lo. On
// it every packet is seen twice, leaving and arriving; libpcap drops the
// first copy in user space, this drops it in the kernel, before the
// ring. Outgoing packets of other interfaces (with "any") are kept.
func skipLoopbackOutgoing(lo int) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdIfindex},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: uint32(lo)},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: skfAdOff + skfAdPkttype},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
	}
}

// The ancillary-data offsets of classic BPF (linux/filter.h).
const (
	skfAdOff     = 0xfffff000 // SKF_AD_OFF, -0x1000
	skfAdPkttype = 4          // SKF_AD_PKTTYPE
	skfAdIfindex = 8          // SKF_AD_IFINDEX
)

// openOne opens one ring on interface ifindex (0: all) in the fanout
// group; lo is the loopback interface's index when it is captured (0:
// it is not).
func openOne(cfg Config, ifindex int, fanout uint16, lo int) (r *Ring, err error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("ring: need CAP_NET_RAW to capture: run as root or add the capability (%w)", err)
		}
		return nil, os.NewSyscallError("socket", err)
	}
	r = &Ring{fd: fd}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if lo != 0 {
		// Before bind: no packet reaches the socket unfiltered.
		f := skipLoopbackOutgoing(lo)
		prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return nil, os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, os.NewSyscallError("setsockopt PACKET_VERSION", err)
	}
	nb := cfg.BlocksPerRing()
	const frameSize = 2048 // TPACKET_V3 ignores frames but validates the numbers
	req := unix.TpacketReq3{
		Block_size:     BlockSize,
		Block_nr:       uint32(nb),
		Frame_size:     frameSize,
		Frame_nr:       uint32(nb * (BlockSize / frameSize)),
		Retire_blk_tov: uint32(cfg.BlockTimeoutMS),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("ring: cannot create a %d MiB ring (%d blocks of %d KiB): %w", nb*BlockSize>>20, nb, BlockSize>>10, err)
	}
	mem, err := unix.Mmap(fd, 0, nb*BlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED|unix.MAP_POPULATE)
	if err != nil {
		// MAP_LOCKED needs RLIMIT_MEMLOCK; fall back to an unlocked map.
		mem, err = unix.Mmap(fd, 0, nb*BlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, os.NewSyscallError("mmap", err)
		}
	}
	r.mem, r.nblocks = mem, nb
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	// The fanout group is joined after bind (packet(7)).
	arg := int(fanout) | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_DEFRAG)<<16
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
		return nil, fmt.Errorf("ring: cannot join fanout group %d: %w", fanout, err)
	}
	r.pfd = []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}}
	if unix.SetNonblock(fd, true) == nil {
		f := os.NewFile(uintptr(fd), "packet socket")
		if f.SetReadDeadline(time.Time{}) == nil { // registered with the poller
			if rc, err := f.SyscallConn(); err == nil {
				r.file, r.rc = f, rc
				r.readyFn = r.readyOrGone
			}
		}
		if r.file == nil {
			// Not pollable: keep the descriptor (f must not close it).
			fd2, err := unix.Dup(fd)
			if err != nil {
				return nil, os.NewSyscallError("dup", err)
			}
			f.Close()
			unix.SetNonblock(fd2, false)
			r.fd = fd2
			r.pfd[0].Fd = int32(fd2)
		}
	}
	return r, nil
}

// inNetNS runs fn with the calling OS thread in the network namespace at
// path. Sockets keep the namespace they were created in, so the rings
// capture inside it after the thread switches back.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ring: cannot open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ring: cannot open network namespace %s: %w", path, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("ring: need CAP_SYS_ADMIN to enter network namespace %s: %w", path, err)
		}
		return fmt.Errorf("ring: cannot enter network namespace %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace: do not let the runtime
		// reuse it (returning without UnlockOSThread retires it).
		runtime.LockOSThread()
		return fmt.Errorf("ring: cannot return to the original network namespace: %w", err)
	}
	return ferr
}

// Poll waits up to timeoutMS for retired blocks and calls fn for every
// packet in them, in order, then hands each block back to the kernel. The
// Packet passed to fn is reused: copy what must outlive the call.
func (r *Ring) Poll(timeoutMS int, fn func(*Packet)) error {
	if timeoutMS > 0 && r.rc != nil && atomic.LoadUint32(r.blockStatus(r.next))&unix.TP_STATUS_USER == 0 {
		r.file.SetReadDeadline(time.Now().Add(time.Duration(timeoutMS) * time.Millisecond))
		r.woken, r.gone = false, false
		err := r.rc.Read(r.readyFn)
		switch {
		case r.gone || errors.Is(err, os.ErrClosed):
			return ErrInterfaceGone
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// A quiet interval. The error the kernel sets when the
			// interface goes away may have been signalled (edge
			// triggered) before we waited: ask.
			if e, _ := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == int(unix.ENETDOWN) {
				return ErrInterfaceGone
			}
		default:
			return err
		}
	} else if atomic.LoadUint32(r.blockStatus(r.next))&unix.TP_STATUS_USER == 0 {
		r.pfd[0].Revents = 0
		_, err := unix.Poll(r.pfd, timeoutMS)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if r.pfd[0].Revents&(unix.POLLERR|unix.POLLNVAL|unix.POLLHUP) != 0 {
			if e, _ := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == int(unix.ENETDOWN) || r.pfd[0].Revents&unix.POLLNVAL != 0 {
				return ErrInterfaceGone
			}
		}
	}
	var p Packet
	for n := 0; n < r.nblocks; n++ {
		st := r.blockStatus(r.next)
		if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
			break
		}
		r.walk(r.next, &p, fn)
		atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
		r.next = (r.next + 1) % r.nblocks
	}
	return nil
}

// readyOrGone is the runtime poller's readiness check: done when a block
// is retired, or when a wake-up without one carries the socket error the
// kernel sets when the interface goes away.
func (r *Ring) readyOrGone(uintptr) bool {
	if atomic.LoadUint32(r.blockStatus(r.next))&unix.TP_STATUS_USER != 0 {
		return true
	}
	if r.woken {
		if e, _ := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == int(unix.ENETDOWN) {
			r.gone = true
			return true
		}
	}
	r.woken = true
	return false
}

func (r *Ring) walk(i int, p *Packet, fn func(*Packet)) {
	block := r.mem[i*BlockSize : (i+1)*BlockSize]
	hdr := (*unix.TpacketHdrV1)(unsafe.Pointer(&block[8]))
	off := int(hdr.Offset_to_first_pkt)
	for k := uint32(0); k < hdr.Num_pkts; k++ {
		if off <= 0 || off+int(unsafe.Sizeof(unix.Tpacket3Hdr{})) > len(block) {
			return
		}
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&block[off]))
		start := off + int(h.Mac)
		end := start + int(h.Snaplen)
		if end > len(block) || start < off {
			return
		}
		*p = Packet{
			TS:      int64(h.Sec)*1e9 + int64(h.Nsec),
			Data:    block[start:end:end],
			OrigLen: int(h.Len),
			Link:    r.linkType,
		}
		if r.any && off+sllOffset+12 <= len(block) {
			// sockaddr_ll follows the header: its sll_hatype (host
			// order) names the interface's hardware type.
			p.Link = linkOf(*(*uint16)(unsafe.Pointer(&block[off+sllOffset+8])))
		}
		if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			p.VLANValid = true
			p.VLANTCI = uint16(h.Hv1.Vlan_tci)
			p.VLANTPID = 0x8100
			if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				p.VLANTPID = h.Hv1.Vlan_tpid
			}
		}
		fn(p)
		if h.Next_offset == 0 {
			return
		}
		off += int(h.Next_offset)
	}
}

// Stats reads and accumulates the kernel's counters (reading resets them).
func (r *Ring) Stats() (Stats, error) {
	s, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.stats, os.NewSyscallError("getsockopt PACKET_STATISTICS", err)
	}
	r.stats.Packets += uint64(s.Packets)
	r.stats.Drops += uint64(s.Drops)
	r.stats.Freezes += uint64(s.Freeze_q_cnt)
	return r.stats, nil
}

// LinkType returns the link type of the ring's frames.
func (r *Ring) LinkType() int { return r.linkType }

// Close unmaps the ring and closes the socket.
func (r *Ring) Close() error {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.file != nil {
		r.file.Close()
		r.file, r.rc = nil, nil
		r.fd = -1
	}
	if r.fd > 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	return nil
}
