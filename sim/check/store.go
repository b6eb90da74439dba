package check

import "github.com/raftchat/raftchat/raft"

// record is what the checker remembers about one log index across the whole run.
type record struct {
	term   raft.Term
	digest uint64
	// commitTerm is the lowest term of a node seen holding the entry as committed: every
	// leader of a later term must hold it (§5.4, Leader Completeness).
	commitTerm    raft.Term
	appliedDigest uint64
	committedBy   raft.NodeID
	appliedBy     raft.NodeID
	committed     bool
	applied       bool
}

// store keeps one record per index from base on, in a dense slice: indexes are consecutive,
// so this costs a fixed ~56 bytes per index and trim releases the prefix nobody can still
// ask about.
type store struct {
	base  raft.Index // index of recs[0]; 1 until the first trim
	recs  []record
	limit raft.Index // highest index ever committed, for leader completeness
	// newly lists indexes in the order their records became committed; newly[k] is event
	// number newlyBase+k. A recordMemo remembers the event count at its check, so a later
	// check learns which records changed without rescanning them.
	newly     []raft.Index
	newlyBase uint64
	// newlyCap bounds the events kept; a memo older than what is kept is simply not used.
	newlyCap int
}

// noteCommitted records that the record at i just became committed.
func (s *store) noteCommitted(i raft.Index) {
	if len(s.newly) >= s.newlyCap {
		n := copy(s.newly, s.newly[s.newlyCap/2:])
		s.newly = s.newly[:n]
		s.newlyBase += uint64(s.newlyCap / 2)
	}
	s.newly = append(s.newly, i)
}

// commitSeq is the number of records that became committed so far.
func (s *store) commitSeq() uint64 { return s.newlyBase + uint64(len(s.newly)) }

// committedSince returns the indexes whose records became committed after event seq, and
// false when those events are no longer kept.
func (s *store) committedSince(seq uint64) ([]raft.Index, bool) {
	if seq < s.newlyBase {
		return nil, false
	}
	return s.newly[seq-s.newlyBase:], true
}

func newStore() *store { return &store{base: 1, newlyCap: 4096} }

// get returns the record for i, or nil if i was trimmed or never seen.
func (s *store) get(i raft.Index) *record {
	if i < s.base || i >= s.base+raft.Index(len(s.recs)) {
		return nil
	}
	return &s.recs[i-s.base]
}

// at returns the record for i, growing the store as needed; nil if i was trimmed.
func (s *store) at(i raft.Index) *record {
	if i < s.base || i == 0 {
		return nil
	}
	for s.base+raft.Index(len(s.recs)) <= i {
		s.recs = append(s.recs, record{})
	}
	return &s.recs[i-s.base]
}

// trim forgets every index below floor.
func (s *store) trim(floor raft.Index) {
	if floor <= s.base {
		return
	}
	n := int(floor - s.base)
	if n > len(s.recs) {
		n = len(s.recs)
	}
	// Copy rather than reslice so the dropped prefix is released.
	rest := make([]record, len(s.recs)-n)
	copy(rest, s.recs[n:])
	s.recs = rest
	s.base = floor
}

// size is the number of indexes remembered.
func (s *store) size() int { return len(s.recs) }
