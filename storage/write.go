package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/wal"
)

// Save records hs (unless empty or unchanged) and appends ents, first discarding the stored
// entries at or after ents[0].Index (the discard is itself a record, so replay repeats it).
// Entries at or below the snapshot index are skipped: the snapshot holds them already.
// With sync it returns only once everything saved so far is on stable storage; without, it
// usually just encodes into memory, and a later Save with sync or Sync makes it durable.
func (l *DiskLog) Save(hs raft.HardState, ents []raft.Entry, sync bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	for len(ents) > 0 && ents[0].Index <= l.terms.base {
		ents = ents[1:]
	}
	if err := l.checkEntries(ents); err != nil {
		return err
	}
	l.pending = nil // Load must now read the directory
	if l.size+int64(len(l.buf)) >= l.opts.SegmentBytes || (!l.roomy && l.prep != nil && l.prep.poll()) {
		// Also rotate early out of a segment that grows as it is written (a fresh log's
		// first one, or one started while no spare was ready) once a spare is ready.
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		if first := ents[0].Index; first <= l.terms.last {
			l.buf = wal.AppendTruncate(l.buf, first)
			l.terms.truncate(first)
		}
		for _, e := range ents {
			l.buf = wal.AppendEntry(l.buf, e)
			l.terms.append(e.Index, e.Term)
		}
	}
	if !hs.IsEmpty() && hs != l.hs {
		l.buf = wal.AppendHardState(l.buf, hs)
		l.hs = hs
	}
	if checkInvariants {
		l.terms.check()
	}
	if sync {
		return l.syncLocked()
	}
	if len(l.buf) >= l.opts.BufferBytes {
		return l.flushLocked()
	}
	return nil
}

// checkEntries rejects a batch the log cannot take, before anything is changed.
func (l *DiskLog) checkEntries(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].Index
	if first > l.terms.last+1 {
		return fmt.Errorf("save: entry %d leaves a gap after the last index %d", first, l.terms.last)
	}
	for i, e := range ents {
		if e.Index != first+raft.Index(i) {
			return fmt.Errorf("save: entries not contiguous: index %d at position %d after %d", e.Index, i, first)
		}
		if len(e.Data) > wal.MaxEntryDataBytes {
			return fmt.Errorf("save: entry %d holds %d bytes, above the %d-byte limit", e.Index, len(e.Data), wal.MaxEntryDataBytes)
		}
	}
	return nil
}

// Sync writes out buffered records and fsyncs the current segment.
func (l *DiskLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.syncLocked()
}

// flushLocked writes the buffered records to the segment with one write call. On failure
// it cuts the file back to its last whole record, best effort, and poisons the log.
func (l *DiskLog) flushLocked() error {
	if len(l.buf) == 0 {
		return nil
	}
	n, err := l.f.WriteAt(l.buf, l.size)
	if err != nil {
		if n > 0 {
			_ = l.f.Truncate(l.size)
		}
		l.failed = fmt.Errorf("wal append: %w", err)
		return l.failed
	}
	l.size += int64(n)
	l.stats.BytesWritten += uint64(n)
	if l.prep != nil && l.size >= l.opts.SegmentBytes/2 {
		// Half full: time to fill the next segment in the background. Asking no earlier
		// keeps the zero-filling away from a freshly started node's first writes.
		l.prep.request()
	}
	l.unsynced = true
	if cap(l.buf) > 4*l.opts.BufferBytes {
		l.buf = nil // one huge batch should not pin its buffer forever
	} else {
		l.buf = l.buf[:0]
	}
	return nil
}

func (l *DiskLog) syncLocked() error {
	if err := l.flushLocked(); err != nil {
		return err
	}
	if !l.unsynced {
		return nil // nothing written since the last fsync: a driver may ask needlessly
	}
	start := time.Now()
	err := l.f.DataSync()
	d := time.Since(start)
	l.stats.Syncs++
	l.stats.SyncTime += d
	l.stats.MaxSyncTime = max(l.stats.MaxSyncTime, d)
	if err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages: nothing written
		// since the last good fsync can be trusted, so the log stops here.
		l.failed = fmt.Errorf("wal sync: %w", err)
		return l.failed
	}
	l.unsynced = false
	return nil
}

// rotate seals the current segment (fsynced, so only the newest segment can ever have a
// torn tail) and starts the next one.
func (l *DiskLog) rotate() error {
	if err := l.syncLocked(); err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		l.failed = fmt.Errorf("wal rotate: close segment: %w", err)
		return l.failed
	}
	l.f = nil
	if err := l.startSegment(l.segs[len(l.segs)-1].seq + 1); err != nil {
		l.failed = err
		return err
	}
	return nil
}

// startSegment creates segment seq holding only its header, atomically (a segment file
// always has a valid header), and opens it for appending.
func (l *DiskLog) startSegment(seq uint64) error {
	lastTerm, _ := l.terms.term(l.terms.last)
	h := wal.SegmentHeader{
		Seq: seq, HardState: l.hs, SnapIndex: l.mark.Index, SnapTerm: l.mark.Term,
		LastIndex: l.terms.last, LastTerm: lastTerm,
	}
	rec := wal.AppendSegmentHeader(nil, h)
	path := filepath.Join(l.walDir, wal.SegmentName(seq))
	if err := l.createSegment(path, rec); err != nil {
		return fmt.Errorf("wal new segment: %w", err)
	}
	f, err := l.fs.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal new segment: %w", err)
	}
	l.f, l.size, l.unsynced = f, int64(len(rec)), false
	l.segs = append(l.segs, segInfo{seq: seq, base: h.LastIndex})
	if l.prep != nil {
		l.prep.newSegment()
		if !l.roomy {
			l.prep.request()
		}
	}
	return nil
}

// createSegment makes a durable segment file holding just its header: from the prepared
// spare when one is ready, else as a small file that grows as it is written.
func (l *DiskLog) createSegment(path string, header []byte) error {
	if l.prep != nil {
		if f := l.prep.take(); f != nil {
			err := installSpare(l.fs, f, l.prep.path, path, header)
			if err == nil {
				l.stats.PreallocatedSegments++
				l.roomy = true
				return nil
			}
			_ = l.fs.Remove(l.prep.path)
			l.opts.Logger.Warn("wal: installing the preallocated segment failed", "err", err)
		}
	}
	l.roomy = false
	return fsx.WriteFileAtomic(l.fs, path, header)
}
