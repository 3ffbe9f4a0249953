package pipeline

import (
	"expvar"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/sink"
)

// Metrics serves the workers' counters: expvar JSON at /debug/vars,
// Prometheus text at /metrics, and pprof under /debug/pprof/.
type Metrics struct {
	mu    sync.Mutex
	stats []*detectors.Stats
	sink  *sink.Sink
}

// Set installs the counters to serve (they may change on re-attach).
func (m *Metrics) Set(stats []*detectors.Stats, s *sink.Sink) {
	m.mu.Lock()
	m.stats, m.sink = stats, s
	m.mu.Unlock()
}

type metric struct {
	name, help string
	get        func(*detectors.Stats) uint64
	gauge      bool
}

var metrics = []metric{
	{"packets_total", "Packets seen by the workers.", func(s *detectors.Stats) uint64 { return s.Packets.Load() }, false},
	{"bytes_total", "Bytes on the wire of the packets seen.", func(s *detectors.Stats) uint64 { return s.Bytes.Load() }, false},
	{"kernel_drops_total", "Packets the kernel dropped because the ring was full (tp_drops).", func(s *detectors.Stats) uint64 { return s.KernelDrops.Load() }, false},
	{"kernel_freezes_total", "Times the kernel froze the ring queue (tp_freeze_q_cnt).", func(s *detectors.Stats) uint64 { return s.KernelFreeze.Load() }, false},
	{"queue_drops_total", "Records dropped because the sink queue was full.", func(s *detectors.Stats) uint64 { return s.QueueDrops.Load() }, false},
	{"malformed_total", "Packets with a truncated or inconsistent header.", func(s *detectors.Stats) uint64 { return s.Malformed.Load() }, false},
	{"tunnelled_packets_total", "Packets analysed from inside a tunnel (VXLAN, Geneve, GRE, IP in IP, ERSPAN).", func(s *detectors.Stats) uint64 { return s.Tunnelled.Load() }, false},
	{"flows_total", "Connections created.", func(s *detectors.Stats) uint64 { return s.Flows.Load() }, false},
	{"flows_active", "Connections tracked now.", func(s *detectors.Stats) uint64 { return uint64(max(0, s.FlowsActive.Load())) }, true},
	{"flows_evicted_total", "Connections not tracked because the flow table was full.", func(s *detectors.Stats) uint64 { return s.FlowsEvicted.Load() }, false},
	{"events_total", "Netevents written.", func(s *detectors.Stats) uint64 { return s.Events.Load() }, false},
	{"events_suppressed_total", "Netevents folded into rate-limit summaries.", func(s *detectors.Stats) uint64 { return s.Suppressed.Load() }, false},
	{"dns_search_nxdomain_total", "NXDOMAIN answers of resolvers walking their search list (not reported).", func(s *detectors.Stats) uint64 { return s.SearchNX.Load() }, false},
	{"dns_optional_failed_total", "Failed DNS queries clients expect and get over (HTTPS/SVCB records, PTR NXDOMAIN, gRPC's service-config and balancer names; not reported).", func(s *detectors.Stats) uint64 { return s.OptionalDNS.Load() }, false},
	{"pcap_bytes_dropped_total", "Packet bytes not buffered for focused pcaps (arena exhausted).", func(s *detectors.Stats) uint64 { return s.PcapDropped.Load() }, false},
}

// Handler returns the debug mux.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/metrics", m.prometheus)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

var publishOnce sync.Once

// Publish registers the expvar variable "dlltagent".
func (m *Metrics) Publish() {
	publishOnce.Do(func() {
		expvar.Publish("dlltagent", expvar.Func(func() any {
			m.mu.Lock()
			defer m.mu.Unlock()
			var workers []map[string]uint64
			total := map[string]uint64{}
			for _, st := range m.stats {
				w := map[string]uint64{}
				for _, mt := range metrics {
					v := mt.get(st)
					w[mt.name] = v
					total[mt.name] += v
				}
				workers = append(workers, w)
			}
			if m.sink != nil {
				total["pcaps_written_total"] = m.sink.PcapsWritten.Load()
				total["write_errors_total"] = m.sink.WriteErrors.Load()
			}
			return map[string]any{"total": total, "workers": workers}
		}))
	})
}

func (m *Metrics) prometheus(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, mt := range metrics {
		typ := "counter"
		if mt.gauge {
			typ = "gauge"
		}
		fmt.Fprintf(w, "# HELP dlltagent_%s %s\n# TYPE dlltagent_%s %s\n", mt.name, mt.help, mt.name, typ)
		for i, st := range m.stats {
			fmt.Fprintf(w, "dlltagent_%s{worker=\"%d\"} %d\n", mt.name, i, mt.get(st))
		}
	}
	if m.sink != nil {
		fmt.Fprintf(w, "# HELP dlltagent_pcaps_written_total Focused pcaps written.\n# TYPE dlltagent_pcaps_written_total counter\ndlltagent_pcaps_written_total %d\n", m.sink.PcapsWritten.Load())
		fmt.Fprintf(w, "# HELP dlltagent_sink_write_errors_total Output write errors (disk full...).\n# TYPE dlltagent_sink_write_errors_total counter\ndlltagent_sink_write_errors_total %d\n", m.sink.WriteErrors.Load())
	}
}
