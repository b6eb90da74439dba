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
// differential runs the same observations through a checker given plain logs (pc: every
// check in full), one given VersionedLogs (vc: the incremental checks) and one told which
// view changed (oc: ObserveChanged), and fails when their findings differ.
type differential struct {
	pc, vc, oc       *Checker
	gotP, gotV, gotO []string
}

// observe feeds plain views pv and versioned views vv (the same cluster); with oneChanged
// only view k changed since the last observation.
func (d *differential) observe(t *testing.T, seed uint64, step int, pv, vv []NodeView, oneChanged bool, k int) {
	t.Helper()
	d.gotP = append(d.gotP, d.pc.Observe(pv)...)
	d.gotV = append(d.gotV, d.vc.Observe(vv)...)
	if oneChanged {
		d.gotO = append(d.gotO, d.oc.ObserveChanged(vv, k)...)
	} else {
		d.gotO = append(d.gotO, d.oc.Observe(vv)...)
	}
	if a, b := strings.Join(d.gotP, "\n"), strings.Join(d.gotV, "\n"); a != b {
		t.Fatalf("seed %d step %d: full checks found %q, incremental %q", seed, step, d.gotP, d.gotV)
	}
	if a, b := strings.Join(d.gotV, "\n"), strings.Join(d.gotO, "\n"); a != b {
		t.Fatalf("seed %d step %d: Observe found %q, ObserveChanged %q", seed, step, d.gotV, d.gotO)
	}
}

func TestIncrementalPairsMatchFullChecks(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		const nodes = 3
		logs := make([]*lineageLog, nodes)
		for k := range logs {
			logs[k] = &lineageLog{SliceLog: SliceLog{First: 1}}
		}
		cfg := Config{TailWindow: 4, SweepEvery: 1 << 20}
		d := &differential{pc: New(cfg), vc: New(cfg), oc: New(cfg)}
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
			d.observe(t, seed, step, pv, vv, oneChanged, k)
		}
	}
}

// TestIncrementalRecordMatchesFullChecks: logs that follow a cluster's history (a leader's
// entries copied, conflicting suffixes dropped or replaced in one step, uncommitted entries
// overwritten in a new term), with nodes that commit, crash, and get compacted, and now and
// then an entry that contradicts the committed record or another log, a term going down,
// or a commit index going wrong, give the same violations, at the same observations,
// whether the tails are checked against the committed record and the other logs
// incrementally (VersionedLogs) or in full (plain LogViews). The long runs push the
// committed-record events past what the store keeps.
func TestIncrementalRecordMatchesFullChecks(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		recordDifferential(t, seed, 250, 0)
	}
	for seed := uint64(1); seed <= 20; seed++ {
		recordDifferential(t, seed, 4000, 4)
	}
}

func recordDifferential(t *testing.T, seed uint64, steps, keepEvents int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(steps)))
	const nodes = 3
	logs := make([]*lineageLog, nodes)
	commits := make([]raft.Index, nodes)
	alive := make([]bool, nodes)
	for k := range logs {
		logs[k] = &lineageLog{SliceLog: SliceLog{First: 1}}
		alive[k] = true
	}
	var canon []EntryView // the cluster's log as its current leader has it; canon[k] is index k+1
	cfg := Config{TailWindow: 2 + int(seed%17), SweepEvery: 1 << 20}
	if seed%4 == 0 {
		cfg.SweepEvery = 5 + int(seed%7) // sweeps trim the record
	}
	badRate := 20 + int(seed%4)*150 // one wrong step in badRate
	d := &differential{pc: New(cfg), vc: New(cfg), oc: New(cfg)}
	if keepEvents > 0 {
		d.vc.recs.newlyCap, d.oc.recs.newlyCap = keepEvents, keepEvents
	}
	term := raft.Term(1)
	// agreed is how far l agrees with canon.
	agreed := func(l *lineageLog) raft.Index {
		i := l.LastIndex()
		for ; i >= l.FirstIndex(); i-- {
			if int(i) <= len(canon) && l.Entries[i-l.First] == canon[i-1] {
				break
			}
		}
		return i
	}
	for step := 0; step < steps; step++ {
		k := rng.IntN(nodes)
		l := logs[k]
		oneChanged := step > 0
		bad := rng.IntN(badRate)
		switch x := rng.IntN(100); {
		case x < 45: // replicate (or, for the leader, create) the next entry
			if a := agreed(l); a < l.LastIndex() && a >= commits[k] && bad != 0 {
				l.Entries = append([]EntryView(nil), l.Entries[:a+1-l.First]...)
				l.version++
				l.lineage++
				break
			}
			i := l.LastIndex() + 1
			if int(i) > len(canon)+1 {
				break // this node's log is past a wrong entry; wait for a truncation
			}
			if int(i) == len(canon)+1 {
				canon = append(canon, EntryView{Index: i, Term: term, Digest: uint64(i)*1000 + uint64(term)})
			}
			e := canon[i-1]
			switch bad {
			case 1:
				e.Digest++
			case 2:
				e.Term = max(1, e.Term-1)
			}
			l.Entries = append(l.Entries, e)
			l.version++
		case x < 75: // the commit index covers more of what this node agrees on
			switch bad {
			case 0:
				commits[k] += 2
			case 1:
				commits[k] /= 2
			default:
				if a := agreed(l); a > commits[k] {
					commits[k] += 1 + raft.Index(rng.IntN(int(a-commits[k])))
				}
			}
		case x < 80 && len(l.Entries) > 2: // compaction of committed entries
			n := 1 + rng.IntN(len(l.Entries)/2)
			if commits[k] < l.First+raft.Index(n) {
				break
			}
			l.Entries = append([]EntryView(nil), l.Entries[n:]...)
			l.First += raft.Index(n)
			l.version++
		case x < 84: // a new leader overwrites what nobody committed
			floor := raft.Index(0)
			for _, c := range commits {
				floor = max(floor, c)
			}
			if bad == 0 {
				floor /= 2
			}
			if int(floor) < len(canon) {
				canon = canon[:floor+raft.Index(rng.IntN(len(canon)-int(floor)))]
			}
			term++
			oneChanged = false
		case x < 86 && len(l.Entries) > 0: // a conflicting suffix replaced in one step
			n := rng.IntN(len(l.Entries))
			if l.First+raft.Index(n) <= commits[k] && bad > 2 {
				break
			}
			ents := append([]EntryView(nil), l.Entries[:n]...)
			for _, e := range l.Entries[n:] {
				if int(e.Index) <= len(canon) && bad > 2 {
					e = canon[e.Index-1] // the leader's entry
				} else {
					e.Digest += 7 // other data under the same term: a broken leader
				}
				ents = append(ents, e)
			}
			l.Entries = ents
			l.version++
			l.lineage++
		case x < 88: // a crash, or the restart after it with the commit index forgotten
			alive[k] = !alive[k]
			if alive[k] {
				commits[k] = 0
			}
		}
		var pv, vv []NodeView
		for j, lj := range logs {
			plain := &SliceLog{First: lj.First, Entries: lj.Entries}
			c := commits[j]
			pv = append(pv, NodeView{ID: raft.NodeID(j + 1), Alive: alive[j], Role: F, Term: term, Log: plain, Commit: c, Applied: c})
			vv = append(vv, NodeView{ID: raft.NodeID(j + 1), Alive: alive[j], Role: F, Term: term, Log: lj, Commit: c, Applied: c})
		}
		d.observe(t, seed, step, pv, vv, oneChanged, k)
	}
	if testing.Verbose() && seed <= 4 {
		t.Logf("%q", d.gotP)
		t.Logf("seed %d, %d steps: %d violations, %d records, %d committed-record events", seed, steps, len(d.gotP), d.vc.Stats().Remembered, d.vc.recs.commitSeq())
	}
}

// TestCommittedSinceForgets: a memo older than the committed-record events the store keeps
// learns that it cannot be trusted, rather than seeing no events.
func TestCommittedSinceForgets(t *testing.T) {
	s := newStore()
	s.newlyCap = 4
	for i := raft.Index(1); i <= 10; i++ {
		s.noteCommitted(i)
	}
	if _, kept := s.committedSince(0); kept {
		t.Fatal("events from the start are still reported as kept")
	}
	got, kept := s.committedSince(s.commitSeq() - 2)
	if !kept || len(got) != 2 || got[0] != 9 || got[1] != 10 {
		t.Fatalf("committedSince(last two) = %v, %v", got, kept)
	}
	if got, kept := s.committedSince(s.commitSeq()); !kept || len(got) != 0 {
		t.Fatalf("committedSince(now) = %v, %v", got, kept)
	}
}
