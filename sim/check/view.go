package check

import (
	"hash/fnv"

	"github.com/raftchat/raftchat/raft"
)

// EntryView is what the checker needs to know about one log entry: its position, its term,
// and a digest standing in for its type and data.
type EntryView struct {
	Index  raft.Index
	Term   raft.Term
	Digest uint64
}

// LogView is a read-only window on the log a node holds (stable plus not-yet-synced
// entries). Entries below FirstIndex were replaced by a snapshot.
type LogView interface {
	// FirstIndex is the index of the first entry held. The log is empty when
	// LastIndex < FirstIndex.
	FirstIndex() raft.Index
	// LastIndex is the index of the last entry held (FirstIndex-1 when empty).
	LastIndex() raft.Index
	// Entry returns the entry at i; ok is false outside [FirstIndex, LastIndex].
	Entry(i raft.Index) (e EntryView, ok bool)
}

// VersionedLog is a LogView that says cheaply whether it changed. When a node's Log
// implements it, Observe skips the node while its view (every scalar field, the Log and its
// version) stays the same as at its previous observation: re-running the checks on an
// unchanged view could only repeat what they found then. The implementation must be
// comparable with == (a pointer type is).
type VersionedLog interface {
	LogView
	// Version changes whenever what the view shows changes (an append, a truncation, a
	// compaction); it may also change when nothing did.
	Version() uint64
	// Lineage changes whenever an entry the view showed may have been replaced or removed
	// other than at the front: a truncation, a snapshot covering fewer entries than were
	// held. It stays the same across appends and compactions, so while it does, every
	// index the view held and still holds has the same entry. It may also change when
	// nothing was replaced.
	Lineage() uint64
}

// AppliedView tells which command a node applied at an index.
type AppliedView interface {
	// AppliedDigest returns the digest of the entry the node applied at i (computed with
	// DigestEntry). ok is false when unknown: applied through a snapshot, not applied yet,
	// or aged out of whatever bounded record the simulator keeps.
	AppliedDigest(i raft.Index) (digest uint64, ok bool)
}

// NodeView is a read-only picture of one node after a simulator event. The simulator builds
// one per node and may reuse the values between calls; the checker keeps no reference to
// them.
type NodeView struct {
	ID    raft.NodeID
	Alive bool
	// Removed says the node left the cluster for good (a membership change removed it and
	// its disk was wiped): it is not checked, and nothing it held counts any more.
	Removed bool
	Role    raft.StateType
	Leader  raft.NodeID
	// Term and Vote are Raft's own (in-memory) current term and vote.
	Term raft.Term
	Vote raft.NodeID
	// Durable is the HardState on stable storage, and DurableKnown says the simulator
	// filled it in. Between events (every Ready handled) a live node's Term and Vote must
	// equal the durable ones: Figure 2 keeps currentTerm and votedFor on stable storage,
	// "updated on stable storage before responding to RPCs".
	Durable      raft.HardState
	DurableKnown bool
	// Log may be nil for a node that holds no entries.
	Log     LogView
	Commit  raft.Index
	Applied raft.Index
	// AppliedDigests may be nil when the simulator does not track what was applied; the
	// state machine safety check then only looks at nodes that provide it.
	AppliedDigests AppliedView
}

// DigestEntry returns the digest the checker compares entries by: FNV-1a over the entry type
// and data. Term and index are compared separately.
func DigestEntry(e raft.Entry) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte{byte(e.Type)})
	_, _ = h.Write(e.Data)
	return h.Sum64()
}

// SliceLog is a LogView over a slice of entries whose indexes are consecutive. It suits
// tests and small simulators; a large simulator should implement LogView over its own store.
type SliceLog struct {
	// First is the index of Entries[0] (or, with no entries, of the next entry to come).
	First   raft.Index
	Entries []EntryView
}

// FirstIndex implements LogView.
func (l *SliceLog) FirstIndex() raft.Index {
	if l.First == 0 {
		return 1
	}
	return l.First
}

// LastIndex implements LogView.
func (l *SliceLog) LastIndex() raft.Index {
	return l.FirstIndex() + raft.Index(len(l.Entries)) - 1
}

// Entry implements LogView.
func (l *SliceLog) Entry(i raft.Index) (EntryView, bool) {
	first := l.FirstIndex()
	if i < first || i > l.LastIndex() {
		return EntryView{}, false
	}
	return l.Entries[i-first], true
}

// AppliedMap is an AppliedView backed by a map from index to digest, for tests.
type AppliedMap map[raft.Index]uint64

// AppliedDigest implements AppliedView.
func (m AppliedMap) AppliedDigest(i raft.Index) (uint64, bool) {
	d, ok := m[i]
	return d, ok
}

// emptyLog stands in for a nil LogView.
type emptyLog struct{}

func (emptyLog) FirstIndex() raft.Index                  { return 1 }
func (emptyLog) LastIndex() raft.Index                   { return 0 }
func (emptyLog) Entry(raft.Index) (EntryView, bool)      { return EntryView{}, false }
func (emptyLog) AppliedDigest(raft.Index) (uint64, bool) { return 0, false }

func logOf(v *NodeView) LogView {
	if v.Log == nil {
		return emptyLog{}
	}
	return v.Log
}

func appliedOf(v *NodeView) AppliedView {
	if v.AppliedDigests == nil {
		return emptyLog{}
	}
	return v.AppliedDigests
}
