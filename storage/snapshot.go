package storage

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/snap"
	"github.com/raftchat/raftchat/storage/wal"
)

// SaveSnapshot durably stores snap: the snapshot file is written atomically, then a marker
// record is appended to the WAL and fsynced (with everything buffered before it). Then
// snapshot files beyond the newest KeepSnapshots and the WAL segments that only hold entries
// covered by the oldest kept snapshot are deleted. A snapshot at or below the current one
// is ignored: the log already holds everything it would.
func (l *DiskLog) SaveSnapshot(snap raft.Snapshot) error {
	if snap.IsEmpty() {
		return fmt.Errorf("save snapshot: snapshot is empty")
	}
	_, err := l.saveSnapshot(snap.Metadata, func() (uint64, error) {
		return uint64(len(snap.Data)), l.snaps.Save(snap)
	})
	return err
}

// SaveSnapshotStream durably stores, as SaveSnapshot does, the snapshot with metadata m
// whose data write writes to its argument: the data goes to the snapshot file as it is
// produced (snap.Store.SaveStream), so it never sits in memory whole. It returns the data
// length, 0 for a snapshot ignored as not newer (write is then not called). Read the data
// back with ReadSnapshot.
func (l *DiskLog) SaveSnapshotStream(m raft.SnapshotMetadata, write func(io.Writer) error) (uint64, error) {
	if m.Index == 0 {
		return 0, fmt.Errorf("save snapshot: snapshot is empty")
	}
	return l.saveSnapshot(m, func() (uint64, error) { return l.snaps.SaveStream(m, write) })
}

// saveSnapshot runs writeFile, which writes the snapshot file of sm, then records the
// snapshot in the WAL and cleans up, as SaveSnapshot describes. It returns what writeFile
// returns.
func (l *DiskLog) saveSnapshot(sm raft.SnapshotMetadata, writeFile func() (uint64, error)) (uint64, error) {
	m := wal.SnapshotMark{Index: sm.Index, Term: sm.Term}
	// Only SaveSnapshot moves the mark, and snapMu makes it one at a time: the mark read
	// here is still the mark when the file is written.
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.mu.Lock()
	err, have := l.usable(), l.mark.Index
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if m.Index <= have {
		l.opts.Logger.Debug("storage: ignoring a snapshot that is not newer", "index", m.Index, "have", have)
		return 0, nil
	}
	// The file is the slow part (a large state takes a second to write and sync): appends
	// and hard-state saves go on meanwhile. Until the mark below is durable, recovery uses
	// the previous snapshot and the log, which still holds every entry.
	n, err := writeFile()
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	l.pending = nil // Load must now read the directory
	// A snapshot the log holds the last entry of (same index and term) compacts it;
	// any other replaces it, as Raft does when the leader sends one (§7).
	t, ok := l.terms.term(m.Index)
	m.Reset = !ok || t != m.Term
	l.buf = wal.AppendSnapshotMark(l.buf, m)
	if err := l.syncLocked(); err != nil {
		return 0, err
	}
	if m.Reset {
		l.terms.reset(m.Index, m.Term)
	} else {
		l.terms.compact(m.Index)
	}
	l.mark = m
	if checkInvariants {
		l.terms.check()
	}
	l.cleanup()
	return n, nil
}

// cleanup removes old snapshot files and covered segments. Failures only cost disk space
// (the next snapshot retries), so they are logged rather than returned.
func (l *DiskLog) cleanup() {
	if err := l.snaps.Prune(KeepSnapshots, l.mark.Index); err != nil {
		l.opts.Logger.Warn("storage: prune snapshots", "err", err)
		return
	}
	metas, err := l.snaps.List()
	if err != nil || len(metas) == 0 {
		l.opts.Logger.Warn("storage: list snapshots", "err", err)
		return
	}
	floor := metas[0].Index
	// Segment j may go once the segment after it began with every live entry at or below
	// floor. Deleting oldest first keeps the remaining segments contiguous after a crash.
	n := 0
	for j := 0; j+1 < len(l.segs) && l.segs[j+1].base <= floor; j++ {
		n = j + 1
	}
	for _, s := range l.segs[:n] {
		path := filepath.Join(l.walDir, wal.SegmentName(s.seq))
		if err := l.fs.Remove(path); err != nil {
			l.opts.Logger.Warn("storage: remove covered wal segment", "file", path, "err", err)
			n = 0
			break
		}
	}
	l.segs = append(l.segs[:0], l.segs[n:]...)
	if err := l.fs.SyncDir(l.walDir); err != nil {
		l.opts.Logger.Warn("storage: sync wal dir", "err", err)
	}
}

// ReadSnapshot implements node.SnapshotReader: it reads back the data of the saved
// snapshot with the given index and term, verifying its checksum.
func (l *DiskLog) ReadSnapshot(m raft.SnapshotMetadata) ([]byte, error) {
	s, err := l.snaps.Read(snap.Meta{Index: m.Index, Term: m.Term, Name: snap.FileName(m.Index, m.Term)})
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}
