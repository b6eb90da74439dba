package storage

import (
	"fmt"

	"github.com/raftchat/raftchat/raft"
)

// termRuns remembers the term of every entry in (base, last] as runs of equal terms, which
// is tiny (one run per leader change) and lets the log answer "is the entry at i of term t"
// without keeping entries in memory.
//
// Invariant: runs[0].first == base+1 when runs is non-empty; runs are ascending by first
// and every run is non-empty, ending where the next begins (the last ends at last).
type termRuns struct {
	base     raft.Index
	baseTerm raft.Term
	last     raft.Index
	runs     []termRun
}

type termRun struct {
	first raft.Index
	term  raft.Term
}

// reset makes the log empty after (base, baseTerm).
func (t *termRuns) reset(base raft.Index, baseTerm raft.Term) {
	t.base, t.baseTerm, t.last = base, baseTerm, base
	t.runs = t.runs[:0]
}

// term returns the term of the entry at i, if the log knows it.
func (t *termRuns) term(i raft.Index) (raft.Term, bool) {
	if i == t.base {
		return t.baseTerm, true
	}
	if i < t.base || i > t.last {
		return 0, false
	}
	for k := len(t.runs) - 1; k >= 0; k-- {
		if t.runs[k].first <= i {
			return t.runs[k].term, true
		}
	}
	panic(fmt.Sprintf("storage: term runs do not cover index %d in (%d, %d]", i, t.base, t.last))
}

// append records one more entry; i must be last+1.
func (t *termRuns) append(i raft.Index, term raft.Term) {
	if i != t.last+1 {
		panic(fmt.Sprintf("storage: appending index %d after %d", i, t.last))
	}
	if n := len(t.runs); n == 0 || t.runs[n-1].term != term {
		t.runs = append(t.runs, termRun{first: i, term: term})
	}
	t.last = i
}

// truncate drops the entries at or after from; base < from <= last+1.
func (t *termRuns) truncate(from raft.Index) {
	if from <= t.base || from > t.last+1 {
		panic(fmt.Sprintf("storage: truncating at %d outside (%d, %d]", from, t.base, t.last+1))
	}
	for len(t.runs) > 0 && t.runs[len(t.runs)-1].first >= from {
		t.runs = t.runs[:len(t.runs)-1]
	}
	t.last = from - 1
}

// compact forgets the entries at or below i, which base <= i <= last.
func (t *termRuns) compact(i raft.Index) {
	term, ok := t.term(i)
	if !ok {
		panic(fmt.Sprintf("storage: compacting to %d outside [%d, %d]", i, t.base, t.last))
	}
	k := 0
	for k+1 < len(t.runs) && t.runs[k+1].first <= i+1 {
		k++
	}
	t.runs = append(t.runs[:0], t.runs[k:]...)
	if len(t.runs) > 0 {
		if t.runs[0].first <= i {
			t.runs[0].first = i + 1
		}
		if i == t.last {
			t.runs = t.runs[:0]
		}
	}
	t.base, t.baseTerm = i, term
}

// check panics if the invariant on runs does not hold.
func (t *termRuns) check() {
	if t.last < t.base {
		panic(fmt.Sprintf("storage: term runs last %d below base %d", t.last, t.base))
	}
	if len(t.runs) == 0 {
		if t.last != t.base {
			panic(fmt.Sprintf("storage: no term runs for (%d, %d]", t.base, t.last))
		}
		return
	}
	if t.runs[0].first != t.base+1 {
		panic(fmt.Sprintf("storage: first term run starts at %d, base is %d", t.runs[0].first, t.base))
	}
	for k := 1; k < len(t.runs); k++ {
		if t.runs[k].first <= t.runs[k-1].first || t.runs[k].first > t.last || t.runs[k].term == t.runs[k-1].term {
			panic(fmt.Sprintf("storage: term runs out of order at %d: %+v", k, t.runs))
		}
	}
}
