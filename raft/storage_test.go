package raft

import (
	"errors"
	"testing"
)

func TestMemoryStorageBasics(t *testing.T) {
	st := storageWithTerms(1, 1, 2, 3)
	if fi, _ := st.FirstIndex(); fi != 1 {
		t.Fatalf("first %d", fi)
	}
	if li, _ := st.LastIndex(); li != 4 {
		t.Fatalf("last %d", li)
	}
	for _, tc := range []struct {
		i    Index
		want Term
		err  error
	}{{0, 0, nil}, {1, 1, nil}, {4, 3, nil}, {5, 0, ErrUnavailable}} {
		got, err := st.Term(tc.i)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Term(%d) = %d, %v", tc.i, got, err)
		}
	}
	ents, err := st.Entries(2, 5, 1<<20)
	if err != nil || len(ents) != 3 || ents[0].Index != 2 {
		t.Fatalf("Entries(2, 5) = %v, %v", ents, err)
	}
	ents, _ = st.Entries(2, 5, 0)
	if len(ents) != 1 {
		t.Fatalf("Entries with maxBytes 0 returned %d entries, want 1", len(ents))
	}
	ents, _ = st.Entries(1, 5, 2*(1+entryOverhead))
	if len(ents) != 2 {
		t.Fatalf("Entries with a 2-entry budget returned %d", len(ents))
	}
	if _, err := st.Entries(0, 2, 100); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(0) err %v", err)
	}
	hs, cs, _ := st.InitialState()
	if hs.Term != 3 || len(cs.Voters) != 0 {
		t.Fatalf("initial state %+v %+v", hs, cs)
	}
}

func TestMemoryStorageAppendTruncates(t *testing.T) {
	st := storageWithTerms(1, 1, 1)
	ents, _ := st.Entries(1, 4, 1<<20)
	_ = st.Append([]Entry{{Index: 2, Term: 2}})
	if li, _ := st.LastIndex(); li != 2 {
		t.Fatalf("last %d, want 2", li)
	}
	if ents[1].Term != 1 {
		t.Fatal("Append overwrote a slice handed out earlier")
	}
	if err := st.Append([]Entry{{Index: 3, Term: 2}, {Index: 4, Term: 2}}); err != nil {
		t.Fatal(err)
	}
	if li, _ := st.LastIndex(); li != 4 {
		t.Fatalf("last %d, want 4", li)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("append with a gap did not panic")
		}
	}()
	_ = st.Append([]Entry{{Index: 9, Term: 2}})
}

func TestMemoryStorageSnapshotAndCompact(t *testing.T) {
	st := storageWithTerms(1, 1, 2, 2, 3)
	cs := ConfState{Voters: []NodeID{1, 2, 3}}
	snap, err := st.CreateSnapshot(3, &cs, []byte("d"))
	if err != nil || snap.Metadata.Index != 3 || snap.Metadata.Term != 2 {
		t.Fatalf("CreateSnapshot: %+v %v", snap.Metadata, err)
	}
	if _, err := st.CreateSnapshot(2, nil, nil); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("older snapshot: %v", err)
	}
	if err := st.Compact(3); err != nil {
		t.Fatal(err)
	}
	if fi, _ := st.FirstIndex(); fi != 4 {
		t.Fatalf("first after compact %d", fi)
	}
	if tm, err := st.Term(3); err != nil || tm != 2 {
		t.Fatalf("term of the compaction point %d %v", tm, err)
	}
	if _, err := st.Term(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("term of compacted index: %v", err)
	}
	if err := st.Compact(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact below: %v", err)
	}
	// Appending entries that are already compacted is ignored; overlapping ones are trimmed.
	_ = st.Append([]Entry{{Index: 1, Term: 1}})
	_ = st.Append([]Entry{{Index: 3, Term: 2}, {Index: 4, Term: 2}, {Index: 5, Term: 3}, {Index: 6, Term: 3}})
	if li, _ := st.LastIndex(); li != 6 {
		t.Fatalf("last %d", li)
	}
	if _, cs2, _ := st.InitialState(); len(cs2.Voters) != 3 {
		t.Fatalf("conf state not kept: %+v", cs2)
	}
	if err := st.ApplySnapshot(snap); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("re-applying: %v", err)
	}
	newer := Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 4}}
	if err := st.ApplySnapshot(newer); err != nil {
		t.Fatal(err)
	}
	if fi, _ := st.FirstIndex(); fi != 11 {
		t.Fatalf("first after ApplySnapshot %d", fi)
	}
	if _, err := st.Entries(11, 11, 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("entries of an empty log: %v", err)
	}
}

func TestMemoryStoragePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"entries beyond":  func() { _, _ = storageWithTerms(1).Entries(1, 5, 10) },
		"snapshot beyond": func() { _, _ = storageWithTerms(1).CreateSnapshot(5, nil, nil) },
		"compact beyond":  func() { _ = storageWithTerms(1).Compact(5) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

// After ReleaseSnapshotData the storage reads the snapshot back through the given function,
// and a failed read is ErrSnapshotTemporarilyUnavailable. A new snapshot holds its data again.
func TestMemoryStorageReleaseSnapshotData(t *testing.T) {
	st := storageWithTerms(1, 1, 2, 2, 3)
	if st.ReleaseSnapshotData(3, nil) {
		t.Fatal("released a snapshot that does not exist")
	}
	if _, err := st.CreateSnapshot(3, nil, []byte("state@3")); err != nil {
		t.Fatal(err)
	}
	if st.ReleaseSnapshotData(2, nil) {
		t.Fatal("released the snapshot at 3 when asked for 2")
	}
	stored := []byte("state@3")
	read := func(m SnapshotMetadata) ([]byte, error) {
		if m.Index != 3 || m.Term != 2 || stored == nil {
			return nil, errors.New("gone")
		}
		return stored, nil
	}
	if !st.ReleaseSnapshotData(3, read) {
		t.Fatal("did not release the snapshot at 3")
	}
	if st.snapshot.Data != nil {
		t.Fatal("released data still held")
	}
	if s, err := st.Snapshot(); err != nil || string(s.Data) != "state@3" || s.Metadata.Index != 3 {
		t.Fatalf("read back: %q %+v %v", s.Data, s.Metadata, err)
	}
	stored = nil
	if _, err := st.Snapshot(); !errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		t.Fatalf("failed read back: %v", err)
	}
	if _, err := st.CreateSnapshot(4, nil, []byte("state@4")); err != nil {
		t.Fatal(err)
	}
	if s, err := st.Snapshot(); err != nil || string(s.Data) != "state@4" {
		t.Fatalf("new snapshot: %q %v", s.Data, err)
	}
}

// A leader whose storage cannot produce the snapshot a lagging follower needs keeps probing
// instead of failing, and sends it once the storage can.
func TestSnapshotTemporarilyUnavailable(t *testing.T) {
	nw := newTestNet(t, 3, nil)
	nw.campaign(1)
	nw.isolate(3)
	for i := 0; i < 10; i++ {
		if err := nw.propose(1, "x"); err != nil {
			t.Fatal(err)
		}
	}
	st := nw.nodes[1].st
	applied := nw.r(1).raftLog.applied
	if _, err := st.CreateSnapshot(applied, nil, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(applied); err != nil {
		t.Fatal(err)
	}
	available := false
	st.ReleaseSnapshotData(applied, func(SnapshotMetadata) ([]byte, error) {
		if !available {
			return nil, errors.New("not now")
		}
		return []byte("snap"), nil
	})
	nw.heal()
	nw.tickAll(3)
	if nw.nodes[3].rn.raft.raftLog.lastIndex() >= applied {
		t.Fatal("follower caught up without the snapshot")
	}
	available = true
	nw.tickAll(3)
	if got := nw.nodes[3].st.snapshot; got.Metadata.Index != applied || string(got.Data) != "snap" {
		t.Fatalf("follower holds snapshot %d %q, want %d", got.Metadata.Index, got.Data, applied)
	}
}
