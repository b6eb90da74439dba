package check

import (
	"github.com/raftchat/raftchat/raft"
)

// observeNode runs the incremental checks for views[i].
func (c *Checker) observeNode(views []NodeView, i int) {
	v := &views[i]
	st := c.state(i, v.ID)
	if v.Removed {
		st.alive, st.hasLast = false, false
		return
	}
	if st.unchanged(v) {
		// Every check below depends only on the view and on what this node's previous
		// observation left in st; the checks that read other nodes' logs or the committed
		// record (the tail, a new leader's completeness) run when this view changes, and the
		// other nodes' changes are checked from their side.
		return
	}
	if !v.Alive {
		st.alive = false
		return
	}
	if !st.alive {
		// A new life (or the first sighting): commit and applied restart from what the
		// node recovered, so the monotonicity baselines restart too.
		st.alive, st.seen = true, true
		st.term, st.role = v.Term, raft.StateFollower
		st.commit = 0
		st.applied = min(st.applied, v.Applied)
		st.fp = fingerprint{}
	}
	c.checkTermAndRole(v, st)
	c.checkVote(v, st)
	c.checkIndexes(v, st)
	c.checkCommitRule(v, st)
	c.learnCommitted(v, st)
	c.checkApplied(v, st)
	if v.Role == raft.StateLeader && (st.role != raft.StateLeader || st.term != v.Term) {
		c.checkLeaderCompleteness(v)
	}
	st.term, st.role = v.Term, v.Role
	fp := fingerprintOf(v)
	if fp != st.fp {
		st.fp = fp
		c.checkTail(views, i, st)
	}
}

func fingerprintOf(v *NodeView) fingerprint {
	l := logOf(v)
	fp := fingerprint{term: v.Term, role: v.Role, commit: v.Commit, first: l.FirstIndex(), last: l.LastIndex()}
	if e, ok := l.Entry(fp.last); ok {
		fp.lastTerm = e.Term
	}
	return fp
}

// checkTermAndRole: election safety (§5.2) and terms never going back within a life.
func (c *Checker) checkTermAndRole(v *NodeView, st *nodeState) {
	if v.Term < st.term {
		c.reportf("term monotonicity: node %d went from term %d back to term %d", v.ID, st.term, v.Term)
	}
	if v.Role != raft.StateLeader {
		return
	}
	if prev, ok := c.leaders[v.Term]; !ok {
		c.leaders[v.Term] = v.ID
	} else if prev != v.ID {
		c.reportf("election safety: term %d has two leaders: node %d and node %d", v.Term, prev, v.ID)
	}
}

// checkVote: a node votes for at most one candidate per term, even across a restart
// (§5.2), and its term and vote are on stable storage before it acts on them (Figure 2).
func (c *Checker) checkVote(v *NodeView, st *nodeState) {
	if v.DurableKnown && (v.Durable.Term != v.Term || v.Durable.Vote != v.Vote) {
		c.reportf("persistence: node %d has term %d vote %d, stable storage holds term %d vote %d",
			v.ID, v.Term, v.Vote, v.Durable.Term, v.Durable.Vote)
	}
	if v.Vote == raft.None {
		return
	}
	if v.Term == st.voteTerm && st.vote != raft.None && st.vote != v.Vote {
		c.reportf("vote safety: node %d voted for node %d and for node %d in term %d", v.ID, st.vote, v.Vote, v.Term)
	}
	if v.Term >= st.voteTerm {
		st.voteTerm, st.vote = v.Term, v.Vote
	}
}

// checkIndexes: commit never goes back within a life, commit stays within the log, and
// nothing is applied before it is committed.
func (c *Checker) checkIndexes(v *NodeView, st *nodeState) {
	if v.Commit < st.commit {
		c.reportf("commit monotonicity: node %d term %d commit went back from index %d to %d",
			v.ID, v.Term, st.commit, v.Commit)
	}
	if last := logOf(v).LastIndex(); v.Commit > last {
		c.reportf("commit beyond log: node %d term %d commit index %d > last index %d", v.ID, v.Term, v.Commit, last)
	}
	if v.Applied > v.Commit {
		c.reportf("state machine safety: node %d term %d applied index %d beyond commit index %d",
			v.ID, v.Term, v.Applied, v.Commit)
	}
}

// checkCommitRule: a leader advances its commit index only to an entry of its own term
// (§5.4.2, Figure 2 "log[N].term == currentTerm"); entries of earlier terms become committed
// only indirectly, below such an entry. Only an advance the leader made itself, between two
// observations in one term and one life, is judged.
func (c *Checker) checkCommitRule(v *NodeView, st *nodeState) {
	if v.Role != raft.StateLeader || st.role != raft.StateLeader || st.term != v.Term || v.Commit <= st.commit {
		return
	}
	if e, ok := logOf(v).Entry(v.Commit); ok && e.Term != v.Term {
		c.reportf("commit rule: leader node %d term %d advanced commit from index %d to index %d of term %d",
			v.ID, v.Term, st.commit, v.Commit, e.Term)
	}
}

// learnCommitted records, or checks against the record, every index the node newly covers
// with its commit index.
func (c *Checker) learnCommitted(v *NodeView, st *nodeState) {
	if v.Commit <= st.commit {
		return
	}
	l := logOf(v)
	for i := max(st.commit+1, l.FirstIndex()); i <= v.Commit; i++ {
		if e, ok := l.Entry(i); ok {
			c.commitEntry(v, e)
		}
	}
	st.commit = v.Commit
}

// commitEntry notes that node v holds e as committed.
func (c *Checker) commitEntry(v *NodeView, e EntryView) {
	r := c.recs.at(e.Index)
	if r == nil {
		return
	}
	if !r.committed {
		r.committed, r.term, r.digest, r.commitTerm, r.committedBy = true, e.Term, e.Digest, v.Term, v.ID
		c.recs.limit = max(c.recs.limit, e.Index)
		c.recs.noteCommitted(e.Index)
		if r.applied && r.appliedDigest != e.Digest {
			c.reportf("state machine safety: index %d applied by node %d as digest %016x but committed by node %d term %d as digest %016x",
				e.Index, r.appliedBy, r.appliedDigest, v.ID, e.Term, e.Digest)
		}
		return
	}
	r.commitTerm = min(r.commitTerm, v.Term)
	if r.term != e.Term || r.digest != e.Digest {
		c.reportf("committed entry changed: index %d committed as term %d digest %016x (node %d), node %d term %d holds it committed as term %d digest %016x",
			e.Index, r.term, r.digest, r.committedBy, v.ID, v.Term, e.Term, e.Digest)
	}
}

// checkApplied compares what the node newly applied with what others applied and with the
// committed entry (state machine safety, §5.4.3).
func (c *Checker) checkApplied(v *NodeView, st *nodeState) {
	if v.Applied <= st.applied {
		st.applied = v.Applied
		return
	}
	av := appliedOf(v)
	from := st.applied + 1
	if v.Applied-st.applied > raft.Index(c.cfg.MaxAppliedScan) {
		from = v.Applied - raft.Index(c.cfg.MaxAppliedScan) + 1
	}
	for i := from; i <= v.Applied; i++ {
		d, ok := av.AppliedDigest(i)
		if !ok {
			continue
		}
		r := c.recs.at(i)
		if r == nil {
			continue
		}
		switch {
		case !r.applied:
			r.applied, r.appliedDigest, r.appliedBy = true, d, v.ID
		case r.appliedDigest != d:
			c.reportf("state machine safety: index %d applied as digest %016x by node %d but as digest %016x by node %d (term %d)",
				i, r.appliedDigest, r.appliedBy, d, v.ID, v.Term)
		}
		if r.committed && r.digest != d {
			c.reportf("state machine safety: node %d term %d applied digest %016x at index %d, committed entry is term %d digest %016x",
				v.ID, v.Term, d, i, r.term, r.digest)
		}
	}
	st.applied = v.Applied
}

// checkLeaderCompleteness: a leader of term T holds every entry committed in a term below
// T (§5.4.1). Entries the leader compacted away are in its snapshot and are skipped.
func (c *Checker) checkLeaderCompleteness(v *NodeView) {
	l := logOf(v)
	for i := max(c.recs.base, l.FirstIndex()); i <= c.recs.limit; i++ {
		r := c.recs.get(i)
		if r == nil || !r.committed || r.commitTerm >= v.Term {
			continue
		}
		e, ok := l.Entry(i)
		switch {
		case !ok:
			c.reportf("leader completeness: leader node %d term %d lacks index %d committed in term %d (last index %d)",
				v.ID, v.Term, i, r.commitTerm, l.LastIndex())
			return
		case e.Term != r.term || e.Digest != r.digest:
			c.reportf("leader completeness: leader node %d term %d holds index %d as term %d digest %016x, committed in term %d as term %d digest %016x",
				v.ID, v.Term, i, e.Term, e.Digest, r.commitTerm, r.term, r.digest)
			return
		}
	}
}

// checkTail compares the last TailWindow entries of views[i] with the committed record and
// with every other live node's log.
// Pairs of VersionedLogs are checked incrementally (see pairMemo).
func (c *Checker) checkTail(views []NodeView, i int, st *nodeState) {
	v := &views[i]
	l := logOf(v)
	lo := l.FirstIndex()
	if last := l.LastIndex(); last >= lo+raft.Index(c.cfg.TailWindow) {
		lo = last - raft.Index(c.cfg.TailWindow) + 1
	}
	va, aok := v.Log.(VersionedLog)
	if aok {
		c.checkAgainstRecordIncremental(v, va, lo, l.LastIndex(), &st.rec)
	} else {
		c.checkAgainstRecord(v, lo, l.LastIndex())
	}
	for len(st.pairs) < len(views) {
		st.pairs = append(st.pairs, pairMemo{})
	}
	var sa pairSide
	if aok {
		sa = pairSide{log: va, version: va.Version(), lineage: va.Lineage(), first: l.FirstIndex(), last: l.LastIndex()}
		if st.pairLog != va || st.pairLineage != sa.lineage {
			// The memos vouch for entries of the log they were made with.
			for j := range st.pairs {
				st.pairs[j].ok = false
			}
			st.pairLog, st.pairLineage = va, sa.lineage
		}
	}
	for j := range views {
		if j == i || !views[j].Alive {
			continue
		}
		w := &views[j]
		if vb, bok := w.Log.(VersionedLog); aok && bok {
			c.checkPairIncremental(v, w, &sa, vb, lo, l.LastIndex(), &st.pairs[j])
		} else {
			c.checkPair(v, w, lo, l.LastIndex())
		}
	}
}

// pairSide is what checkTail reads once of the changed node's log for all its pairs.
type pairSide struct {
	log              VersionedLog
	version, lineage uint64
	first, last      raft.Index
}

// checkPairIncremental is checkPair(a, b, lo, hi) for two VersionedLogs (a's described by
// sa, the log m was made with): it finds exactly what checkPair would, reading only the
// entries m does not vouch for.
func (c *Checker) checkPairIncremental(a, b *NodeView, sa *pairSide, lb VersionedLog, lo, hi raft.Index, m *pairMemo) {
	vb := lb.Version()
	if m.ok && m.va == sa.version && m.vb == vb && m.b == lb && m.idB == b.ID {
		// Neither log shows anything new since m was brought up to date, and lo and hi
		// follow from a's log: the check below would read nothing and change nothing.
		return
	}
	la := sa.log
	clo := max(lo, sa.first, lb.FirstIndex())
	chi := min(hi, sa.last, lb.LastIndex())
	linB := lb.Lineage()
	if !m.ok || m.b != lb || m.lb != linB || m.idB != b.ID || clo < m.lo || chi < m.hi {
		top, ok := c.checkPair(a, b, lo, hi)
		*m = pairMemo{b: lb, lb: linB, idB: b.ID, lo: clo, hi: chi, top: top, ok: ok, va: sa.version, vb: vb}
		return
	}
	m.va, m.vb = sa.version, vb
	if clo > chi || chi == 0 {
		return // nothing to compare; m still holds
	}
	// The highest index where the terms agree: among the new indexes above m.hi, else the
	// memo's (the agreement at indexes up to m.hi has not changed).
	top := raft.Index(0)
	for i := chi; i > m.hi && i >= clo; i-- {
		ea, _ := la.Entry(i)
		eb, _ := lb.Entry(i)
		if ea.Term == eb.Term {
			top = i
			break
		}
	}
	if top == 0 && m.top >= clo {
		top = m.top
	}
	// [clo, min(top, m.top)] is known identical; look at the rest.
	for i := top; i > m.top && i >= clo && i > 0; i-- {
		ea, _ := la.Entry(i)
		eb, _ := lb.Entry(i)
		if ea.Term != eb.Term || ea.Digest != eb.Digest {
			c.checkPair(a, b, lo, hi) // reports what it finds, as the full check would
			m.ok = false
			return
		}
	}
	m.lo, m.hi, m.top = clo, chi, top
}

// checkAgainstRecord compares v's entries in [lo, hi] with the committed record: an entry
// with the committed term must be the committed entry (log matching), and an entry the node
// holds as committed must have the committed term. Terms must not decrease along the log.
// It reports whether it found nothing wrong.
func (c *Checker) checkAgainstRecord(v *NodeView, lo, hi raft.Index) (ok bool) {
	l := logOf(v)
	ok = true
	var prevTerm raft.Term
	for i := lo; i <= hi; i++ {
		e, held := l.Entry(i)
		if !held {
			continue
		}
		if e.Term < prevTerm {
			c.reportf("log matching: node %d term %d log term decreases at index %d (%d after %d)", v.ID, v.Term, i, e.Term, prevTerm)
			ok = false
		}
		prevTerm = e.Term
		r := c.recs.get(i)
		if r == nil || !r.committed {
			continue
		}
		if e.Term == r.term && e.Digest != r.digest {
			c.reportf("log matching: node %d holds index %d term %d as digest %016x, committed as digest %016x (node %d)",
				v.ID, i, e.Term, e.Digest, r.digest, r.committedBy)
			ok = false
		}
		if i <= v.Commit && e.Term != r.term {
			c.reportf("committed entry changed: index %d committed as term %d digest %016x (node %d), node %d term %d holds it committed as term %d digest %016x",
				i, r.term, r.digest, r.committedBy, v.ID, v.Term, e.Term, e.Digest)
			ok = false
		}
	}
	return ok
}

// agreesWithRecord reports whether checkAgainstRecord would find nothing wrong with e, v's
// entry at e.Index, against the committed record (terms along the log aside).
func (c *Checker) agreesWithRecord(v *NodeView, e EntryView) bool {
	r := c.recs.get(e.Index)
	if r == nil || !r.committed {
		return true
	}
	if e.Term == r.term {
		return e.Digest == r.digest
	}
	return e.Index > v.Commit
}

// checkAgainstRecordIncremental is checkAgainstRecord(v, lo, hi) for a VersionedLog: it
// finds exactly what checkAgainstRecord would, reading only the entries m does not vouch
// for.
func (c *Checker) checkAgainstRecordIncremental(v *NodeView, l VersionedLog, lo, hi raft.Index, m *recordMemo) {
	lin := l.Lineage()
	if !m.ok || m.log != l || m.lineage != lin || lo < m.lo || hi < m.hi || !c.stillAgrees(v, l, lo, hi, m) {
		// The full check reports what there is in index order, as it always would.
		ok := c.checkAgainstRecord(v, lo, hi)
		*m = recordMemo{log: l, lineage: lin, lo: lo, hi: hi, commit: v.Commit, seq: c.recs.commitSeq(), ok: ok}
		return
	}
	m.lo, m.hi, m.commit, m.seq = lo, hi, v.Commit, c.recs.commitSeq()
}

// stillAgrees reports whether checkAgainstRecord(v, lo, hi) would find nothing, given that
// it found nothing over [m.lo, m.hi] (lo >= m.lo, hi >= m.hi, the same lineage). Only three
// things can have changed: the entries above m.hi, the records that became committed since,
// and the indexes the commit index newly covers. A false answer may be conservative.
func (c *Checker) stillAgrees(v *NodeView, l VersionedLog, lo, hi raft.Index, m *recordMemo) bool {
	if hi < lo {
		return true // nothing held in the window
	}
	newly, kept := c.recs.committedSince(m.seq)
	if !kept || len(newly) > int(hi-lo) {
		return false // rescanning the window is no dearer
	}
	oldHi := m.hi // [lo, oldHi] held the same entries at the memo's check
	for _, i := range newly {
		if i < lo || i > oldHi {
			continue
		}
		if e, held := l.Entry(i); held && !c.agreesWithRecord(v, e) {
			return false
		}
	}
	for i := max(lo, m.commit+1); i <= min(v.Commit, oldHi); i++ {
		if e, held := l.Entry(i); held && !c.agreesWithRecord(v, e) {
			return false
		}
	}
	var prevTerm raft.Term
	for i := oldHi; i >= lo && i > 0; i-- {
		if e, held := l.Entry(i); held {
			prevTerm = e.Term
			break
		}
	}
	for i := max(lo, oldHi+1); i <= hi; i++ {
		e, held := l.Entry(i)
		if !held {
			continue
		}
		if e.Term < prevTerm || !c.agreesWithRecord(v, e) {
			return false
		}
		prevTerm = e.Term
	}
	return true
}

// checkPair checks the Log Matching Property (§5.3) between a and b over [lo, hi]: below
// the highest index where both hold an entry of the same term, every entry both hold is
// identical.
// It returns the highest index in the clamped range where the terms agree (0: none) and
// whether the logs were identical up to it.
func (c *Checker) checkPair(a, b *NodeView, lo, hi raft.Index) (top raft.Index, ok bool) {
	la, lb := logOf(a), logOf(b)
	lo = max(lo, la.FirstIndex(), lb.FirstIndex())
	hi = min(hi, la.LastIndex(), lb.LastIndex())
	for i := hi; i >= lo && i > 0; i-- {
		ea, _ := la.Entry(i)
		eb, _ := lb.Entry(i)
		if ea.Term == eb.Term {
			top = i
			break
		}
	}
	if top == 0 {
		return 0, true
	}
	for i := top; i >= lo && i > 0; i-- {
		ea, _ := la.Entry(i)
		eb, _ := lb.Entry(i)
		if ea.Term != eb.Term || ea.Digest != eb.Digest {
			x, y := min(a.ID, b.ID), max(a.ID, b.ID)
			if x != a.ID {
				ea, eb = eb, ea
			}
			c.reportf("log matching: nodes %d and %d agree on term at index %d but differ at index %d (term %d digest %016x vs term %d digest %016x)",
				x, y, top, i, ea.Term, ea.Digest, eb.Term, eb.Digest)
			return top, false
		}
	}
	return top, true
}

// sweep runs every check over whole logs and trims the record.
func (c *Checker) sweep(views []NodeView) {
	c.sinceSweep = 0
	c.sweeps++
	floor := raft.Index(0)
	first := true
	for i := range views {
		v := &views[i]
		if v.Removed {
			continue
		}
		l := logOf(v)
		c.checkAgainstRecord(v, l.FirstIndex(), l.LastIndex())
		if v.Alive && v.Role == raft.StateLeader {
			c.checkLeaderCompleteness(v)
		}
		for j := i + 1; j < len(views); j++ {
			if !views[j].Removed {
				c.checkPair(v, &views[j], 0, l.LastIndex())
			}
		}
		f := min(l.FirstIndex(), v.Applied+1)
		if first || f < floor {
			floor, first = f, false
		}
	}
	// Only indexes every node has both compacted and applied are forgotten: nobody can
	// hold, commit or apply them again except through a snapshot.
	c.recs.trim(floor)
}
