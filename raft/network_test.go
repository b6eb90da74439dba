package raft

import (
	"fmt"
	"testing"
)

// testNode is one in-memory replica driven by the textbook loop from the package doc.
type testNode struct {
	rn      *RawNode
	st      *MemoryStorage
	applied []Entry
	reads   []ReadState
	cfg     Config
}

// testNet is a tiny synchronous network of testNodes used by this package's tests. Messages
// are delivered in FIFO order; drop filters decide which are lost.
type testNet struct {
	t     testing.TB
	ids   []NodeID
	nodes map[NodeID]*testNode
	queue []Message
	// drop returns true for messages to discard.
	drop func(m Message) bool
	// down nodes neither send nor receive.
	down map[NodeID]bool
}

func testConfig(id NodeID, voters []NodeID, st Storage) Config {
	c := DefaultConfig(id, voters, st)
	c.PreVote, c.CheckQuorum = false, false
	return c
}

func newTestNet(t testing.TB, n int, mod func(*Config)) *testNet {
	t.Helper()
	stores := make([]*MemoryStorage, n)
	for i := range stores {
		stores[i] = NewMemoryStorage()
	}
	return newTestNetStores(t, stores, mod)
}

// newTestNetStores builds a network whose node i+1 starts from stores[i].
func newTestNetStores(t testing.TB, stores []*MemoryStorage, mod func(*Config)) *testNet {
	t.Helper()
	nw := &testNet{t: t, nodes: map[NodeID]*testNode{}, down: map[NodeID]bool{}}
	for i := range stores {
		nw.ids = append(nw.ids, NodeID(i+1))
	}
	for i, id := range nw.ids {
		cfg := testConfig(id, nw.ids, stores[i])
		if mod != nil {
			mod(&cfg)
		}
		rn, err := NewRawNode(cfg)
		if err != nil {
			t.Fatalf("new node %d: %v", id, err)
		}
		nw.nodes[id] = &testNode{rn: rn, st: stores[i], cfg: cfg}
	}
	return nw
}

// restart recreates node id from its storage, as after a crash (unpersisted state is lost
// by construction: the storage only holds what Readys said to persist).
func (nw *testNet) restart(id NodeID) {
	nd := nw.nodes[id]
	cfg := nd.cfg
	cfg.Applied = 0
	rn, err := NewRawNode(cfg)
	if err != nil {
		nw.t.Fatalf("restart node %d: %v", id, err)
	}
	nd.rn = rn
	nd.applied = nil
}

// process drains every Ready of node id, following the driver contract.
func (nw *testNet) process(id NodeID) bool {
	nd := nw.nodes[id]
	did := false
	for nd.rn.HasReady() {
		did = true
		rd := nd.rn.Ready()
		if !rd.Snapshot.IsEmpty() {
			if err := nd.st.ApplySnapshot(rd.Snapshot); err != nil {
				nw.t.Fatalf("node %d apply snapshot: %v", id, err)
			}
		}
		if err := nd.st.Append(rd.Entries); err != nil {
			nw.t.Fatalf("node %d append: %v", id, err)
		}
		if !rd.HardState.IsEmpty() {
			_ = nd.st.SetHardState(rd.HardState)
		}
		if !nw.down[id] {
			nw.queue = append(nw.queue, rd.Messages...)
		}
		for _, e := range rd.CommittedEntries {
			if e.Type == EntryConfChange {
				if _, _, err := nd.rn.ApplyConfChange(e.Data); err != nil {
					nw.t.Fatalf("node %d apply conf change at %d: %v", id, e.Index, err)
				}
			}
		}
		nd.applied = append(nd.applied, rd.CommittedEntries...)
		nd.reads = append(nd.reads, rd.ReadStates...)
		nd.rn.Advance(rd)
	}
	return did
}

// settle processes and delivers until the network is quiet.
func (nw *testNet) settle() {
	for round := 0; ; round++ {
		if round > 10000 {
			nw.t.Fatal("network did not settle")
		}
		did := false
		for _, id := range nw.ids {
			if nw.process(id) {
				did = true
			}
		}
		if len(nw.queue) == 0 && !did {
			return
		}
		q := nw.queue
		nw.queue = nil
		for _, m := range q {
			nw.deliver(m)
		}
	}
}

func (nw *testNet) deliver(m Message) {
	if nw.down[m.To] || nw.down[m.From] || (nw.drop != nil && nw.drop(m)) {
		return
	}
	nd, ok := nw.nodes[m.To]
	if !ok {
		nw.t.Fatalf("message to unknown node: %+v", m)
	}
	if err := nd.rn.Step(m); err != nil && m.Type != MsgProp {
		nw.t.Fatalf("node %d step %s: %v", m.To, m.Type, err)
	}
}

// isolate drops every message to or from id.
func (nw *testNet) isolate(id NodeID) {
	nw.drop = func(m Message) bool { return m.To == id || m.From == id }
}

func (nw *testNet) heal() { nw.drop = nil }

func (nw *testNet) campaign(id NodeID) {
	if err := nw.nodes[id].rn.Campaign(); err != nil {
		nw.t.Fatalf("campaign %d: %v", id, err)
	}
	nw.settle()
}

func (nw *testNet) tickAll(n int) {
	for i := 0; i < n; i++ {
		for _, id := range nw.ids {
			if !nw.down[id] {
				nw.nodes[id].rn.Tick()
			}
		}
		nw.settle()
	}
}

func (nw *testNet) leader() NodeID {
	var lead NodeID
	for _, id := range nw.ids {
		if nw.nodes[id].rn.raft.state == StateLeader && !nw.down[id] {
			if lead != None {
				nw.t.Fatalf("two live leaders: %d and %d", lead, id)
			}
			lead = id
		}
	}
	return lead
}

func (nw *testNet) propose(id NodeID, data string) error {
	err := nw.nodes[id].rn.Propose([]byte(data))
	nw.settle()
	return err
}

func (nw *testNet) r(id NodeID) *raft { return &nw.nodes[id].rn.raft }

// appliedData returns the non-empty payloads node id applied, in order.
func (nw *testNet) appliedData(id NodeID) []string {
	var out []string
	for _, e := range nw.nodes[id].applied {
		if len(e.Data) > 0 && e.Type == EntryNormal {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// logTerms renders node id's log as "index:term" pairs for failure messages.
func (nw *testNet) logTerms(id NodeID) string {
	l := &nw.r(id).raftLog
	s := ""
	for i := l.firstIndex(); i <= l.lastIndex(); i++ {
		t, _ := l.term(i)
		s += fmt.Sprintf("%d:%d ", i, t)
	}
	return s
}

func TestSmokeThreeNodes(t *testing.T) {
	nw := newTestNet(t, 3, nil)
	nw.campaign(1)
	if nw.leader() != 1 {
		t.Fatalf("leader = %d, want 1", nw.leader())
	}
	for i := 0; i < 5; i++ {
		if err := nw.propose(NodeID(1+i%3), fmt.Sprintf("p%d", i)); err != nil {
			t.Fatalf("propose: %v", err)
		}
	}
	for _, id := range nw.ids {
		got := nw.appliedData(id)
		if len(got) != 5 {
			t.Fatalf("node %d applied %v, want 5 entries (log %s)", id, got, nw.logTerms(id))
		}
	}
}

func TestSmokeSingleNode(t *testing.T) {
	nw := newTestNet(t, 1, nil)
	nw.campaign(1)
	if err := nw.propose(1, "x"); err != nil {
		t.Fatal(err)
	}
	if got := nw.appliedData(1); len(got) != 1 || got[0] != "x" {
		t.Fatalf("applied %v", got)
	}
}
