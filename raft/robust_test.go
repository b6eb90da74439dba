package raft

import "testing"

// randomMessage builds a message of any type with small random fields, from a peer of a
// 3-node cluster to node 1. Most are nonsense; Step must survive all of them.
func randomMessage(p *prng) Message {
	small := func(n uint64) uint64 { return p.intn(n) }
	m := Message{
		Type:       MessageType(small(uint64(len(messageTypeNames)) + 1)),
		To:         1,
		From:       NodeID(2 + small(2)),
		Term:       Term(small(6)),
		LogTerm:    Term(small(6)),
		Index:      Index(small(12)),
		Commit:     Index(small(12)),
		Reject:     small(2) == 0,
		RejectHint: Index(small(12)),
		HintTerm:   Term(small(6)),
	}
	if small(3) == 0 {
		m.Context = []byte{byte(small(3))}
	}
	prev := m.LogTerm
	for i := uint64(0); i < small(4); i++ {
		t := prev + Term(small(2))
		m.Entries = append(m.Entries, Entry{Index: m.Index + 1 + Index(i), Term: t, Data: []byte{1}})
		prev = t
	}
	if m.Type == MsgSnap {
		m.Snapshot = &Snapshot{Metadata: SnapshotMetadata{Index: Index(small(12)), Term: Term(small(uint64(m.Term) + 1))}}
	}
	return m
}

// Step, Tick and the Ready loop survive arbitrary message sequences (under -tags invariants
// every call also sweeps the invariants).
func TestStepSurvivesRandomMessages(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		p := newPRNG(seed, 7)
		st := NewMemoryStorage()
		rn := newTestRawNode(t, 1, 3, st, func(c *Config) {
			c.PreVote, c.CheckQuorum = seed%2 == 0, seed%3 == 0
		})
		for i := 0; i < 300; i++ {
			switch p.intn(10) {
			case 0:
				rn.Tick()
			case 1:
				_ = rn.Propose([]byte("x"))
			case 2:
				rn.ReadIndex([]byte{byte(i)})
			case 3:
				_ = rn.Campaign()
			default:
				_ = rn.Step(randomMessage(&p))
			}
			if p.intn(3) == 0 {
				drain(t, rn, st)
			}
		}
	}
}
