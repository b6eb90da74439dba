package raft

import (
	"errors"
	"testing"
)

func newTestLog(t *testing.T, terms ...Term) *raftLog {
	t.Helper()
	l, err := newLog(storageWithTerms(terms...), 1<<20, TestingKnobs{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLogFindConflict(t *testing.T) {
	l := newTestLog(t, 1, 2, 3)
	for _, tc := range []struct {
		ents []Entry
		want Index
	}{
		{nil, 0},
		{[]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 2}}, 0},
		{[]Entry{{Index: 2, Term: 2}, {Index: 3, Term: 3}, {Index: 4, Term: 4}}, 4},
		{[]Entry{{Index: 2, Term: 2}, {Index: 3, Term: 4}}, 3},
		{[]Entry{{Index: 1, Term: 4}}, 1},
	} {
		if got := l.findConflict(tc.ents); got != tc.want {
			t.Errorf("findConflict(%v) = %d, want %d", tc.ents, got, tc.want)
		}
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	l := newTestLog(t, 1, 1, 3, 3, 5)
	for _, tc := range []struct {
		index     Index
		term      Term
		wantIndex Index
		wantTerm  Term
	}{
		{5, 5, 5, 5},
		{5, 4, 4, 3},
		{5, 2, 2, 1},
		{5, 0, 0, 0},
		{9, 9, 9, 0}, // beyond the log
	} {
		i, tm := l.findConflictByTerm(tc.index, tc.term)
		if i != tc.wantIndex || tm != tc.wantTerm {
			t.Errorf("findConflictByTerm(%d, %d) = (%d, %d), want (%d, %d)", tc.index, tc.term, i, tm, tc.wantIndex, tc.wantTerm)
		}
	}
}

func TestLogMaybeAppend(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prev          Index
		prevTerm      Term
		commit        Index
		ents          []Entry
		wantOK        bool
		wantLast      Index
		wantCommit    Index
		wantLastInLog Index
	}{
		{"mismatch", 3, 2, 3, nil, false, 0, 0, 3},
		{"beyond", 4, 3, 3, nil, false, 0, 0, 3},
		{"heartbeat-like", 3, 3, 3, nil, true, 3, 3, 3},
		{"commit bounded by last new", 1, 1, 9, nil, true, 1, 1, 3},
		{"append", 3, 3, 4, []Entry{{Index: 4, Term: 4}}, true, 4, 4, 4},
		{"conflict", 1, 1, 2, []Entry{{Index: 2, Term: 4}}, true, 2, 2, 2},
		{"duplicate", 1, 1, 0, []Entry{{Index: 2, Term: 2}}, true, 2, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, 1, 2, 3)
			last, ok := l.maybeAppend(tc.prev, tc.prevTerm, tc.commit, tc.ents)
			if ok != tc.wantOK || last != tc.wantLast || l.committed != tc.wantCommit || l.lastIndex() != tc.wantLastInLog {
				t.Fatalf("got ok=%v last=%d committed=%d lastIndex=%d", ok, last, l.committed, l.lastIndex())
			}
		})
	}
}

// A (forged) append conflicting with a committed entry is refused, never applied.
func TestLogConflictWithCommittedRefused(t *testing.T) {
	l := newTestLog(t, 1, 2, 3)
	l.commitTo(2)
	if _, ok := l.maybeAppend(1, 1, 2, []Entry{{Index: 2, Term: 4}}); ok {
		t.Fatal("accepted an append overwriting a committed entry")
	}
	if tm, _ := l.term(2); tm != 2 {
		t.Fatalf("committed entry overwritten: term %d", tm)
	}
}

func TestLogSliceAcrossStableAndUnstable(t *testing.T) {
	l := newTestLog(t, 1, 1, 1)
	l.append(Entry{Index: 4, Term: 2}, Entry{Index: 5, Term: 2})
	ents, err := l.slice(2, 6, 1<<20)
	if err != nil || len(ents) != 4 || ents[0].Index != 2 || ents[3].Index != 5 {
		t.Fatalf("slice(2, 6) = %v, %v", ents, err)
	}
	ents, _ = l.slice(2, 6, 2*(1+entryOverhead))
	if len(ents) != 2 {
		t.Fatalf("byte-limited slice has %d entries", len(ents))
	}
	if ents, _ := l.slice(4, 4, 10); ents != nil {
		t.Fatalf("empty range returned %v", ents)
	}
	_ = l.storage.(*MemoryStorage).Compact(2)
	if _, err := l.slice(1, 3, 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compacted slice: %v", err)
	}
	if _, err := l.term(0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compacted term: %v", err)
	}
}

func TestUnstableStableToAndTruncate(t *testing.T) {
	u := unstable{offset: 5}
	u.truncateAndAppend([]Entry{{Index: 5, Term: 1}, {Index: 6, Term: 1}, {Index: 7, Term: 1}})
	held := u.slice(5, 8)
	u.truncateAndAppend([]Entry{{Index: 6, Term: 2}})
	if held[1].Term != 1 {
		t.Fatal("truncation overwrote a slice handed out earlier")
	}
	u.stableTo(6, 1) // stale: entry 6 now has term 2
	if u.offset != 5 {
		t.Fatalf("stableTo with a stale term moved offset to %d", u.offset)
	}
	u.stableTo(6, 2)
	if u.offset != 7 || len(u.entries) != 0 {
		t.Fatalf("offset %d len %d", u.offset, len(u.entries))
	}
	u.truncateAndAppend([]Entry{{Index: 3, Term: 3}})
	if u.offset != 3 || len(u.entries) != 1 {
		t.Fatalf("replace-all: offset %d len %d", u.offset, len(u.entries))
	}
}
