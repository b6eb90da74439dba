package server

import (
	"sync"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// snapshotSaver is the node's node.SnapshotSaver: each save runs on a goroutine of its own
// (the Replica starts at most one at a time), so the loop goes on ticking, heartbeating and
// replicating while a large snapshot file is written and synced.
type snapshotSaver struct {
	store node.LogStore
	m     *metrics

	mu   sync.Mutex
	busy bool
	done chan struct{} // closed when the current save completes
	err  error         // the first failed save; every later call reports it
}

func newSnapshotSaver(store node.LogStore, m *metrics) *snapshotSaver {
	return &snapshotSaver{store: store, m: m}
}

// Save implements node.SnapshotSaver.
func (s *snapshotSaver) Save(snap raft.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		panic("server: snapshot save started while another is in progress")
	}
	s.busy, s.done = true, make(chan struct{})
	go s.save(snap, s.done)
}

func (s *snapshotSaver) save(snap raft.Snapshot, done chan struct{}) {
	start := time.Now()
	err := s.store.SaveSnapshot(snap)
	s.m.snapshotSaveSeconds.Observe(time.Since(start).Seconds())
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.err == nil {
		s.err = err
	}
	s.busy = false
	close(done)
}

// Saved implements node.SnapshotSaver.
func (s *snapshotSaver) Saved() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.busy, s.err
}

// Wait implements node.SnapshotSaver.
func (s *snapshotSaver) Wait() error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
