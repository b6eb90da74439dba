package node

import (
	"slices"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// A fresh replica joins a running cluster whose log is compacted: it starts with no
// configuration, gets the leader's snapshot as a learner, is promoted, and keeps its state
// and membership across a restart. Every replica's hook sees both changes.
func TestReplicaJoinsThroughSnapshot(t *testing.T) {
	c := newCluster(t, 3, 5)
	seen := map[raft.NodeID][]raft.ConfChangeType{}
	hook := func(id raft.NodeID) func(raft.ConfChange, raft.ConfState) {
		return func(cc raft.ConfChange, cs raft.ConfState) {
			if cc.NodeID != 4 || string(cc.Context) != "addr-4" {
				t.Errorf("node %d: change %+v", id, cc)
			}
			seen[id] = append(seen[id], cc.Type)
		}
	}
	for _, id := range c.ids {
		c.reps[id].OnConfChange(hook(id))
	}
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	for i := uint64(2); i < 20; i++ {
		c.propose(1, userCmd(i))
	}
	// Node 4 starts with an empty configuration.
	c.logs[4] = NewMemLogStore()
	c.ids = append(c.ids, 4)
	saved := c.ids
	c.ids = nil
	c.start(4, 5)
	c.ids = saved
	c.reps[4].OnConfChange(hook(4))
	if st := c.reps[4].Status(); len(st.Peers) != 0 {
		t.Fatalf("joiner starts with peers %v", st.Peers)
	}
	for _, typ := range []raft.ConfChangeType{raft.ConfChangeAddLearner, raft.ConfChangeAddVoter} {
		if err := c.reps[2].ProposeConfChange(raft.ConfChange{Type: typ, NodeID: 4, Context: []byte("addr-4")}); err != nil {
			t.Fatal(err)
		}
		c.settle()
		c.reps[1].Tick() // a heartbeat round moves the commit index to everyone
		c.settle()
	}
	want := raft.ConfState{Voters: []raft.NodeID{1, 2, 3, 4}}
	for _, id := range c.ids {
		if got := c.reps[id].ConfState(); !got.Equal(want) {
			t.Fatalf("node %d configuration %+v", id, got)
		}
	}
	if _, err := c.reps[4].Machine().LookupUser("user19"); err != nil {
		t.Fatalf("joiner did not catch up: %v", err)
	}
	// The joiner installed the snapshot, so it applied only the promotion itself; the others
	// applied both changes.
	if got := seen[1]; !slices.Equal(got, []raft.ConfChangeType{raft.ConfChangeAddLearner, raft.ConfChangeAddVoter}) {
		t.Fatalf("node 1 saw %v", got)
	}
	if got := seen[4]; len(got) == 0 || got[len(got)-1] != raft.ConfChangeAddVoter {
		t.Fatalf("node 4 saw %v", got)
	}
	c.propose(4, userCmd(20))
	c.start(4, 5) // restart from its own log store
	c.reps[1].Tick()
	c.settle()
	if got := c.reps[4].ConfState(); !got.Equal(want) {
		t.Fatalf("joiner after restart: %+v", got)
	}
	if _, err := c.reps[4].Machine().LookupUser("user20"); err != nil {
		t.Fatalf("joiner lost state on restart: %v", err)
	}
}
