package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// heldSaver is a SnapshotSaver whose saves complete only when the test says so.
type heldSaver struct {
	store   LogStore
	pending *raft.Snapshot
	started []raft.Index
	waits   int
	fail    error
}

func (s *heldSaver) Save(snap raft.Snapshot) {
	if s.pending != nil {
		panic("a save started while another is in progress")
	}
	s.pending = &snap
	s.started = append(s.started, snap.Metadata.Index)
}

func (s *heldSaver) Saved() (bool, error) { return s.pending == nil, s.fail }

func (s *heldSaver) Wait() error {
	s.waits++
	s.complete()
	return s.fail
}

// complete finishes the pending save.
func (s *heldSaver) complete() {
	if s.pending != nil && s.fail == nil {
		if err := s.store.SaveSnapshot(*s.pending); err != nil {
			panic(err)
		}
	}
	s.pending = nil
}

// With Config.Snapshots, a replica hands its snapshot to the saver instead of saving it on
// the loop, compacts its in-memory log at once (a lagging follower is still sent the
// snapshot), takes no other snapshot until the save completed, and stops on a failed save.
func TestSnapshotsSavedInBackground(t *testing.T) {
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
	for i := uint64(2); i < 8; i++ {
		c.propose(1, userCmd(i))
	}
	s := savers[1]
	if len(s.started) != 1 {
		t.Fatalf("leader started saves at %v, want one", s.started)
	}
	if _, snap, _, _ := c.logs[1].Load(); !snap.IsEmpty() {
		t.Fatalf("snapshot %d reached the log store before its save completed", snap.Metadata.Index)
	}
	if first, _ := c.reps[1].Storage().FirstIndex(); first <= 2 {
		t.Fatalf("in-memory log not compacted (first index %d)", first)
	}
	for i := uint64(8); i < 30; i++ {
		c.propose(1, userCmd(i))
	}
	if len(s.started) != 1 {
		t.Fatalf("a second save started before the first completed: %v", s.started)
	}
	s.complete()
	c.propose(1, userCmd(30))
	if len(s.started) != 2 || s.started[1] <= s.started[0] {
		t.Fatalf("after the first save completed, saves started at %v, want a second, later one", s.started)
	}
	if _, snap, _, _ := c.logs[1].Load(); snap.Metadata.Index != s.started[0] {
		t.Fatalf("log store holds snapshot %d, want %d", snap.Metadata.Index, s.started[0])
	}
	// The lagging follower is sent the leader's in-memory snapshot; its own save in progress,
	// if any, completes before it stores the leader's.
	c.reps[3] = down
	restored := false
	down.OnRestore(func(raft.Index) { restored = true })
	for i := 0; i < 5; i++ {
		c.reps[1].Tick()
		c.settle()
	}
	if !restored {
		t.Fatal("lagging follower was not sent a snapshot")
	}
	if _, err := down.Machine().LookupUser("user30"); err != nil {
		t.Fatalf("follower after snapshot: %v", err)
	}
	// A failed save stops the replica at its next pass.
	s.fail = errors.New("disk full")
	if err := c.reps[1].Process(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Process after a failed snapshot save: %v", err)
	}
}
