package node

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/raftchat/raftchat/raft"
)

// LogStore is the durable home of a replica's Raft state: the hard state, the log and the
// latest snapshot. The simulator implements it with a fault-injecting disk model and the real
// node with a write-ahead log; MemLogStore is the trivial in-memory version.
type LogStore interface {
	// Save records hs (unless empty) and appends ents, first discarding stored entries at or
	// after ents[0].Index; with sync it returns only when all of it is on stable storage.
	Save(hs raft.HardState, ents []raft.Entry, sync bool) error
	// SaveSnapshot durably stores snap; entries at or before its index may be released.
	SaveSnapshot(snap raft.Snapshot) error
	// Load returns the durable state for recovery after a restart.
	Load() (raft.HardState, raft.Snapshot, []raft.Entry, error)
}

// SnapshotReader is implemented by a LogStore that can read back the snapshots it saved.
// With it a Replica does not hold the encoded state in memory once it is durable (for a
// large state that is as much memory again as the state itself): Raft's storage reads it
// back for the rare follower that is behind the log.
type SnapshotReader interface {
	// ReadSnapshot returns the data of the saved snapshot with the given metadata, or an
	// error if that snapshot is no longer (or not) stored.
	ReadSnapshot(m raft.SnapshotMetadata) ([]byte, error)
}

// LogWriter writes a leader's Raft state in the background, for a Replica whose
// Config.Writer sets it: while the disk works, the leader keeps stepping acknowledgements and
// taking proposals, and Raft counts its own copy of the entries only once they are durable
// (raft.RawNode.AdvanceWriting). Followers, candidates and any Ready that changes term or vote
// still write synchronously through the LogStore, after the writer has drained.
type LogWriter interface {
	// Write queues a save of hs and ents, as LogStore.Save would do it, synced when sync is
	// set. Saves reach the disk in queue order, and a synced save also makes every save queued
	// before it durable. It must not block for long and must not call back into the Replica.
	Write(hs raft.HardState, ents []raft.Entry, sync bool)
	// Written returns how many queued saves are complete (the synced ones durable), and the
	// first error, after which the writer does nothing more. It must not block.
	Written() (uint64, error)
	// Wait blocks until every queued save is complete and durable, or one failed.
	Wait() error
}

// SnapshotSaver takes a Replica's own snapshots in the background, for a Replica whose
// Config.Snapshots sets it. Encoding a large state and writing and syncing its file take
// seconds, during which a loop that waited would neither heartbeat nor answer votes, and its
// followers would elect a new leader. Instead:
//   - the Replica pauses applying (Raft goes on replicating and committing) and hands the
//     saver the encoding, which reads the machine, frozen at the applied index, while the loop
//     goes on; queries may read the machine at the same time, as they always may;
//   - once the encoding is done the loop puts the snapshot in Raft's storage, compacts its
//     in-memory log (a follower that needs the snapshot is sent it from memory), resumes
//     applying and hands the snapshot to the saver to make durable. Until that completes a
//     restart recovers from the previous snapshot and the log, which still holds every entry;
//   - the next snapshot starts only after the save completed, and a snapshot received from
//     the leader first waits for the one in progress.
type SnapshotSaver interface {
	// Encode runs encode in the background. It must not block for long and must not call
	// back into the Replica.
	Encode(encode func() ([]byte, error))
	// Encoded reports whether the encoding finished and, if so, its result. It must not
	// block.
	Encoded() (data []byte, done bool, err error)
	// Save starts making snap durable, as LogStore.SaveSnapshot does. It must not block for
	// long and must not call back into the Replica.
	Save(snap raft.Snapshot)
	// Saved reports whether the last save completed, and its error if it failed. It must not
	// block.
	Saved() (bool, error)
	// Wait blocks until the encoding and the save in progress, if any, completed, and returns
	// the save's error.
	Wait() error
}

// SnapshotStreamer is a SnapshotSaver that can also write a snapshot to stable storage as it
// is encoded, so that the encoding never sits in memory whole (for a large state that is as
// much memory again as the state itself, for as long as the encoding and the save take). A
// Replica whose Config.Snapshots implements it, and whose LogStore is a SnapshotReader, takes
// its own snapshots this way:
//   - the Replica pauses applying and hands the saver the snapshot's metadata and the
//     encoding, which writes the machine, frozen at the applied index, to the writer it is
//     given, while the loop goes on (Raft replicating and committing);
//   - once the encoding returns (the machine is not read again) applying resumes, while the
//     saver flushes, syncs and renames the file;
//   - once the snapshot is durable the loop puts its metadata in Raft's storage without the
//     data (a follower that needs it is sent it read back through the SnapshotReader) and
//     compacts its in-memory log. No Save follows.
//
// Applying waits while the state is written into the file rather than only while it is
// encoded into memory; in exchange no copy of the state is held as bytes.
type SnapshotStreamer interface {
	SnapshotSaver
	// Stream runs encode in the background, writing the data of the snapshot with metadata
	// m to a writer that makes it durable, as LogStore.SaveSnapshot would make the whole
	// snapshot durable; the LogStore's SnapshotReader reads it back. It must not block for
	// long and must not call back into the Replica.
	Stream(m raft.SnapshotMetadata, encode func(io.Writer) error)
	// Streamed reports whether the stream finished and, if so, the data length and its
	// error. It must not block. Wait waits for a stream as for an encoding and a save.
	Streamed() (size uint64, done bool, err error)
}

// BlobStore keeps the bytes of uploaded file chunks, addressed by their SHA-256 sum. The
// replicated state machine stores only the sums.
type BlobStore interface {
	// Put stores data under sum. Storing the same sum twice is harmless.
	Put(sum [32]byte, data []byte) error
	// Has reports whether the bytes for sum are stored.
	Has(sum [32]byte) bool
}

// MemLogStore is a LogStore held in memory: every write is immediately "durable". It serves
// unit tests and single-process experiments; it survives a Replica being rebuilt from it,
// which is how tests model a restart without disk faults.
type MemLogStore struct {
	hs   raft.HardState
	snap raft.Snapshot
	// ents are contiguous; ents[0].Index == snap.Metadata.Index+1 when both exist.
	ents []raft.Entry
}

// NewMemLogStore returns an empty MemLogStore.
func NewMemLogStore() *MemLogStore { return &MemLogStore{} }

// Save implements LogStore.
func (s *MemLogStore) Save(hs raft.HardState, ents []raft.Entry, _ bool) error {
	if !hs.IsEmpty() {
		s.hs = hs
	}
	if len(ents) == 0 {
		return nil
	}
	merged, err := AppendEntries(s.ents, ents, s.snap.Metadata.Index)
	if err != nil {
		return fmt.Errorf("mem log store: %w", err)
	}
	s.ents = merged
	return nil
}

// SaveSnapshot implements LogStore.
func (s *MemLogStore) SaveSnapshot(snap raft.Snapshot) error {
	if snap.Metadata.Index <= s.snap.Metadata.Index {
		return nil
	}
	s.snap = cloneSnapshot(snap)
	s.ents = TrimPrefix(s.ents, snap.Metadata.Index)
	return nil
}

// ReadSnapshot implements SnapshotReader.
func (s *MemLogStore) ReadSnapshot(m raft.SnapshotMetadata) ([]byte, error) {
	if s.snap.IsEmpty() || s.snap.Metadata.Index != m.Index || s.snap.Metadata.Term != m.Term {
		return nil, fmt.Errorf("mem log store: no snapshot at index %d term %d (have %d)", m.Index, m.Term, s.snap.Metadata.Index)
	}
	return append([]byte(nil), s.snap.Data...), nil
}

// Load implements LogStore. The returned slices are copies.
func (s *MemLogStore) Load() (raft.HardState, raft.Snapshot, []raft.Entry, error) {
	return s.hs, cloneSnapshot(s.snap), append([]raft.Entry(nil), s.ents...), nil
}

// AppendEntries returns stored with every entry at or after ents[0].Index replaced by ents.
// Entries at or before snapIndex are dropped from ents (they are in the snapshot already).
// It fails when ents would leave a gap after the stored log.
func AppendEntries(stored, ents []raft.Entry, snapIndex raft.Index) ([]raft.Entry, error) {
	for len(ents) > 0 && ents[0].Index <= snapIndex {
		ents = ents[1:]
	}
	if len(ents) == 0 {
		return stored, nil
	}
	first := ents[0].Index
	next := snapIndex + 1
	if len(stored) > 0 {
		next = stored[len(stored)-1].Index + 1
		if first < stored[0].Index {
			stored = stored[:0]
			next = first
		}
	}
	if first > next {
		return stored, fmt.Errorf("append at index %d leaves a gap after %d", first, next-1)
	}
	if len(stored) > 0 {
		stored = stored[:first-stored[0].Index]
	}
	return append(stored, ents...), nil
}

// TrimPrefix drops the entries at or before index, returning a fresh slice. Its capacity is
// the old length: snapshots come at a steady pace, so the log grows back to about that
// length before the next trim, and AppendEntries then fills it without regrowing.
func TrimPrefix(ents []raft.Entry, index raft.Index) []raft.Entry {
	i := 0
	for i < len(ents) && ents[i].Index <= index {
		i++
	}
	return append(make([]raft.Entry, 0, len(ents)), ents[i:]...)
}

func cloneSnapshot(s raft.Snapshot) raft.Snapshot {
	s.Data = append([]byte(nil), s.Data...)
	s.Metadata.ConfState = s.Metadata.ConfState.Clone()
	return s
}

// MemBlobStore is a BlobStore held in memory that verifies every sum.
type MemBlobStore struct {
	blobs map[[32]byte][]byte
}

// NewMemBlobStore returns an empty MemBlobStore.
func NewMemBlobStore() *MemBlobStore { return &MemBlobStore{blobs: map[[32]byte][]byte{}} }

// Put implements BlobStore. It rejects bytes that do not hash to sum.
func (b *MemBlobStore) Put(sum [32]byte, data []byte) error {
	if sha256.Sum256(data) != sum {
		return fmt.Errorf("put blob %x: checksum mismatch", sum[:8])
	}
	b.blobs[sum] = append([]byte(nil), data...)
	return nil
}

// Has implements BlobStore.
func (b *MemBlobStore) Has(sum [32]byte) bool {
	_, ok := b.blobs[sum]
	return ok
}

// Get returns the bytes stored under sum.
func (b *MemBlobStore) Get(sum [32]byte) ([]byte, bool) {
	d, ok := b.blobs[sum]
	return d, ok
}
