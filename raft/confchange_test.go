package raft

import (
	"errors"
	"slices"
	"testing"
)

// addNode starts node id with an empty configuration, as a server joining the cluster.
func (nw *testNet) addNode(id NodeID) {
	nw.t.Helper()
	st := NewMemoryStorage()
	cfg := testConfig(id, nil, st)
	rn, err := NewRawNode(cfg)
	if err != nil {
		nw.t.Fatalf("new node %d: %v", id, err)
	}
	nw.nodes[id] = &testNode{rn: rn, st: st, cfg: cfg}
	nw.ids = append(nw.ids, id)
}

func (nw *testNet) confChange(via NodeID, cc ConfChange) error {
	err := nw.nodes[via].rn.ProposeConfChange(cc)
	nw.settle()
	return err
}

func confOf(nw *testNet, id NodeID) ConfState { return nw.nodes[id].rn.ConfState() }

func TestConfChangeEncoding(t *testing.T) {
	cc := ConfChange{Type: ConfChangeAddLearner, NodeID: 300, Context: []byte("127.0.0.1:7104")}
	cs := ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{300}, Removed: []NodeID{4, 9}}
	gotCC, gotCS, err := DecodeConfChange(encodeConfEntry(cc, cs))
	if err != nil || gotCC.Type != cc.Type || gotCC.NodeID != cc.NodeID || string(gotCC.Context) != string(cc.Context) || !gotCS.Equal(cs) {
		t.Fatalf("round trip: %+v %+v %v", gotCC, gotCS, err)
	}
	if _, cs, err := DecodeConfChange(EncodeConfChange(cc)); err != nil || len(cs.Voters) != 0 {
		t.Fatalf("proposal form: %+v %v", cs, err)
	}
	for name, data := range map[string][]byte{
		"empty":         nil,
		"version":       {9, 1, 1, 0, 0, 0},
		"type":          {1, 7, 1, 0, 0, 0},
		"no node":       {1, 1, 0, 0, 0, 0},
		"context":       {1, 1, 5, 9, 'a'},
		"trailing":      append(EncodeConfChange(cc), 0),
		"unsorted":      encodeConfEntry(cc, ConfState{Voters: []NodeID{2, 1}}),
		"both":          encodeConfEntry(cc, ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{2}}),
		"learner only":  encodeConfEntry(cc, ConfState{Learners: []NodeID{2}}),
		"removed voter": encodeConfEntry(cc, ConfState{Voters: []NodeID{1, 2}, Removed: []NodeID{2}}),
		"huge count":    {1, 1, 1, 0, 0xff, 0xff, 0xff, 0x7f},
		"long varint":   {1, 3, 0x30, 0, 0x80, 0, 0, 0}, // a count of 0 spelled in two bytes
	} {
		if _, _, err := DecodeConfChange(data); err == nil {
			t.Errorf("%s: decoded %x without error", name, data)
		}
	}
}

func FuzzDecodeConfChange(f *testing.F) {
	f.Add(EncodeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4, Context: []byte("x")}))
	f.Add(encodeConfEntry(ConfChange{Type: ConfChangeRemove, NodeID: 2}, ConfState{Voters: []NodeID{1, 3}, Learners: []NodeID{5}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		cc, cs, err := DecodeConfChange(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes: the format has one spelling.
		if again := encodeConfEntry(cc, cs); string(again) != string(data) {
			t.Fatalf("re-encoding %x gave %x", data, again)
		}
		if len(cs.Voters) > 0 && cs.validate() != nil {
			t.Fatalf("accepted invalid configuration %+v", cs)
		}
	})
}

// The thesis §4.2.1 sequence: a new server joins as a learner, catches up, is promoted, and
// from then on counts towards commitment. Every node ends with the same configuration.
func TestAddLearnerThenPromote(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "a")
	for _, id := range []NodeID{4, 5} {
		nw.addNode(id)
		if err := nw.confChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	want := ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4, 5}}
	for _, id := range nw.ids {
		if got := confOf(nw, id); !got.Equal(want) {
			t.Fatalf("node %d configuration %+v, want %+v", id, got, want)
		}
	}
	if got := nw.appliedData(4); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("learner applied %v", got)
	}
	// Learners' acknowledgements do not count: with two voters cut off nothing commits,
	// though the leader and the two learners are three of five members.
	nw.drop = func(m Message) bool { return m.To == 2 || m.To == 3 || m.From == 2 || m.From == 3 }
	_ = nw.propose(1, "b")
	if c := nw.r(1).raftLog.committed; c != nw.r(1).raftLog.lastIndex()-1 {
		t.Fatalf("committed %d with only a learner acknowledging (last %d)", c, nw.r(1).raftLog.lastIndex())
	}
	nw.heal()
	nw.tickAll(nw.r(1).heartbeatTimeout)
	if err := nw.confChange(2, ConfChange{Type: ConfChangeAddVoter, NodeID: 4}); err != nil {
		t.Fatal(err) // through a follower: forwarded to the leader
	}
	want = ConfState{Voters: []NodeID{1, 2, 3, 4}, Learners: []NodeID{5}}
	for _, id := range nw.ids {
		if got := confOf(nw, id); !got.Equal(want) {
			t.Fatalf("node %d configuration %+v, want %+v", id, got, want)
		}
	}
	// Four voters: a majority is three, so with 2 and 3 cut off nothing commits, and with
	// only 3 cut off node 4's acknowledgement completes the majority.
	nw.drop = func(m Message) bool { return m.To == 2 || m.To == 3 || m.From == 2 || m.From == 3 }
	last := nw.r(1).raftLog.committed
	_ = nw.propose(1, "c")
	if nw.r(1).raftLog.committed != last {
		t.Fatal("committed with two of four voters")
	}
	nw.drop = func(m Message) bool { return m.To == 3 || m.From == 3 }
	nw.tickAll(nw.r(1).heartbeatTimeout)
	if nw.r(1).raftLog.committed != nw.r(1).raftLog.lastIndex() {
		t.Fatal("did not commit with three of four voters")
	}
	if got := nw.appliedData(4); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("new voter applied %v", got)
	}
}

// A joining node (empty configuration) never campaigns on its own, nor does a learner.
func TestJoiningNodeAndLearnerNeverCampaign(t *testing.T) {
	nw := newTestNet(t, 1, nil)
	nw.addNode(2)
	nw.isolate(1)
	nw.tickAll(10 * nw.r(2).electionTimeout)
	if nw.r(2).state != StateFollower || nw.r(2).term != 0 {
		t.Fatalf("joining node is %s in term %d", nw.r(2).state, nw.r(2).term)
	}
	nw.heal()
	nw.campaign(1)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 2}); err != nil {
		t.Fatal(err)
	}
	nw.down[1] = true
	term := nw.r(2).term
	nw.tickAll(10 * nw.r(2).electionTimeout)
	if nw.r(2).state != StateFollower || nw.r(2).term != term {
		t.Fatalf("learner is %s in term %d", nw.r(2).state, nw.r(2).term)
	}
	if err := nw.nodes[2].rn.Campaign(); err != nil || nw.r(2).state != StateFollower {
		t.Fatalf("learner campaigned on request: %v %s", err, nw.r(2).state)
	}
}

// One change at a time: a second change is refused until the first is applied, and so is
// any change before this term's no-op is applied. Changes that change nothing or remove the
// last voter are refused.
func TestConfChangeRefusals(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.addNode(4)
	nw.addNode(5)
	rn := nw.nodes[1].rn
	if err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	// Not settled: the first change is neither committed nor applied.
	if err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 5}); !errors.Is(err, ErrConfChangeRefused) {
		t.Fatalf("second change while the first is pending: %v", err)
	}
	nw.settle()
	for _, cc := range []ConfChange{
		{Type: ConfChangeAddVoter, NodeID: 2},
		{Type: ConfChangeAddLearner, NodeID: 4},
		{Type: ConfChangeAddLearner, NodeID: 2},
		{Type: ConfChangeRemove, NodeID: 9},
		{Type: ConfChangeType(9), NodeID: 5},
	} {
		if err := rn.ProposeConfChange(cc); err == nil {
			t.Errorf("%+v accepted", cc)
		}
	}
	single := electLeader(t, 1, nil)
	if err := single.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeRemove, NodeID: 1}); !errors.Is(err, ErrConfChangeRefused) {
		t.Fatalf("removing the last voter: %v", err)
	}
	// A new leader accepts no change before its no-op is applied.
	nw2 := newTestNet(t, 3, nil)
	_ = nw2.nodes[1].rn.Campaign()
	for nw2.r(1).state != StateLeader {
		nw2.process(1)
		q := nw2.queue
		nw2.queue = nil
		for _, m := range q {
			nw2.deliver(m)
		}
		nw2.process(2)
		nw2.process(3)
	}
	if err := nw2.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeRemove, NodeID: 3}); !errors.Is(err, ErrConfChangeRefused) {
		t.Fatalf("change before the no-op is applied: %v", err)
	}
	nw2.settle()
	if err := nw2.confChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 3}); err != nil {
		t.Fatalf("change after the no-op is applied: %v", err)
	}
}

// Removing the leader: it keeps leading until the change is applied (the change commits
// under the old configuration), then steps down; the others elect a leader and go on.
func TestRemoveLeader(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "a")
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	// It leads on, taking no proposals, until the others hold its whole log.
	if nw.r(1).state != StateLeader {
		t.Fatal("removed leader stepped down before the others hold its log")
	}
	if err := nw.nodes[1].rn.Propose([]byte("late")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("removed leader took a proposal: %v", err)
	}
	nw.tickAll(1)
	if nw.r(1).state == StateLeader {
		t.Fatal("removed leader still leads")
	}
	want := ConfState{Voters: []NodeID{2, 3}, Removed: []NodeID{1}}
	for _, id := range nw.ids {
		if got := confOf(nw, id); !got.Equal(want) {
			t.Fatalf("node %d configuration %+v", id, got)
		}
	}
	nw.down[1] = true
	nw.tickAll(3 * nw.r(2).electionTimeout)
	lead := nw.leader()
	if lead != 2 && lead != 3 {
		t.Fatalf("no leader among the remaining voters: %d", lead)
	}
	if err := nw.propose(lead, "b"); err != nil {
		t.Fatal(err)
	}
	other := 5 - lead
	if got := nw.appliedData(other); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("node %d applied %v", other, got)
	}
}

// Removing a voter shrinks the quorum: two voters left, one of them down, so the leader
// alone cannot commit; with the removed node gone, a 2-node cluster needs both.
func TestRemoveFollowerShrinksQuorum(t *testing.T) {
	nw := electLeader(t, 3, nil)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 3}); err != nil {
		t.Fatal(err)
	}
	if got := confOf(nw, 1); !got.Equal(ConfState{Voters: []NodeID{1, 2}, Removed: []NodeID{3}}) {
		t.Fatalf("configuration %+v", got)
	}
	// A removed ID never joins again, whether the proposal is new or a stale copy.
	for _, typ := range []ConfChangeType{ConfChangeAddLearner, ConfChangeAddVoter} {
		if err := nw.nodes[1].rn.ProposeConfChange(ConfChange{Type: typ, NodeID: 3}); !errors.Is(err, ErrConfChangeRefused) {
			t.Fatalf("%s of removed node 3: %v", typ, err)
		}
	}
	// Node 3 no longer counts: with 2 cut off, 3's acknowledgement does not commit.
	nw.drop = func(m Message) bool { return m.To == 2 || m.From == 2 }
	last := nw.r(1).raftLog.committed
	_ = nw.propose(1, "x")
	if nw.r(1).raftLog.committed != last {
		t.Fatal("a removed node's acknowledgement counted")
	}
	nw.heal()
	nw.tickAll(nw.r(1).heartbeatTimeout)
	if nw.r(1).raftLog.committed != nw.r(1).raftLog.lastIndex() {
		t.Fatal("did not commit with both remaining voters")
	}
}

// A restarted node replays its configuration: from the bootstrap one plus the change entries
// it applies again, or from a snapshot's.
func TestConfigurationSurvivesRestart(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.addNode(4)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeAddVoter, NodeID: 4}); err != nil {
		t.Fatal(err)
	}
	want := ConfState{Voters: []NodeID{1, 2, 3, 4}}
	for _, id := range []NodeID{2, 4} {
		nw.restart(id)
		if got := confOf(nw, id); id == 4 && len(got.Voters) != 0 {
			t.Fatalf("joiner restarted with configuration %+v before replaying", got)
		}
		nw.process(id) // committed entries are handed out again and applied
		if got := confOf(nw, id); !got.Equal(want) {
			t.Fatalf("node %d after restart: %+v", id, got)
		}
	}
	nd := nw.nodes[3]
	applied := nd.rn.raft.raftLog.applied
	if _, err := nd.st.CreateSnapshot(applied, new(nd.rn.ConfState()), nil); err != nil {
		t.Fatal(err)
	}
	if err := nd.st.Compact(applied); err != nil {
		t.Fatal(err)
	}
	nw.restart(3)
	if got := confOf(nw, 3); !got.Equal(want) {
		t.Fatalf("node 3 from its snapshot: %+v", got)
	}
}

// A removed node that holds the longest log may still be needed: here the last voter has
// not learned that the removal committed, so it still counts the removed node, and it lacks
// an entry the removed node has, so the removed node would refuse it its vote. The removed
// node campaigns, leads just long enough to hand its log over, and leaves; once the voter
// applies the removal it ignores the removed node altogether.
func TestRemovedNodeHandsOverItsLog(t *testing.T) {
	nw := electLeader(t, 2, nil)
	rn1 := nw.nodes[1].rn
	if err := rn1.ProposeConfChange(ConfChange{Type: ConfChangeRemove, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	// The removal reaches node 2 and commits on node 1 (both copies count in {1,2}), then
	// "x", proposed before node 1 applied the removal, reaches node 1's log only.
	nw.process(1)
	q := nw.queue
	nw.queue = nil
	for _, m := range q {
		nw.deliver(m) // the removal to node 2
	}
	if err := rn1.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.drop = func(m Message) bool { return m.From == 1 && m.To == 2 } // nothing more from 1 to 2
	nw.settle()
	if got := confOf(nw, 1); !got.Equal(ConfState{Voters: []NodeID{2}, Removed: []NodeID{1}}) {
		t.Fatalf("node 1 applied %+v", got)
	}
	if got := confOf(nw, 2); !got.Equal(ConfState{Voters: []NodeID{1, 2}}) {
		t.Fatalf("node 2 already applied %+v", got)
	}
	nw.tickAll(2 * nw.r(1).electionTimeout) // node 1 gives up leading; node 2 cannot win
	if nw.leader() != None {
		t.Fatalf("leader %d while node 2 lacks node 1's log", nw.leader())
	}
	nw.heal()
	nw.tickAll(4 * nw.r(1).electionTimeout)
	if got := confOf(nw, 2); !got.Equal(ConfState{Voters: []NodeID{2}, Removed: []NodeID{1}}) {
		t.Fatalf("node 2 never applied the removal: %+v (node 1 %s, node 2 %s)", got, nw.r(1).state, nw.r(2).state)
	}
	nw.tickAll(3 * nw.r(2).electionTimeout) // node 2, alone in its configuration, takes over
	if nw.leader() != 2 {
		t.Fatalf("leader %d, want node 2 alone (node 1 %s term %d lead %d, node 2 %s term %d lead %d)", nw.leader(), nw.r(1).state, nw.r(1).term, nw.r(1).lead, nw.r(2).state, nw.r(2).term, nw.r(2).lead)
	}
	if got := nw.appliedData(2); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("node 2 applied %v", got)
	}
	// From now on node 2 ignores node 1, whatever term it campaigns in.
	term := nw.r(2).term
	_ = rn1.Campaign()
	nw.settle()
	if nw.leader() != 2 || nw.r(2).term != term {
		t.Fatalf("node 1's campaign disturbed node 2: leader %d term %d (was %d)", nw.leader(), nw.r(2).term, term)
	}
}

// A removed leader whose configuration has a single voter left must not answer reads as if
// it were that voter: the voter, once it applied the removal, leads alone and may commit
// writes the removed leader never sees. Its reads need that voter's confirmation, which a
// voter that applied the removal never gives.
func TestRemovedLeaderServesNoLocalReads(t *testing.T) {
	nw := electLeader(t, 2, nil)
	if err := nw.confChange(1, ConfChange{Type: ConfChangeRemove, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	if nw.r(1).state != StateLeader {
		t.Fatal("node 1 stepped down before the others hold its log")
	}
	nw.nodes[1].rn.ReadIndex([]byte("r"))
	nw.settle()
	if got := nw.nodes[1].reads; len(got) != 0 {
		t.Fatalf("removed leader answered a read on its own: %+v", got)
	}
}
