package node

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

// heldStreamer is a SnapshotStreamer whose streams complete only when the test says so (or
// at once, with auto). A stream encodes into a buffer and saves it in the LogStore, which
// is what a streaming store ends up holding.
type heldStreamer struct {
	heldSaver
	auto     bool
	nothing  bool // the store kept a newer snapshot and wrote nothing (size 0)
	meta     raft.SnapshotMetadata
	encodeTo func(io.Writer) error
	data     []byte // the last streamed data
	streamed bool
	streams  []raft.Index
}

var _ SnapshotStreamer = (*heldStreamer)(nil)

func (s *heldStreamer) Stream(m raft.SnapshotMetadata, encode func(io.Writer) error) {
	if s.encodeTo != nil || s.encode != nil || s.pending != nil {
		panic("a snapshot started while another is in progress")
	}
	s.meta, s.encodeTo, s.streamed, s.data = m, encode, false, nil
	s.streams = append(s.streams, m.Index)
	if s.auto {
		s.finishStream()
	}
}

func (s *heldStreamer) Streamed() (uint64, bool, error) {
	if s.nothing {
		return 0, s.streamed, s.fail
	}
	return uint64(len(s.data)), s.streamed, s.fail
}

func (s *heldStreamer) Wait() error {
	s.finishStream()
	return s.heldSaver.Wait()
}

// writeStream runs the encoder of the stream in progress, as a streaming store does before it
// flushes and syncs the file; finishStream then makes the stream durable.
func (s *heldStreamer) writeStream() {
	if s.encodeTo == nil || s.data != nil {
		return
	}
	var b bytes.Buffer
	if err := s.encodeTo(&b); err != nil {
		panic(err)
	}
	s.data = b.Bytes()
}

func (s *heldStreamer) finishStream() {
	if s.encodeTo == nil {
		return
	}
	s.writeStream()
	if s.fail == nil && !s.nothing {
		if err := s.store.SaveSnapshot(raft.Snapshot{Metadata: s.meta, Data: bytes.Clone(s.data)}); err != nil {
			panic(err)
		}
	}
	s.encodeTo, s.streamed = nil, true
}

// With a SnapshotStreamer a replica streams its own snapshots: applying pauses while the
// machine is written out (commits go on), the bytes are the machine's Snapshot, and once
// the snapshot is durable Raft's storage gets its metadata without the data, which a lagging
// follower is sent read back from the LogStore. A failed stream stops the replica.
func TestSnapshotsStreamed(t *testing.T) {
	streamers := map[raft.NodeID]*heldStreamer{}
	c := newClusterWith(t, 3, 5, func(cfg *Config) {
		s := &heldStreamer{heldSaver: heldSaver{store: cfg.Log}, auto: cfg.ID != 1}
		streamers[cfg.ID] = s
		cfg.Snapshots = s
	})
	c.elect(1)
	down := c.reps[3]
	c.reps[3] = nil // partitioned away
	c.propose(1, bootstrapCmd(1))
	s := streamers[1]
	next := uint64(2)
	for ; s.encodeTo == nil && next < 10; next++ {
		c.propose(1, userCmd(next))
	}
	if s.encodeTo == nil || s.encode != nil {
		t.Fatalf("leader did not start streaming a snapshot (encoding: %v)", s.encode != nil)
	}
	at := c.reps[1].Status().Applied
	if term, _ := c.reps[1].Storage().Term(at); s.meta.Index != at || s.meta.Term != term ||
		!reflect.DeepEqual(s.meta.ConfState, c.reps[1].ConfState()) {
		t.Fatalf("streaming %+v, want index %d term %d conf %+v", s.meta, at, term, c.reps[1].ConfState())
	}
	want, _ := c.reps[1].Machine().Snapshot()
	// While the leader streams, a proposal commits but the leader neither applies nor
	// answers it.
	done := false
	c.reps[1].Propose(userCmd(next), func(*commandpb.Result, error) { done = true })
	next++
	c.settle()
	if st := c.reps[1].Status(); st.Applied != at || st.Commit <= at || done {
		t.Fatalf("while streaming: applied %d commit %d answered %v, want applied %d and a later commit", st.Applied, st.Commit, done, at)
	}
	// Once the machine is written out, applying resumes while the file is made durable; the
	// snapshot enters Raft's storage only when it is.
	s.writeStream()
	c.reps[1].Tick()
	c.settle()
	if !done {
		t.Fatal("the proposal was not answered once the machine was written out")
	}
	if first, _ := c.reps[1].Storage().FirstIndex(); first > 2 {
		t.Fatalf("in-memory log compacted (first index %d) before the snapshot is durable", first)
	}
	s.finishStream()
	c.settle()
	if !bytes.Equal(s.data, want) {
		t.Fatalf("streamed %d bytes, differing from the machine's %d-byte Snapshot", len(s.data), len(want))
	}
	if len(s.saves) != 0 {
		t.Fatalf("saves after a stream: %v", s.saves)
	}
	if first, _ := c.reps[1].Storage().FirstIndex(); first <= 2 {
		t.Fatalf("in-memory log not compacted (first index %d)", first)
	}
	// Raft's storage holds the metadata only: the data comes from the LogStore.
	snap, err := c.reps[1].Storage().Snapshot()
	if err != nil || snap.Metadata.Index != at || !bytes.Equal(snap.Data, want) {
		t.Fatalf("raft storage snapshot %d (%d bytes), %v; want %d read back", snap.Metadata.Index, len(snap.Data), err, at)
	}
	saved := c.logs[1].snap
	c.logs[1].snap = raft.Snapshot{}
	if _, err := c.reps[1].Storage().Snapshot(); !errors.Is(err, raft.ErrSnapshotTemporarilyUnavailable) {
		t.Fatalf("raft storage still holds the data in memory (Snapshot: %v)", err)
	}
	c.logs[1].snap = saved
	// Further snapshots stream too, one at a time.
	for i := next; i < 30; i++ {
		c.reps[1].Propose(userCmd(i), func(*commandpb.Result, error) {})
		c.settle()
		s.finishStream()
		c.settle()
	}
	if len(s.streams) < 2 {
		t.Fatalf("streams at %v, want more than one", s.streams)
	}
	c.settle()
	// The lagging follower is sent the snapshot read back from the leader's LogStore.
	c.reconnectFromSnapshot(3, down, "user29")
	// A failed stream stops the replica once it completes.
	for i := uint64(30); s.encodeTo == nil && i < 40; i++ {
		c.reps[1].Propose(userCmd(i), func(*commandpb.Result, error) {})
		c.settle()
	}
	if s.encodeTo == nil {
		t.Fatal("no stream started")
	}
	s.fail = errors.New("disk full")
	s.finishStream()
	if err := c.reps[1].Process(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Process after a failed snapshot stream: %v", err)
	}
}

// A stream the store answers with size 0 (it holds a snapshot at least as new and wrote
// nothing) leaves Raft's storage as it was: no metadata for a file that does not exist, and
// the replica goes on.
func TestStreamThatStoredNothing(t *testing.T) {
	streamers := map[raft.NodeID]*heldStreamer{}
	c := newClusterWith(t, 3, 5, func(cfg *Config) {
		s := &heldStreamer{heldSaver: heldSaver{store: cfg.Log}, auto: true, nothing: cfg.ID == 1}
		streamers[cfg.ID] = s
		cfg.Snapshots = s
	})
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	for i := uint64(2); i < 12; i++ {
		c.propose(1, userCmd(i))
	}
	if len(streamers[1].streams) == 0 {
		t.Fatal("no stream started")
	}
	if snap, _ := c.reps[1].Storage().Snapshot(); !snap.IsEmpty() {
		t.Fatalf("raft storage took snapshot %d that the store never wrote", snap.Metadata.Index)
	}
	if first, _ := c.reps[1].Storage().FirstIndex(); first != 1 {
		t.Fatalf("in-memory log compacted to %d without a snapshot", first)
	}
	if _, err := c.reps[2].Machine().LookupUser("user11"); err != nil {
		t.Fatalf("cluster stopped: %v", err)
	}
}
