package raft

import (
	"slices"
	"testing"
)

// storageWithTerms returns a MemoryStorage whose log has one entry per term given, starting at
// index 1, and a HardState at the last term.
func storageWithTerms(terms ...Term) *MemoryStorage {
	st := NewMemoryStorage()
	var ents []Entry
	for i, t := range terms {
		ents = append(ents, Entry{Index: Index(i + 1), Term: t, Data: []byte{byte(i)}})
	}
	_ = st.Append(ents)
	if len(terms) > 0 {
		_ = st.SetHardState(HardState{Term: terms[len(terms)-1]})
	}
	return st
}

func voterIDs(n int) []NodeID {
	ids := make([]NodeID, n)
	for i := range ids {
		ids[i] = NodeID(i + 1)
	}
	return ids
}

// newTestRawNode builds node id of an n-voter cluster over st.
func newTestRawNode(t testing.TB, id NodeID, n int, st *MemoryStorage, mod func(*Config)) *RawNode {
	t.Helper()
	cfg := testConfig(id, voterIDs(n), st)
	if mod != nil {
		mod(&cfg)
	}
	rn, err := NewRawNode(cfg)
	if err != nil {
		t.Fatalf("NewRawNode: %v", err)
	}
	return rn
}

// drained is everything a node emitted while its Readys were drained.
type drained struct {
	msgs      []Message
	entries   []Entry
	committed []Entry
	reads     []ReadState
	readys    []Ready
}

// drain runs the driver loop on rn, persisting to st.
func drain(t testing.TB, rn *RawNode, st *MemoryStorage) drained {
	t.Helper()
	var d drained
	for rn.HasReady() {
		rd := rn.Ready()
		d.readys = append(d.readys, rd)
		if !rd.Snapshot.IsEmpty() {
			if err := st.ApplySnapshot(rd.Snapshot); err != nil {
				t.Fatalf("apply snapshot: %v", err)
			}
		}
		if err := st.Append(rd.Entries); err != nil {
			t.Fatalf("append: %v", err)
		}
		if !rd.HardState.IsEmpty() {
			_ = st.SetHardState(rd.HardState)
		}
		d.msgs = append(d.msgs, rd.Messages...)
		d.entries = append(d.entries, rd.Entries...)
		d.committed = append(d.committed, rd.CommittedEntries...)
		d.reads = append(d.reads, rd.ReadStates...)
		rn.Advance(rd)
	}
	return d
}

// msgsOf filters messages by type.
func msgsOf(ms []Message, t MessageType) []Message {
	var out []Message
	for _, m := range ms {
		if m.Type == t {
			out = append(out, m)
		}
	}
	return out
}

// stepOK steps m into rn and fails the test on error.
func stepOK(t testing.TB, rn *RawNode, m Message) {
	t.Helper()
	if err := rn.Step(m); err != nil {
		t.Fatalf("step %s: %v", m.Type, err)
	}
}

// electLeader makes node 1 of a fresh n-node network leader and settles.
func electLeader(t testing.TB, n int, mod func(*Config)) *testNet {
	t.Helper()
	nw := newTestNet(t, n, mod)
	nw.campaign(1)
	if nw.leader() != 1 {
		t.Fatalf("node 1 did not become leader (state %s)", nw.r(1).state)
	}
	return nw
}

// termsOf lists the terms of node id's log, from index 1.
func (nw *testNet) termsOf(id NodeID) []Term {
	l := &nw.r(id).raftLog
	var out []Term
	for i := l.firstIndex(); i <= l.lastIndex(); i++ {
		t, _ := l.term(i)
		out = append(out, t)
	}
	return out
}

func sameLog(nw *testNet, a, b NodeID) bool {
	return slices.Equal(nw.termsOf(a), nw.termsOf(b)) &&
		nw.r(a).raftLog.firstIndex() == nw.r(b).raftLog.firstIndex()
}
