package sim

import (
	"sort"

	"github.com/raftchat/raftchat/raft"
)

// Coverage probes count interesting moments, so a sweep can show which situations its seeds
// actually produced (and which never happened, a hint that a fault knob is too weak).
const (
	ProbeElectionUnderSkew      = "election_under_clock_skew"
	ProbeElectionAfterJump      = "election_after_clock_jump"
	ProbeSnapshotDuringPart     = "snapshot_installed_during_partition"
	ProbeSnapshotInstalled      = "snapshot_installed"
	ProbeDuplicatedAppend       = "duplicated_append"
	ProbeStaleTermDelivered     = "stale_term_message_delivered"
	ProbeLeaderChangeRetry      = "leader_change_while_client_retries"
	ProbeRetryAnswered          = "retried_command_answered"
	ProbeTornWrite              = "torn_write_on_crash"
	ProbeLostUnsynced           = "unsynced_write_lost_on_crash"
	ProbeLeaderCrashed          = "leader_crashed"
	ProbeLeaderPaused           = "leader_paused"
	ProbeRequestQueuedWhilePaus = "request_served_after_pause"
	ProbeAsymPartition          = "asymmetric_partition"
	ProbeReadServed             = "linearizable_read_served"
	ProbeNoLeaderRejected       = "request_rejected_no_leader"
	ProbeCrashPoint             = "crash_point_reached"
	ProbeLeaderDiedBeforeWrite  = "leader_died_between_send_and_write"
	ProbeCrashDuringBgWrite     = "leader_crashed_during_background_write"
	ProbeCrashDuringSnapshot    = "crashed_during_background_snapshot"
	ProbeApplyInSlices          = "apply_backlog_in_slices"
)

// AllProbes lists every probe, in a stable order.
func AllProbes() []string {
	p := []string{ProbeElectionUnderSkew, ProbeElectionAfterJump, ProbeSnapshotDuringPart,
		ProbeSnapshotInstalled, ProbeDuplicatedAppend, ProbeStaleTermDelivered, ProbeLeaderChangeRetry,
		ProbeRetryAnswered, ProbeTornWrite, ProbeLostUnsynced, ProbeLeaderCrashed, ProbeLeaderPaused,
		ProbeRequestQueuedWhilePaus, ProbeAsymPartition, ProbeReadServed, ProbeNoLeaderRejected, ProbeCrashPoint,
		ProbeLeaderDiedBeforeWrite, ProbeCrashDuringBgWrite, ProbeCrashDuringSnapshot, ProbeApplyInSlices}
	sort.Strings(p)
	return p
}

func (w *World) probe(name string) {
	if w.probes == nil {
		w.probes = map[string]int{}
	}
	w.probes[name]++
}

// noteElection records the circumstances of a leader change.
func (w *World) noteElection(n *simNode) {
	for _, o := range w.nodes {
		if o.rate < 0.98 || o.rate > 1.02 {
			w.probe(ProbeElectionUnderSkew)
			break
		}
	}
	if w.lastJumpNs > 0 && w.now-w.lastJumpNs < 2_000_000_000 {
		w.probe(ProbeElectionAfterJump)
	}
	for _, c := range w.clients {
		if c.cur != nil && w.ops[c.cur.op].Attempts > 1 {
			w.probe(ProbeLeaderChangeRetry)
			break
		}
	}
}

// noteDelivery records a message's circumstances as it arrives.
func (w *World) noteDelivery(n *simNode, m *raft.Message) {
	if n.up && m.Term != 0 && m.Term < n.lastTerm {
		w.probe(ProbeStaleTermDelivered)
	}
}
