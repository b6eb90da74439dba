package raft

import (
	"errors"
	"fmt"
)

// unstable holds what Raft has accepted but the driver has not yet reported durable: at most
// one snapshot and entries after it. Invariant: entries[i].Index == offset+i, and if snapshot
// is set, offset == snapshot index + 1.
//
// Entries before inProgress were handed to the driver in a Ready and are being written
// (AdvanceWriting); the next Ready starts at inProgress. Invariant: offset <= inProgress <=
// offset+len(entries).
type unstable struct {
	snapshot   *Snapshot
	entries    []Entry
	offset     Index
	inProgress Index
}

// end is one past the last unstable entry.
func (u *unstable) end() Index { return u.offset + Index(len(u.entries)) }

// maybeTerm returns the term of entry i if unstable knows it.
func (u *unstable) maybeTerm(i Index) (Term, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Metadata.Index == i {
			return u.snapshot.Metadata.Term, true
		}
		return 0, false
	}
	if i-u.offset >= Index(len(u.entries)) {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to i durable, if entry i still has term t (a later truncation may
// have replaced it, in which case the newer entries stay unstable).
func (u *unstable) stableTo(i Index, t Term) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := int(i + 1 - u.offset)
	u.entries = u.entries[n:]
	u.offset = i + 1
	u.inProgress = max(u.inProgress, u.offset)
	// Drop the backing array once it is mostly garbage, so it does not grow forever.
	if len(u.entries) == 0 && cap(u.entries) > 1024 {
		u.entries = nil
	}
}

// truncateAndAppend appends ents, first discarding any unstable entries at or after
// ents[0].Index. It never writes into memory that earlier returned slices may reference.
func (u *unstable) truncateAndAppend(ents []Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+Index(len(u.entries)):
		if n := len(u.entries); cap(u.entries)-n < len(ents) {
			// Grow in chunks: the spare capacity past the end is never visible through
			// slices handed out earlier, so later appends can fill it without copying.
			grown := make([]Entry, n, max(2*n, n+len(ents), 64))
			copy(grown, u.entries)
			u.entries = grown
		}
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replaces everything unstable; stored entries from after on are superseded too.
		u.offset, u.inProgress = after, after
		u.entries = append([]Entry(nil), ents...)
	default:
		keep := after - u.offset
		u.entries = append(u.entries[:keep:keep], ents...)
		// Entries being written from after on are superseded: the new ones go out again.
		u.inProgress = min(u.inProgress, after)
	}
}

// slice returns entries [lo, hi), which must lie within unstable, with capacity capped so a
// holder cannot append into the log.
func (u *unstable) slice(lo, hi Index) []Entry {
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}

// raftLog is the log as Raft sees it: the storage's durable part followed by unstable.
type raftLog struct {
	storage Storage
	// mem is storage when it is a MemoryStorage (what node/ and the simulator use), so the
	// index and term lookups made several times per message are direct, inlinable calls
	// rather than calls through the interface.
	mem      *MemoryStorage
	unstable unstable
	// committed is the highest index known committed. Invariant: committed <= lastIndex.
	committed Index
	// applied is the highest index handed to (and reported applied by) the application.
	// Invariant: applied <= committed (unless the ApplyBeforeCommit knob is on).
	applied       Index
	maxApplyBytes uint64
	knobs         TestingKnobs
	// applyPaused holds committed entries back from Ready (RawNode.PauseApply).
	applyPaused bool
	// truncatedAt is the lowest index replaced by a conflicting append since the owner last
	// looked (0 if none); see raft.dropStaleAcks.
	truncatedAt Index
}

func newLog(st Storage, maxApplyBytes uint64, knobs TestingKnobs) (*raftLog, error) {
	first, err := st.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("storage first index: %w", err)
	}
	last, err := st.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("storage last index: %w", err)
	}
	mem, _ := st.(*MemoryStorage)
	return &raftLog{
		storage:       st,
		mem:           mem,
		unstable:      unstable{offset: last + 1, inProgress: last + 1},
		committed:     first - 1,
		applied:       first - 1,
		maxApplyBytes: maxApplyBytes,
		knobs:         knobs,
	}, nil
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applied=%d unstable.offset=%d len(unstable)=%d",
		l.committed, l.applied, l.unstable.offset, len(l.unstable.entries))
}

// storageErr panics on storage failures Raft cannot handle: a broken storage is not an
// operating condition the algorithm can recover from.
func storageErr(op string, err error) {
	panic(fmt.Sprintf("raft: storage %s: %v", op, err))
}

func (l *raftLog) firstIndex() Index {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.Metadata.Index + 1
	}
	if l.mem != nil {
		return l.mem.offset() + 1
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		storageErr("first index", err)
	}
	return i
}

func (l *raftLog) lastIndex() Index {
	if n := len(l.unstable.entries); n > 0 {
		return l.unstable.offset + Index(n) - 1
	}
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.Metadata.Index
	}
	if l.mem != nil {
		return l.mem.lastIndex()
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		storageErr("last index", err)
	}
	return i
}

// stableLastIndex is the last index known durable and part of this log, or 0 while a
// snapshot is not yet durable.
func (l *raftLog) stableLastIndex() Index {
	if l.unstable.snapshot != nil {
		return 0
	}
	return l.unstable.offset - 1
}

// term returns the term of entry i; ErrCompacted below the first index - 1, ErrUnavailable
// beyond the last.
func (l *raftLog) term(i Index) (Term, error) {
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	var t Term
	var err error
	if l.mem != nil {
		t, err = l.mem.Term(i)
	} else {
		t, err = l.storage.Term(i)
	}
	if err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
		storageErr("term", err)
	}
	return t, err
}

func (l *raftLog) lastTerm() Term {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last index %d: %v", l.lastIndex(), err))
	}
	return t
}

func (l *raftLog) matchTerm(i Index, t Term) bool {
	got, err := l.term(i)
	return err == nil && got == t
}

// isUpToDate reports whether a log ending at (lasti, t) is at least as up-to-date as ours
// (§5.4.1).
func (l *raftLog) isUpToDate(lasti Index, t Term) bool {
	lt := l.lastTerm()
	return t > lt || (t == lt && lasti >= l.lastIndex())
}

// findConflict returns the index of the first entry of ents that is missing from the log or
// has a different term there, or 0 if all are present.
func (l *raftLog) findConflict(ents []Entry) Index {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= i whose term is <= t, and that term: the
// last place where a log with an entry of term t at index i might match ours (fast
// backtracking). Compacted or missing indexes yield (i, 0).
func (l *raftLog) findConflictByTerm(i Index, t Term) (Index, Term) {
	for ; i > 0; i-- {
		got, err := l.term(i)
		if err != nil {
			return i, 0
		}
		if got <= t {
			return i, got
		}
	}
	return 0, 0
}

// maybeAppend is the follower side of AppendEntries (§5.3): if the log has (prev, prevTerm),
// it appends ents, truncating a conflicting suffix, advances the commit index to
// min(commit, last new index) and returns the last new index.
func (l *raftLog) maybeAppend(prev Index, prevTerm Term, commit Index, ents []Entry) (Index, bool) {
	if !l.matchTerm(prev, prevTerm) {
		return 0, false
	}
	lastNew := prev + Index(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
	case l.knobs.KeepConflictingSuffix:
		// Planted bug: keep our entries, append only what lies beyond them.
		if last := l.lastIndex(); ents[len(ents)-1].Index > last {
			l.append(ents[last+1-ents[0].Index:]...)
		}
	case ci <= l.committed && !l.knobs.AcceptStaleTermAppend:
		// No correct leader sends this (leader completeness, §5.4): the message is forged or
		// corrupt. Refuse it rather than crash or overwrite committed state.
		return 0, false
	default:
		l.append(ents[ci-ents[0].Index:]...)
	}
	l.commitTo(min(commit, lastNew))
	return lastNew, true
}

// append adds entries after the ones they supersede and returns the new last index.
func (l *raftLog) append(ents ...Entry) Index {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed && !l.knobs.AcceptStaleTermAppend {
		panic(fmt.Sprintf("raft: append after %d is below committed %d", after, l.committed))
	}
	if ents[0].Index <= l.lastIndex() && (l.truncatedAt == 0 || ents[0].Index < l.truncatedAt) {
		l.truncatedAt = ents[0].Index
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

func (l *raftLog) commitTo(i Index) {
	if i <= l.committed {
		return
	}
	if last := l.lastIndex(); i > last {
		panic(fmt.Sprintf("raft: commit %d beyond last index %d", i, last))
	}
	l.committed = i
}

func (l *raftLog) appliedTo(i Index) {
	if i <= l.applied {
		return
	}
	if i > l.committed && !l.knobs.ApplyBeforeCommit {
		panic(fmt.Sprintf("raft: applied %d beyond committed %d", i, l.committed))
	}
	l.applied = i
}

// restore replaces the whole log with snapshot s (§7: discard the entire log).
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Metadata.Index
	l.unstable.entries = nil
	l.unstable.offset = s.Metadata.Index + 1
	l.unstable.inProgress = l.unstable.offset
	l.unstable.snapshot = &s
}

func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	s, err := l.storage.Snapshot()
	if err != nil && !errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		storageErr("snapshot", err)
	}
	return s, err
}

// applyLimit is one past the last index that may be handed to the application.
func (l *raftLog) applyLimit() Index {
	if l.knobs.ApplyBeforeCommit {
		return l.lastIndex() + 1
	}
	return l.committed + 1
}

func (l *raftLog) hasNextCommittedEnts() bool {
	if l.unstable.snapshot != nil || l.applyPaused {
		return false
	}
	return max(l.applied+1, l.firstIndex()) < l.applyLimit()
}

// nextCommittedEnts returns the entries ready to apply, bounded by maxApplyBytes.
func (l *raftLog) nextCommittedEnts() []Entry {
	if !l.hasNextCommittedEnts() {
		return nil
	}
	ents, err := l.slice(max(l.applied+1, l.firstIndex()), l.applyLimit(), l.maxApplyBytes)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries unavailable: %v", err))
	}
	return ents
}

// entries returns entries from lo on, bounded by maxBytes (nil if lo is beyond the log).
func (l *raftLog) entries(lo Index, maxBytes uint64) ([]Entry, error) {
	if lo > l.lastIndex() {
		return nil, nil
	}
	return l.slice(lo, l.lastIndex()+1, maxBytes)
}

// slice returns entries [lo, hi) bounded by maxBytes (at least one entry).
func (l *raftLog) slice(lo, hi Index, maxBytes uint64) ([]Entry, error) {
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 || lo > hi {
		panic(fmt.Sprintf("raft: slice [%d, %d) out of bounds [%d, %d]", lo, hi, l.firstIndex(), l.lastIndex()))
	}
	if lo == hi {
		return nil, nil
	}
	off := l.unstable.offset
	var ents []Entry
	if lo < off {
		stored, err := l.storage.Entries(lo, min(hi, off), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		}
		if err != nil {
			storageErr(fmt.Sprintf("entries [%d, %d)", lo, min(hi, off)), err)
		}
		if Index(len(stored)) < min(hi, off)-lo || hi <= off {
			return stored, nil
		}
		ents = stored
	}
	u := l.unstable.slice(max(lo, off), hi)
	if len(ents) == 0 {
		return limitSize(u, maxBytes), nil
	}
	combined := make([]Entry, 0, len(ents)+len(u))
	combined = append(append(combined, ents...), u...)
	return limitSize(combined, maxBytes), nil
}

func (u *unstable) stableSnapTo(i Index) {
	if u.snapshot != nil && u.snapshot.Metadata.Index == i {
		u.snapshot = nil
	}
}
