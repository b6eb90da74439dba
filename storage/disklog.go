// Package storage is raftchat's durable log store: a segmented, checksummed write-ahead log
// plus atomic snapshot files in one locked data directory. *DiskLog implements the runtime's
// node.LogStore (Save, SaveSnapshot, Load).
//
// Directory layout:
//
//	DIR/LOCK                 flock held while open
//	DIR/wal/<seq>.wal        segments (see package wal for the record format)
//	DIR/snap/<index>-<term>.snap
//
// Durability: Save with sync=true returns only after everything saved so far is written and
// fsynced. Saves with sync=false only encode into a buffer (written, without fsync, once it
// exceeds Options.BufferBytes), so a driver can Save several Readies and then Sync once:
// group commit. After any failed write or fsync the DiskLog refuses further writes, since
// what reached the disk is then unknown; Close it and Open it again, and recovery cuts any
// partial record.
package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/snap"
	"github.com/raftchat/raftchat/storage/wal"
)

const osWriteOnly = os.O_WRONLY

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("storage: log is closed")

// DiskLog is a durable raft log in a data directory. It is safe for concurrent use, though
// the runtime drives it from one goroutine.
type DiskLog struct {
	// snapMu serializes SaveSnapshot, which writes the snapshot file without holding mu so
	// that appends go on meanwhile (a node saves its snapshots in the background).
	snapMu sync.Mutex
	mu     sync.Mutex
	opts   Options
	fs     fsx.FS
	dir    string
	walDir string
	lock   *os.File
	snaps  *snap.Store
	prep   *preparer // nil unless Options.Preallocate
	segs   []segInfo // oldest first; the last one is open for appending
	f      fsx.File  // the last segment
	size   int64     // bytes written to f
	// roomy: f has preallocated room after size; if not, the next spare is wanted early
	roomy bool
	buf   []byte // encoded records not yet written to f
	// unsynced: bytes were written to f since its last fsync. Invariant: the records
	// before them are durable.
	unsynced bool
	hs       raft.HardState
	mark     wal.SnapshotMark
	terms    termRuns
	failed   error // sticky: set by the first failed write or fsync
	closed   bool
	pending  *loaded // the state recovered by Open, handed out by the first Load
	stats    Stats
}

type loaded struct {
	hs   raft.HardState
	snap raft.Snapshot
	ents []raft.Entry
}

// Open opens (creating if needed) the log in dir, recovering its state: a torn tail of the
// newest segment is cut and logged; any other damage fails with ErrCorrupt naming the file
// and offset. It fails with ErrLocked if the directory is already open.
func Open(dir string, opts Options) (*DiskLog, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	l := &DiskLog{opts: opts, fs: opts.FS, dir: dir, walDir: filepath.Join(dir, "wal")}
	snapDir := filepath.Join(dir, "snap")
	for _, d := range []string{dir, l.walDir, snapDir} {
		if err := l.fs.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	l.snaps = snap.New(l.fs, snapDir, opts.Logger)
	if err := l.recover(); err != nil {
		_ = l.closeFiles()
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	return l, nil
}

// segmentSeqs lists the segment files; with clean it removes leftover temporary ones
// (only at Open: later the preparer's spare is a temporary file too).
func (l *DiskLog) segmentSeqs(clean bool) ([]uint64, error) {
	names, err := l.fs.ReadDir(l.walDir)
	if err != nil {
		return nil, fmt.Errorf("list wal: %w", err)
	}
	var seqs []uint64
	for _, name := range names {
		if seq, ok := wal.ParseSegmentName(name); ok {
			seqs = append(seqs, seq)
		} else if clean && filepath.Ext(name) == ".tmp" {
			if err := l.fs.Remove(filepath.Join(l.walDir, name)); err != nil {
				return nil, fmt.Errorf("remove leftover %s: %w", name, err)
			}
		}
	}
	return seqs, nil
}

// replayAll rebuilds the log from disk. Open repairs a torn tail; Load only reads.
func (l *DiskLog) replayAll(repair bool) (*replayer, raft.Snapshot, error) {
	seqs, err := l.segmentSeqs(repair)
	if err != nil {
		return nil, raft.Snapshot{}, err
	}
	r := &replayer{fs: l.fs, dir: l.walDir, logger: l.opts.Logger, repair: repair}
	for i, seq := range seqs {
		if err := r.replaySegment(seq, i == len(seqs)-1); err != nil {
			return nil, raft.Snapshot{}, err
		}
	}
	sn, err := l.snaps.LoadNewest()
	if err != nil {
		return nil, raft.Snapshot{}, err
	}
	if err := r.finish(sn); err != nil {
		return nil, raft.Snapshot{}, err
	}
	return r, sn, nil
}

func (l *DiskLog) recover() error {
	r, sn, err := l.replayAll(true)
	if err != nil {
		return err
	}
	st := r.st
	l.hs, l.mark, l.segs = st.hs, st.mark, r.segs
	l.terms.reset(st.base, st.baseTerm)
	for _, e := range st.ents {
		l.terms.append(e.Index, e.Term)
	}
	l.pending = &loaded{hs: st.hs, snap: sn, ents: st.ents}
	if l.opts.Preallocate {
		l.prep = newPreparer(l.fs, l.walDir, l.opts.SegmentBytes, l.opts.Logger)
	}
	if len(l.segs) == 0 {
		return l.startSegment(0)
	}
	last := l.segs[len(l.segs)-1]
	path := filepath.Join(l.walDir, wal.SegmentName(last.seq))
	f, err := l.fs.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open wal segment: %w", err)
	}
	l.f, l.size = f, r.tail
	if st, err := f.Stat(); err == nil && st.Size() > r.tail {
		l.roomy = true
	} else if l.prep != nil {
		l.prep.request()
	}
	// A process that died without fsync left its writes in the page cache, where recovery
	// just read them: make them durable before Raft treats them as its stable log.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync recovered wal segment %s: %w", path, err)
	}
	return nil
}

// Load returns the durable state for recovery: the hard state, the newest readable snapshot
// and the entries after it. Until the first write it returns what Open recovered; after
// that it reads the directory again (after writing out buffered records, without fsync).
// The entries' Data share large read buffers: treat them as read-only.
func (l *DiskLog) Load() (raft.HardState, raft.Snapshot, []raft.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return raft.HardState{}, raft.Snapshot{}, nil, err
	}
	if p := l.pending; p != nil {
		l.pending = nil
		return p.hs, p.snap, p.ents, nil
	}
	if err := l.flushLocked(); err != nil {
		return raft.HardState{}, raft.Snapshot{}, nil, err
	}
	r, sn, err := l.replayAll(false)
	if err != nil {
		return raft.HardState{}, raft.Snapshot{}, nil, fmt.Errorf("load: %w", err)
	}
	return r.st.hs, sn, r.st.ents, nil
}

func (l *DiskLog) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return fmt.Errorf("storage: log is unusable after an earlier write error (reopen to recover): %w", l.failed)
	}
	return nil
}

// Close writes out and fsyncs buffered records, then closes the files and releases the
// directory lock.
func (l *DiskLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var err error
	if l.failed == nil {
		err = l.syncLocked()
	}
	if cerr := l.closeFiles(); err == nil {
		err = cerr
	}
	l.closed = true
	return err
}

func (l *DiskLog) closeFiles() error {
	var err error
	if l.prep != nil {
		l.prep.stop()
		l.prep = nil
	}
	if l.f != nil {
		if cerr := l.f.Close(); cerr != nil {
			err = fmt.Errorf("close wal segment: %w", cerr)
		}
		l.f = nil
	}
	if l.lock != nil {
		if uerr := unlockDir(l.lock); err == nil {
			err = uerr
		}
		l.lock = nil
	}
	return err
}
