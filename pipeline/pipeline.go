// Package pipeline wires packet sources to workers and the sink: offline,
// a capture-file reader shards frames by a symmetric flow hash to worker
// goroutines that each own an Engine; live, one ring per worker (package
// ring) feeds the same Engine.
package pipeline

import (
	"github.com/dlltagent/dlltagent/detectors"
	"github.com/dlltagent/dlltagent/internal/jsonw"
	"github.com/dlltagent/dlltagent/sink"
)

// Output adapts the sink to detectors.Output: blocking offline (a file
// can wait; nothing is lost), non-blocking live (a worker never waits;
// drops are counted by the engine).
type Output struct {
	S        *sink.Sink
	Blocking bool
}

// Send implements detectors.Output.
func (o Output) Send(b *detectors.Buffer) bool {
	if o.Blocking {
		return o.S.Send(b)
	}
	return o.S.TrySend(b)
}

// StatsLine encodes one stats.jsonl record from the workers' counters.
// ts is packet time offline and wall time live (ns).
func StatsLine(dst []byte, ts int64, ws []*detectors.Stats, s *sink.Sink) []byte {
	var tot detectors.Stats
	sum := func(st *detectors.Stats) {
		tot.Packets.Add(st.Packets.Load())
		tot.Bytes.Add(st.Bytes.Load())
		tot.KernelDrops.Add(st.KernelDrops.Load())
		tot.KernelFreeze.Add(st.KernelFreeze.Load())
		tot.QueueDrops.Add(st.QueueDrops.Load())
		tot.FlowsActive.Add(st.FlowsActive.Load())
		tot.FlowsEvicted.Add(st.FlowsEvicted.Load())
		tot.Events.Add(st.Events.Load())
		tot.PcapDropped.Add(st.PcapDropped.Load())
		tot.Flows.Add(st.Flows.Load())
		tot.Malformed.Add(st.Malformed.Load())
		tot.Suppressed.Add(st.Suppressed.Load())
		tot.SearchNX.Add(st.SearchNX.Load())
		tot.OptionalDNS.Add(st.OptionalDNS.Load())
		tot.Tunnelled.Add(st.Tunnelled.Load())
	}
	for _, w := range ws {
		sum(w)
	}
	dst = append(dst, `{"ts":`...)
	dst = jsonw.Seconds(dst, ts)
	dst = appendCounters(dst, &tot)
	dst = append(dst, `,"pcaps_written":`...)
	dst = jsonw.Uint(dst, s.PcapsWritten.Load())
	dst = append(dst, `,"pcaps_dropped":`...)
	dst = jsonw.Uint(dst, s.PcapsDropped.Load())
	dst = append(dst, `,"pcaps_removed":`...)
	dst = jsonw.Uint(dst, s.PcapsRemoved.Load())
	dst = append(dst, `,"write_errors":`...)
	dst = jsonw.Uint(dst, s.WriteErrors.Load())
	dst = append(dst, `,"workers":[`...)
	for i, w := range ws {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"worker":`...)
		dst = jsonw.Int(dst, int64(i))
		dst = appendCounters(dst, w)
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

func appendCounters(dst []byte, st *detectors.Stats) []byte {
	for _, f := range []struct {
		k string
		v uint64
	}{
		{"packets", st.Packets.Load()},
		{"bytes", st.Bytes.Load()},
		{"kernel_drops", st.KernelDrops.Load()},
		{"kernel_freezes", st.KernelFreeze.Load()},
		{"queue_drops", st.QueueDrops.Load()},
		{"flows_active", uint64(max(0, st.FlowsActive.Load()))},
		{"flows_total", st.Flows.Load()},
		{"flows_evicted", st.FlowsEvicted.Load()},
		{"events", st.Events.Load()},
		{"events_suppressed", st.Suppressed.Load()},
		{"dns_search_nxdomain", st.SearchNX.Load()},
		{"dns_optional_failed", st.OptionalDNS.Load()},
		{"malformed", st.Malformed.Load()},
		{"tunnelled_packets", st.Tunnelled.Load()},
		{"pcap_bytes_dropped", st.PcapDropped.Load()},
	} {
		dst = jsonw.Key(dst, f.k, false)
		dst = jsonw.Uint(dst, f.v)
	}
	return dst
}
