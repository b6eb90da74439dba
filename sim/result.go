package sim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/sim/linearize"
	"github.com/raftchat/raftchat/statemachine"
)

// Result is the outcome of one run. Its JSON form is the `chatsim run --json` contract.
type Result struct {
	Seed          uint64   `json:"seed"`
	Nodes         int      `json:"nodes"`
	SimSeconds    float64  `json:"sim_seconds"`
	WallSeconds   float64  `json:"wall_seconds"`
	Events        int      `json:"events"`
	OpsOK         int      `json:"ops_ok"`
	OpsFailed     int      `json:"ops_failed"`
	OpsUnknown    int      `json:"ops_unknown"`
	AckedMessages int      `json:"acked_messages"`
	LeaderChanges int      `json:"leader_changes"`
	Crashes       int      `json:"crashes"`
	Partitions    int      `json:"partitions"`
	Linearizable  bool     `json:"linearizable"`
	InvariantsOK  bool     `json:"invariants_ok"`
	LivenessOK    bool     `json:"liveness_ok"`
	Violations    []string `json:"violations"`
	TraceDigest   string   `json:"trace_digest"`
	Bug           string   `json:"bug,omitempty"`
	// Probes counts coverage probes (see AllProbes) that fired at least once.
	Probes map[string]int `json:"probes,omitempty"`

	// Not part of the JSON contract: material for artifacts and tests.
	Stats     Stats               `json:"-"`
	Schedule  Schedule            `json:"-"`
	Timelines [][]string          `json:"-"`
	Ops       []opRecord          `json:"-"`
	Recorder  *linearize.Recorder `json:"-"`
}

// OK reports whether every check passed.
func (r *Result) OK() bool {
	return r.Linearizable && r.InvariantsOK && r.LivenessOK && len(r.Violations) == 0
}

// finish runs the end-of-run checks and assembles the result.
func (w *World) finish() *Result {
	r := &Result{Seed: w.sched.Seed, Nodes: w.sched.Nodes, SimSeconds: float64(w.now) / 1e9,
		Events: w.stats.Events, Crashes: w.stats.Crashes, Partitions: w.stats.Partitions,
		LeaderChanges: w.stats.LeaderChanges, Bug: w.sched.Bug,
		Schedule: w.sched, Ops: w.ops, Recorder: w.rec}
	r.Violations = append(r.Violations, w.fatal...)
	if !w.opts.NoChecks && len(w.fatal) == 0 {
		for i, n := range w.nodes {
			w.view(n, &w.views[i])
		}
		w.checker.Sweep(w.views)
	}
	r.InvariantsOK = w.checker.OK() && len(w.fatal) == 0 && w.durability == ""
	r.Violations = append(r.Violations, w.checker.Violations()...)
	if w.durability != "" {
		r.Violations = append(r.Violations, w.durability)
	}
	w.liveCheck(r)
	w.countOps(r)
	lin := w.rec.Check(linearize.Options{})
	r.Linearizable = lin.OK && w.staleRead == ""
	if w.staleRead != "" {
		r.Violations = append(r.Violations, "linearizability: "+w.staleRead)
	}
	if !lin.OK {
		msg := fmt.Sprintf("linearizability: porcupine %v over %d conversations (largest %d ops, %d pending)",
			lin.Outcome, lin.Conversations, lin.Largest, lin.Pending)
		if lin.Err != nil {
			msg += ": " + lin.Err.Error()
		}
		r.Violations = append(r.Violations, msg)
	}
	w.net.fillStats(&w.stats)
	r.Stats = w.stats
	r.Probes = w.probes
	for _, n := range w.nodes {
		r.Timelines = append(r.Timelines, n.timeline)
	}
	w.digest.word(uint64(r.OpsOK)<<32 | uint64(r.AckedMessages))
	r.TraceDigest = w.digest.hex()
	if r.Violations == nil {
		r.Violations = []string{}
	}
	return r
}

func (nw *network) fillStats(s *Stats) {
	s.MsgsSent, s.MsgsDropped, s.MsgsDup, s.MsgsCut, s.MsgsSlow = nw.sent, nw.dropped, nw.duplicated, nw.cut, nw.slow
}

func (w *World) countOps(r *Result) {
	for _, o := range w.ops {
		switch {
		case o.Kind == opBootstrap:
		case o.ReturnNs < 0:
			r.OpsUnknown++
		case o.Code == commandpb.ErrorCode_OK:
			r.OpsOK++
		default:
			r.OpsFailed++
		}
	}
	r.AckedMessages = len(w.dir.acked)
}

// liveCheck decides the liveness verdict: the liveness phase must have converged, and every
// acknowledged message must be readable, with its text, on every node.
func (w *World) liveCheck(r *Result) {
	r.LivenessOK = w.livenessOK
	if w.progress.violation != "" {
		r.LivenessOK = false
		r.Violations = append(r.Violations, w.progress.violation)
		return
	}
	if len(w.fatal) > 0 {
		r.LivenessOK = false
		return
	}
	if !w.livenessOK && (!w.liveness || !w.checker.OK() || w.staleRead != "") {
		return // stopped by a safety violation before liveness could be judged
	}
	if !w.livenessOK {
		msg := w.livenessGap()
		if msg == "" {
			msg = w.livenessMsg
		}
		r.Violations = append(r.Violations, fmt.Sprintf("liveness: not converged %s after the faults healed: %s",
			fmtTime(w.opts.LivenessMs*1_000_000), msg))
		return
	}
	if v := w.compareStates(); v != "" {
		r.LivenessOK = false
		r.Violations = append(r.Violations, v)
		return
	}
	for _, n := range w.finalNodes() {
		if v := w.missingAcked(n); v != "" {
			r.LivenessOK = false
			r.Violations = append(r.Violations, v)
			return
		}
	}
}

// compareStates checks that every node, having applied the same index, holds the same chat
// state byte for byte (snapshots encode deterministically).
func (w *World) compareStates() string {
	nodes := w.finalNodes()
	if len(nodes) == 0 {
		return ""
	}
	ref, err := nodes[0].rep.Machine().Snapshot()
	if err != nil {
		return fmt.Sprintf("node %d: snapshot: %v", nodes[0].id, err)
	}
	for _, n := range nodes[1:] {
		got, err := n.rep.Machine().Snapshot()
		if err != nil {
			return fmt.Sprintf("node %d: snapshot: %v", n.id, err)
		}
		if !bytes.Equal(got, ref) {
			return fmt.Sprintf("state divergence: node %d and node %d applied index %d but their state machines differ (%d vs %d snapshot bytes)",
				n.id, nodes[0].id, n.rep.Applied(), len(got), len(ref))
		}
	}
	return ""
}

// finalNodes are the nodes the end-of-run checks read: all of them, or with membership
// changes the members of the final configuration (the liveness phase found them all up).
func (w *World) finalNodes() []*simNode {
	if w.oper == nil {
		return w.nodes
	}
	l := w.currentLeader()
	if l == nil {
		return nil
	}
	members, _ := w.finalMembers(l)
	return members
}

func (w *World) missingAcked(n *simNode) string {
	sm := n.rep.Machine()
	for _, m := range w.dir.acked {
		author := w.clients[m.author].user
		got, err := sm.Message(author, m.conv, m.seq)
		if err != nil {
			if code := errorCode(err); code == commandpb.ErrorCode_NOT_MEMBER {
				continue // the author left the group: it may no longer read it
			}
			return fmt.Sprintf("liveness: node %d lost acknowledged message %s#%d: %v", n.id, m.conv, m.seq, err)
		}
		if got.Author != author {
			return fmt.Sprintf("liveness: node %d has %s#%d by %q, acknowledged as by %q", n.id, m.conv, m.seq, got.Author, author)
		}
	}
	return ""
}

// LeaderIDs returns the leader each node currently follows (for tests).
func (w *World) LeaderIDs() []raft.NodeID {
	var out []raft.NodeID
	for _, n := range w.nodes {
		if n.up {
			out = append(out, n.rep.Status().Leader)
		}
	}
	return slices.Clip(out)
}

func errorCode(err error) commandpb.ErrorCode {
	var se *statemachine.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return commandpb.ErrorCode_OK
}
