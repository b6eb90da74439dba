package rafttest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func wantViolation(t *testing.T, ch *Checker, substr string) {
	t.Helper()
	err := ch.Err()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("want a violation containing %q, got %v", substr, err)
	}
}

func TestCheckerElectionSafety(t *testing.T) {
	ch := NewChecker()
	ch.ObserveLeader(1, 5)
	ch.ObserveLeader(1, 5)
	ch.ObserveLeader(2, 6)
	if err := ch.Err(); err != nil {
		t.Fatalf("distinct terms: %v", err)
	}
	ch.ObserveLeader(3, 5)
	wantViolation(t, ch, "both leader of term 5")
}

func TestCheckerDurableHardState(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prev, next raft.HardState
		violation  string
	}{
		{"term back", raft.HardState{Term: 3}, raft.HardState{Term: 2}, "durable term went back"},
		{"second vote", raft.HardState{Term: 3, Vote: 1}, raft.HardState{Term: 3, Vote: 2}, "changed its vote"},
		{"commit back", raft.HardState{Term: 3, Commit: 5}, raft.HardState{Term: 3, Commit: 4}, "durable commit went back"},
		{"new term new vote", raft.HardState{Term: 3, Vote: 1}, raft.HardState{Term: 4, Vote: 2}, ""},
		{"first vote", raft.HardState{Term: 3}, raft.HardState{Term: 3, Vote: 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := NewChecker()
			ch.ObserveDurableHardState(1, tc.prev)
			ch.ObserveDurableHardState(1, tc.next)
			if tc.violation == "" {
				if err := ch.Err(); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantViolation(t, ch, tc.violation)
		})
	}
}

func TestCheckerStateMachineSafety(t *testing.T) {
	ch := NewChecker()
	var a, b StateMachine
	ea := raft.Entry{Term: 1, Index: 1, Data: []byte("a")}
	eb := raft.Entry{Term: 2, Index: 1, Data: []byte("b")}
	if err := a.Apply(ea); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(eb); err != nil {
		t.Fatal(err)
	}
	ch.ObserveApplied(1, 1, a, &ea)
	ch.ObserveApplied(2, 2, b, &eb)
	wantViolation(t, ch, "state machine safety")
}

// nodeWithLog returns a bare Node whose durable log has the given terms from index 1.
func nodeWithLog(t *testing.T, id raft.NodeID, terms ...raft.Term) *Node {
	t.Helper()
	st := raft.NewMemoryStorage()
	var ents []raft.Entry
	for i, term := range terms {
		ents = append(ents, raft.Entry{Term: term, Index: raft.Index(i + 1), Data: []byte{byte(term)}})
	}
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	return &Node{ID: id, Storage: st}
}

func TestCheckerLogMatching(t *testing.T) {
	ch := NewChecker()
	// Same term at index 3, different terms at index 2: impossible in Raft (§5.3).
	ch.CheckLogs([]*Node{nodeWithLog(t, 1, 1, 1, 2), nodeWithLog(t, 2, 1, 2, 2)}, nil)
	wantViolation(t, ch, "log matching")

	ch = NewChecker()
	ch.CheckLogs([]*Node{nodeWithLog(t, 1, 1, 1, 2), nodeWithLog(t, 2, 1, 1, 3, 3)}, nil)
	if err := ch.Err(); err != nil {
		t.Fatalf("diverging suffix is legal: %v", err)
	}
}

func TestCheckerLeaderCompleteness(t *testing.T) {
	ch := NewChecker()
	var sm StateMachine
	e := raft.Entry{Term: 1, Index: 1, Data: []byte{1}}
	if err := sm.Apply(e); err != nil {
		t.Fatal(err)
	}
	ch.ObserveApplied(2, 1, sm, &e)
	// Node 1 leads term 2 without the entry committed in term 1.
	ch.CheckLogs([]*Node{nodeWithLog(t, 1, 2)}, map[raft.NodeID]raft.Term{1: 2})
	wantViolation(t, ch, "leader completeness")
}

func TestCheckerStaleRead(t *testing.T) {
	ch := NewChecker()
	ch.ObserveVolatile(1, 0, 7, 7)
	ch.ObserveReadIssued([]byte("r"))
	ch.ObserveReadState(2, raft.ReadState{Index: 7, RequestCtx: []byte("r")})
	if err := ch.Err(); err != nil {
		t.Fatal(err)
	}
	ch.ObserveReadState(2, raft.ReadState{Index: 6, RequestCtx: []byte("r")})
	wantViolation(t, ch, "linearizable read")
}

func TestStateMachineRoundTrip(t *testing.T) {
	var sm StateMachine
	for i := 1; i <= 3; i++ {
		if err := sm.Apply(raft.Entry{Term: 1, Index: raft.Index(i), Data: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DecodeStateMachine(sm.Encode())
	if err != nil || got != sm {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, sm)
	}
	if err := sm.Apply(raft.Entry{Index: 5}); err == nil {
		t.Fatal("a gap in applied indexes must be an error")
	}
	if _, err := DecodeStateMachine([]byte{1}); err == nil {
		t.Fatal("short snapshot data must not decode")
	}
}

// lcg is a tiny deterministic Chooser for the harness's own tests.
type lcg struct{ s uint64 }

func (l *lcg) IntN(_ string, n int) int {
	l.s = l.s*6364136223846793005 + 1442695040888963407
	return int((l.s >> 33) % uint64(n))
}

// TestDeterministicTrace: the same seed gives the same trace, byte for byte (STYLE 7).
func TestDeterministicTrace(t *testing.T) {
	run := func() []byte {
		var out bytes.Buffer
		c := NewCluster(Options{Seed: 42, PreVote: true, CheckQuorum: true, Out: &out, AutoReportSnapshot: true})
		if err := c.AddNodes(5, NodeSetup{}); err != nil {
			t.Fatal(err)
		}
		ch := &lcg{s: 7}
		for i := 0; i < 2000; i++ {
			if _, err := c.RandomStep(ch, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Converge(1000); err != nil {
			t.Fatal(err)
		}
		c.CheckNow()
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs with one seed differ (%d vs %d bytes of trace)", len(a), len(b))
	}
	if len(a) < 10000 {
		t.Fatalf("suspiciously short trace: %d bytes", len(a))
	}
}
