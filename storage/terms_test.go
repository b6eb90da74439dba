package storage

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/raftchat/raftchat/raft"
)

// TestTermRunsMatchSlice checks termRuns against a plain slice of terms.
func TestTermRunsMatchSlice(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var tr termRuns
		base, baseTerm := raft.Index(0), raft.Term(0)
		var terms []raft.Term // terms[k] is the term of base+1+k
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				term := raft.Term(rapid.IntRange(1, 3).Draw(rt, "term"))
				tr.append(base+raft.Index(len(terms))+1, term)
				terms = append(terms, term)
			},
			"truncate": func(rt *rapid.T) {
				from := raft.Index(rapid.IntRange(int(base)+1, int(base)+len(terms)+1).Draw(rt, "from"))
				tr.truncate(from)
				terms = terms[:from-base-1]
			},
			"compact": func(rt *rapid.T) {
				i := raft.Index(rapid.IntRange(int(base), int(base)+len(terms)).Draw(rt, "i"))
				if i > base {
					baseTerm = terms[i-base-1]
					terms = terms[i-base:]
					base = i
				}
				tr.compact(i)
			},
			"reset": func(rt *rapid.T) {
				base = raft.Index(rapid.IntRange(int(base), int(base)+10).Draw(rt, "base"))
				baseTerm, terms = 5, nil
				tr.reset(base, baseTerm)
			},
			"": func(rt *rapid.T) {
				if tr.base != base || tr.last != base+raft.Index(len(terms)) {
					rt.Fatalf("bounds (%d, %d], want (%d, %d]", tr.base, tr.last, base, base+raft.Index(len(terms)))
				}
				for i := base - 1; i <= tr.last+1; i++ {
					got, ok := tr.term(i)
					want, wantOK := baseTerm, i == base
					if i > base && i <= tr.last {
						want, wantOK = terms[i-base-1], true
					}
					if ok != wantOK || (ok && got != want) {
						rt.Fatalf("term(%d) = %d %v, want %d %v", i, got, ok, want, wantOK)
					}
				}
			},
		})
	})
}
