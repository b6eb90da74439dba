package raft

import "testing"

// benchLeader returns a leader of a 3-voter cluster whose followers are both replicating.
func benchLeader(b *testing.B) (*RawNode, *MemoryStorage) {
	st := NewMemoryStorage()
	rn := newTestRawNode(b, 1, 3, st, func(c *Config) { c.MaxInflightMessages = 1 << 16 })
	_ = rn.Campaign()
	stepOK(b, rn, Message{From: 2, To: 1, Type: MsgVoteResp, Term: 1})
	drain(b, rn, st)
	for _, id := range []NodeID{2, 3} {
		stepOK(b, rn, Message{From: id, To: 1, Type: MsgAppResp, Term: 1, Index: 1})
	}
	drain(b, rn, st)
	return rn, st
}

// readyCycle persists and acknowledges one Ready the way a driver would, minus the network.
func readyCycle(rn *RawNode, st *MemoryStorage) int {
	rd := rn.Ready()
	_ = st.Append(rd.Entries)
	if !rd.HardState.IsEmpty() {
		_ = st.SetHardState(rd.HardState)
	}
	n := len(rd.Messages)
	rn.Advance(rd)
	return n
}

// BenchmarkLeaderPropose is the leader's propose path: Propose, then the Ready with the new
// entry and its MsgApps, persisted and advanced. Followers acknowledge every 64 proposals so
// the window and the uncommitted limit never fill.
func BenchmarkLeaderPropose(b *testing.B) {
	rn, st := benchLeader(b)
	data := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		if n := readyCycle(rn, st); n != 2 {
			b.Fatalf("iteration %d: %d messages, want one MsgApp per follower", i, n)
		}
		if i%64 == 63 {
			last := rn.raft.raftLog.lastIndex()
			for _, id := range []NodeID{2, 3} {
				_ = rn.Step(Message{From: id, To: 1, Type: MsgAppResp, Term: 1, Index: last})
			}
			readyCycle(rn, st)
		}
	}
}

// BenchmarkLeaderAppendResp is the leader's commit path: one follower's acknowledgement of the
// next entry, which commits it, then the Ready handing it out for apply.
func BenchmarkLeaderAppendResp(b *testing.B) {
	rn, st := benchLeader(b)
	rn.raft.maxUncommittedSize = 1 << 62
	data := make([]byte, 128)
	for i := 0; i < b.N; i++ {
		_ = rn.Propose(data)
		readyCycle(rn, st)
	}
	first := rn.raft.raftLog.committed + 1
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = rn.Step(Message{From: 2, To: 1, Type: MsgAppResp, Term: 1, Index: first + Index(i)})
		rd := rn.Ready()
		if len(rd.CommittedEntries) != 1 {
			b.Fatalf("committed %d entries", len(rd.CommittedEntries))
		}
		rn.Advance(rd)
	}
}

// BenchmarkProposeToCommit3Node measures one proposal from Propose on the leader until every
// node of a 3-node in-memory cluster has applied it (all messages delivered synchronously).
func BenchmarkProposeToCommit3Node(b *testing.B) {
	nw := electLeader(b, 3, nil)
	ld := nw.nodes[1]
	data := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ld.rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		nw.settle()
		if i%1024 == 0 {
			for _, nd := range nw.nodes {
				nd.applied = nd.applied[:0]
			}
		}
	}
	b.StopTimer()
	if c := nw.r(3).raftLog.committed; c != Index(b.N)+1 {
		b.Fatalf("follower committed %d, want %d", c, b.N+1)
	}
}

// BenchmarkCluster5 is a five-node cluster configured like the simulator's (PreVote,
// CheckQuorum, coalescing) in steady state: each op proposes on the leader and through a
// follower, reads through another follower and ticks every node, then delivers until quiet.
// Storage is compacted as it would be after snapshots, so it stays small.
func BenchmarkCluster5(b *testing.B) {
	nw := electLeader(b, 5, func(c *Config) {
		c.PreVote, c.CheckQuorum, c.CoalesceMessages = true, true, true
	})
	data := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := nw.nodes[1].rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		if err := nw.nodes[2].rn.Propose(data); err != nil {
			b.Fatal(err)
		}
		nw.nodes[3].rn.ReadIndex([]byte("r"))
		for _, id := range nw.ids {
			nw.nodes[id].rn.Tick()
		}
		nw.settle()
		if i%128 == 127 {
			for _, nd := range nw.nodes {
				nd.applied, nd.reads = nd.applied[:0], nd.reads[:0]
				if err := nd.st.Compact(nd.rn.raft.raftLog.applied - 16); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.StopTimer()
	if nw.leader() != 1 {
		b.Fatalf("leader changed to %d", nw.leader())
	}
}
