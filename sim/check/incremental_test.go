package check

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// lineageLog is a VersionedLog over a SliceLog that a test mutates: appends and
// compactions keep its lineage, truncations start a new one.
type lineageLog struct {
	SliceLog
	version, lineage uint64
}

func (l *lineageLog) Version() uint64 { return l.version }
func (l *lineageLog) Lineage() uint64 { return l.lineage }

// TestIncrementalPairsMatchFullChecks: random logs that grow, get compacted, truncated and
// rewritten, some of them violating log matching, give the same violations, at the same
// observations, whether the checker sees them as VersionedLogs (incremental pair checks) or
// as plain LogViews (full checks of every pair), and whether a step that changed one node is
// observed with Observe or with ObserveChanged.
func TestIncrementalPairsMatchFullChecks(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		const nodes = 3
		logs := make([]*lineageLog, nodes)
		for k := range logs {
			logs[k] = &lineageLog{SliceLog: SliceLog{First: 1}}
		}
		vc, pc := New(Config{TailWindow: 4, SweepEvery: 1 << 20}), New(Config{TailWindow: 4, SweepEvery: 1 << 20})
		oc := New(Config{TailWindow: 4, SweepEvery: 1 << 20})
		var gotV, gotP, gotO []string
		term := raft.Term(1)
		for step := 0; step < 200; step++ {
			k := rng.IntN(nodes)
			l := logs[k]
			oneChanged := step > 0
			switch r := rng.IntN(20 + int(seed%3)*40); {
			case r < 12: // append, usually the common entry for that index
				i := l.LastIndex() + 1
				t, d := term, uint64(i)*1000+uint64(term)
				if rng.IntN(150) == 0 {
					d++ // a divergent entry
				}
				if rng.IntN(150) == 0 {
					t = term + 1
				}
				l.Entries = append(l.Entries, EntryView{Index: i, Term: t, Digest: d})
				l.version++
			case r < 14 && len(l.Entries) > 2: // compaction
				n := 1 + rng.IntN(len(l.Entries)/2)
				l.Entries = append([]EntryView(nil), l.Entries[n:]...)
				l.First += raft.Index(n)
				l.version++
			case r < 16 && len(l.Entries) > 0: // truncation, then a rewrite in a new term
				n := rng.IntN(len(l.Entries))
				l.Entries = append([]EntryView(nil), l.Entries[:n]...)
				term++ // every view's term changes
				oneChanged = false
				l.version++
				l.lineage++
			case r < 17:
				term++
				oneChanged = false
			}
			var pv, vv []NodeView
			for j, lj := range logs {
				plain := &SliceLog{First: lj.First, Entries: lj.Entries}
				pv = append(pv, NodeView{ID: raft.NodeID(j + 1), Alive: true, Role: F, Term: term, Log: plain})
				vv = append(vv, NodeView{ID: raft.NodeID(j + 1), Alive: true, Role: F, Term: term, Log: lj})
			}
			gotP = append(gotP, pc.Observe(pv)...)
			gotV = append(gotV, vc.Observe(vv)...)
			if oneChanged {
				gotO = append(gotO, oc.ObserveChanged(vv, k)...)
			} else {
				gotO = append(gotO, oc.Observe(vv)...)
			}
			if a, b := strings.Join(gotP, "\n"), strings.Join(gotV, "\n"); a != b {
				t.Fatalf("seed %d step %d: full checks found %q, incremental %q", seed, step, gotP, gotV)
			}
			if a, b := strings.Join(gotV, "\n"), strings.Join(gotO, "\n"); a != b {
				t.Fatalf("seed %d step %d: Observe found %q, ObserveChanged %q", seed, step, gotV, gotO)
			}
		}
	}
}
