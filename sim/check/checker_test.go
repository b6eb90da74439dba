package check

import (
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// mkLog builds a log from first on, one entry per term given; the data of an entry is its
// index and term unless overridden by tweak ("index:data").
func mkLog(first raft.Index, terms []raft.Term, tweaks ...string) *SliceLog {
	l := &SliceLog{First: first}
	for k, t := range terms {
		i := first + raft.Index(k)
		data := []byte{byte(i), byte(t)}
		for _, tw := range tweaks {
			idx, d, _ := strings.Cut(tw, ":")
			if idx == itoa(i) {
				data = []byte(d)
			}
		}
		l.Entries = append(l.Entries, EntryView{Index: i, Term: t, Digest: DigestEntry(raft.Entry{Data: data})})
	}
	return l
}

func itoa(i raft.Index) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// applied returns the applied digests of the first n entries of l.
func applied(l *SliceLog, n int) AppliedMap {
	m := AppliedMap{}
	for k := 0; k < n && k < len(l.Entries); k++ {
		m[l.Entries[k].Index] = l.Entries[k].Digest
	}
	return m
}

func node(id raft.NodeID, role raft.StateType, term raft.Term, l *SliceLog, commit, appliedN raft.Index) NodeView {
	return NodeView{ID: id, Alive: true, Role: role, Term: term, Log: l, Commit: commit, Applied: appliedN,
		AppliedDigests: applied(l, int(appliedN))}
}

const (
	F = raft.StateFollower
	L = raft.StateLeader
	C = raft.StateCandidate
)

func TestChecksFire(t *testing.T) {
	good := mkLog(1, []raft.Term{1, 1, 2})
	cases := []struct {
		name  string
		steps [][]NodeView
		want  string // substring of the first violation; "" means none
	}{
		{
			name: "healthy cluster",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3), node(2, F, 2, good, 3, 2), node(3, F, 2, mkLog(1, []raft.Term{1, 1}), 2, 2)},
				{node(1, L, 2, good, 3, 3), node(2, F, 2, good, 3, 3), node(3, F, 2, good, 3, 3)},
			},
		},
		{
			name: "two leaders in one term",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3), node(2, F, 2, good, 3, 3)},
				{node(1, F, 3, good, 3, 3), node(2, L, 2, good, 3, 3)},
			},
			want: "election safety: term 2 has two leaders: node 1 and node 2",
		},
		{
			name: "log matching: same term, different entry",
			steps: [][]NodeView{
				{node(1, L, 2, good, 0, 0), node(2, F, 2, mkLog(1, []raft.Term{1, 1, 2}, "2:evil"), 0, 0)},
			},
			want: "log matching: nodes 1 and 2 agree on term at index 3 but differ at index 2",
		},
		{
			name: "log terms decrease",
			steps: [][]NodeView{
				{node(1, F, 3, mkLog(1, []raft.Term{1, 3, 2}), 0, 0)},
			},
			want: "log matching: node 1 term 3 log term decreases at index 3",
		},
		{
			name: "committed entry changes on the same node",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 0)},
				{node(1, L, 2, mkLog(1, []raft.Term{1, 1, 3}), 3, 0)},
			},
			want: "committed entry changed: index 3 committed as term 2",
		},
		{
			name: "committed entry differs on another node",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 0), node(2, F, 3, mkLog(1, []raft.Term{1, 1, 3}), 0, 0)},
				{node(1, L, 2, good, 3, 0), node(2, F, 3, mkLog(1, []raft.Term{1, 1, 3}), 3, 0)},
			},
			want: "committed entry changed: index 3 committed as term 2",
		},
		{
			name: "commit goes back",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 0)},
				{node(1, L, 2, good, 2, 0)},
			},
			want: "commit monotonicity: node 1 term 2 commit went back from index 3 to 2",
		},
		{
			name: "commit going back across a restart is fine",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3)},
				{{ID: 1, Alive: false, Log: good}},
				{node(1, F, 2, good, 1, 1)},
			},
		},
		{
			name: "commit beyond the log",
			steps: [][]NodeView{
				{node(1, F, 2, mkLog(1, []raft.Term{1, 1}), 3, 0)},
			},
			want: "commit beyond log: node 1 term 2 commit index 3 > last index 2",
		},
		{
			name: "applied beyond commit",
			steps: [][]NodeView{
				{node(1, L, 2, good, 2, 3)},
			},
			want: "state machine safety: node 1 term 2 applied index 3 beyond commit index 2",
		},
		{
			name: "nodes apply different commands",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3)},
				{node(1, L, 2, good, 3, 3), func() NodeView {
					v := node(2, F, 2, good, 3, 3)
					v.AppliedDigests = AppliedMap{1: good.Entries[0].Digest, 2: 99, 3: good.Entries[2].Digest}
					return v
				}()},
			},
			want: "state machine safety: index 2 applied as digest",
		},
		{
			name: "leader misses an entry committed in an earlier term",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3), node(2, F, 2, good, 3, 3), node(3, F, 2, mkLog(1, []raft.Term{1, 1}), 2, 2)},
				{{ID: 1, Alive: false, Log: good}, node(2, F, 3, good, 3, 3), node(3, L, 3, mkLog(1, []raft.Term{1, 1, 3}), 2, 2)},
			},
			want: "leader completeness: leader node 3 term 3 holds index 3 as term 3",
		},
		{
			name: "leader with a short log",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3), node(3, F, 2, mkLog(1, []raft.Term{1}), 1, 1)},
				{{ID: 1, Alive: false, Log: good}, node(3, L, 3, mkLog(1, []raft.Term{1}), 1, 1)},
			},
			want: "leader completeness: leader node 3 term 3 lacks index 2 committed in term 2",
		},
		{
			name: "term goes back",
			steps: [][]NodeView{
				{node(1, F, 4, good, 0, 0)},
				{node(1, F, 3, good, 0, 0)},
			},
			want: "term monotonicity: node 1 went from term 4 back to term 3",
		},
		{
			name: "vote not on stable storage",
			steps: [][]NodeView{
				{func() NodeView {
					v := node(1, F, 3, good, 0, 0)
					v.Vote, v.Durable, v.DurableKnown = 2, raft.HardState{Term: 3}, true
					return v
				}()},
			},
			want: "persistence: node 1 has term 3 vote 2, stable storage holds term 3 vote 0",
		},
		{
			name: "two votes in one term across a restart",
			steps: [][]NodeView{
				{func() NodeView { v := node(1, F, 3, good, 0, 0); v.Vote = 2; return v }()},
				{{ID: 1, Alive: false, Log: good}},
				{node(1, F, 3, good, 0, 0)},
				{func() NodeView { v := node(1, F, 3, good, 0, 0); v.Vote = 4; return v }()},
			},
			want: "vote safety: node 1 voted for node 2 and for node 4 in term 3",
		},
		{
			name: "votes in successive terms are fine",
			steps: [][]NodeView{
				{func() NodeView {
					v := node(1, F, 3, good, 0, 0)
					v.Vote, v.Durable, v.DurableKnown = 2, raft.HardState{Term: 3, Vote: 2}, true
					return v
				}()},
				{func() NodeView { v := node(1, F, 4, good, 0, 0); v.Vote = 4; return v }()},
			},
		},
		{
			name: "leader commits an entry of an earlier term by counting",
			steps: [][]NodeView{
				{node(1, L, 3, mkLog(1, []raft.Term{1, 2, 3}), 1, 0)},
				{node(1, L, 3, mkLog(1, []raft.Term{1, 2, 3}), 2, 0)},
			},
			want: "commit rule: leader node 1 term 3 advanced commit from index 1 to index 2 of term 2",
		},
		{
			name: "leader commits its own entry and the older ones below it",
			steps: [][]NodeView{
				{node(1, L, 3, mkLog(1, []raft.Term{1, 2, 3}), 1, 0)},
				{node(1, L, 3, mkLog(1, []raft.Term{1, 2, 3}), 3, 0)},
			},
		},
		{
			name: "compacted follower is fine",
			steps: [][]NodeView{
				{node(1, L, 2, good, 3, 3), node(2, F, 2, mkLog(3, []raft.Term{2}), 3, 3)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{})
			var got []string
			for _, views := range tc.steps {
				got = append(got, c.Observe(views)...)
			}
			got = append(got, c.Sweep(tc.steps[len(tc.steps)-1])...)
			// The same steps, each observed twice, over VersionedLogs (which lets Observe
			// skip unchanged nodes) find exactly what they find over plain logs.
			plain, versioned := New(Config{}), New(Config{})
			var gotPlain, gotVersioned []string
			vlogs := map[raft.NodeID]*vlog{}
			for _, views := range tc.steps {
				vviews := make([]NodeView, len(views))
				for k, v := range views {
					vl := vlogs[v.ID]
					if vl == nil {
						vl = &vlog{}
						vlogs[v.ID] = vl
					}
					if sl := v.Log.(*SliceLog); sl != vl.SliceLog {
						vl.SliceLog, vl.v = sl, vl.v+1
					}
					v.Log = vl
					vviews[k] = v
				}
				for range 2 {
					gotPlain = append(gotPlain, plain.Observe(views)...)
					gotVersioned = append(gotVersioned, versioned.Observe(vviews)...)
				}
			}
			if strings.Join(gotPlain, "\n") != strings.Join(gotVersioned, "\n") {
				t.Fatalf("plain logs found %q, versioned logs %q", gotPlain, gotVersioned)
			}
			if tc.want == "" {
				if len(got) != 0 || !c.OK() {
					t.Fatalf("unexpected violations: %q", got)
				}
				return
			}
			if len(got) == 0 || c.OK() {
				t.Fatalf("no violation, want %q", tc.want)
			}
			if !strings.Contains(got[0], tc.want) {
				t.Fatalf("first violation %q, want it to contain %q (all: %q)", got[0], tc.want, got)
			}
		})
	}
}

// TestSweepFindsOldRewrite: a rewrite below the tail window is invisible to Observe's
// incremental checks but the full sweep finds it.
func TestSweepFindsOldRewrite(t *testing.T) {
	terms := make([]raft.Term, 100)
	for i := range terms {
		terms[i] = 1
	}
	c := New(Config{TailWindow: 4, SweepEvery: 1 << 20})
	good := mkLog(1, terms)
	c.Observe([]NodeView{node(1, L, 1, good, 100, 0), node(2, F, 1, good, 100, 0)})
	bad := mkLog(1, terms, "10:rewritten")
	if got := c.Observe([]NodeView{node(1, L, 1, good, 100, 0), node(2, F, 1, bad, 100, 0)}); len(got) != 0 {
		t.Fatalf("tail check should not see index 10: %q", got)
	}
	got := c.Sweep([]NodeView{node(1, L, 1, good, 100, 0), node(2, F, 1, bad, 100, 0)})
	if len(got) == 0 || !strings.Contains(got[0], "index 10") {
		t.Fatalf("sweep missed the rewrite: %q", got)
	}
}

// TestMemoryTrimmed: the record forgets indexes every node has compacted and applied.
func TestMemoryTrimmed(t *testing.T) {
	c := New(Config{SweepEvery: 1})
	var terms []raft.Term
	for i := 0; i < 1000; i++ {
		terms = append(terms, 1)
	}
	full := mkLog(1, terms)
	c.Observe([]NodeView{node(1, L, 1, full, 1000, 1000), node(2, F, 1, full, 1000, 1000)})
	tail := &SliceLog{First: 991, Entries: full.Entries[990:]}
	views := []NodeView{node(1, L, 1, tail, 1000, 1000), node(2, F, 1, tail, 1000, 1000)}
	views[0].AppliedDigests, views[1].AppliedDigests = nil, nil
	c.Observe(views)
	c.Sweep(views)
	if got := c.Stats().Remembered; got > 10 {
		t.Fatalf("remembered %d indexes, want <= 10", got)
	}
	if !c.OK() {
		t.Fatalf("violations: %q", c.Violations())
	}
}

// TestViolationsDeduplicated: a violation that persists over many events is reported once.
func TestViolationsDeduplicated(t *testing.T) {
	c := New(Config{})
	good := mkLog(1, []raft.Term{1})
	for i := 0; i < 10; i++ {
		c.Observe([]NodeView{node(1, L, 1, good, 1, 0), node(2, L, 1, good, 1, 0)})
	}
	if got := c.Violations(); len(got) != 1 {
		t.Fatalf("got %d violations, want 1: %q", len(got), got)
	}
}

func TestObserveState(t *testing.T) {
	c := New(Config{})
	if v := c.ObserveState(1, 10, DigestBytes([]byte("a"))); v != "" {
		t.Fatal(v)
	}
	if v := c.ObserveState(2, 10, DigestBytes([]byte("a"))); v != "" {
		t.Fatal(v)
	}
	if v := c.ObserveState(2, 11, DigestBytes([]byte("b"))); v != "" {
		t.Fatal(v)
	}
	v := c.ObserveState(3, 10, DigestBytes([]byte("c")))
	if !strings.Contains(v, "state divergence: at applied index 10 node 1") || c.OK() {
		t.Fatalf("divergence not reported: %q", v)
	}
	for i := raft.Index(100); i < 100+2*maxStates; i++ {
		c.ObserveState(1, i, 7)
	}
	if len(c.states) > maxStates {
		t.Fatalf("remembered %d states", len(c.states))
	}
}

// vlog is a VersionedLog over a SliceLog, for tests.
type vlog struct {
	*SliceLog
	v uint64
}

func (l *vlog) Version() uint64 { return l.v }
func (l *vlog) Lineage() uint64 { return l.v }
