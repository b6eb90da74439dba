package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// diskWrite is one Save call that has reached the page cache but not stable storage.
type diskWrite struct {
	hs   raft.HardState
	ents []raft.Entry
}

// Disk is a simulated disk implementing node.LogStore. A write becomes durable only when a
// later synced Save (or a snapshot) flushes it. Crash throws the unsynced writes away, except
// that a random prefix of them may have reached the platter, the last of which may be torn
// (only some of its entries survive, as a checksummed WAL would recover it).
type Disk struct {
	rng *rand.Rand
	// The durable state.
	hs   raft.HardState
	snap raft.Snapshot
	ents []raft.Entry
	// pending are the unsynced writes, oldest first.
	pending []diskWrite

	// synced is set by a sync and cleared by the sender, which holds the Ready's messages
	// back for the fsync's duration.
	synced bool
	// loseWrites drops every write until the next Crash: a crash point killed the
	// process before its next write could complete.
	loseWrites bool

	// Counters for the run's statistics and coverage probes.
	Syncs, Writes, LostWrites, TornWrites int
}

var _ node.LogStore = (*Disk)(nil)

// NewDisk returns an empty disk whose crash behaviour draws from rng.
func NewDisk(rng *rand.Rand) *Disk { return &Disk{rng: rng} }

// Save implements node.LogStore.
func (d *Disk) Save(hs raft.HardState, ents []raft.Entry, sync bool) error {
	if d.loseWrites {
		return nil
	}
	d.Writes++
	if len(ents) > 0 || !hs.IsEmpty() {
		d.pending = append(d.pending, diskWrite{hs: hs, ents: ents})
	}
	if sync {
		return d.flush()
	}
	return nil
}

func (d *Disk) flush() error {
	d.Syncs++
	d.synced = true
	for _, w := range d.pending {
		if err := d.applyWrite(w.hs, w.ents); err != nil {
			return err
		}
	}
	d.pending = d.pending[:0]
	return nil
}

func (d *Disk) applyWrite(hs raft.HardState, ents []raft.Entry) error {
	if !hs.IsEmpty() {
		d.hs = hs
	}
	merged, err := node.AppendEntries(d.ents, ents, d.snap.Metadata.Index)
	if err != nil {
		return fmt.Errorf("sim disk: %w", err)
	}
	d.ents = merged
	return nil
}

// SaveSnapshot implements node.LogStore. Snapshot files are written atomically and the
// write-ahead log is synced first, so everything before it becomes durable too.
func (d *Disk) SaveSnapshot(snap raft.Snapshot) error {
	if d.loseWrites {
		return nil
	}
	if err := d.flush(); err != nil {
		return err
	}
	if snap.Metadata.Index <= d.snap.Metadata.Index {
		return nil
	}
	d.snap = snap
	d.ents = node.TrimPrefix(d.ents, snap.Metadata.Index)
	if d.hs.Commit < snap.Metadata.Index {
		d.hs.Commit = snap.Metadata.Index
	}
	return nil
}

// ReadSnapshot implements node.SnapshotReader.
func (d *Disk) ReadSnapshot(m raft.SnapshotMetadata) ([]byte, error) {
	if d.snap.IsEmpty() || d.snap.Metadata.Index != m.Index || d.snap.Metadata.Term != m.Term {
		return nil, fmt.Errorf("sim disk: no snapshot at index %d term %d (have %d)", m.Index, m.Term, d.snap.Metadata.Index)
	}
	return d.snap.Data, nil
}

// Load implements node.LogStore. It sees unsynced writes too (they are in the page cache of
// a live process); after Crash there are none.
func (d *Disk) Load() (raft.HardState, raft.Snapshot, []raft.Entry, error) {
	if err := d.flush(); err != nil {
		return raft.HardState{}, raft.Snapshot{}, nil, err
	}
	return d.hs, d.snap, append([]raft.Entry(nil), d.ents...), nil
}

// Crash models power loss: unsynced writes vanish, except a random prefix of them that made
// it to the platter, the last possibly torn.
func (d *Disk) Crash() {
	d.loseWrites = false
	n := len(d.pending)
	if n == 0 {
		return
	}
	keep := d.rng.IntN(n + 1)
	for _, w := range d.pending[:keep] {
		if err := d.applyWrite(w.hs, w.ents); err != nil {
			panic(fmt.Sprintf("sim disk: replaying a pending write: %v", err))
		}
	}
	if keep < n && len(d.pending[keep].ents) > 1 && d.rng.IntN(2) == 0 {
		// A torn write: the record's first entries are intact, the rest failed their
		// checksum; the hard state, written last, is lost.
		w := d.pending[keep]
		part := 1 + d.rng.IntN(len(w.ents)-1)
		if err := d.applyWrite(raft.HardState{}, w.ents[:part]); err != nil {
			panic(fmt.Sprintf("sim disk: replaying a torn write: %v", err))
		}
		d.TornWrites++
	}
	d.LostWrites += n - keep
	d.pending = d.pending[:0]
}

// durablyHolds reports whether entry i of term t is on stable storage (in the log, or
// covered by the snapshot).
func (d *Disk) durablyHolds(i raft.Index, t raft.Term) bool {
	if i <= d.snap.Metadata.Index {
		return true
	}
	if len(d.ents) == 0 || i < d.ents[0].Index || i > d.ents[len(d.ents)-1].Index {
		return false
	}
	return d.ents[i-d.ents[0].Index].Term == t
}

// DurableLastIndex is the last durable log index (for checks and timelines).
func (d *Disk) DurableLastIndex() raft.Index {
	if len(d.ents) > 0 {
		return d.ents[len(d.ents)-1].Index
	}
	return d.snap.Metadata.Index
}
