package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// Tests of the rules of the Raft paper ("In Search of an Understandable Consensus Algorithm",
// extended version) and Ongaro's thesis, each citing its section.

// §5.1: "If a server receives a request with a stale term number, it rejects the request";
// a higher term makes any server a follower of that term.
func TestHigherTermMakesFollower(t *testing.T) {
	for _, role := range []StateType{StateFollower, StateCandidate, StateLeader} {
		t.Run(role.String(), func(t *testing.T) {
			st := NewMemoryStorage()
			rn := newTestRawNode(t, 1, 3, st, nil)
			switch role {
			case StateCandidate:
				_ = rn.Campaign()
			case StateLeader:
				_ = rn.Campaign()
				stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVoteResp, Term: 1})
			default:
			}
			drain(t, rn, st)
			if rn.raft.state != role {
				t.Fatalf("setup: state %s, want %s", rn.raft.state, role)
			}
			stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 5})
			if rn.raft.state != StateFollower || rn.raft.term != 5 || rn.raft.lead != 2 {
				t.Fatalf("after higher-term MsgApp: state %s term %d lead %d", rn.raft.state, rn.raft.term, rn.raft.lead)
			}
		})
	}
}

// §5.1: a request with a stale term is rejected and changes nothing.
func TestStaleTermMessageIgnored(t *testing.T) {
	st := storageWithTerms(1, 2)
	_ = st.SetHardState(HardState{Term: 3})
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 2, Index: 2, LogTerm: 2,
		Entries: []Entry{{Index: 3, Term: 2}}})
	d := drain(t, rn, st)
	if rn.raft.raftLog.lastIndex() != 2 || rn.raft.lead != None || len(d.msgs) != 0 {
		t.Fatalf("stale MsgApp changed state: last %d lead %d msgs %v", rn.raft.raftLog.lastIndex(), rn.raft.lead, d.msgs)
	}
	// With CheckQuorum the stale leader is told the current term so it steps down.
	rn = newTestRawNode(t, 1, 3, st, func(c *Config) { c.CheckQuorum = true })
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 2})
	d = drain(t, rn, st)
	if len(d.msgs) != 1 || d.msgs[0].Type != MsgAppResp || d.msgs[0].Term != 3 {
		t.Fatalf("want one MsgAppResp at term 3, got %+v", d.msgs)
	}
}

// §5.2: servers start as followers.
func TestStartAsFollower(t *testing.T) {
	rn := newTestRawNode(t, 1, 3, NewMemoryStorage(), nil)
	if rn.raft.state != StateFollower || rn.raft.term != 0 {
		t.Fatalf("state %s term %d", rn.raft.state, rn.raft.term)
	}
}

// §5.2: a leader sends periodic heartbeats to maintain its authority.
func TestLeaderSendsHeartbeats(t *testing.T) {
	nw := electLeader(t, 3, func(c *Config) { c.HeartbeatIntervalTicks = 2 })
	ld := nw.nodes[1]
	ld.rn.Tick()
	if d := drain(t, ld.rn, ld.st); len(msgsOf(d.msgs, MsgHeartbeat)) != 0 {
		t.Fatalf("heartbeat sent after 1 of 2 ticks")
	}
	ld.rn.Tick()
	d := drain(t, ld.rn, ld.st)
	hb := msgsOf(d.msgs, MsgHeartbeat)
	if len(hb) != 2 || hb[0].To != 2 || hb[1].To != 3 {
		t.Fatalf("heartbeats = %+v, want one to each of 2 and 3", hb)
	}
}

// §5.2: a follower that hears nothing for an election timeout becomes a candidate, increments
// its term, votes for itself and requests votes from every other server.
func TestFollowerStartsElection(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	for i := 0; i < 2*DefaultElectionTimeoutTicks; i++ {
		rn.Tick()
	}
	if rn.raft.state != StateCandidate || rn.raft.term != 1 || rn.raft.vote != 1 {
		t.Fatalf("state %s term %d vote %d", rn.raft.state, rn.raft.term, rn.raft.vote)
	}
	d := drain(t, rn, st)
	votes := msgsOf(d.msgs, MsgVote)
	if len(votes) != 2 || votes[0].Term != 1 {
		t.Fatalf("vote requests %+v", votes)
	}
	if st.HardState().Vote != 1 || st.HardState().Term != 1 || !d.readys[0].MustSync {
		t.Fatalf("self vote not persisted with MustSync: %+v", st.HardState())
	}
}

// §5.2: election timeouts are chosen randomly from a fixed interval, from the seeded source;
// the same seed gives the same timeouts.
func TestElectionTimeoutRandomized(t *testing.T) {
	seen := map[int]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		mk := func() int {
			rn := newTestRawNode(t, 1, 3, NewMemoryStorage(), func(c *Config) { c.Seed = seed })
			return rn.raft.randomizedElectionTimeout
		}
		a, b := mk(), mk()
		if a != b {
			t.Fatalf("seed %d: timeouts %d and %d differ", seed, a, b)
		}
		if a < DefaultElectionTimeoutTicks || a >= 2*DefaultElectionTimeoutTicks {
			t.Fatalf("timeout %d outside [%d, %d)", a, DefaultElectionTimeoutTicks, 2*DefaultElectionTimeoutTicks)
		}
		seen[a] = true
	}
	if len(seen) < DefaultElectionTimeoutTicks/2 {
		t.Fatalf("only %d distinct timeouts over 200 seeds", len(seen))
	}
}

// §5.2: each server votes for at most one candidate in a given term, first come first served.
func TestVoteOncePerTerm(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 1})
	stepOK(t, rn, Message{From: 3, To: 1, Type: MsgVote, Term: 1})
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 1}) // a retry is granted again
	d := drain(t, rn, st)
	resp := msgsOf(d.msgs, MsgVoteResp)
	if len(resp) != 3 || resp[0].Reject || !resp[1].Reject || resp[2].Reject {
		t.Fatalf("vote responses %+v, want grant, reject, grant", resp)
	}
	if st.HardState().Vote != 2 {
		t.Fatalf("persisted vote %d, want 2", st.HardState().Vote)
	}
}

// §5.2: a candidate wins with votes from a majority, and loses when a majority rejects.
func TestCandidateElectionOutcome(t *testing.T) {
	for _, tc := range []struct {
		n       int
		grants  []NodeID
		rejects []NodeID
		want    StateType
	}{
		{1, nil, nil, StateLeader},
		{3, []NodeID{2}, nil, StateLeader},
		{3, nil, []NodeID{2}, StateCandidate},
		{3, nil, []NodeID{2, 3}, StateFollower},
		{5, []NodeID{2}, []NodeID{3}, StateCandidate},
		{5, []NodeID{2, 3}, nil, StateLeader},
		{5, nil, []NodeID{2, 3, 4}, StateFollower},
	} {
		t.Run(fmt.Sprintf("%d-%v-%v", tc.n, tc.grants, tc.rejects), func(t *testing.T) {
			rn := newTestRawNode(t, 1, tc.n, NewMemoryStorage(), nil)
			_ = rn.Campaign()
			for _, id := range tc.grants {
				stepOK(t, rn, Message{From: id, To: 1, Type: MsgVoteResp, Term: 1})
			}
			for _, id := range tc.rejects {
				stepOK(t, rn, Message{From: id, To: 1, Type: MsgVoteResp, Term: 1, Reject: true})
			}
			if rn.raft.state != tc.want || rn.raft.term != 1 {
				t.Fatalf("state %s term %d, want %s term 1", rn.raft.state, rn.raft.term, tc.want)
			}
		})
	}
}

// §5.2: a candidate that receives AppendEntries from a leader of its term returns to follower.
func TestCandidateFallsBackOnAppend(t *testing.T) {
	rn := newTestRawNode(t, 1, 3, NewMemoryStorage(), nil)
	_ = rn.Campaign()
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 1})
	if rn.raft.state != StateFollower || rn.raft.lead != 2 || rn.raft.term != 1 {
		t.Fatalf("state %s lead %d term %d", rn.raft.state, rn.raft.lead, rn.raft.term)
	}
}

// §5.2: split votes are resolved by randomized timeouts: a cluster always elects a leader.
func TestElectionConvergesWithTicks(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		nw := newTestNet(t, 5, func(c *Config) { c.Seed = seed })
		nw.tickAll(10 * DefaultElectionTimeoutTicks)
		if nw.leader() == None {
			t.Fatalf("seed %d: no leader after 10 election timeouts", seed)
		}
	}
}

// §5.3: the leader appends a proposal, replicates it, commits it once a majority stores it,
// and every server applies it in log order.
func TestReplicationAndApply(t *testing.T) {
	nw := electLeader(t, 3, nil)
	for i := 0; i < 10; i++ {
		if err := nw.propose(1, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := nw.appliedData(1)
	if len(want) != 10 {
		t.Fatalf("leader applied %v", want)
	}
	for _, id := range nw.ids {
		if got := nw.appliedData(id); !slices.Equal(got, want) {
			t.Fatalf("node %d applied %v, want %v", id, got, want)
		}
		if !sameLog(nw, 1, id) {
			t.Fatalf("logs differ: %v vs %v", nw.termsOf(1), nw.termsOf(id))
		}
	}
}

// §5.3: a follower refuses entries unless its log holds the preceding entry (consistency
// check), and answers with a hint.
func TestFollowerRejectsMismatchedPrev(t *testing.T) {
	st := storageWithTerms(1, 1, 2)
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 3, Index: 3, LogTerm: 3,
		Entries: []Entry{{Index: 4, Term: 3}}})
	d := drain(t, rn, st)
	resp := msgsOf(d.msgs, MsgAppResp)
	if len(resp) != 1 || !resp[0].Reject || resp[0].Index != 3 || resp[0].RejectHint != 3 || resp[0].HintTerm != 2 {
		t.Fatalf("response %+v, want reject of 3 with hint (3, term 2)", resp)
	}
	if rn.raft.raftLog.lastIndex() != 3 {
		t.Fatal("rejected entries were appended")
	}
}

// §5.3: if an existing entry conflicts with a new one, the follower deletes it and all that
// follow; entries it already has are not truncated by a stale, shorter append.
func TestFollowerTruncatesConflicts(t *testing.T) {
	st := storageWithTerms(1, 1, 2, 2)
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 3, Index: 2, LogTerm: 1,
		Entries: []Entry{{Index: 3, Term: 3}}})
	drain(t, rn, st)
	if got := rn.raft.raftLog.lastIndex(); got != 3 {
		t.Fatalf("last index %d, want 3 (conflicting entry 4 removed)", got)
	}
	if tm, _ := st.Term(3); tm != 3 {
		t.Fatalf("term at 3 = %d, want 3", tm)
	}
	// A duplicate of an older, shorter append must not truncate anything.
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 3, Index: 3, LogTerm: 3,
		Entries: []Entry{{Index: 4, Term: 3}, {Index: 5, Term: 3}}})
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 3, Index: 3, LogTerm: 3,
		Entries: []Entry{{Index: 4, Term: 3}}})
	drain(t, rn, st)
	if got := rn.raft.raftLog.lastIndex(); got != 5 {
		t.Fatalf("last index %d after a stale duplicate, want 5", got)
	}
}

// §5.3 (end) and Figure 7: with the rejection hint the leader skips a whole conflicting term
// per round trip instead of one entry.
func TestFastBacktracking(t *testing.T) {
	leaderLog := []Term{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}
	followerF := []Term{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}
	nw := newTestNetStores(t, []*MemoryStorage{
		storageWithTerms(leaderLog...), storageWithTerms(followerF...), storageWithTerms(leaderLog...),
	}, nil)
	rejects := 0
	nw.drop = func(m Message) bool {
		if m.Type == MsgAppResp && m.Reject {
			rejects++
		}
		return false
	}
	nw.campaign(1)
	if nw.leader() != 1 {
		t.Fatal("node 1 not elected")
	}
	if !sameLog(nw, 1, 2) {
		t.Fatalf("follower log %v != leader log %v", nw.termsOf(2), nw.termsOf(1))
	}
	if rejects > 2 {
		t.Fatalf("%d rejections, want at most 2 with fast backtracking", rejects)
	}
}

// §5.3 batching: a MsgApp carries at most MaxMessageBytes of entries (but at least one).
func TestMaxMessageBytes(t *testing.T) {
	const payload = 100
	nw := electLeader(t, 3, func(c *Config) { c.MaxMessageBytes = 3 * (payload + entryOverhead) })
	nw.down[2] = true
	for i := 0; i < 10; i++ {
		_ = nw.propose(1, string(make([]byte, payload)))
	}
	delete(nw.down, 2)
	maxEnts := 0
	nw.drop = func(m Message) bool {
		if m.Type == MsgApp && m.To == 2 {
			maxEnts = max(maxEnts, len(m.Entries))
		}
		return false
	}
	nw.tickAll(3)
	if maxEnts != 3 {
		t.Fatalf("largest MsgApp carried %d entries, want 3", maxEnts)
	}
	if !sameLog(nw, 1, 2) {
		t.Fatal("follower did not catch up")
	}
}

// §5.3 pipelining: a replicating follower that does not answer is sent at most
// MaxInflightMessages appends.
func TestInflightWindow(t *testing.T) {
	nw := electLeader(t, 3, func(c *Config) { c.MaxInflightMessages = 4 })
	sent := 0
	nw.drop = func(m Message) bool {
		if m.To == 2 {
			if m.Type == MsgApp && len(m.Entries) > 0 {
				sent++
			}
			return true
		}
		return false
	}
	for i := 0; i < 10; i++ {
		_ = nw.propose(1, "x")
	}
	if sent != 4 {
		t.Fatalf("sent %d appends to a silent follower, want 4", sent)
	}
	if got := len(nw.appliedData(1)); got != 10 {
		t.Fatalf("leader applied %d, want 10 (commit with node 3)", got)
	}
	nw.heal()
	nw.tickAll(5)
	if !sameLog(nw, 1, 2) {
		t.Fatal("follower did not catch up after the window reopened")
	}
}

// §5.3: a follower in the probe state is sent one append at a time.
func TestProbeSendsOneAtATime(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	_ = rn.Campaign()
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVoteResp, Term: 1})
	msgs := drain(t, rn, st).msgs // the no-op goes out to both followers
	for i := 0; i < 3; i++ {
		_ = rn.Propose([]byte("x"))
	}
	msgs = append(msgs, drain(t, rn, st).msgs...)
	n := 0
	for _, m := range msgsOf(msgs, MsgApp) {
		if m.To == 3 && len(m.Entries) > 0 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d appends with entries to a probing follower, want 1", n)
	}
}

// §5.4.1: a voter denies its vote to a candidate whose log is less up-to-date.
func TestVoteRequiresUpToDateLog(t *testing.T) {
	for _, tc := range []struct {
		lastIndex Index
		lastTerm  Term
		grant     bool
	}{
		{3, 2, true},  // same
		{4, 2, true},  // longer
		{2, 2, false}, // shorter, same term
		{1, 3, true},  // higher last term wins regardless of length
		{9, 1, false}, // lower last term loses regardless of length
	} {
		st := storageWithTerms(1, 2, 2)
		rn := newTestRawNode(t, 1, 3, st, nil)
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 5, Index: tc.lastIndex, LogTerm: tc.lastTerm})
		d := drain(t, rn, st)
		resp := msgsOf(d.msgs, MsgVoteResp)
		if len(resp) != 1 || resp[0].Reject == tc.grant {
			t.Errorf("candidate (%d, %d): responses %+v, want grant=%v", tc.lastIndex, tc.lastTerm, resp, tc.grant)
		}
	}
}

// leaderWithOldEntries returns a leader of term 3 whose log holds entries of term 1 and 2
// at indexes 1-2 plus its no-op at index 3, with followers' progress unknown.
func leaderWithOldEntries(t *testing.T, knobs *TestingKnobs) (*RawNode, *MemoryStorage) {
	st := storageWithTerms(1, 2)
	rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.Knobs = knobs })
	_ = rn.Campaign()
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVoteResp, Term: 3})
	drain(t, rn, st)
	if rn.raft.state != StateLeader || rn.raft.term != 3 {
		t.Fatalf("setup: %s term %d", rn.raft.state, rn.raft.term)
	}
	return rn, st
}

// §5.4.2: a leader never commits entries from previous terms by counting replicas; only the
// current term's entries are committed that way (which commits earlier ones indirectly).
func TestCommitOnlyCurrentTermByCounting(t *testing.T) {
	rn, st := leaderWithOldEntries(t, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgAppResp, Term: 3, Index: 2})
	drain(t, rn, st)
	if c := rn.raft.raftLog.committed; c != 0 {
		t.Fatalf("committed %d with only old-term entries replicated, want 0", c)
	}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgAppResp, Term: 3, Index: 3})
	drain(t, rn, st)
	if c := rn.raft.raftLog.committed; c != 3 {
		t.Fatalf("committed %d after the no-op replicated, want 3", c)
	}
}

// §5.4.2 / §8: a new leader appends a no-op entry of its term, so it can commit.
func TestLeaderAppendsNoop(t *testing.T) {
	rn, _ := leaderWithOldEntries(t, nil)
	l := &rn.raft.raftLog
	ents, _ := l.slice(3, 4, 1<<20)
	if l.lastIndex() != 3 || len(ents) != 1 || ents[0].Term != 3 || len(ents[0].Data) != 0 {
		t.Fatalf("leader log tail %+v, want an empty entry of term 3 at index 3", ents)
	}
}

// §5.4.3 leader completeness: a node missing committed entries cannot win an election.
func TestLeaderCompleteness(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.down[3] = true
	for i := 0; i < 3; i++ {
		_ = nw.propose(1, "c")
	}
	committed := nw.r(1).raftLog.committed
	nw.down[1] = true
	delete(nw.down, 3)
	nw.campaign(3) // node 2 refuses: node 3 lacks committed entries
	if nw.r(3).state == StateLeader {
		t.Fatal("stale node 3 was elected")
	}
	nw.campaign(2)
	if nw.leader() != 2 || nw.r(2).raftLog.committed < committed {
		t.Fatalf("leader %d committed %d, want node 2 with >= %d", nw.leader(), nw.r(2).raftLog.committed, committed)
	}
	if !sameLog(nw, 2, 3) {
		t.Fatal("node 3 did not catch up from the new leader")
	}
}

// §6 client interaction: a follower forwards proposals to the leader.
func TestProposalForwarding(t *testing.T) {
	nw := electLeader(t, 3, nil)
	if err := nw.propose(2, "from-follower"); err != nil {
		t.Fatal(err)
	}
	if got := nw.appliedData(3); !slices.Equal(got, []string{"from-follower"}) {
		t.Fatalf("applied %v", got)
	}
}

// §6: without a known leader a proposal fails with an error matching ErrProposalDropped and
// ErrNoLeader.
func TestProposeWithoutLeader(t *testing.T) {
	rn := newTestRawNode(t, 1, 3, NewMemoryStorage(), nil)
	err := rn.Propose([]byte("x"))
	if !errors.Is(err, ErrProposalDropped) || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("follower without leader: %v", err)
	}
	_ = rn.Campaign()
	err = rn.Propose([]byte("x"))
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("candidate: %v", err)
	}
}

// §6.4 (thesis) ReadIndex: the leader answers only after a heartbeat round confirms it still
// leads, at the commit index recorded when the request arrived.
func TestReadIndexConfirmsLeadership(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "a")
	ld := nw.nodes[1]
	ld.rn.ReadIndex([]byte("r1"))
	d := drain(t, ld.rn, ld.st)
	if len(d.reads) != 0 {
		t.Fatal("answered before any acknowledgement")
	}
	hb := msgsOf(d.msgs, MsgHeartbeat)
	if len(hb) != 2 || len(hb[0].Context) == 0 {
		t.Fatalf("heartbeats %+v, want two carrying a read context", hb)
	}
	stepOK(t, ld.rn, Message{From: 2, To: 1, Type: MsgHeartbeatResp, Term: ld.rn.raft.term, Context: hb[0].Context})
	d = drain(t, ld.rn, ld.st)
	if len(d.reads) != 1 || d.reads[0].Index != ld.rn.raft.raftLog.committed || string(d.reads[0].RequestCtx) != "r1" {
		t.Fatalf("read states %+v", d.reads)
	}
}

// §6.4: an isolated leader cannot confirm leadership, so it never answers.
func TestReadIndexIsolatedLeader(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.isolate(1)
	nw.nodes[1].rn.ReadIndex([]byte("r"))
	nw.tickAll(3)
	if len(nw.nodes[1].reads) != 0 {
		t.Fatal("isolated leader answered a ReadIndex")
	}
}

// §6.4 step 1: a new leader waits until its no-op commits before answering.
func TestReadIndexWaitsForNoop(t *testing.T) {
	rn, st := leaderWithOldEntries(t, nil)
	rn.ReadIndex([]byte("r"))
	d := drain(t, rn, st)
	if len(msgsOf(d.msgs, MsgHeartbeat)) != 0 {
		t.Fatal("read served before this term's no-op committed")
	}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgAppResp, Term: 3, Index: 3})
	d = drain(t, rn, st)
	hb := msgsOf(d.msgs, MsgHeartbeat)
	if len(hb) != 2 {
		t.Fatalf("after the no-op committed: heartbeats %+v", hb)
	}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeatResp, Term: 3, Context: hb[0].Context})
	d = drain(t, rn, st)
	if len(d.reads) != 1 || d.reads[0].Index != 3 {
		t.Fatalf("read states %+v, want index 3", d.reads)
	}
}

// §6.4: a follower forwards ReadIndex to the leader and gets the read index back.
func TestReadIndexFollowerForwarding(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "a")
	nw.nodes[2].rn.ReadIndex([]byte("f"))
	nw.settle()
	reads := nw.nodes[2].reads
	if len(reads) != 1 || reads[0].Index != nw.r(1).raftLog.committed || string(reads[0].RequestCtx) != "f" {
		t.Fatalf("follower read states %+v", reads)
	}
}

// §6.4: a single-node cluster is its own quorum and answers at once (after its no-op).
func TestReadIndexSingleNode(t *testing.T) {
	nw := electLeader(t, 1, nil)
	nw.nodes[1].rn.ReadIndex([]byte("s"))
	nw.settle()
	if r := nw.nodes[1].reads; len(r) != 1 || r[0].Index != 1 {
		t.Fatalf("read states %+v", r)
	}
}

// compactLeader proposes n entries on a 3-node cluster while node 3 is down, then snapshots
// and compacts the leader's storage at its applied index.
func compactLeader(t *testing.T, n int) *testNet {
	nw := electLeader(t, 3, nil)
	nw.down[3] = true
	for i := 0; i < n; i++ {
		_ = nw.propose(1, fmt.Sprintf("e%d", i))
	}
	ld := nw.nodes[1]
	applied := ld.rn.raft.raftLog.applied
	cs := ld.rn.ConfState()
	if _, err := ld.st.CreateSnapshot(applied, &cs, []byte("snapshot-data")); err != nil {
		t.Fatal(err)
	}
	if err := ld.st.Compact(applied); err != nil {
		t.Fatal(err)
	}
	return nw
}

// §7: a follower behind the leader's first log index is sent InstallSnapshot, installs it and
// then catches up by normal replication.
func TestSnapshotCatchUp(t *testing.T) {
	nw := compactLeader(t, 5)
	delete(nw.down, 3)
	snaps := 0
	nw.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			snaps++
		}
		return false
	}
	nw.tickAll(3)
	_ = nw.propose(1, "after")
	if snaps != 1 {
		t.Fatalf("%d snapshots sent, want 1", snaps)
	}
	f := nw.nodes[3]
	if snap, _ := f.st.Snapshot(); string(snap.Data) != "snapshot-data" {
		t.Fatalf("follower storage snapshot %q", snap.Data)
	}
	if got := nw.appliedData(3); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("follower applied %v after the snapshot, want [after]", got)
	}
	if f.rn.raft.raftLog.committed != nw.r(1).raftLog.committed {
		t.Fatal("follower commit index differs from leader's")
	}
}

// §7 / Figure 13 rule 7: a follower receiving a snapshot that does not match its log
// discards its entire log, including entries beyond the snapshot.
func TestSnapshotDiscardsConflictingLog(t *testing.T) {
	st := storageWithTerms(1, 1, 1, 1, 1, 1) // uncommitted, from a deposed leader
	rn := newTestRawNode(t, 1, 3, st, nil)
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 3, Term: 2, ConfState: ConfState{Voters: voterIDs(3)}}}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgSnap, Term: 2, Snapshot: &snap})
	d := drain(t, rn, st)
	if rn.raft.raftLog.lastIndex() != 3 || rn.raft.raftLog.committed != 3 {
		t.Fatalf("last %d committed %d, want both 3", rn.raft.raftLog.lastIndex(), rn.raft.raftLog.committed)
	}
	if li, _ := st.LastIndex(); li != 3 {
		t.Fatalf("storage kept entries beyond the snapshot: last %d", li)
	}
	if resp := msgsOf(d.msgs, MsgAppResp); len(resp) != 1 || resp[0].Index != 3 {
		t.Fatalf("response %+v", resp)
	}
}

// §7 / Figure 13 rule 6: if the follower's log holds the snapshot's last entry, it keeps the
// entries after it.
func TestSnapshotKeepsMatchingSuffix(t *testing.T) {
	st := storageWithTerms(1, 1, 2, 2, 2)
	rn := newTestRawNode(t, 1, 3, st, nil)
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 3, Term: 2}}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgSnap, Term: 2, Snapshot: &snap})
	d := drain(t, rn, st)
	if rn.raft.raftLog.lastIndex() != 5 || rn.raft.raftLog.committed != 3 {
		t.Fatalf("last %d committed %d, want 5 and 3", rn.raft.raftLog.lastIndex(), rn.raft.raftLog.committed)
	}
	if len(d.committed) != 3 {
		t.Fatalf("applied %d entries, want the 3 covered by the commit", len(d.committed))
	}
}

// §7: a snapshot older than the commit index is ignored.
func TestStaleSnapshotIgnored(t *testing.T) {
	st := storageWithTerms(1, 1, 1)
	_ = st.SetHardState(HardState{Term: 1, Commit: 3})
	rn := newTestRawNode(t, 1, 3, st, nil)
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 2, Term: 1}}
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgSnap, Term: 1, Snapshot: &snap})
	d := drain(t, rn, st)
	if len(d.readys) == 0 || !d.readys[0].Snapshot.IsEmpty() {
		t.Fatal("stale snapshot was installed")
	}
	if resp := msgsOf(d.msgs, MsgAppResp); len(resp) != 1 || resp[0].Index != 3 {
		t.Fatalf("response %+v, want ack of the commit index 3", resp)
	}
}

// §7: when sending the snapshot failed (ReportSnapshot), the leader probes and sends it again.
func TestReportSnapshotFailureRetries(t *testing.T) {
	nw := compactLeader(t, 3)
	delete(nw.down, 3)
	dropSnaps := true
	snaps := 0
	nw.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			snaps++
			return dropSnaps
		}
		return false
	}
	nw.tickAll(2)
	if snaps != 1 || nw.r(1).progress(3).State.String() != "StateSnapshot" {
		t.Fatalf("snaps %d state %s", snaps, nw.r(1).progress(3).State)
	}
	nw.nodes[1].rn.ReportSnapshot(3, true)
	dropSnaps = false
	nw.tickAll(3)
	if snaps != 2 || !sameLog(nw, 1, 3) {
		t.Fatalf("snaps %d, follower log %v leader %v", snaps, nw.termsOf(3), nw.termsOf(1))
	}
}

// §7: without any report, a lost snapshot is resent after two election timeouts.
func TestLostSnapshotResent(t *testing.T) {
	nw := compactLeader(t, 3)
	delete(nw.down, 3)
	snaps := 0
	nw.drop = func(m Message) bool {
		if m.Type == MsgSnap {
			snaps++
			return snaps == 1
		}
		return false
	}
	nw.tickAll(3 * DefaultElectionTimeoutTicks)
	if snaps != 2 || !sameLog(nw, 1, 3) {
		t.Fatalf("snaps %d, follower log %v", snaps, nw.termsOf(3))
	}
}

// §5.3 / Figure 2 ("reply true if ... entries stored"): an acknowledgement queued for entries
// that a later append replaced before the Ready was taken must not be sent, since the Ready
// persists only the replacing entries.
func TestStaleAckDroppedAfterTruncation(t *testing.T) {
	st := storageWithTerms(1)
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 1, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 1}}})
	stepOK(t, rn, Message{From: 3, To: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 2}}})
	d := drain(t, rn, st)
	for _, m := range msgsOf(d.msgs, MsgAppResp) {
		if m.To == 2 && !m.Reject && m.Index >= 2 {
			t.Fatalf("stale acknowledgement sent: %+v (stored term at 2 is 2)", m)
		}
	}
	if resp := msgsOf(d.msgs, MsgAppResp); len(resp) != 1 || resp[0].To != 3 || resp[0].Index != 2 {
		t.Fatalf("responses %+v, want only the ack to node 3", resp)
	}
	// The same through a snapshot that replaces the log.
	st = storageWithTerms(1)
	rn = newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 1, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 1}}})
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 3, Term: 2}}
	stepOK(t, rn, Message{From: 3, To: 1, Type: MsgSnap, Term: 2, Snapshot: &snap})
	d = drain(t, rn, st)
	if resp := msgsOf(d.msgs, MsgAppResp); len(resp) != 1 || resp[0].To != 3 {
		t.Fatalf("responses %+v, want only the ack of the snapshot", resp)
	}
}

// §6.4: requests with equal contexts (from different nodes, or reused) are answered
// independently.
func TestReadIndexDuplicateContexts(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.nodes[1].rn.ReadIndex([]byte("same"))
	nw.nodes[2].rn.ReadIndex([]byte("same"))
	nw.nodes[3].rn.ReadIndex([]byte("same"))
	nw.nodes[1].rn.ReadIndex([]byte("same"))
	nw.settle()
	for id, want := range map[NodeID]int{1: 2, 2: 1, 3: 1} {
		if got := len(nw.nodes[id].reads); got != want {
			t.Errorf("node %d got %d read states, want %d", id, got, want)
		}
	}
}
