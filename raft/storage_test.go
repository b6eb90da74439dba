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
