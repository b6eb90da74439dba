package raft

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTicksUntilAction: the ticks before the one TicksUntilAction names are quiet (no Ready,
// same role, term and commit), and that one acts: a follower campaigns, a leader whose
// heartbeat is due sends heartbeats. The walk mixes proposals, partial ticking, a node going
// down (so CheckQuorum and stalled transfers come into play) and leadership transfers.
func TestTicksUntilAction(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		nw := newTestNet(t, 3, func(c *Config) {
			c.CheckQuorum, c.PreVote = true, seed%2 == 0
			// Heartbeats rarer than the default one per tick, so the election-timer and
			// transfer deadlines are sometimes the nearest action.
			c.ElectionTimeoutTicks, c.HeartbeatIntervalTicks = 10, 2+int(seed%7)
		})
		nw.campaign(1)
		for step := 0; step < 60; step++ {
			id := nw.ids[rng.IntN(len(nw.ids))]
			switch rng.IntN(6) {
			case 0:
				if lead := newestLeader(nw); lead != None {
					_ = nw.propose(lead, "x")
				}
			case 1:
				nw.tickAll(1 + rng.IntN(3))
			case 2:
				if lead := newestLeader(nw); lead != None && rng.IntN(2) == 0 {
					nw.nodes[lead].rn.TransferLeadership(nw.ids[rng.IntN(len(nw.ids))])
					nw.settle()
				}
			case 3:
				// One node down at a time, so a quorum remains.
				nw.down = map[NodeID]bool{id: rng.IntN(2) == 0}
			}
			if nw.down[id] {
				continue
			}
			checkQuietTicks(t, seed, nw, id)
			nw.settle()
		}
	}
}

func checkQuietTicks(t *testing.T, seed uint64, nw *testNet, id NodeID) {
	t.Helper()
	rn := nw.nodes[id].rn
	if rn.HasReady() {
		t.Fatalf("seed %d: node %d has a Ready before ticking", seed, id)
	}
	k := rn.TicksUntilAction()
	if k < 1 {
		t.Fatalf("seed %d: TicksUntilAction = %d", seed, k)
	}
	before := rn.Status()
	for i := 1; i < k; i++ {
		rn.Tick()
		after := rn.Status()
		if rn.HasReady() || after.HardState != before.HardState || after.SoftState != before.SoftState ||
			after.LeadTransferee != before.LeadTransferee {
			t.Fatalf("seed %d: node %d (%s) acted on tick %d of %d: %+v -> %+v",
				seed, id, before.RaftState, i, k, before, after)
		}
		if got := rn.TicksUntilAction(); got != k-i {
			t.Fatalf("seed %d: node %d: %d ticks after %d, TicksUntilAction = %d", seed, id, i, k, got)
		}
	}
	r := nw.r(id)
	heartbeatDue := r.state == StateLeader && r.heartbeatElapsed+1 >= r.heartbeatTimeout
	rn.Tick()
	switch {
	case before.RaftState != StateLeader:
		if r.state == StateFollower && r.term == before.Term {
			t.Fatalf("seed %d: follower %d did not campaign on tick %d", seed, id, k)
		}
	case heartbeatDue && r.state == StateLeader:
		if !rn.HasReady() {
			t.Fatalf("seed %d: leader %d sent no heartbeat on tick %d", seed, id, k)
		}
	}
}

// newestLeader is the live leader of the highest term (a deposed leader that was down may
// still think it leads an older one).
func newestLeader(nw *testNet) NodeID {
	var lead NodeID
	var term Term
	for _, id := range nw.ids {
		if r := nw.r(id); r.state == StateLeader && !nw.down[id] && r.term >= term {
			lead, term = id, r.term
		}
	}
	return lead
}

// TestPauseApply: while applying is paused, entries commit but no Ready hands them out (and
// a Ready is not pending just for them); once resumed they come, in order.
func TestPauseApply(t *testing.T) {
	nw := newTestNet(t, 3, nil)
	nw.campaign(1)
	base := len(nw.appliedData(1))
	nw.nodes[1].rn.PauseApply(true)
	for _, p := range []string{"a", "b", "c"} {
		if err := nw.propose(1, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := nw.appliedData(1); len(got) != base {
		t.Fatalf("paused leader applied %v", got[base:])
	}
	if c := nw.r(1).raftLog.committed; c < 4 {
		t.Fatalf("commit index %d while paused: commits should go on", c)
	}
	if nw.nodes[1].rn.HasReady() {
		t.Fatal("a paused node reports a Ready for its committed entries alone")
	}
	if got := nw.appliedData(2); len(got) < 3 {
		t.Fatalf("follower applied %v: pausing one node must not hold the others back", got)
	}
	nw.nodes[1].rn.PauseApply(false)
	nw.settle()
	if got := nw.appliedData(1)[base:]; !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("after resuming, applied %v", got)
	}
}
