package storage

import (
	"time"

	"github.com/raftchat/raftchat/raft"
)

// Stats are counters for metrics (fsync latency, write volume) and status pages.
type Stats struct {
	// Syncs counts fdatasync calls on WAL segments; SyncTime is their total duration, so
	// SyncTime/Syncs is the mean fsync latency.
	Syncs    uint64
	SyncTime time.Duration
	// MaxSyncTime is the slowest single sync so far.
	MaxSyncTime time.Duration
	// BytesWritten counts WAL bytes written since Open.
	BytesWritten uint64
	// PreallocatedSegments counts the segments since Open that started from a zero-filled
	// spare; the others grew as they were written (the spare was not ready, or
	// Options.Preallocate is off).
	PreallocatedSegments uint64
	// Segments is the number of WAL segment files; SnapshotIndex the newest snapshot's
	// index; LastIndex the last entry saved (synced or not).
	Segments      int
	SnapshotIndex raft.Index
	LastIndex     raft.Index
}

// Stats returns the current counters.
func (l *DiskLog) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Segments, s.SnapshotIndex, s.LastIndex = len(l.segs), l.mark.Index, l.terms.last
	return s
}
