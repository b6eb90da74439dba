package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/wal"
)

// ErrCorrupt marks a log that cannot be recovered without losing data that may have been
// synced: a bad record with valid records after it, a missing segment, records that
// contradict each other. Open fails with it rather than guess.
var ErrCorrupt = errors.New("storage: wal is corrupt")

// logState is the log rebuilt by replaying records.
type logState struct {
	hs raft.HardState
	// mark is the newest snapshot marker replayed.
	mark wal.SnapshotMark
	// base and baseTerm identify the entry just before ents[0] (or the last one if ents is
	// empty). Entries at or below base live in a snapshot or a deleted segment.
	base     raft.Index
	baseTerm raft.Term
	// fromHeader: base came from the header of the oldest remaining segment, so a truncate
	// may reach below it (entries overwritten after that segment began, before the
	// snapshot that let the older segments go). termKnown: baseTerm is valid.
	fromHeader, termKnown bool
	ents                  []raft.Entry
}

func (s *logState) last() raft.Index { return s.base + raft.Index(len(s.ents)) }

func (s *logState) term(i raft.Index) (raft.Term, bool) {
	if i == s.base {
		return s.baseTerm, s.termKnown
	}
	if i < s.base || i > s.last() {
		return 0, false
	}
	return s.ents[i-s.base-1].Term, true
}

// applySnapshot makes the log continue after a snapshot at m: the entries after it are kept
// when the log holds m's entry with m's term (a local compaction), and dropped otherwise
// (a snapshot received from the leader replaces a conflicting or shorter log).
func (s *logState) applySnapshot(m wal.SnapshotMark) {
	if t, ok := s.term(m.Index); ok && t == m.Term {
		s.ents = s.ents[m.Index-s.base:]
	} else {
		s.ents = nil
	}
	s.base, s.baseTerm, s.termKnown, s.fromHeader = m.Index, m.Term, true, false
}

// segInfo is what the log remembers about one segment file.
type segInfo struct {
	seq uint64
	// base is the header's LastIndex: every live entry of older segments is at or below it.
	base raft.Index
}

// replayer rebuilds a logState from segment files, oldest first.
type replayer struct {
	fs     fsx.FS
	dir    string
	logger *slog.Logger
	// repair allows cutting a torn tail off the last segment (Open); Load never repairs.
	repair bool

	st   logState
	segs []segInfo
	// tail is the valid length of the last segment.
	tail int64
}

// replaySegment replays one segment; last says whether it is the newest.
func (r *replayer) replaySegment(seq uint64, last bool) error {
	path := filepath.Join(r.dir, wal.SegmentName(seq))
	data, err := r.fs.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read wal segment: %w", err)
	}
	data = compact(data)
	if n := len(r.segs); n > 0 && r.segs[n-1].seq+1 != seq {
		return fmt.Errorf("%w: segment %s follows %s, missing segments between", ErrCorrupt,
			wal.SegmentName(seq), wal.SegmentName(r.segs[n-1].seq))
	}
	first := len(r.segs) == 0
	var applyErr error
	nrec := 0
	end, err := wal.Scan(data, func(typ wal.RecordType, payload []byte, off int) error {
		if (nrec == 0) != (typ == wal.TypeSegmentHeader) {
			applyErr = fmt.Errorf("%s record at record number %d, want the segment header first and only first", typ, nrec)
		} else {
			applyErr = r.apply(typ, payload, seq, first)
		}
		nrec++
		return applyErr
	})
	if applyErr != nil {
		return fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, path, end, applyErr)
	}
	if err != nil && !tailIsZero(data, end) {
		if err := r.handleBadTail(path, data, end, err, last); err != nil {
			return err
		}
	}
	r.tail = int64(end)
	return nil
}

// handleBadTail decides what a record that fails to decode at offset off means.
func (r *replayer) handleBadTail(path string, data []byte, off int, cause error, last bool) error {
	if !last {
		return fmt.Errorf("%w: %s: bad record at offset %d in a sealed segment: %w", ErrCorrupt, path, off, cause)
	}
	next, err := wal.NextValid(data, off)
	if err != nil {
		return fmt.Errorf("%w: %s: bad record at offset %d: %w (%w)", ErrCorrupt, path, off, err, cause)
	}
	if next >= 0 {
		return fmt.Errorf("%w: %s: bad record at offset %d is followed by a valid record at offset %d, "+
			"refusing to drop data that may have been synced: %w", ErrCorrupt, path, off, next, cause)
	}
	if off == 0 {
		return fmt.Errorf("%w: %s: segment header is unreadable: %w", ErrCorrupt, path, cause)
	}
	if !r.repair {
		return fmt.Errorf("%w: %s: bad record at offset %d: %w", ErrCorrupt, path, off, cause)
	}
	if err := truncateFile(r.fs, path, int64(off)); err != nil {
		return err
	}
	r.logger.Warn("wal: cut torn tail", "file", path, "offset", off, "dropped_bytes", len(data)-off, "cause", cause)
	return nil
}

func (r *replayer) apply(typ wal.RecordType, p []byte, seq uint64, first bool) error {
	s := &r.st
	switch typ {
	case wal.TypeSegmentHeader:
		h, err := wal.DecodeSegmentHeader(p)
		if err != nil {
			return err
		}
		return r.applyHeader(h, seq, first)
	case wal.TypeEntry:
		e, err := wal.DecodeEntry(p)
		if err != nil {
			return err
		}
		if e.Index != s.last()+1 {
			return fmt.Errorf("entry index %d does not follow last index %d", e.Index, s.last())
		}
		s.ents = append(s.ents, e)
	case wal.TypeHardState:
		hs, err := wal.DecodeHardState(p)
		if err != nil {
			return err
		}
		s.hs = hs
	case wal.TypeTruncate:
		i, err := wal.DecodeTruncate(p)
		if err != nil {
			return err
		}
		switch {
		case i > s.base && i <= s.last()+1:
			s.ents = s.ents[:i-s.base-1]
		case i <= s.base && s.fromHeader:
			s.base, s.baseTerm, s.termKnown, s.ents = i-1, 0, false, nil
		default:
			return fmt.Errorf("truncate at %d outside the log (%d, %d]", i, s.base, s.last()+1)
		}
	case wal.TypeSnapshot:
		m, err := wal.DecodeSnapshotMark(p)
		if err != nil {
			return err
		}
		if m.Index > s.mark.Index {
			s.mark = m
		}
		if m.Reset {
			s.ents = nil
			s.base, s.baseTerm, s.termKnown, s.fromHeader = m.Index, m.Term, true, false
		}
		// A compaction marker keeps the entries: if the newest snapshot file turns out
		// unreadable, an older one plus these entries still rebuild the log.
	}
	return nil
}

func (r *replayer) applyHeader(h wal.SegmentHeader, seq uint64, first bool) error {
	if h.Seq != seq {
		return fmt.Errorf("segment header names sequence %d, file name says %d", h.Seq, seq)
	}
	s := &r.st
	if first {
		s.hs, s.mark = h.HardState, wal.SnapshotMark{Index: h.SnapIndex, Term: h.SnapTerm}
		s.base, s.baseTerm, s.ents = h.LastIndex, h.LastTerm, nil
		s.fromHeader, s.termKnown = true, true
	} else if t, ok := s.term(s.last()); h.LastIndex != s.last() || (ok && h.LastTerm != t) || h.HardState != s.hs {
		return fmt.Errorf("segment header says the log ends at index %d term %d, replay reached index %d term %d",
			h.LastIndex, h.LastTerm, s.last(), t)
	}
	r.segs = append(r.segs, segInfo{seq: seq, base: h.LastIndex})
	return nil
}

// finish combines the replayed log with the newest readable snapshot and checks that the
// entries after it are all there.
func (r *replayer) finish(snap raft.Snapshot) error {
	s := &r.st
	m := wal.SnapshotMark{Index: snap.Metadata.Index, Term: snap.Metadata.Term}
	if m.Index < s.base {
		return fmt.Errorf("%w: the newest readable snapshot is at index %d but the wal starts after index %d "+
			"(a newer snapshot file is missing or corrupt)", ErrCorrupt, m.Index, s.base)
	}
	if m.Index == s.base {
		// The entries after base follow the snapshot, whether base's term was known or not:
		// a snapshot that replaced the log would have been followed by its marker.
		s.baseTerm, s.termKnown = m.Term, true
	} else {
		s.applySnapshot(m)
	}
	// From here on the snapshot in use is the log's snapshot: it may be newer than the
	// last marker (the crash came before the marker was durable) or older (the newest
	// file was unreadable), and Raft restarts from it either way.
	s.mark = m
	return nil
}

// compact returns data, or a copy of just its records when most of it is the zero-filled
// room of a preallocated segment: the entries Load returns point into this buffer, and
// Raft keeps them for a long time, so the empty room should not come along.
func compact(data []byte) []byte {
	end, _ := wal.Scan(data, func(wal.RecordType, []byte, int) error { return nil })
	if end >= len(data)-len(data)/4 || !wal.AllZero(data[end:]) {
		return data
	}
	return bytes.Clone(data[:end])
}

func truncateFile(fsys fsx.FS, path string, size int64) error {
	f, err := fsys.OpenFile(path, osWriteOnly, 0)
	if err != nil {
		return fmt.Errorf("cut torn tail: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cut torn tail of %s at offset %d: %w", path, size, err)
	}
	return nil
}
