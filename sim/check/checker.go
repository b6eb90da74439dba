package check

import (
	"fmt"

	"github.com/raftchat/raftchat/raft"
)

// Config bounds the checker's work and memory. Zero fields take the defaults below.
type Config struct {
	// TailWindow is how many entries at the end of a changed log are compared with the
	// committed record and with the other logs on every observation. Default 16.
	TailWindow int
	// SweepEvery is the minimum number of observations between two full sweeps. The
	// effective interval is also at least the total number of entries held, which keeps the
	// amortised cost per observation O(nodes). Default 512.
	SweepEvery int
	// MaxViolations caps how many distinct violations are kept. Default 100.
	MaxViolations int
	// MaxAppliedScan caps how many newly applied indexes are examined on one observation
	// of one node (a snapshot install can jump far ahead). Default 4096.
	MaxAppliedScan int
}

func (c Config) withDefaults() Config {
	if c.TailWindow <= 0 {
		c.TailWindow = 16
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 512
	}
	if c.MaxViolations <= 0 {
		c.MaxViolations = 100
	}
	if c.MaxAppliedScan <= 0 {
		c.MaxAppliedScan = 4096
	}
	return c
}

// fingerprint summarises a node's view so unchanged nodes can be skipped cheaply.
type fingerprint struct {
	term        raft.Term
	role        raft.StateType
	commit      raft.Index
	first, last raft.Index
	lastTerm    raft.Term
}

// nodeState is what the checker remembers per node between observations.
type nodeState struct {
	id          raft.NodeID
	seen, alive bool
	term        raft.Term
	role        raft.StateType
	commit      raft.Index // verified committed prefix in the current life
	applied     raft.Index // verified applied prefix in the current life
	// voteTerm and vote: the last vote seen, kept across lives (§5.2: one vote per term).
	voteTerm raft.Term
	vote     raft.NodeID
	fp       fingerprint
	// last is the view at the previous observation, when its log is a VersionedLog.
	last    viewKey
	hasLast bool
	// pairs[j] is what the log matching checks of this node's tail against views[j]'s log
	// established, when both are VersionedLogs.
	pairs []pairMemo
	// pairLog and pairLineage are the log (and its lineage) the pairs memos were made with.
	pairLog     VersionedLog
	pairLineage uint64
	// rec is what the checks of this node's tail against the committed record established.
	rec recordMemo
}

// recordMemo records a passed checkAgainstRecord of a VersionedLog over [lo, hi] (ok), made
// with commit index commit after seq records had become committed. While the log's Lineage
// holds, its entries in [lo, hi] stay the same, and a committed record never changes (it can
// only be trimmed), so a later check need only look at what is new: the entries above hi,
// the records committed since, and the indexes the commit index newly covers.
type recordMemo struct {
	log     VersionedLog
	lineage uint64
	lo, hi  raft.Index
	commit  raft.Index
	seq     uint64
	ok      bool
}

// pairMemo records a passed log matching check between two VersionedLogs a and b, a being
// the log of the node whose nodeState holds the memo (its pairLog, with its pairLineage):
// over [lo, hi] (clamped to both logs) the highest index where their terms agree is top (0:
// none), and the logs are identical in [lo, top]. While neither log's Lineage changes, the
// entries at those indexes stay the same, so a later check of a range starting at or above
// lo and ending at or above hi only needs to look at the indexes above hi and above top;
// while neither log's Version changes (va, vb when the memo was last brought up to date),
// it need not look at all.
type pairMemo struct {
	b           VersionedLog
	lb          uint64 // b's lineage
	idB         raft.NodeID
	lo, hi, top raft.Index
	va, vb      uint64
	ok          bool
}

// viewKey is everything about a NodeView that its checks depend on, for a VersionedLog: the
// AppliedDigests are consulted only for indexes above the previous Applied, so an unchanged
// Applied makes them irrelevant.
type viewKey struct {
	alive        bool
	role         raft.StateType
	leader       raft.NodeID
	term         raft.Term
	vote         raft.NodeID
	durable      raft.HardState
	durableKnown bool
	commit       raft.Index
	applied      raft.Index
	log          VersionedLog
	logView      LogView // log as the LogView it came in
	version      uint64
}

// unchanged reports whether v is the view st.last describes, and otherwise records v in
// st.last (or forgets st.last when v's log is not a VersionedLog).
func (st *nodeState) unchanged(v *NodeView) bool {
	k := &st.last
	if st.hasLast && k.alive == v.Alive && k.role == v.Role && k.leader == v.Leader &&
		k.term == v.Term && k.vote == v.Vote && k.durable == v.Durable &&
		k.durableKnown == v.DurableKnown && k.commit == v.Commit && k.applied == v.Applied &&
		v.Log == k.logView && k.log.Version() == k.version {
		// v.Log == k.logView cannot panic: equal dynamic types make both a VersionedLog,
		// which is comparable.
		return true
	}
	vl, ok := v.Log.(VersionedLog)
	st.hasLast = ok
	if !ok {
		return false
	}
	*k = viewKey{alive: v.Alive, role: v.Role, leader: v.Leader, term: v.Term, vote: v.Vote,
		durable: v.Durable, durableKnown: v.DurableKnown, commit: v.Commit, applied: v.Applied,
		log: vl, logView: v.Log, version: vl.Version()}
	return false
}

// Checker runs the safety checks; see the package doc. It is not safe for concurrent use.
type Checker struct {
	cfg        Config
	nodes      map[raft.NodeID]*nodeState
	byPos      []*nodeState // byPos[i] is the state of views[i] at the last Observe
	leaders    map[raft.Term]raft.NodeID
	recs       *store
	calls      int
	sinceSweep int
	// held[k] is how many entries views[k] held when last counted, and heldTotal their sum;
	// heldOK says they still describe every view but the one ObserveChanged names.
	held       []int
	heldTotal  int
	heldOK     bool
	sweeps     int
	states     map[raft.Index]stateSeen // see ObserveState
	confs      []confSeen               // see ObserveConfChange, by index
	reported   map[string]struct{}
	violations []string
	suppressed int
	fresh      []string
}

// New returns a Checker with nothing observed yet.
func New(cfg Config) *Checker {
	return &Checker{
		cfg:      cfg.withDefaults(),
		nodes:    make(map[raft.NodeID]*nodeState),
		leaders:  make(map[raft.Term]raft.NodeID),
		recs:     newStore(),
		reported: make(map[string]struct{}),
	}
}

// Observe runs the incremental checks on views (one per node, in a stable order) and,
// when due, a full sweep. It returns the violations first found by this call; the slice is
// reused by the next call.
func (c *Checker) Observe(views []NodeView) []string {
	c.fresh = c.fresh[:0]
	c.calls++
	c.sinceSweep++
	for i := range views {
		c.observeNode(views, i)
	}
	if c.sinceSweep >= c.sweepInterval(views, -1) {
		c.sweep(views)
	}
	return c.fresh
}

// ObserveChanged is Observe for a caller that knows only views[i] may differ from what the
// previous Observe or ObserveChanged call saw (every other view holds the same values and
// an unchanged log). It finds exactly what Observe would: Observe skips such views anyway
// (see VersionedLog; a crashed node's view holds nothing to check); this one does not even
// look at them.
func (c *Checker) ObserveChanged(views []NodeView, i int) []string {
	c.fresh = c.fresh[:0]
	c.calls++
	c.sinceSweep++
	c.observeNode(views, i)
	if c.sinceSweep >= c.sweepInterval(views, i) {
		c.sweep(views)
	}
	return c.fresh
}

// Sweep runs the full checks now (call it once at the end of a run) and returns the
// violations it found first.
func (c *Checker) Sweep(views []NodeView) []string {
	c.fresh = c.fresh[:0]
	c.heldOK = false
	c.sweep(views)
	return c.fresh
}

// OK reports whether no violation was found so far.
func (c *Checker) OK() bool { return len(c.violations) == 0 }

// Violations returns every distinct violation found so far, in the order found (at most
// Config.MaxViolations of them).
func (c *Checker) Violations() []string { return append([]string(nil), c.violations...) }

// Stats describes the checker's work so far.
type Stats struct {
	Observations int
	Sweeps       int
	// Remembered is the number of indexes currently held in the committed record.
	Remembered int
	Suppressed int
}

// Stats returns counters about the checker's work.
func (c *Checker) Stats() Stats {
	return Stats{Observations: c.calls, Sweeps: c.sweeps, Remembered: c.recs.size(), Suppressed: c.suppressed}
}

func (c *Checker) reportf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if _, dup := c.reported[s]; dup {
		return
	}
	if len(c.violations) >= c.cfg.MaxViolations {
		c.suppressed++
		return
	}
	c.reported[s] = struct{}{}
	c.violations = append(c.violations, s)
	c.fresh = append(c.fresh, s)
}

func (c *Checker) sweepInterval(views []NodeView, changed int) int {
	if c.sinceSweep < c.cfg.SweepEvery {
		c.heldOK = false        // the counts are not kept up to date meanwhile
		return c.cfg.SweepEvery // the interval is at least that: no need to count entries
	}
	// Only views[changed] can differ from the last count (ObserveChanged's contract); -1:
	// any can.
	if c.heldOK && changed >= 0 && len(c.held) == len(views) {
		n := heldEntries(&views[changed])
		c.heldTotal += n - c.held[changed]
		c.held[changed] = n
	} else {
		c.held, c.heldTotal = c.held[:0], 0
		for i := range views {
			n := heldEntries(&views[i])
			c.held = append(c.held, n)
			c.heldTotal += n
		}
		c.heldOK = true
	}
	return max(c.cfg.SweepEvery, c.heldTotal)
}

func heldEntries(v *NodeView) int {
	l := logOf(v)
	if l.LastIndex() >= l.FirstIndex() {
		return int(l.LastIndex() - l.FirstIndex() + 1)
	}
	return 0
}

// state returns the state of views[i], whose ID is id.
func (c *Checker) state(i int, id raft.NodeID) *nodeState {
	if i < len(c.byPos) && c.byPos[i] != nil && c.byPos[i].id == id {
		return c.byPos[i]
	}
	st, ok := c.nodes[id]
	if !ok {
		st = &nodeState{id: id}
		c.nodes[id] = st
	}
	for len(c.byPos) <= i {
		c.byPos = append(c.byPos, nil)
	}
	c.byPos[i] = st
	return st
}
