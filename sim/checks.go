package sim

import (
	"fmt"
	"unsafe"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/sim/check"
)

// appliedRing remembers the digests of the last entries a node applied, for the state
// machine safety check (which treats older indexes as unknown).
type appliedRing struct {
	digests [4096]uint64
	lo, hi  raft.Index // digests known for (lo, hi]
}

func (a *appliedRing) reset(applied raft.Index) { a.lo, a.hi = applied, applied }

func (a *appliedRing) put(i raft.Index, d uint64) {
	if i != a.hi+1 {
		a.lo = i - 1
	}
	a.hi = i
	a.digests[i%raft.Index(len(a.digests))] = d
	if a.hi-a.lo > raft.Index(len(a.digests)) {
		a.lo = a.hi - raft.Index(len(a.digests))
	}
}

// AppliedDigest implements check.AppliedView.
func (a *appliedRing) AppliedDigest(i raft.Index) (uint64, bool) {
	if i <= a.lo || i > a.hi {
		return 0, false
	}
	return a.digests[i%raft.Index(len(a.digests))], true
}

// logView is a check.LogView over a live replica's in-memory Raft log, as of its last sync
// (World.view syncs it before every check). It reads the storage's entries in place and
// keeps their digests in a parallel slice, computing a digest only for an entry it has not
// seen: MemoryStorage never modifies an entry it handed out (a rewrite builds a new array),
// and an entry's data is never modified either, so an entry with the same type and the
// same data bytes (same array, same length) as one already digested has the same digest.
type logView struct {
	st      *raft.MemoryStorage
	first   raft.Index   // index of ents[0] (or of the next entry when ents is empty)
	ents    []raft.Entry // the storage's held entries, shared, never modified
	digests []uint64     // digests[k] is the digest of ents[k]
	spare   []uint64     // the previous digests' array, reused by the next rebuild
	version uint64       // bumped by every sync that found a change (check.VersionedLog)
	lineage uint64       // bumped when a held entry may have been replaced (check.VersionedLog)
	sums    *digestCache // the world's, shared by every node's view
}

// Lineage implements check.VersionedLog.
func (l *logView) Lineage() uint64 { return l.lineage }

var _ check.VersionedLog = (*logView)(nil)

// Version implements check.VersionedLog.
func (l *logView) Version() uint64 { return l.version }

// reset forgets everything and follows st (a new incarnation's storage, or nil).
func (l *logView) reset(st *raft.MemoryStorage) {
	l.st, l.first, l.ents, l.digests = st, 0, nil, l.digests[:0]
	l.version++
	l.lineage++
}

// sync catches up with the replica's storage.
func (l *logView) sync() {
	held := l.st.HeldEntries()
	first, _ := l.st.FirstIndex()
	if first == l.first && len(held) >= len(l.ents) &&
		(len(l.ents) == 0 || &held[0] == &l.ents[0]) {
		// The same array (or an empty old log at the same place): only appends.
		if len(held) > len(l.ents) {
			l.version++
		}
		for k := len(l.ents); k < len(held); k++ {
			l.digests = append(l.digests, l.sums.of(&held[k]))
		}
		l.ents = held
		return
	}
	// A new array: compaction, truncation, snapshot, or an append that reallocated. Reuse
	// the digest of every entry whose type and data are unchanged. An entry that differs,
	// or an old entry at or after first that is gone, is a new lineage.
	replaced := len(l.ents) > 0 && l.first+raft.Index(len(l.ents)) > first+raft.Index(len(held)) &&
		l.first+raft.Index(len(l.ents)) > first
	out := l.spare[:0]
	for k := range held {
		e := &held[k]
		if j := e.Index - l.first; e.Index >= l.first && j < raft.Index(len(l.ents)) {
			old := &l.ents[j]
			if sameData(e, old) {
				out = append(out, l.digests[j])
				replaced = replaced || e.Term != old.Term
				continue
			}
			replaced = true
		}
		out = append(out, l.sums.of(e))
	}
	if replaced {
		l.lineage++
	}
	l.spare, l.digests = l.digests, out
	l.version++
	l.first, l.ents = first, held
}

// sameData reports whether a and b are known to hold the same type and data bytes.
func sameData(a, b *raft.Entry) bool {
	return a.Type == b.Type && len(a.Data) == len(b.Data) && unsafe.SliceData(a.Data) == unsafe.SliceData(b.Data)
}

// digestSlots is the size of the digest cache (a power of two).
const digestSlots = 1024

// digestCache computes each entry's digest once for the whole cluster instead of once per
// node for its log view and once more per node when it applies the entry. Replicas hold the
// very payload the leader proposed (messages, logs and the simulated disk share entry data
// and never modify it; see decodeCache), so a slot is found by the payload's address and
// hit when it holds the same array, length and type: the slot keeps the array alive, so
// its address cannot be reused by another payload meanwhile. Any other payload (a torn copy,
// a collision) is simply digested anew.
type digestCache struct {
	slots [digestSlots]digestSlot
}

type digestSlot struct {
	data []byte
	typ  raft.EntryType
	sum  uint64
}

// of returns digestEntry(e). A nil cache computes it every time.
func (c *digestCache) of(e *raft.Entry) uint64 {
	if c == nil || len(e.Data) < 8 {
		return digestEntry(e) // cheaper than a lookup
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(e.Data)))
	s := &c.slots[(p>>4^p>>14^uintptr(len(e.Data)))%digestSlots]
	if unsafe.SliceData(s.data) == unsafe.SliceData(e.Data) && len(s.data) == len(e.Data) && s.typ == e.Type {
		return s.sum
	}
	*s = digestSlot{data: e.Data, typ: e.Type, sum: digestEntry(e)}
	return s.sum
}

// digestEntry is check.DigestEntry without copying the entry or allocating a hash.
func digestEntry(e *raft.Entry) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(byte(e.Type))) * prime
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * prime
	}
	return h
}

func (l *logView) FirstIndex() raft.Index { return l.first }

func (l *logView) LastIndex() raft.Index { return l.first + raft.Index(len(l.ents)) - 1 }

func (l *logView) Entry(i raft.Index) (check.EntryView, bool) {
	if i < l.first || i-l.first >= raft.Index(len(l.ents)) {
		return check.EntryView{}, false
	}
	k := i - l.first
	return check.EntryView{Index: i, Term: l.ents[k].Term, Digest: l.digests[k]}, true
}

// diskLogView is a check.LogView over a crashed node's durable log.
type diskLogView struct{ d *Disk }

func (l diskLogView) FirstIndex() raft.Index { return l.d.snap.Metadata.Index + 1 }
func (l diskLogView) LastIndex() raft.Index  { return l.d.DurableLastIndex() }
func (l diskLogView) Entry(i raft.Index) (check.EntryView, bool) {
	if i < l.FirstIndex() || i > l.LastIndex() || len(l.d.ents) == 0 {
		return check.EntryView{}, false
	}
	e := l.d.ents[i-l.d.ents[0].Index]
	return check.EntryView{Index: i, Term: e.Term, Digest: digestEntry(&e)}, true
}

// view fills v with node n's current state.
func (w *World) view(n *simNode, v *check.NodeView) {
	v.ID = n.id
	v.Alive = n.up
	v.Removed = n.retired
	if !n.up {
		v.Role, v.Leader = raft.StateFollower, raft.None
		v.Term, v.Vote, v.Commit = n.disk.hs.Term, n.disk.hs.Vote, n.disk.hs.Commit
		v.Durable, v.DurableKnown = n.disk.hs, true
		v.Applied = 0
		v.Log = diskLogView{n.disk}
		v.AppliedDigests = nil
		return
	}
	st := n.rep.Position()
	hs := n.rep.RaftHardState()
	v.Role, v.Term, v.Leader, v.Vote = st.Role, hs.Term, st.Leader, hs.Vote
	// Every event drains the node's Ready queue, so what is on disk must match Raft's own
	// term and vote now (Figure 2: persisted before responding).
	v.Durable, v.DurableKnown = n.disk.hs, true
	v.Commit, v.Applied = st.Commit, st.Applied
	n.log.sync()
	v.Log = &n.log
	v.AppliedDigests = &n.applied
}

// observe runs the per-event checks and notes role changes.
func (w *World) observe(touched int) {
	if touched == untouched {
		// Nothing to check; but rebuild every view next time rather than trust that
		// nothing changed.
		w.viewsFresh = false
		return
	}
	if touched >= 0 {
		w.noteRole(w.nodes[touched])
	}
	if w.opts.NoChecks {
		return
	}
	// An event that touched one node changed only that node's view (the others' are as
	// the previous observation left them); any other event may have changed them all.
	var found []string
	if touched >= 0 && w.viewsFresh {
		w.view(w.nodes[touched], &w.views[touched])
		w.checkCommitDurable(w.nodes[touched])
		found = w.checker.ObserveChanged(w.views, touched)
	} else {
		for i, n := range w.nodes {
			w.view(n, &w.views[i])
		}
		w.viewsFresh = true
		if touched >= 0 {
			w.checkCommitDurable(w.nodes[touched])
		}
		found = w.checker.Observe(w.views)
	}
	for _, v := range found {
		// The run has failed: stop here, so the timeline ends at the violation and a buggy
		// cluster's message storms do not burn the sweep's time.
		w.logAll("VIOLATION %s", v)
		w.done = true
	}
}

func (w *World) noteRole(n *simNode) {
	if !n.up {
		return
	}
	st := n.rep.Position()
	if st.Role == n.lastRole && st.Term == n.lastTerm {
		return
	}
	if st.Role == raft.StateLeader && (n.lastRole != raft.StateLeader || st.Term != n.lastTerm) {
		w.stats.LeaderChanges++
		w.noteElection(n)
	}
	if st.Role != n.lastRole {
		n.logf(w, "%s term %d (commit %d, applied %d)", st.Role, st.Term, st.Commit, st.Applied)
	}
	n.lastRole, n.lastTerm = st.Role, st.Term
}

// probeLiveness ends the run once a leader exists, every live node applied every
// acknowledged write, and no client waits; otherwise it probes again later.
func (w *World) probeLiveness() {
	msg := w.livenessGap()
	if msg == "" {
		w.livenessOK, w.done = true, true
		return
	}
	w.livenessMsg = msg
	w.q.push(event{at: w.now + livenessProbeNs, kind: evProbe, arg: probeLiveness, node: -1})
}

// livenessGap says what the liveness phase still waits for ("" when nothing).
func (w *World) livenessGap() string {
	if w.oper != nil {
		return w.livenessGapDynamic()
	}
	leader := raft.None
	var term raft.Term
	for _, n := range w.nodes {
		if !n.up {
			return fmt.Sprintf("node %d is down", n.id)
		}
		if st := n.rep.Position(); st.Role == raft.StateLeader && st.Term >= term {
			leader, term = n.id, st.Term
		}
	}
	if leader == raft.None {
		return "no leader"
	}
	acked := raft.Index(w.dir.maxIndex)
	for _, n := range w.nodes {
		if a := n.rep.Applied(); a < acked {
			return fmt.Sprintf("node %d applied %d < acknowledged index %d", n.id, a, acked)
		}
	}
	for _, c := range w.clients {
		if c.cur != nil {
			return fmt.Sprintf("client %d still waiting for op %d", c.idx, c.cur.op)
		}
	}
	for _, n := range w.nodes[1:] {
		if a, b := n.rep.Applied(), w.nodes[0].rep.Applied(); a != b {
			return fmt.Sprintf("node %d applied %d, node 1 applied %d", n.id, a, b)
		}
	}
	return ""
}

// digest is a running 64-bit hash over the event trace (two lanes for 128 bits of output).
type digest struct{ a, b uint64 }

func (d *digest) word(x uint64) {
	d.a = (d.a ^ x) * 0x100000001b3
	d.b = splitmix64(d.b ^ x)
}

func (d *digest) event(e *event, m *raft.Message) {
	d.word(uint64(e.at))
	d.word(uint64(e.kind)<<40 | uint64(uint32(e.node))<<8 | uint64(uint32(e.arg))<<44)
	if m != nil {
		d.word(uint64(m.Type) | uint64(m.From)<<8 | uint64(m.To)<<16 | uint64(len(m.Entries))<<24)
		d.word(uint64(m.Term)<<32 ^ uint64(m.Index))
		d.word(uint64(m.Commit) ^ uint64(m.LogTerm)<<40)
	}
}

func (d *digest) hex() string { return fmt.Sprintf("%016x%016x", d.a, d.b) }

// checkCommitDurable: an entry is committed only once a majority holds it on stable storage
// (§5.3); a leader writing its log in the background may count its own copy only when that
// write is durable. Checked for the newest index a node reports committed, when it grows
// (durability is prefix-closed: a synced write covers every earlier one).
func (w *World) checkCommitDurable(n *simNode) {
	if !n.up || w.durability != "" {
		return
	}
	c := n.rep.Position().Commit
	if c <= n.durableChecked {
		return
	}
	n.durableChecked = c
	t, err := n.rep.Storage().Term(c)
	if err != nil {
		return // compacted away: it was checked when it was newer
	}
	if w.oper != nil {
		w.checkCommitDurableDynamic(n, c, t)
		return
	}
	holders := 0
	for _, m := range w.nodes {
		if m.disk.durablyHolds(c, t) {
			holders++
		}
	}
	if holders <= len(w.nodes)/2 {
		w.durability = fmt.Sprintf("t=%s durability: node %d committed index %d (term %d), durable on only %d of %d nodes",
			fmtTime(w.now), n.id, c, t, holders, len(w.nodes))
		w.logAll("VIOLATION %s", w.durability)
		w.done = true
	}
}
