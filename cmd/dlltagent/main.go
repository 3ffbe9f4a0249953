// Command dlltagent finds application problems from network signals: it
// reads a capture file (-r) or captures live on an interface (-i, in a
// pod's network namespace with -netns or -pod) and writes netevents.jsonl,
// end_flows.jsonl, stats.jsonl and focused pcaps into -o DIR.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/profile"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/flowtable"
	"github.com/dlltagent/dlltagent/internal/pcapio"
	"github.com/dlltagent/dlltagent/pipeline"
	"github.com/dlltagent/dlltagent/ring"
	"github.com/dlltagent/dlltagent/sink"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	read, outDir, iface, netns, pod, debugAddr, profile, search string
	kubeconfig, procRoot, selector, namespace                   string
	workers, ringMB, pcapDiskMB, maxLogMB, keepLogs             int
	quiet, showVersion, names                                   bool
	statsInterval                                               time.Duration
	cfg                                                         detectors.Config
}

func main() {
	if filepath.Base(os.Args[0]) == "tar" {
		os.Exit(runTar(os.Args[1:]))
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "summary":
			os.Exit(runSummary(os.Args[2:]))
		case "manifest":
			os.Exit(runManifest(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func fatalf(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "dlltagent: "+format+"\n", a...)
	return 1
}

func parseFlags(args []string) (*options, int) {
	o := &options{cfg: detectors.DefaultConfig()}
	fs := flag.NewFlagSet("dlltagent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage:
  dlltagent -r FILE.pcap[ng] -o DIR [flags]        analyse a capture file ("-" = stdin)
  dlltagent -i IFACE [-netns PATH | -pod NS/NAME] -o DIR [flags]   capture live
  dlltagent summary [-all] DIR                     print a readable summary of an output directory
                                                   (past 100 diagnoses, grouped by kind; past 100
                                                   connections, only those with a problem; -all: every one)
  dlltagent manifest POD [NAMESPACE] [IFACE]       write dlltagent_search.yaml for a pod

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.read, "r", "", "read packets from a pcap/pcapng `file` (- for standard input)")
	fs.StringVar(&o.outDir, "o", "dlltagent-out", "output `directory` (created if missing)")
	fs.StringVar(&o.iface, "i", "eth0", "capture live on this `interface`")
	fs.StringVar(&o.netns, "netns", "", "open the capture inside this network namespace (`path` /proc/PID/ns/net or /var/run/netns/NAME)")
	fs.StringVar(&o.pod, "pod", os.Getenv("DLLTAGENT_POD"), "capture the network namespace of this Kubernetes pod (`NAMESPACE/NAME`, on this node)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "with -pod: kubeconfig `path` (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&o.selector, "selector", "", "DaemonSet mode: capture every pod on this node ($NODE_NAME) matching these `labels`")
	fs.StringVar(&o.namespace, "namespace", "", "with -selector: only pods of this namespace (default: all)")
	fs.BoolVar(&o.names, "names", true, "with -pod/-selector: name each record's ends (k8s.orig, k8s.resp) from the pods, Services and nodes the API lists")
	fs.StringVar(&o.procRoot, "proc-root", "/proc", "with -pod: where the node's processes are (the agent runs with hostPID)")
	fs.IntVar(&o.workers, "workers", 0, "worker goroutines, flows sharded by a symmetric hash (0: the CPUs the agent may use, at most 4)")
	fs.BoolVar(&o.quiet, "quiet", false, "do not mirror records to standard output")
	fs.StringVar(&o.search, "search-header", os.Getenv("SEARCH_HTTP_HEADER"), "track connections whose first HTTP request headers contain this `text` (default $SEARCH_HTTP_HEADER)")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.IntVar(&o.ringMB, "ringMB", 64, "live: total ring memory in MiB across workers")
	fs.StringVar(&o.debugAddr, "debug-addr", "127.0.0.1:6060", "live: serve /debug/vars, /metrics and pprof on this `address` (empty: off)")
	fs.DurationVar(&o.statsInterval, "stats-interval", 10*time.Second, "write stats.jsonl this often")
	fs.DurationVar(&o.cfg.Track, "track", o.cfg.Track, "how long to track a header-matched connection")
	fs.DurationVar(&o.cfg.SynTimeout, "syn-timeout", o.cfg.SynTimeout, "report a SYN unanswered for this long")
	fs.DurationVar(&o.cfg.DNSTimeout, "dns-timeout", o.cfg.DNSTimeout, "report a DNS query unanswered for this long")
	fs.DurationVar(&o.cfg.SlowResponse, "slow-response", o.cfg.SlowResponse, "report a plaintext HTTP answer that starts this long after its request (0: off)")
	fs.DurationVar(&o.cfg.TCPIdle, "tcp-idle", o.cfg.TCPIdle, "end an idle TCP connection after this long")
	fs.DurationVar(&o.cfg.UDPIdle, "udp-idle", o.cfg.UDPIdle, "end an idle UDP/ICMP flow after this long")
	fs.IntVar(&o.cfg.MaxFlows, "max-flows", 1<<20, "most connections tracked at once (all workers)")
	fs.IntVar(&o.cfg.PcapMemMB, "pcap-mem-mb", o.cfg.PcapMemMB, "memory for focused pcap buffers in MiB (all workers)")
	fs.IntVar(&o.cfg.PcapMaxKB, "pcap-max-kb", o.cfg.PcapMaxKB, "largest focused pcap file in KiB")
	fs.IntVar(&o.pcapDiskMB, "pcap-disk-mb", 1024, "total disk for pcaps in MiB; oldest removed first (0: unlimited)")
	fs.IntVar(&o.maxLogMB, "max-log-mb", 256, "rotate netevents/end_flows/stats.jsonl past this size in MiB (0: never)")
	fs.IntVar(&o.keepLogs, "keep-logs", 5, "rotated files kept per log")
	fs.StringVar(&o.profile, "profile", "", "write a `cpu|mem|block` profile of the run into the output directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dlltagent: unexpected argument %q (see -h)\n", fs.Arg(0))
		return nil, 2
	}
	o.cfg.SearchHeader = o.search
	if o.workers == 0 {
		o.workers = autoWorkers(runtime.GOMAXPROCS(0), o.ringMB, o.read == "")
	}
	switch {
	case o.workers < 1 || o.workers > 256:
		fmt.Fprintf(os.Stderr, "dlltagent: -workers must be between 1 and 256 (or 0: automatic), got %d\n", o.workers)
		return nil, 2
	case o.cfg.PcapMaxKB < 64 || o.cfg.PcapMaxKB > 2048:
		fmt.Fprintf(os.Stderr, "dlltagent: -pcap-max-kb must be between 64 and 2048, got %d\n", o.cfg.PcapMaxKB)
		return nil, 2
	case o.cfg.PcapMemMB < 1:
		fmt.Fprintf(os.Stderr, "dlltagent: -pcap-mem-mb must be at least 1\n")
		return nil, 2
	case o.cfg.MaxFlows < 1024:
		fmt.Fprintf(os.Stderr, "dlltagent: -max-flows must be at least 1024\n")
		return nil, 2
	case o.cfg.MaxFlows/o.workers > flowtable.MaxFlows:
		fmt.Fprintf(os.Stderr, "dlltagent: -max-flows must be at most %d per worker (-workers %d)\n", flowtable.MaxFlows, o.workers)
		return nil, 2
	case o.profile != "" && o.profile != "cpu" && o.profile != "mem" && o.profile != "block":
		fmt.Fprintf(os.Stderr, "dlltagent: -profile must be cpu, mem or block\n")
		return nil, 2
	}
	return o, -1
}

func run(args []string) int {
	o, code := parseFlags(args)
	if o == nil {
		return code
	}
	if o.showVersion {
		fmt.Println("dlltagent", version)
		return 0
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.outDir, 0o700); err == nil {
			mode := map[string]func(*profile.Profile){"cpu": profile.CPUProfile, "mem": profile.MemProfile, "block": profile.BlockProfile}[o.profile]
			defer profile.Start(mode, profile.ProfilePath(o.outDir), profile.NoShutdownHook, profile.Quiet).Stop()
		}
	}
	if o.read != "" {
		return runOffline(o)
	}
	return runLive(o)
}

func openSink(o *options) (*sink.Sink, error) {
	var stdout io.Writer
	if !o.quiet {
		stdout = os.Stdout
	}
	s, err := sink.Open(sink.Options{Dir: o.outDir, Stdout: stdout, PcapDiskMB: o.pcapDiskMB, MaxLogMB: o.maxLogMB, KeepLogs: o.keepLogs})
	if err != nil {
		return nil, err
	}
	// SIGHUP reopens the files (logrotate convention).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			s.Reopen()
		}
	}()
	return s, nil
}

// autoWorkers is the default -workers: one per CPU the agent may use
// (GOMAXPROCS follows the container's CPU limit), at most maxAutoWorkers,
// and live no more than the ring holds at its minimum share per worker.
// One worker keeps up with a veth at tcpreplay's top speed here (make
// bench); one per CPU of a 64-core node would take 64 rings, 64 engines'
// fixed buffers (~9 MiB each) and, with the default -ringMB, refuse to
// start.
func autoWorkers(cpus, ringMB int, live bool) int {
	n := min(cpus, maxAutoWorkers)
	if live {
		n = min(n, ringMB*(1<<20)/(ring.MinBlocks*ring.BlockSize))
	}
	return max(n, 1)
}

const maxAutoWorkers = 4

func runOffline(o *options) int {
	var in io.Reader
	name := o.read
	var src *os.File
	if o.read == "-" {
		// A pollable stdin lets a signal interrupt a blocked read
		// (tcpdump -w - | dlltagent -r -).
		syscall.SetNonblock(0, true)
		src = os.NewFile(0, "stdin")
		in, name = src, "standard input"
	} else {
		f, err := os.Open(o.read)
		if err != nil {
			return fatalf("cannot open capture file: %v", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fatalf("%s is a directory, not a capture file", o.read)
		}
		in, src = f, f
	}
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		stop.Store(true)
		src.SetReadDeadline(time.Now()) // wake a read blocked on a pipe
	}()
	// Detect a non-capture before creating the output directory.
	br := newPeekReader(in)
	if err := pcapio.Sniff(br.head); err != nil {
		if errors.Is(err, pcapio.ErrNotCapture) {
			return fatalf("%s is not a pcap or pcapng capture file", name)
		}
		return fatalf("reading %s: %v", name, err)
	}
	s, err := openSink(o)
	if err != nil {
		return fatalf("%v", err)
	}
	res, err := pipeline.RunOffline(br, pipeline.OfflineOptions{Workers: o.workers, Config: o.cfg, StatsInterval: o.statsInterval, Stop: &stop}, s)
	if cerr := s.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil && stop.Load() {
		err = nil // interrupted by a signal: what was read is flushed
	}
	if err != nil {
		if errors.Is(err, pcapio.ErrNotCapture) {
			return fatalf("%s is not a pcap or pcapng capture file", name)
		}
		return fatalf("%s: %v", name, err)
	}
	if res.Truncated {
		fmt.Fprintf(os.Stderr, "dlltagent: warning: %s ends inside a record (cut file); the %d packets before it were analysed\n", name, res.Packets)
	}
	return 0
}

// peekReader lets the format be checked on the first bytes without
// consuming them (standard input cannot be rewound).
type peekReader struct {
	r    io.Reader
	head []byte
	off  int
}

func newPeekReader(r io.Reader) *peekReader {
	p := &peekReader{r: r}
	buf := make([]byte, 64)
	n, _ := io.ReadFull(r, buf)
	p.head = buf[:n]
	return p
}

func (p *peekReader) Read(b []byte) (int, error) {
	if p.off < len(p.head) {
		n := copy(b, p.head[p.off:])
		p.off += n
		return n, nil
	}
	return p.r.Read(b)
}
