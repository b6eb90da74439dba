package raft

import (
	"slices"
	"testing"
)

// Each planted bug must change behaviour when on (and the same scenario must be correct when
// off), or the simulator could not possibly catch it.

func TestKnobNamesAndSet(t *testing.T) {
	var k TestingKnobs
	names := k.Names()
	if len(names) != 13 {
		t.Fatalf("%d knob names", len(names))
	}
	for _, n := range names {
		var one TestingKnobs
		if !one.Set(n) || one == (TestingKnobs{}) {
			t.Fatalf("Set(%q) did not switch anything on", n)
		}
	}
	if k.Set("NoSuchBug") {
		t.Fatal("Set accepted an unknown name")
	}
}

func TestKnobCommitPreviousTermByCount(t *testing.T) {
	for _, on := range []bool{false, true} {
		rn, st := leaderWithOldEntries(t, &TestingKnobs{CommitPreviousTermByCount: on})
		if noop := rn.raft.raftLog.lastIndex() == 3; noop == on {
			t.Errorf("knob %v: leader appended a no-op = %v", on, noop)
		}
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgAppResp, Term: 3, Index: 2})
		drain(t, rn, st)
		want := Index(0)
		if on {
			want = 2 // an entry of term 2 committed by counting: the Figure 8 bug
		}
		if c := rn.raft.raftLog.committed; c != want {
			t.Errorf("knob %v: committed %d, want %d", on, c, want)
		}
	}
}

func TestKnobVoteWithoutLogCheck(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := storageWithTerms(1, 2, 2)
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{VoteWithoutLogCheck: on} })
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 5, Index: 1, LogTerm: 1})
		resp := msgsOf(drain(t, rn, st).msgs, MsgVoteResp)
		if len(resp) != 1 || resp[0].Reject == on {
			t.Errorf("knob %v: response %+v", on, resp)
		}
	}
}

func TestKnobVoteBeforePersist(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := NewMemoryStorage()
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{VoteBeforePersist: on} })
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 1})
		drain(t, rn, st)
		// Crash and restart from what was persisted; then a second candidate asks.
		rn = newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{VoteBeforePersist: on} })
		stepOK(t, rn, Message{From: 3, To: 1, Type: MsgVote, Term: 1})
		resp := msgsOf(drain(t, rn, st).msgs, MsgVoteResp)
		if len(resp) != 1 || resp[0].Reject == on {
			t.Errorf("knob %v: second vote in term 1 after restart: %+v (on = votes twice)", on, resp)
		}
	}
}

func TestKnobKeepConflictingSuffix(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := storageWithTerms(1, 1, 1, 1)
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{KeepConflictingSuffix: on} })
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1,
			Entries: []Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}}})
		resp := msgsOf(drain(t, rn, st).msgs, MsgAppResp)
		tm, _ := st.Term(3)
		if len(resp) != 1 || resp[0].Reject || resp[0].Index != 3 {
			t.Fatalf("knob %v: response %+v", on, resp)
		}
		if (tm == 1) != on {
			t.Errorf("knob %v: term at 3 is %d (1 = conflicting entry kept while acknowledged)", on, tm)
		}
	}
}

func TestKnobApplyBeforeCommit(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := storageWithTerms(1, 1, 1)
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{ApplyBeforeCommit: on} })
		d := drain(t, rn, st)
		if (len(d.committed) == 3) != on || (!on && len(d.committed) != 0) {
			t.Errorf("knob %v: handed out %d uncommitted entries for apply", on, len(d.committed))
		}
	}
}

func TestKnobReadWithoutReadIndex(t *testing.T) {
	for _, on := range []bool{false, true} {
		nw := electLeader(t, 3, func(c *Config) { c.Knobs = &TestingKnobs{ReadWithoutReadIndex: on} })
		nw.isolate(2) // the follower cannot reach the leader
		nw.nodes[2].rn.ReadIndex([]byte("r"))
		nw.settle()
		if got := len(nw.nodes[2].reads); (got == 1) != on {
			t.Errorf("knob %v: isolated follower produced %d read states", on, got)
		}
	}
}

func TestKnobReadBeforeNoopCommitted(t *testing.T) {
	for _, on := range []bool{false, true} {
		rn, st := leaderWithOldEntries(t, &TestingKnobs{ReadBeforeNoopCommitted: on})
		rn.ReadIndex([]byte("r"))
		hb := msgsOf(drain(t, rn, st).msgs, MsgHeartbeat)
		if (len(hb) == 2) != on {
			t.Fatalf("knob %v: heartbeats %+v", on, hb)
		}
		ctx := []byte{0, 0, 0, 0, 0, 0, 0, 1}
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeatResp, Term: 3, Context: ctx})
		reads := drain(t, rn, st).reads
		if (len(reads) == 1) != on {
			t.Fatalf("knob %v: reads %+v", on, reads)
		}
		if on && reads[0].Index != 0 {
			t.Errorf("stale read index %d, want 0 (the lagging commit index)", reads[0].Index)
		}
	}
}

func TestKnobAcceptStaleTermAppend(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := storageWithTerms(1)
		_ = st.SetHardState(HardState{Term: 3})
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = &TestingKnobs{AcceptStaleTermAppend: on} })
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1,
			Entries: []Entry{{Index: 2, Term: 2}}})
		d := drain(t, rn, st)
		if li, _ := st.LastIndex(); (li == 2) != on {
			t.Errorf("knob %v: last index %d after a stale-term append", on, li)
		}
		staleAcks := 0
		for _, m := range msgsOf(d.msgs, MsgAppResp) {
			if m.Term == 2 && !m.Reject {
				staleAcks++
			}
		}
		if (staleAcks == 1) != on {
			t.Errorf("knob %v: %d acknowledgements in the stale term 2", on, staleAcks)
		}
	}
}

func TestKnobNextIndexOffByOne(t *testing.T) {
	for _, on := range []bool{false, true} {
		nw := electLeader(t, 3, func(c *Config) { c.Knobs = &TestingKnobs{NextIndexOffByOne: on} })
		nw.down[3] = true
		for i := 0; i < 5; i++ {
			_ = nw.propose(1, "x")
		}
		delete(nw.down, 3)
		rounds := 0
		nw.drop = func(m Message) bool {
			if m.Type == MsgAppResp && m.Reject {
				rounds++
				return rounds > 50 // cut the endless rejection loop the bug causes
			}
			return false
		}
		nw.tickAll(5)
		if sameLog(nw, 1, 3) == on {
			t.Errorf("knob %v: follower caught up = %v", on, !on)
		}
	}
}

func TestKnobIgnoreCheckQuorum(t *testing.T) {
	for _, on := range []bool{false, true} {
		nw := electLeader(t, 3, func(c *Config) {
			withPreVoteCheckQuorum(c)
			c.Knobs = &TestingKnobs{IgnoreCheckQuorum: on}
		})
		nw.isolate(1)
		nw.tickAll(3 * DefaultElectionTimeoutTicks)
		if (nw.r(1).state == StateLeader) != on {
			t.Errorf("knob %v: isolated leader state %s", on, nw.r(1).state)
		}
	}
}

// Knobs off must be exactly correct Raft: a full run with a zero TestingKnobs equals one
// with nil Knobs, message for message.
func TestKnobsOffIdentical(t *testing.T) {
	run := func(k *TestingKnobs) []MessageType {
		nw := newTestNet(t, 3, func(c *Config) { c.Knobs = k })
		var trace []MessageType
		nw.drop = func(m Message) bool { trace = append(trace, m.Type); return false }
		nw.tickAll(3 * DefaultElectionTimeoutTicks)
		_ = nw.propose(nw.leader(), "x")
		return trace
	}
	if !slices.Equal(run(nil), run(&TestingKnobs{})) {
		t.Fatal("zero knobs changed behaviour")
	}
}

func TestKnobHeartbeatCommitUncapped(t *testing.T) {
	for _, on := range []bool{false, true} {
		// Node 3 holds a stale entry 2/1 that the term-2 leader replaced with 2/2; node 3 is
		// cut off from appends and hears only heartbeats.
		stores := []*MemoryStorage{storageWithTerms(1), storageWithTerms(1), storageWithTerms(1, 1)}
		nw := newTestNetStores(t, stores, func(c *Config) { c.Knobs = &TestingKnobs{HeartbeatCommitUncapped: on} })
		nw.drop = func(m Message) bool { return m.To == 3 && m.Type != MsgHeartbeat || m.From == 3 }
		nw.campaign(1)
		nw.tickAll(2)
		applied := nw.nodes[3].applied
		stale := len(applied) >= 2 && applied[1].Term == 1
		if stale != on {
			t.Errorf("knob %v: node 3 applied %+v", on, applied)
		}
	}
}

func TestKnobLeaderCountsUnwrittenCopy(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := newAsyncTrio(t)
		leader := a.rns[1]
		leader.raft.knobs.LeaderCountsUnwrittenCopy = on
		if err := leader.Propose([]byte("x")); err != nil {
			t.Fatal(err)
		}
		last := a.write()
		// Only node 2 acknowledges: with the leader's write still running that is no quorum.
		a.settle(func(m Message) bool { return m.To != 3 && m.From != 3 })
		if committed := leader.raft.raftLog.committed >= last.Index; committed != on {
			t.Errorf("knob %v: entry %d committed = %v before the leader's write finished", on, last.Index, committed)
		}
	}
}

func TestKnobAcceptConfChangeWhilePending(t *testing.T) {
	for _, on := range []bool{false, true} {
		nw := electLeader(t, 3, func(c *Config) { c.Knobs = &TestingKnobs{AcceptConfChangeWhilePending: on} })
		nw.addNode(4)
		rn := nw.nodes[1].rn
		if err := rn.ProposeConfChange(ConfChange{Type: ConfChangeRemove, NodeID: 3}); err != nil {
			t.Fatal(err)
		}
		// The removal is neither committed nor applied yet.
		err := rn.ProposeConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 4})
		if accepted := err == nil; accepted != on {
			t.Fatalf("knob %v: second change while the first is pending: %v", on, err)
		}
		nw.settle()
		want := ConfState{Voters: []NodeID{1, 2}, Removed: []NodeID{3}}
		if on {
			// The second entry was computed from the configuration before the first: it
			// undoes the removal.
			want = ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}}
		}
		if got := confOf(nw, 1); !got.Equal(want) {
			t.Fatalf("knob %v: configuration %v, want %v", on, got, want)
		}
	}
}
