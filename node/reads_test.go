package node

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// TestServeReadsBookkeeping checks the count and floor that let serveReads skip its scan:
// reads are served once their index is applied, in request order, and cancelling a read
// (before or after its index is known, or from another read's callback) never leaves a
// read unserved or served twice.
func TestServeReadsBookkeeping(t *testing.T) {
	r := &Replica{reads: map[uint64]*pendingRead{}}
	var served []uint64
	cancels := map[uint64]func(){}
	for id := uint64(1); id <= 6; id++ {
		p := &pendingRead{id: id, done: func(error) { served = append(served, id) }}
		binary.BigEndian.PutUint64(p.ctx[:], id)
		r.reads[id] = p
		cancels[id] = func() { r.removeRead(id) }
	}
	state := func(id uint64, index raft.Index) raft.ReadState {
		p := r.reads[id]
		return raft.ReadState{Index: index, RequestCtx: p.ctx[:]}
	}
	step := func(applied raft.Index, want ...uint64) {
		t.Helper()
		r.applied = applied
		r.serveReads()
		if !slices.Equal(served, want) {
			t.Fatalf("applied %d: served %v, want %v", applied, served, want)
		}
	}
	r.noteReadStates([]raft.ReadState{state(2, 5), state(1, 3), state(3, 7), state(5, 9)})
	step(2)
	step(4, 1)
	cancels[3]() // known, not yet servable
	cancels[6]() // index never known
	step(6, 1, 2)
	step(8, 1, 2)
	// Read 4 becomes known below the floor left by read 5; read 4's callback cancels read 5,
	// which was servable in the same pass: it is still served, once.
	r.reads[4].done = func(error) { served = append(served, 4); cancels[5]() }
	r.noteReadStates([]raft.ReadState{state(4, 8)})
	step(9, 1, 2, 4, 5)
	step(20, 1, 2, 4, 5)
	if len(r.reads) != 0 || r.knownReads != 0 {
		t.Fatalf("left %d reads, %d known", len(r.reads), r.knownReads)
	}
}
