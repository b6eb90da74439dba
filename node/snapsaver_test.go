package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

// heldSaver is a SnapshotSaver whose encodings and saves complete only when the test says so.
type heldSaver struct {
	store   LogStore
	encode  func() ([]byte, error)
	data    []byte
	encoded bool
	pending *raft.Snapshot
	saves   []raft.Index
	fail    error
}

func (s *heldSaver) Encode(encode func() ([]byte, error)) {
	if s.encode != nil || s.pending != nil {
		panic("a snapshot started while another is in progress")
	}
	s.encode, s.encoded = encode, false
}

func (s *heldSaver) Encoded() ([]byte, bool, error) {
	if !s.encoded {
		return nil, false, nil
	}
	return s.data, true, nil
}

func (s *heldSaver) Save(snap raft.Snapshot) {
	s.pending = &snap
	s.saves = append(s.saves, snap.Metadata.Index)
}

func (s *heldSaver) Saved() (bool, error) { return s.pending == nil, s.fail }

func (s *heldSaver) Wait() error {
	s.finishEncode()
	s.finishSave()
	return s.fail
}

func (s *heldSaver) finishEncode() {
	if s.encode != nil {
		var err error
		if s.data, err = s.encode(); err != nil {
			panic(err)
		}
		s.encode, s.encoded = nil, true
	}
}

func (s *heldSaver) finishSave() {
	if s.pending != nil && s.fail == nil {
		if err := s.store.SaveSnapshot(*s.pending); err != nil {
			panic(err)
		}
	}
	s.pending = nil
}

// With Config.Snapshots a replica encodes its snapshot in the background while applying is
// paused (commits go on), then compacts its in-memory log and hands the snapshot to the
// saver; it starts no other snapshot until the save completed, and stops on a failed save.
// A lagging follower is still sent the snapshot.
func TestSnapshotsTakenInBackground(t *testing.T) {
	savers := map[raft.NodeID]*heldSaver{}
	c := newClusterWith(t, 3, 5, func(cfg *Config) {
		s := &heldSaver{store: cfg.Log}
		savers[cfg.ID] = s
		cfg.Snapshots = s
	})
	c.elect(1)
	down := c.reps[3]
	c.reps[3] = nil // partitioned away
	c.propose(1, bootstrapCmd(1))
	s := savers[1]
	next := uint64(2)
	for ; s.encode == nil && next < 10; next++ {
		c.propose(1, userCmd(next))
	}
	if s.encode == nil {
		t.Fatal("leader did not start encoding a snapshot")
	}
	at := c.reps[1].Status().Applied
	savers[2].finishEncode() // the follower took one at the same index: let it go on
	c.settle()
	// While the leader encodes, a proposal commits (the followers apply it) but the leader
	// does not apply it or answer it.
	done := false
	waiting := userCmd(next)
	c.reps[1].Propose(waiting, func(*commandpb.Result, error) { done = true })
	c.settle()
	if st := c.reps[1].Status(); st.Applied != at || st.Commit <= at || done {
		t.Fatalf("while encoding: applied %d commit %d answered %v, want applied %d and a later commit", st.Applied, st.Commit, done, at)
	}
	name := waiting.GetCreateUser().GetUsername()
	if _, err := c.reps[1].Machine().LookupUser(name); err == nil {
		t.Fatal("the machine changed while its snapshot was being encoded")
	}
	if _, err := c.reps[2].Machine().LookupUser(name); err != nil {
		t.Fatalf("the follower did not apply while the leader encoded: %v", err)
	}
	s.finishEncode()
	c.settle()
	if !done {
		t.Fatal("the proposal was not answered once the encoding finished")
	}
	if len(s.saves) != 1 || s.saves[0] != at {
		t.Fatalf("saves started at %v, want one at %d", s.saves, at)
	}
	if _, snap, _, _ := c.logs[1].Load(); !snap.IsEmpty() {
		t.Fatalf("snapshot %d reached the log store before its save completed", snap.Metadata.Index)
	}
	if first, _ := c.reps[1].Storage().FirstIndex(); first <= 2 {
		t.Fatalf("in-memory log not compacted (first index %d)", first)
	}
	for i := next + 1; i < 30; i++ {
		c.propose(1, userCmd(i))
	}
	if len(s.saves) != 1 || s.encode != nil {
		t.Fatalf("another snapshot started before the first was saved: saves %v", s.saves)
	}
	s.finishSave()
	c.reps[1].Propose(userCmd(30), func(*commandpb.Result, error) {})
	c.settle()
	if s.encode == nil {
		t.Fatal("no snapshot started after the save completed")
	}
	s.finishEncode()
	c.settle()
	if _, snap, _, _ := c.logs[1].Load(); snap.Metadata.Index != at {
		t.Fatalf("log store holds snapshot %d, want %d", snap.Metadata.Index, at)
	}
	// The lagging follower is sent the leader's in-memory snapshot.
	c.reconnectFromSnapshot(3, down, "user30")
	// A failed save stops the replica at its next pass.
	s.fail = errors.New("disk full")
	if err := c.reps[1].Process(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Process after a failed snapshot save: %v", err)
	}
}
