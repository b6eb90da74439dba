package raft

import (
	"slices"
	"strings"
	"testing"
)

// asyncTrio is three RawNodes wired by hand: node 1 leads and writes in the background
// (AdvanceWriting), the followers persist synchronously.
type asyncTrio struct {
	t   *testing.T
	rns map[NodeID]*RawNode
	sts map[NodeID]*MemoryStorage
	// queued messages, in send order
	msgs []Message
	// async: node 1 advances its Readies with AdvanceWriting (once it leads)
	async bool
	// leaderApplied: indexes node 1 was handed for applying
	leaderApplied []Index
}

func newAsyncTrio(t *testing.T) *asyncTrio {
	a := &asyncTrio{t: t, rns: map[NodeID]*RawNode{}, sts: map[NodeID]*MemoryStorage{}}
	for id := NodeID(1); id <= 3; id++ {
		a.sts[id] = NewMemoryStorage()
		a.rns[id] = newTestRawNode(t, id, 3, a.sts[id], nil)
	}
	if err := a.rns[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	a.settle(nil)
	if a.rns[1].raft.state != StateLeader {
		t.Fatalf("node 1 is %s, want leader", a.rns[1].raft.state)
	}
	a.async = true
	return a
}

// sync runs node id's Readies (node 1's the asynchronous way once it leads) and queues
// their messages.
func (a *asyncTrio) sync(id NodeID) {
	rn, st := a.rns[id], a.sts[id]
	for rn.HasReady() {
		rd := rn.Ready()
		if err := st.Append(rd.Entries); err != nil {
			a.t.Fatal(err)
		}
		if !rd.HardState.IsEmpty() {
			_ = st.SetHardState(rd.HardState)
		}
		a.msgs = append(a.msgs, rd.Messages...)
		if id == 1 && a.async {
			for _, e := range rd.CommittedEntries {
				a.leaderApplied = append(a.leaderApplied, e.Index)
			}
			rn.AdvanceWriting(rd)
		} else {
			rn.Advance(rd)
		}
	}
}

// settle delivers queued messages (those keep accepts) and runs every node synchronously until
// nothing moves.
func (a *asyncTrio) settle(keep func(Message) bool) {
	for range 100 {
		for id := NodeID(1); id <= 3; id++ {
			a.sync(id)
		}
		if len(a.msgs) == 0 {
			return
		}
		ms := a.msgs
		a.msgs = nil
		for _, m := range ms {
			if keep == nil || keep(m) {
				stepOK(a.t, a.rns[m.To], m)
			}
		}
	}
	a.t.Fatal("cluster did not settle")
}

// write takes the leader's next Ready the asynchronous way and returns its last entry.
func (a *asyncTrio) write() Entry {
	rn := a.rns[1]
	rd := rn.Ready()
	if len(rd.Entries) == 0 {
		a.t.Fatal("leader Ready without entries")
	}
	if err := a.sts[1].Append(rd.Entries); err != nil {
		a.t.Fatal(err)
	}
	a.msgs = append(a.msgs, rd.Messages...)
	rn.AdvanceWriting(rd)
	return rd.Entries[len(rd.Entries)-1]
}

func TestAdvanceWritingCountsTheLeaderCopyOnlyOncePersisted(t *testing.T) {
	a := newAsyncTrio(t)
	leader := a.rns[1]
	if err := leader.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	last := a.write()
	if leader.HasReady() {
		if rd := leader.Ready(); len(rd.Entries) > 0 {
			t.Fatalf("entries %d.. handed out again while being written", rd.Entries[0].Index)
		}
	}
	// Only node 2 hears of the entry: its copy plus the leader's unwritten one is no quorum.
	a.settle(func(m Message) bool { return m.To != 3 && m.From != 3 })
	if c := leader.raft.raftLog.committed; c >= last.Index {
		t.Fatalf("committed %d with one durable copy of %d", c, last.Index)
	}
	leader.Persisted(last.Index, last.Term)
	a.settle(func(m Message) bool { return m.To != 3 && m.From != 3 })
	if c := leader.raft.raftLog.committed; c < last.Index {
		t.Fatalf("committed %d after the leader's write of %d", c, last.Index)
	}
}

func TestAdvanceWritingCommitsOnTheFollowersCopies(t *testing.T) {
	a := newAsyncTrio(t)
	leader := a.rns[1]
	if err := leader.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	last := a.write()
	a.settle(nil)
	if c := leader.raft.raftLog.committed; c < last.Index {
		t.Fatalf("committed %d although both followers hold %d", c, last.Index)
	}
	// The leader applies the committed entry while its own write is still running.
	if !slices.Contains(a.leaderApplied, last.Index) {
		t.Fatalf("leader applied %v: committed entry %d not handed out before its write finished", a.leaderApplied, last.Index)
	}
	// A stale report (the term does not match) changes nothing.
	leader.Persisted(last.Index, last.Term+1)
	if got := leader.raft.raftLog.stableLastIndex(); got >= last.Index {
		t.Fatalf("stable up to %d after a report with the wrong term", got)
	}
	leader.Persisted(last.Index, last.Term)
	if got := leader.raft.raftLog.stableLastIndex(); got != last.Index {
		t.Fatalf("stable up to %d, want %d", got, last.Index)
	}
}

func TestAdvanceWritingRefusesAVoteChange(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "AdvanceWriting") {
			t.Fatalf("AdvanceWriting of a candidate's vote: recovered %v, want a panic", r)
		}
	}()
	rn.AdvanceWriting(rd)
}

// TestTruncationHandsOutSupersededEntriesAgain: entries being written that a new leader
// replaces come out again in the next Ready, so the driver writes the replacement.
func TestTruncationHandsOutSupersededEntriesAgain(t *testing.T) {
	var u unstable
	u.offset, u.inProgress = 5, 5
	u.truncateAndAppend([]Entry{{Index: 5, Term: 1}, {Index: 6, Term: 1}, {Index: 7, Term: 1}})
	u.inProgress = 8 // all three handed out
	u.truncateAndAppend([]Entry{{Index: 6, Term: 2}})
	if u.inProgress != 6 || u.end() != 7 {
		t.Fatalf("in progress up to %d, end %d; want 6 and 7", u.inProgress, u.end())
	}
	u.stableTo(5, 1)
	if u.offset != 6 || u.inProgress != 6 {
		t.Fatalf("offset %d in progress %d after stableTo(5); want 6, 6", u.offset, u.inProgress)
	}
}
