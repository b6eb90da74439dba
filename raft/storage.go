package raft

import "fmt"

// entryOverhead approximates the per-entry framing (term, index, type, length) so that empty
// entries are not free when batching.
const entryOverhead = 16

// Size is the approximate encoded size of e used for every byte limit in this package:
// len(Data) plus a fixed per-entry overhead.
func (e Entry) Size() uint64 { return uint64(len(e.Data)) + entryOverhead }

// Storage is the read side of the durable log that Raft consults. The driver writes to it
// (see the package doc); Raft never does. Every method may be called at any time between
// RawNode calls. Errors other than ErrCompacted and ErrUnavailable are treated as fatal.
type Storage interface {
	// InitialState returns the persisted HardState and the membership of the latest snapshot.
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries in [lo, hi). When maxBytes would be exceeded it returns a
	// shorter prefix, but always at least one entry if lo < hi. It returns ErrCompacted if
	// lo <= the snapshot index and ErrUnavailable if entries are missing.
	Entries(lo, hi Index, maxBytes uint64) ([]Entry, error)
	// Term returns the term of entry i, which must be in [FirstIndex()-1, LastIndex()]; the
	// term of FirstIndex()-1 (the snapshot's) is retained for the log matching check.
	Term(i Index) (Term, error)
	// LastIndex returns the index of the last entry (the snapshot index if there is none).
	LastIndex() (Index, error)
	// FirstIndex returns the index of the first retained entry (snapshot index + 1).
	FirstIndex() (Index, error)
	// Snapshot returns the most recent snapshot, sent to followers behind the log. An error
	// wrapping ErrSnapshotTemporarilyUnavailable makes the leader try again later; any
	// other error is fatal.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory. The driver records what each Ready says is
// durable (ApplySnapshot, Append, SetHardState) and the application compacts it (CreateSnapshot,
// Compact). It is NOT safe for concurrent use: it is meant for the single-threaded driver loop
// (node/ and the simulator); a concurrent driver must serialize calls itself.
type MemoryStorage struct {
	hardState HardState
	snapshot  Snapshot
	// ents[0] is a dummy entry holding the snapshot's index and term, so Term works at
	// FirstIndex()-1. Invariant: len(ents) >= 1 and ents[i].Index == ents[0].Index+i.
	ents []Entry
	// off is ents[0].Index, kept beside the slice header: Raft asks for the first and last
	// index several times per message, and the start of a long array is rarely in cache.
	off Index
	// readSnapshot, when set, reads back the data of snapshot, which ReleaseSnapshotData
	// dropped.
	readSnapshot func(SnapshotMetadata) ([]byte, error)
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	return ms.hardState, ms.snapshot.Metadata.ConfState, nil
}

// HardState returns the stored HardState.
func (ms *MemoryStorage) HardState() HardState { return ms.hardState }

// SetHardState records hs.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.hardState = hs
	return nil
}

func (ms *MemoryStorage) offset() Index { return ms.off }

func (ms *MemoryStorage) lastIndex() Index { return ms.offset() + Index(len(ms.ents)) - 1 }

// Entries implements Storage. The returned slice must not be modified.
func (ms *MemoryStorage) Entries(lo, hi Index, maxBytes uint64) ([]Entry, error) {
	off := ms.offset()
	if lo <= off {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		panic(fmt.Sprintf("raft: MemoryStorage.Entries hi %d out of bound, last index %d", hi, ms.lastIndex()))
	}
	if len(ms.ents) == 1 {
		return nil, ErrUnavailable
	}
	ents := ms.ents[lo-off : hi-off : hi-off]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i Index) (Term, error) {
	off := ms.offset()
	if i < off {
		return 0, ErrCompacted
	}
	if i-off >= Index(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-off].Term, nil
}

// HeldEntries returns the entries held, [FirstIndex(), LastIndex()], without copying or
// allocating; checkers read it after every event. The slice must not be modified. Its
// elements are never modified later either: writes that replace entries build a new array
// (see Append), so a slice returned earlier keeps showing the entries it showed.
func (ms *MemoryStorage) HeldEntries() []Entry { return ms.ents[1:] }

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (Index, error) { return ms.lastIndex(), nil }

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (Index, error) { return ms.offset() + 1, nil }

// Snapshot implements Storage. After ReleaseSnapshotData it reads the data back, and a
// failure to do so is reported as ErrSnapshotTemporarilyUnavailable.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	if ms.readSnapshot == nil {
		return ms.snapshot, nil
	}
	data, err := ms.readSnapshot(ms.snapshot.Metadata)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: snapshot %d: %w", ErrSnapshotTemporarilyUnavailable, ms.snapshot.Metadata.Index, err)
	}
	snap := ms.snapshot
	snap.Data = data
	return snap, nil
}

// ReleaseSnapshotData drops the data of the held snapshot if it is the one at index i, and
// reports whether it did. The application calls it once that snapshot is on stable
// storage: a large state need not be held twice in memory (once live, once encoded) for
// the rare follower that falls behind the log. read must return the data of the snapshot
// with the given metadata; Snapshot calls it for each such follower.
func (ms *MemoryStorage) ReleaseSnapshotData(i Index, read func(SnapshotMetadata) ([]byte, error)) bool {
	if ms.snapshot.IsEmpty() || ms.snapshot.Metadata.Index != i {
		return false
	}
	ms.snapshot.Data = nil
	ms.readSnapshot = read
	return true
}

// ApplySnapshot replaces the whole contents with snap (the driver calls it for Ready.Snapshot).
// It returns ErrSnapOutOfDate if snap is not newer than the held snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	if snap.Metadata.Index <= ms.snapshot.Metadata.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = snap
	ms.readSnapshot = nil
	ms.ents = []Entry{{Term: snap.Metadata.Term, Index: snap.Metadata.Index}}
	ms.off = snap.Metadata.Index
	return nil
}

// CreateSnapshot records a snapshot of the application state as of applied index i, which
// must be <= LastIndex. cs, if not nil, replaces the membership recorded with it (otherwise the
// previous snapshot's is kept). It does not release entries: call Compact for that.
func (ms *MemoryStorage) CreateSnapshot(i Index, cs *ConfState, data []byte) (Snapshot, error) {
	if i <= ms.snapshot.Metadata.Index {
		return Snapshot{}, ErrSnapOutOfDate
	}
	if i > ms.lastIndex() {
		panic(fmt.Sprintf("raft: snapshot index %d beyond last index %d", i, ms.lastIndex()))
	}
	ms.snapshot.Metadata.Index = i
	ms.snapshot.Metadata.Term = ms.ents[i-ms.offset()].Term
	if cs != nil {
		ms.snapshot.Metadata.ConfState = cs.Clone()
	}
	ms.snapshot.Data = data
	ms.readSnapshot = nil
	return ms.snapshot, nil
}

// Compact releases all entries before compactIndex; entry compactIndex becomes the dummy
// entry whose term is kept. The application must not compact beyond its applied index.
func (ms *MemoryStorage) Compact(compactIndex Index) error {
	off := ms.offset()
	if compactIndex <= off {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		panic(fmt.Sprintf("raft: compact %d beyond last index %d", compactIndex, ms.lastIndex()))
	}
	i := compactIndex - off
	// A new array, since earlier slices must keep showing their entries (HeldEntries). It
	// gets the old length as capacity: the application compacts at a steady pace, so the
	// log grows back to about that length before the next Compact, without regrowing.
	ents := make([]Entry, 1, len(ms.ents))
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	ms.off = compactIndex
	return nil
}

// Append stores entries, which must be contiguous; any stored entries at or after
// entries[0].Index are discarded first (the driver calls it for Ready.Entries). Entries at or
// before the snapshot index are ignored.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := ms.offset() + 1
	last := entries[0].Index + Index(len(entries)) - 1
	if last < first {
		return nil
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	switch off := entries[0].Index - ms.offset(); {
	case off == Index(len(ms.ents)):
		ms.ents = append(ms.ents, entries...)
	case off < Index(len(ms.ents)):
		// Copy instead of overwriting in place: slices handed out by Entries may still be
		// referenced by unsent messages.
		ents := make([]Entry, off, off+Index(len(entries)))
		copy(ents, ms.ents[:off])
		ms.ents = append(ents, entries...)
	default:
		panic(fmt.Sprintf("raft: missing log entry [last: %d, append at: %d]", ms.lastIndex(), entries[0].Index))
	}
	return nil
}

// limitSize returns the longest prefix of ents whose total Size is <= maxBytes, but at least
// one entry.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].Size()
	for i := 1; i < len(ents); i++ {
		size += ents[i].Size()
		if size > maxBytes {
			return ents[:i:i]
		}
	}
	return ents
}
