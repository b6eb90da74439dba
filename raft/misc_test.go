package raft

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config { return DefaultConfig(1, []NodeID{1, 2, 3}, NewMemoryStorage()) }
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no id", func(c *Config) { c.ID = None }, "ID"},
		{"id not voter", func(c *Config) { c.ID = 9 }, "not in Voters"},
		{"dup voter", func(c *Config) { c.Voters = []NodeID{1, 2, 2} }, "twice"},
		{"none voter", func(c *Config) { c.Voters = []NodeID{1, 0} }, "None"},
		{"heartbeat", func(c *Config) { c.HeartbeatIntervalTicks = 0 }, "HeartbeatIntervalTicks"},
		{"election", func(c *Config) { c.ElectionTimeoutTicks = 1 }, "ElectionTimeoutTicks"},
		{"storage", func(c *Config) { c.Storage = nil }, "Storage"},
		{"msg bytes", func(c *Config) { c.MaxMessageBytes = 0 }, "MaxMessageBytes"},
		{"inflight", func(c *Config) { c.MaxInflightMessages = 0 }, "MaxInflightMessages"},
		{"uncommitted", func(c *Config) { c.MaxUncommittedBytes = 0 }, "MaxUncommittedBytes"},
		{"per ready", func(c *Config) { c.MaxCommittedBytesPerReady = 0 }, "MaxCommittedBytesPerReady"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want mention of %q", err, tc.want)
			}
			if _, err := NewRawNode(c); err == nil {
				t.Fatal("NewRawNode accepted an invalid config")
			}
		})
	}
}

func TestNewRawNodeRejectsBadState(t *testing.T) {
	st := storageWithTerms(1, 1)
	_ = st.SetHardState(HardState{Term: 1, Commit: 5})
	if _, err := NewRawNode(testConfig(1, voterIDs(3), st)); err == nil {
		t.Fatal("accepted a commit index beyond the log")
	}
	st = storageWithTerms(1, 1)
	cfg := testConfig(1, voterIDs(3), st)
	cfg.Applied = 3
	if _, err := NewRawNode(cfg); err == nil {
		t.Fatal("accepted Applied beyond the last index")
	}
	cfg.Applied = 2
	if rn, err := NewRawNode(cfg); err != nil || rn.Status().Commit != 2 {
		t.Fatalf("Applied beyond a lost commit index: %v", err)
	}
	st = storageWithTerms(1, 1)
	_, _ = st.CreateSnapshot(1, &ConfState{Voters: []NodeID{1, 3}}, nil)
	_, _ = st.CreateSnapshot(2, &ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{2}}, nil)
	if _, err := NewRawNode(testConfig(1, voterIDs(3), st)); err == nil {
		t.Fatal("accepted a snapshot whose configuration has a node both voter and learner")
	}
}

// A snapshot's configuration replaces the bootstrap one: it is the membership as of its index.
func TestSnapshotConfigurationWins(t *testing.T) {
	st := storageWithTerms(1, 1)
	_, _ = st.CreateSnapshot(1, &ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{4}}, nil)
	rn, err := NewRawNode(testConfig(1, voterIDs(3), st))
	if err != nil {
		t.Fatal(err)
	}
	want := ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{4}}
	if got := rn.ConfState(); !got.Equal(want) {
		t.Fatalf("ConfState = %+v, want %+v", got, want)
	}
}

// Ready/Advance contract: MustSync exactly when term, vote, entries or a snapshot changed;
// Ready is not handed out twice before Advance.
func TestReadyMustSync(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgVote, Term: 1})
	rd := rn.Ready()
	if !rd.MustSync || rd.HardState.Vote != 2 || len(rd.Messages) != 1 {
		t.Fatalf("vote Ready: MustSync %v hs %+v msgs %d", rd.MustSync, rd.HardState, len(rd.Messages))
	}
	if rn.HasReady() {
		t.Fatal("HasReady true while a Ready is outstanding")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("second Ready before Advance did not panic")
			}
		}()
		rn.Ready()
	}()
	rn.Advance(rd)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgApp, Term: 1, Entries: []Entry{{Index: 1, Term: 1}}})
	rd = rn.Ready()
	if !rd.MustSync || len(rd.Entries) != 1 {
		t.Fatalf("entries Ready: MustSync %v entries %d", rd.MustSync, len(rd.Entries))
	}
	_ = st.Append(rd.Entries)
	rn.Advance(rd)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1, Commit: 1})
	rd = rn.Ready()
	if rd.MustSync || rd.HardState.Commit != 1 || len(rd.CommittedEntries) != 1 {
		t.Fatalf("commit-only Ready: MustSync %v hs %+v committed %d", rd.MustSync, rd.HardState, len(rd.CommittedEntries))
	}
	rn.Advance(rd)
	if rn.HasReady() {
		t.Fatal("HasReady after everything was handled")
	}
}

// A restarted node resumes at its persisted term and vote, and re-delivers committed entries
// after Config.Applied.
func TestRestartRecoversState(t *testing.T) {
	nw := electLeader(t, 3, nil)
	for i := 0; i < 3; i++ {
		_ = nw.propose(1, fmt.Sprintf("v%d", i))
	}
	before := nw.r(2)
	term, vote, commit := before.term, before.vote, before.raftLog.committed
	nw.restart(2)
	r := nw.r(2)
	if r.term != term || r.vote != vote || r.raftLog.committed != commit || r.state != StateFollower {
		t.Fatalf("restart: term %d vote %d commit %d state %s", r.term, r.vote, r.raftLog.committed, r.state)
	}
	nw.settle()
	if got := nw.appliedData(2); !slices.Equal(got, []string{"v0", "v1", "v2"}) {
		t.Fatalf("re-applied %v", got)
	}
	// With Applied set, only later entries come back.
	nd := nw.nodes[2]
	cfg := nd.cfg
	cfg.Applied = commit - 1
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := drain(t, rn, nd.st); len(d.committed) != 1 || d.committed[0].Index != commit {
		t.Fatalf("with Applied: committed %+v", d.committed)
	}
}

// MaxCommittedBytesPerReady bounds each Ready's CommittedEntries.
func TestMaxCommittedBytesPerReady(t *testing.T) {
	st := storageWithTerms(1, 1, 1, 1, 1)
	_ = st.SetHardState(HardState{Term: 1, Commit: 5})
	rn := newTestRawNode(t, 1, 3, st, func(c *Config) { c.MaxCommittedBytesPerReady = 2 * (1 + entryOverhead) })
	d := drain(t, rn, st)
	if len(d.committed) != 5 || len(d.readys) != 3 {
		t.Fatalf("%d entries over %d readys, want 5 over 3", len(d.committed), len(d.readys))
	}
}

// MaxUncommittedBytes: a leader refuses proposals beyond the limit until entries commit.
func TestMaxUncommittedBytes(t *testing.T) {
	nw := electLeader(t, 3, func(c *Config) { c.MaxUncommittedBytes = 250 })
	nw.isolate(1)
	big := strings.Repeat("x", 100)
	if err := nw.propose(1, big); err != nil {
		t.Fatal(err)
	}
	if err := nw.propose(1, big); err != nil {
		t.Fatal(err)
	}
	if err := nw.propose(1, big); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("third proposal: %v", err)
	}
	nw.heal()
	nw.tickAll(2)
	if err := nw.propose(1, big); err != nil {
		t.Fatalf("after commit: %v", err)
	}
	// A single proposal over the limit is still accepted when nothing is outstanding.
	nw2 := electLeader(t, 1, func(c *Config) { c.MaxUncommittedBytes = 10 })
	if err := nw2.propose(1, big); err != nil {
		t.Fatalf("oversized lone proposal: %v", err)
	}
}

func TestStepRejectsLocalAndInvalid(t *testing.T) {
	rn := newTestRawNode(t, 1, 3, NewMemoryStorage(), nil)
	for _, typ := range []MessageType{MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus} {
		if err := rn.Step(Message{Type: typ, From: 2}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("%s: %v", typ, err)
		}
	}
	for _, m := range []Message{
		{Type: MsgApp, From: 2},
		{Type: MsgApp, From: 2, Term: 1, LogTerm: 2},
		{Type: MsgApp, From: 2, Term: 2, Index: 1, Entries: []Entry{{Index: 3, Term: 1}}},
		{Type: MsgApp, From: 2, Term: 2, Entries: []Entry{{Index: 1, Term: 3}}},
		{Type: MsgSnap, From: 2, Term: 2},
		{Type: MsgHeartbeat, From: 2},
		{Type: MsgHeartbeat, From: 1, Term: 1},
		{Type: MsgVote, From: 2, Term: 1 << 63},
		{Type: MsgApp, From: 2, Term: 1, Index: 1<<64 - 1},
	} {
		if err := rn.Step(m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	// Requests from outside the configuration are answered (a new voter may campaign before
	// this node applied its addition; a joining node hears from a leader it does not know);
	// answers from outside it change nothing.
	if err := rn.Step(Message{Type: MsgAppResp, From: 99, Term: 5, Index: 1}); err != nil || rn.raft.term != 5 {
		t.Fatalf("answer from a non-member: %v, term %d", err, rn.raft.term)
	}
	if err := rn.Step(Message{Type: MsgHeartbeat, From: 99, Term: 6}); err != nil || rn.raft.lead != 99 {
		t.Fatalf("heartbeat from a non-member leader: %v, lead %d", err, rn.raft.lead)
	}
}

// ReportUnreachable moves a replicating follower back to probing.
func TestReportUnreachable(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "x")
	if s := nw.r(1).progress(2).State.String(); s != "StateReplicate" {
		t.Fatalf("setup: %s", s)
	}
	nw.nodes[1].rn.ReportUnreachable(2)
	if s := nw.r(1).progress(2).State.String(); s != "StateProbe" {
		t.Fatalf("after ReportUnreachable: %s", s)
	}
}

func TestStatus(t *testing.T) {
	nw := electLeader(t, 3, nil)
	_ = nw.propose(1, "x")
	s := nw.nodes[1].rn.Status()
	if s.ID != 1 || s.RaftState != StateLeader || s.Lead != 1 || s.Term != 1 || s.Commit != 2 || s.Applied != 2 {
		t.Fatalf("status %+v", s)
	}
	if len(s.Progress) != 3 || s.Progress[1].ID != 2 || s.Progress[1].Match != 2 || s.Progress[1].State != "StateReplicate" {
		t.Fatalf("progress %+v", s.Progress)
	}
	if f := nw.nodes[2].rn.Status(); f.Progress != nil || f.Lead != 1 {
		t.Fatalf("follower status %+v", f)
	}
	if cs := nw.nodes[1].rn.ConfState(); !slices.Equal(cs.Voters, []NodeID{1, 2, 3}) {
		t.Fatalf("conf state %+v", cs)
	}
}

// Same seed, same inputs: the same messages, byte for byte (DESIGN: the pure core).
func TestDeterministic(t *testing.T) {
	run := func() string {
		nw := newTestNet(t, 5, func(c *Config) { c.Seed = 42; withPreVoteCheckQuorum(c) })
		var b strings.Builder
		nw.drop = func(m Message) bool {
			fmt.Fprintf(&b, "%+v\n", m)
			return m.To == 3 && m.Type == MsgApp && len(m.Entries)%2 == 1
		}
		nw.tickAll(4 * DefaultElectionTimeoutTicks)
		for i := 0; i < 5; i++ {
			_ = nw.propose(NodeID(1+i%5), "p")
		}
		nw.tickAll(5)
		return b.String()
	}
	a, b := run(), run()
	if a != b || a == "" {
		t.Fatal("two runs with the same seed differ")
	}
}

func TestStringers(t *testing.T) {
	if MsgApp.String() != "MsgApp" || MessageType(99).String() != "MessageType(99)" ||
		StateLeader.String() != "StateLeader" || StateType(9).String() != "StateType(9)" {
		t.Fatal("unexpected names")
	}
	if newTestLog(t, 1).String() == "" {
		t.Fatal("empty log string")
	}
}

// An isolated leader holds at most MaxPendingReadIndex unanswered reads.
func TestPendingReadIndexBounded(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.isolate(1)
	for i := 0; i < MaxPendingReadIndex+10; i++ {
		nw.nodes[1].rn.ReadIndex([]byte("r"))
		if i%256 == 0 {
			nw.settle()
		}
	}
	nw.settle()
	if n := len(nw.r(1).readOnly.queue); n != MaxPendingReadIndex {
		t.Fatalf("%d pending reads, want the bound %d", n, MaxPendingReadIndex)
	}
}
