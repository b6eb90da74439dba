package rafttest

import (
	"encoding/binary"
	"fmt"

	"github.com/raftchat/raftchat/raft"
)

// StateMachine is the toy application every node runs: a hash chain over the applied entries.
// Two replicas that applied the same entries in the same order hold equal values, so comparing
// (Index, Hash) pairs checks state machine safety without keeping whole logs around.
type StateMachine struct {
	// Index is the last applied index.
	Index raft.Index
	// Hash folds in the term, index, type and data of every applied entry, in order.
	Hash uint64
}

const fnvPrime = 1099511628211

// Apply folds e into the chain. Entries must arrive in index order without gaps; a gap means
// the driver or raft skipped an entry, which the caller reports.
func (s *StateMachine) Apply(e raft.Entry) error {
	if e.Index != s.Index+1 {
		return fmt.Errorf("apply index %d after %d: not contiguous", e.Index, s.Index)
	}
	h := s.Hash ^ 14695981039346656037
	var buf [17]byte
	binary.BigEndian.PutUint64(buf[0:8], uint64(e.Term))
	binary.BigEndian.PutUint64(buf[8:16], uint64(e.Index))
	buf[16] = byte(e.Type)
	for _, b := range buf {
		h = (h ^ uint64(b)) * fnvPrime
	}
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * fnvPrime
	}
	s.Hash = h
	s.Index = e.Index
	return nil
}

// Encode returns the snapshot form of the state machine.
func (s StateMachine) Encode() []byte {
	buf := make([]byte, 16)
	binary.BigEndian.PutUint64(buf[0:8], uint64(s.Index))
	binary.BigEndian.PutUint64(buf[8:16], s.Hash)
	return buf
}

// DecodeStateMachine parses what Encode produced.
func DecodeStateMachine(data []byte) (StateMachine, error) {
	if len(data) != 16 {
		return StateMachine{}, fmt.Errorf("decode state machine: %d bytes, want 16", len(data))
	}
	return StateMachine{
		Index: raft.Index(binary.BigEndian.Uint64(data[0:8])),
		Hash:  binary.BigEndian.Uint64(data[8:16]),
	}, nil
}
