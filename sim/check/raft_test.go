package check

import (
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// miniCluster runs real raft nodes with instant, lossless delivery: just enough to feed
// the checker views built the way the package doc asks.
type miniCluster struct {
	rns   []*raft.RawNode
	sts   []*raft.MemoryStorage
	queue []raft.Message
}

func newMiniCluster(t *testing.T, n int, knobs *raft.TestingKnobs) *miniCluster {
	t.Helper()
	c := &miniCluster{}
	var voters []raft.NodeID
	for i := 1; i <= n; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	for _, id := range voters {
		st := raft.NewMemoryStorage()
		cfg := raft.DefaultConfig(id, voters, st)
		cfg.PreVote, cfg.Knobs = false, knobs
		rn, err := raft.NewRawNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.rns, c.sts = append(c.rns, rn), append(c.sts, st)
	}
	return c
}

// settle handles every Ready and delivers every message until the cluster is quiet.
func (c *miniCluster) settle(t *testing.T) {
	t.Helper()
	for busy := true; busy; {
		busy = false
		for i, rn := range c.rns {
			for rn.HasReady() {
				busy = true
				rd := rn.Ready()
				if !rd.HardState.IsEmpty() {
					_ = c.sts[i].SetHardState(rd.HardState)
				}
				_ = c.sts[i].Append(rd.Entries)
				c.queue = append(c.queue, rd.Messages...)
				rn.Advance(rd)
			}
		}
		for len(c.queue) > 0 {
			busy = true
			m := c.queue[0]
			c.queue = c.queue[1:]
			if err := c.rns[m.To-1].Step(m); err != nil {
				t.Fatalf("step %v: %v", m.Type, err)
			}
		}
	}
}

func (c *miniCluster) views() []NodeView {
	var vs []NodeView
	for i, rn := range c.rns {
		st := rn.Status()
		first, _ := c.sts[i].FirstIndex()
		last, _ := c.sts[i].LastIndex()
		ents, _ := c.sts[i].Entries(first, last+1, 1<<62)
		log := &SliceLog{First: first}
		for _, e := range ents {
			log.Entries = append(log.Entries, EntryView{Index: e.Index, Term: e.Term, Digest: DigestEntry(e)})
		}
		vs = append(vs, NodeView{
			Log: log,
			ID:  st.ID, Alive: true, Role: st.RaftState, Leader: st.Lead,
			Term: st.Term, Vote: st.Vote,
			Durable: c.sts[i].HardState(), DurableKnown: true,
			Commit: st.Commit, Applied: st.Applied,
		})
	}
	return vs
}

// TestRaftElectionViews: an election on the real raft core passes every check, and with
// the VoteBeforePersist bug planted the persistence check fires as soon as a vote is granted.
func TestRaftElectionViews(t *testing.T) {
	for _, bug := range []bool{false, true} {
		c := newMiniCluster(t, 3, &raft.TestingKnobs{VoteBeforePersist: bug})
		chk := New(Config{})
		if err := c.rns[0].Campaign(); err != nil {
			t.Fatal(err)
		}
		c.settle(t)
		got := chk.Observe(c.views())
		if c.rns[0].Status().RaftState != raft.StateLeader {
			t.Fatalf("bug=%v: node 1 did not win", bug)
		}
		if !bug {
			if len(got) != 0 {
				t.Fatalf("correct raft flagged: %q", got)
			}
			continue
		}
		if len(got) == 0 || !strings.Contains(got[0], "persistence: node 2 has term 1 vote 1, stable storage holds term 1 vote 0") {
			t.Fatalf("VoteBeforePersist not caught: %q", got)
		}
	}
}
