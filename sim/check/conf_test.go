package check

import (
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func conf(voters []raft.NodeID, learners ...raft.NodeID) raft.ConfState {
	return raft.ConfState{Voters: voters, Learners: learners}
}

// removed returns cs with the given nodes recorded as removed.
func removed(cs raft.ConfState, ids ...raft.NodeID) raft.ConfState {
	cs.Removed = ids
	return cs
}

func TestObserveConfChange(t *testing.T) {
	v := func(ids ...raft.NodeID) []raft.NodeID { return ids }
	addL4 := raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 4}
	promote4 := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: 4}
	remove3 := raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: 3}
	type obs struct {
		node  raft.NodeID
		index raft.Index
		cc    raft.ConfChange
		cs    raft.ConfState
	}
	for _, tc := range []struct {
		name string
		seq  []obs
		want string // substring of the violation of the last observation ("" none)
	}{
		{"a correct sequence, applied by several nodes", []obs{
			{1, 5, addL4, conf(v(1, 2, 3), 4)}, {2, 5, addL4, conf(v(1, 2, 3), 4)},
			{1, 9, promote4, conf(v(1, 2, 3, 4))}, {1, 12, remove3, removed(conf(v(1, 2, 4)), 3)},
			{3, 9, promote4, conf(v(1, 2, 3, 4))},
		}, ""},
		{"two nodes apply different configurations at one index", []obs{
			{1, 5, addL4, conf(v(1, 2, 3), 4)}, {2, 5, addL4, conf(v(1, 2, 3, 4))},
		}, "the change at index 5 gave node 1"},
		{"a change computed from a stale configuration undoes the one before", []obs{
			{1, 5, remove3, removed(conf(v(1, 2)), 3)}, {1, 6, addL4, conf(v(1, 2, 3), 4)},
		}, "but the configuration before it (index 5) was voters [1 2]"},
		{"a removed node joins again", []obs{
			{1, 5, remove3, removed(conf(v(1, 2)), 3)},
			{1, 6, raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 3}, removed(conf(v(1, 2), 3), 3)},
		}, "the change at index 6 (AddLearner 3)"},
		{"two voters at once", []obs{
			{1, 5, promote4, conf(v(1, 2, 4))},
		}, "differ by 2 voters"},
		{"a change that should have been refused", []obs{
			{1, 5, remove3, removed(conf(v(1, 2)), 3)}, {1, 7, remove3, removed(conf(v(1, 2)), 3)},
		}, "the change at index 7 (Remove 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{})
			c.SetBootstrapConf(conf(v(1, 2, 3)))
			var got string
			for k, o := range tc.seq {
				got = c.ObserveConfChange(o.node, o.index, o.cc, o.cs)
				if k < len(tc.seq)-1 && got != "" {
					t.Fatalf("observation %d: unexpected violation %s", k, got)
				}
			}
			all := strings.Join(c.Violations(), "\n")
			switch {
			case tc.want == "" && (got != "" || !c.OK()):
				t.Fatalf("unexpected violations: %s", all)
			case tc.want != "" && (got == "" || !strings.Contains(all, tc.want)):
				t.Fatalf("violations %q, want one containing %q", all, tc.want)
			}
		})
	}
}

// A removed node's view is not checked: its wiped log and reset term would otherwise look
// like a node that lost committed entries.
func TestRemovedNodeNotChecked(t *testing.T) {
	c := New(Config{})
	l := mkLog(1, []raft.Term{1, 1, 1})
	views := []NodeView{
		{ID: 1, Alive: true, Role: raft.StateLeader, Term: 1, Log: l, Commit: 3, Applied: 3, AppliedDigests: applied(l, 3)},
		{ID: 2, Alive: true, Term: 1, Log: l, Commit: 3, Applied: 3, AppliedDigests: applied(l, 3)},
		{ID: 3, Alive: true, Term: 1, Log: l, Commit: 3, Applied: 3, AppliedDigests: applied(l, 3)},
	}
	if v := c.Observe(views); len(v) != 0 {
		t.Fatal(v)
	}
	views[2] = NodeView{ID: 3, Removed: true, Log: mkLog(1, []raft.Term{5}), Commit: 1, Term: 5}
	if v := c.Sweep(views); len(v) != 0 {
		t.Fatalf("removed node checked: %v", v)
	}
	views[2].Removed = false
	views[2].Alive = true
	if v := c.Sweep(views); len(v) == 0 {
		t.Fatal("the same view not removed went unnoticed")
	}
}
