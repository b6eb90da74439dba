package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/transport"
)

// metrics are the node's Prometheus series. They are always created; they are registered only
// when the config names a Registerer.
type metrics struct {
	term, commit, applied, applyLag, isLeader prometheus.Gauge
	leaderChanges                             prometheus.Counter
	proposals                                 *prometheus.CounterVec
	reads                                     *prometheus.CounterVec
	droppedInbound                            prometheus.Counter
	savedEntries                              prometheus.Counter
	fsyncSeconds, loopSeconds                 prometheus.Histogram
	proposeSeconds, snapshotSaveSeconds       prometheus.Histogram
	snapshotEncodeSeconds                     prometheus.Histogram
	// The hot path's series, looked up once (a label lookup hashes and locks every time).
	proposalsOK, staleReadsOK, linearReadsOK prometheus.Counter

	lastLeader raft.NodeID
}

func newMetrics(reg prometheus.Registerer) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "raftchat", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "raftchat", Name: name, Help: help})
	}
	latency := prometheus.ExponentialBuckets(0.0001, 2, 17) // 100µs .. ~6.5s
	m := &metrics{
		term:          g("term", "Current Raft term."),
		commit:        g("commit_index", "Highest log index known committed."),
		applied:       g("applied_index", "Highest log index applied to the state machine."),
		applyLag:      g("apply_lag_entries", "Committed entries not yet applied."),
		isLeader:      g("is_leader", "1 while this node is the leader."),
		leaderChanges: c("leader_changes_total", "Times the known leader changed."),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "raftchat",
			Name: "proposals_total", Help: "Proposals by outcome."}, []string{"outcome"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "raftchat",
			Name: "reads_total", Help: "Reads by kind and outcome."}, []string{"kind", "outcome"}),
		droppedInbound: c("peer_messages_dropped_total", "Peer messages dropped because the loop queue was full."),
		savedEntries:   c("saved_entries_total", "Log entries written with a synced save."),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftchat",
			Name: "fsync_seconds", Help: "Latency of synced log saves (write plus fsync).", Buckets: latency}),
		loopSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftchat",
			Name: "process_seconds", Help: "Latency of one Ready-processing pass.", Buckets: latency}),
		proposeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftchat",
			Name: "propose_seconds", Help: "Latency from Propose to local apply.", Buckets: latency}),
		snapshotSaveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftchat",
			Name: "snapshot_save_seconds", Help: "Time to make an encoded snapshot durable (file, fsync, log mark), off the loop; a snapshot streamed to its file as it is encoded counts in snapshot_encode_seconds.",
			Buckets: latency}),
		snapshotEncodeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftchat",
			Name: "snapshot_encode_seconds", Help: "Time to encode the state machine for a snapshot, off the loop (applying waits); for a snapshot streamed to its file, also the time to write and sync it.",
			Buckets: latency}),
	}
	// Create every series up front so dashboards see zeros rather than gaps.
	for _, o := range []string{"ok", "error", "resent"} {
		m.proposals.WithLabelValues(o)
	}
	for _, k := range []string{"linearizable", "stale"} {
		m.reads.WithLabelValues(k, "ok")
		m.reads.WithLabelValues(k, "error")
	}
	m.proposalsOK = m.proposals.WithLabelValues("ok")
	m.staleReadsOK = m.reads.WithLabelValues("stale", "ok")
	m.linearReadsOK = m.reads.WithLabelValues("linearizable", "ok")
	if reg != nil {
		reg.MustRegister(m.term, m.commit, m.applied, m.applyLag, m.isLeader, m.leaderChanges,
			m.proposals, m.reads, m.droppedInbound, m.savedEntries, m.fsyncSeconds, m.loopSeconds,
			m.proposeSeconds, m.snapshotSaveSeconds, m.snapshotEncodeSeconds)
	}
	return m
}

// registerTransport exports the transport's counters.
func (m *metrics) registerTransport(reg prometheus.Registerer, tr *transport.Transport) {
	if reg == nil {
		return
	}
	counter := func(name, help string, f func(transport.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "raftchat", Name: name, Help: help},
			func() float64 { return float64(f(tr.Stats())) })
	}
	reg.MustRegister(
		counter("peer_frames_sent_total", "Batches written to peer streams.",
			func(s transport.Stats) uint64 { return s.Frames }),
		counter("peer_messages_sent_total", "Raft messages written to peer streams.",
			func(s transport.Stats) uint64 { return s.Messages }),
		counter("peer_messages_refused_total", "Raft messages refused because a peer queue was full.",
			func(s transport.Stats) uint64 { return s.Dropped }))
}

// observe updates the gauges from a status; called by the loop only.
func (m *metrics) observe(st node.Status) {
	m.term.Set(float64(st.Term))
	m.commit.Set(float64(st.Commit))
	m.applied.Set(float64(st.Applied))
	m.applyLag.Set(float64(st.Commit) - float64(st.Applied))
	if st.Role == raft.StateLeader {
		m.isLeader.Set(1)
	} else {
		m.isLeader.Set(0)
	}
	if st.Leader != m.lastLeader {
		m.leaderChanges.Inc()
		m.lastLeader = st.Leader
	}
}
