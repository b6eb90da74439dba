package node

import (
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func ents(term raft.Term, lo, hi raft.Index) []raft.Entry {
	var out []raft.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, raft.Entry{Term: term, Index: i})
	}
	return out
}

func TestAppendEntries(t *testing.T) {
	cases := []struct {
		name     string
		stored   []raft.Entry
		add      []raft.Entry
		snap     raft.Index
		wantLast raft.Index
		wantTerm raft.Term // term of the last entry
		wantErr  bool
	}{
		{"empty", nil, ents(1, 1, 3), 0, 3, 1, false},
		{"extend", ents(1, 1, 3), ents(1, 4, 5), 0, 5, 1, false},
		{"overwrite suffix", ents(1, 1, 5), ents(2, 3, 3), 0, 3, 2, false},
		{"gap", ents(1, 1, 3), ents(1, 5, 6), 0, 3, 1, true},
		{"below snapshot skipped", nil, ents(1, 3, 6), 4, 6, 1, false},
		{"after snapshot", nil, ents(1, 5, 6), 4, 6, 1, false},
		{"gap after snapshot", nil, ents(1, 7, 8), 4, 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := AppendEntries(append([]raft.Entry(nil), c.stored...), c.add, c.snap)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			last := got[len(got)-1]
			if last.Index != c.wantLast || last.Term != c.wantTerm {
				t.Fatalf("last = %d/%d, want %d/%d", last.Index, last.Term, c.wantLast, c.wantTerm)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Index != got[i-1].Index+1 {
					t.Fatalf("not contiguous: %v", got)
				}
			}
		})
	}
}

func TestMemLogStoreSnapshotTrims(t *testing.T) {
	s := NewMemLogStore()
	if err := s.Save(raft.HardState{Term: 1, Commit: 5}, ents(1, 1, 8), true); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 5, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	hs, snap, es, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if hs.Commit != 5 || snap.Metadata.Index != 5 || len(es) != 3 || es[0].Index != 6 {
		t.Fatalf("load = %+v %+v %v", hs, snap.Metadata, es)
	}
}
