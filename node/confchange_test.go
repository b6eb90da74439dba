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

// syncWriter is a LogWriter that saves at once: every Write is complete when it returns.
type syncWriter struct {
	log  LogStore
	done uint64
	err  error
}

func (w *syncWriter) Write(hs raft.HardState, ents []raft.Entry, sync bool) {
	if w.err == nil {
		w.err = w.log.Save(hs, ents, sync)
	}
	w.done++
}

func (w *syncWriter) Written() (uint64, error) { return w.done, w.err }
func (w *syncWriter) Wait() error              { return w.err }

// A leader that writes its log in the background (Config.Writer) and removes itself: the
// Ready whose committed entries carry the change was built by the leader and is advanced as
// its background write even though applying them deposes it (chatd once panicked here), and
// the removed leader steps down once the others hold its log.
func TestLeaderWithWriterRemovesItself(t *testing.T) {
	c := newClusterWith(t, 3, 1000, nil)
	for _, id := range c.ids { // restart every replica with a background writer
		c.mod = func(cfg *Config) { cfg.Writer = &syncWriter{log: cfg.Log} }
		c.start(id, 1000)
	}
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	if err := c.reps[1].ProposeConfChange(raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: 1}); err != nil {
		t.Fatal(err)
	}
	c.settle()
	c.reps[1].Tick()
	c.settle()
	want := raft.ConfState{Voters: []raft.NodeID{2, 3}, Removed: []raft.NodeID{1}}
	for _, id := range c.ids {
		if got := c.reps[id].ConfState(); !got.Equal(want) {
			t.Fatalf("node %d configuration %+v", id, got)
		}
	}
	if st := c.reps[1].Status(); st.Role == raft.StateLeader {
		t.Fatal("removed leader still leads")
	}
}
