package rafttest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

// Checker accumulates observations of a cluster and records violations of Raft's safety
// properties (Figure 3 of the paper):
//   - election safety: at most one leader per term, ever (§5.2);
//   - log matching: two durable logs that hold an entry with the same index and term are
//     identical up to it (§5.3);
//   - leader completeness: a leader holds every entry committed before its term (§5.4);
//   - state machine safety: no two nodes apply different entries at one index (§5.4.3);
//
// and of what a driver relies on: durable term, vote within a term, durable commit and each
// incarnation's commit and applied index never go backwards; a granted vote is durable
// before it is sent; an append acknowledgement covers only stored entries that match the
// leader's; committed entries are durable on a majority and never overwritten; a ReadIndex
// answer covers every write committed before the read was issued (thesis §6.4). The Cluster
// adds the Ready contract (MustSync) and, with CheckQuorum, that an isolated leader steps
// down in time.
type Checker struct {
	leaders map[raft.Term]raft.NodeID
	applied map[raft.Index]appliedEntry
	// top is the highest index in applied.
	top      raft.Index
	hashes   map[raft.Index]uint64
	durable  map[raft.NodeID]raft.HardState
	volatile map[raft.NodeID]volatileState
	// maxCommit is the highest commit index any node has reported: every entry up to it is
	// committed, and a client may have been told so.
	maxCommit raft.Index
	// reads maps an outstanding ReadIndex context to maxCommit when the read was issued.
	reads map[string]raft.Index
	// bootstrap is the first configuration nodes were started with; confs the configurations
	// applied from change entries, by index, and confIndexes their indexes in order.
	bootstrap   []raft.NodeID
	confs       map[raft.Index]raft.ConfState
	confIndexes []raft.Index
	violation   []string
	// IgnoreUndurableAcks skips the check that an append acknowledgement covers only stored
	// entries, to look past such a bug for its consequences further downstream.
	IgnoreUndurableAcks bool
}

type appliedEntry struct {
	entry raft.Entry
	// term is the lowest term of a node that applied it: every leader of this term or later
	// must hold the entry.
	term raft.Term
}

type volatileState struct {
	incarnation int
	commit      raft.Index
	applied     raft.Index
}

// NewChecker returns a Checker with no observations.
func NewChecker() *Checker {
	return &Checker{
		leaders:  map[raft.Term]raft.NodeID{},
		applied:  map[raft.Index]appliedEntry{},
		hashes:   map[raft.Index]uint64{},
		durable:  map[raft.NodeID]raft.HardState{},
		volatile: map[raft.NodeID]volatileState{},
		reads:    map[string]raft.Index{},
	}
}

const maxViolations = 20

func (ch *Checker) violate(format string, args ...any) {
	if len(ch.violation) < maxViolations {
		ch.violation = append(ch.violation, fmt.Sprintf(format, args...))
	}
}

// Err returns all violations seen so far joined into one error, or nil.
func (ch *Checker) Err() error {
	if len(ch.violation) == 0 {
		return nil
	}
	errs := make([]error, len(ch.violation))
	for i, v := range ch.violation {
		errs[i] = errors.New(v)
	}
	return errors.Join(errs...)
}

// Violations returns the violations seen so far, oldest first.
func (ch *Checker) Violations() []string { return slices.Clone(ch.violation) }

// Leaders returns the leader of every term seen so far, by term.
func (ch *Checker) Leaders() map[raft.Term]raft.NodeID { return ch.leaders }

// ObserveLeader records that id is leader of term. §5.2: a term has at most one leader.
func (ch *Checker) ObserveLeader(id raft.NodeID, term raft.Term) {
	if prev, ok := ch.leaders[term]; ok && prev != id {
		ch.violate("election safety: nodes %d and %d are both leader of term %d", prev, id, term)
		return
	}
	ch.leaders[term] = id
}

// ObserveDurableHardState checks a hard state node id just persisted against the last one.
func (ch *Checker) ObserveDurableHardState(id raft.NodeID, hs raft.HardState) {
	prev, ok := ch.durable[id]
	ch.durable[id] = hs
	if !ok {
		return
	}
	switch {
	case hs.Term < prev.Term:
		ch.violate("node %d: durable term went back from %d to %d", id, prev.Term, hs.Term)
	case hs.Term == prev.Term && prev.Vote != raft.None && hs.Vote != prev.Vote:
		ch.violate("node %d: changed its vote in term %d from %d to %d", id, hs.Term, prev.Vote, hs.Vote)
	}
	if hs.Commit < prev.Commit {
		ch.violate("node %d: durable commit went back from %d to %d", id, prev.Commit, hs.Commit)
	}
}

// ObserveVolatile checks that within one incarnation a node's commit and applied indexes
// never decrease.
func (ch *Checker) ObserveVolatile(id raft.NodeID, incarnation int, commit, applied raft.Index) {
	ch.maxCommit = max(ch.maxCommit, commit)
	prev, ok := ch.volatile[id]
	ch.volatile[id] = volatileState{incarnation: incarnation, commit: commit, applied: applied}
	if !ok || prev.incarnation != incarnation {
		return
	}
	if commit < prev.commit {
		ch.violate("node %d: commit index went back from %d to %d", id, prev.commit, commit)
	}
	if applied < prev.applied {
		ch.violate("node %d: applied index went back from %d to %d", id, prev.applied, applied)
	}
}

// ObserveApplied checks node id's state machine after it applied e (nil: installed a
// snapshot) while at term. §5.4.3: no two nodes apply different entries at one index.
func (ch *Checker) ObserveApplied(id raft.NodeID, term raft.Term, sm StateMachine, e *raft.Entry) {
	if h, ok := ch.hashes[sm.Index]; ok && h != sm.Hash {
		ch.violate("state machine safety: node %d state at index %d differs from another node's", id, sm.Index)
	} else if !ok {
		ch.hashes[sm.Index] = sm.Hash
	}
	if e == nil {
		return
	}
	prev, ok := ch.applied[e.Index]
	if !ok {
		ch.applied[e.Index] = appliedEntry{entry: *e, term: term}
		ch.top = max(ch.top, e.Index)
		return
	}
	if prev.entry.Term != e.Term || prev.entry.Type != e.Type || !bytes.Equal(prev.entry.Data, e.Data) {
		ch.violate("state machine safety: node %d applied %s at index %d, another node applied %s",
			id, DescribeEntry(*e), e.Index, DescribeEntry(prev.entry))
	}
	if term < prev.term {
		prev.term = term
		ch.applied[e.Index] = prev
	}
}

// ObserveBootstrap records the configuration a node was started with.
func (ch *Checker) ObserveBootstrap(voters []raft.NodeID) {
	if ch.bootstrap == nil {
		ch.bootstrap = slices.Clone(voters)
	}
}

// ObserveConf records that node id applied the configuration change at index and got cs.
// Every node must get the same configuration at one index, and two consecutive
// configurations must differ in at most one voter (single-server changes, thesis §4.1):
// otherwise two majorities need not overlap.
func (ch *Checker) ObserveConf(id raft.NodeID, index raft.Index, cs raft.ConfState) {
	if prev, ok := ch.confs[index]; ok {
		if !prev.Equal(cs) {
			ch.violate("node %d: configuration %v at index %d, another node applied %v", id, cs, index, prev)
		}
		return
	}
	if ch.confs == nil {
		ch.confs = map[raft.Index]raft.ConfState{}
	}
	ch.confs[index] = cs.Clone()
	i, _ := slices.BinarySearch(ch.confIndexes, index)
	ch.confIndexes = slices.Insert(ch.confIndexes, i, index)
	before := ch.bootstrap
	if i > 0 {
		before = ch.confs[ch.confIndexes[i-1]].Voters
	}
	if before != nil && votersApart(before, cs.Voters) > 1 {
		ch.violate("configuration at index %d changes more than one voter: %v -> %v", index, before, cs.Voters)
	}
	if i+1 < len(ch.confIndexes) {
		if after := ch.confs[ch.confIndexes[i+1]].Voters; votersApart(cs.Voters, after) > 1 {
			ch.violate("configuration at index %d changes more than one voter: %v -> %v", ch.confIndexes[i+1], cs.Voters, after)
		}
	}
}

// votersApart counts the nodes in exactly one of a and b (both sorted).
func votersApart(a, b []raft.NodeID) int {
	n := 0
	for _, id := range a {
		if !slices.Contains(b, id) {
			n++
		}
	}
	for _, id := range b {
		if !slices.Contains(a, id) {
			n++
		}
	}
	return n
}

// LatestConf returns a membership test for the configuration of the highest change entry
// applied anywhere (the bootstrap configuration if none was).
func (ch *Checker) LatestConf() func(raft.NodeID) bool {
	cs := raft.ConfState{Voters: ch.bootstrap}
	if len(ch.confIndexes) > 0 {
		cs = ch.confs[ch.confIndexes[len(ch.confIndexes)-1]]
	}
	return func(id raft.NodeID) bool {
		return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id)
	}
}

// quorumsAt returns the voter sets one of which committed an entry at index i: the
// configuration in force after the changes before i, and the one before it (a leader uses a
// change only once applied, and accepts the next one only after that, so it lags at most one
// change behind its log). Nil means no configuration is known: every node counts.
func (ch *Checker) quorumsAt(i raft.Index) [][]raft.NodeID {
	if len(ch.confIndexes) == 0 {
		if ch.bootstrap == nil {
			return nil
		}
		return [][]raft.NodeID{ch.bootstrap}
	}
	k, _ := slices.BinarySearch(ch.confIndexes, i) // changes at indexes < i
	var out [][]raft.NodeID
	for j := k - 1; j >= k-2; j-- {
		switch {
		case j >= 0:
			out = append(out, ch.confs[ch.confIndexes[j]].Voters)
		case ch.bootstrap != nil:
			out = append(out, ch.bootstrap)
			return out
		}
	}
	return out
}

// CheckLogs runs the whole-cluster checks over the durable logs: log matching between every
// pair of nodes and leader completeness for the given current leaders (ID -> term).
func (ch *Checker) CheckLogs(nodes []*Node, leaders map[raft.NodeID]raft.Term) {
	logs := make([]durableLog, len(nodes))
	for i, n := range nodes {
		logs[i] = readDurableLog(n)
	}
	for i := range logs {
		for j := i + 1; j < len(logs); j++ {
			ch.checkMatching(logs[i], logs[j])
		}
	}
	ch.checkMajorityDurable(logs)
	for i, n := range nodes {
		ch.checkCommittedPrefix(logs[i], n.Storage.HardState().Commit)
		if term, ok := leaders[n.ID]; ok {
			// A leader writing in the background holds in memory, and replicates, entries
			// its disk does not have yet; they may already be committed by a quorum of
			// followers (the leader's copy counts only once written, §10.2.1 of the thesis).
			// Completeness is about the log the leader leads with: durable plus pending.
			ch.checkComplete(logs[i].withPending(n.writes), term)
		}
	}
}

// checkMajorityDurable: an entry is committed once a majority stores it (§5.3), so the
// highest entry any node applied must be in a majority of durable logs (or below their
// snapshots). Log matching then covers every earlier committed entry.
func (ch *Checker) checkMajorityDurable(logs []durableLog) {
	top, ok := ch.applied[ch.top]
	if !ok {
		return
	}
	var holders []raft.NodeID
	for _, l := range logs {
		e, ok := l.entry(top.entry.Index)
		if top.entry.Index <= l.snapIndex || ok && e.Term == top.entry.Term {
			holders = append(holders, l.id)
		}
	}
	quorums := ch.quorumsAt(top.entry.Index)
	if quorums == nil {
		if len(holders) <= len(logs)/2 {
			ch.violate("committed entry %s is durable on only %d of %d nodes",
				DescribeEntry(top.entry), len(holders), len(logs))
		}
		return
	}
	for _, voters := range quorums {
		n := 0
		for _, id := range voters {
			if slices.Contains(holders, id) {
				n++
			}
		}
		if n > len(voters)/2 {
			return
		}
	}
	ch.violate("committed entry %s is durable on %v, no majority of the configurations %v",
		DescribeEntry(top.entry), holders, quorums)
}

// checkCommittedPrefix: a node's durable log up to its durable commit index holds exactly
// the entries applied at those indexes anywhere: committed entries are never overwritten
// (§5.4: the Leader Completeness and State Machine Safety properties in log form).
func (ch *Checker) checkCommittedPrefix(l durableLog, commit raft.Index) {
	for _, e := range l.entries {
		if e.Index > commit {
			return
		}
		ae, ok := ch.applied[e.Index]
		if ok && (ae.entry.Term != e.Term || !bytes.Equal(ae.entry.Data, e.Data)) {
			ch.violate("node %d: durable log holds %s at committed index %d, but %s was applied there",
				l.id, DescribeEntry(e), e.Index, DescribeEntry(ae.entry))
			return
		}
	}
}

// durableLog is a node's stored log: entries from first on, after a snapshot at snapIndex.
type durableLog struct {
	id        raft.NodeID
	snapIndex raft.Index
	snapTerm  raft.Term
	entries   []raft.Entry
}

func readDurableLog(n *Node) durableLog {
	l := durableLog{id: n.ID}
	if snap, err := n.Storage.Snapshot(); err == nil {
		l.snapIndex, l.snapTerm = snap.Metadata.Index, snap.Metadata.Term
	}
	first, err1 := n.Storage.FirstIndex()
	last, err2 := n.Storage.LastIndex()
	if err1 != nil || err2 != nil || last < first {
		return l
	}
	ents, err := n.Storage.Entries(first, last+1, 1<<62)
	if err == nil {
		l.entries = ents
	}
	return l
}

// withPending returns l extended by the entries of writes not yet on storage, applied in
// order as storage would apply them (a later entry replaces the suffix from its index).
func (l durableLog) withPending(writes []raft.Ready) durableLog {
	if len(writes) == 0 {
		return l
	}
	ents := slices.Clone(l.entries)
	for _, w := range writes {
		for _, e := range w.Entries {
			if len(ents) > 0 && e.Index <= ents[len(ents)-1].Index {
				ents = ents[:max(0, int(e.Index)-int(ents[0].Index))]
			}
			ents = append(ents, e)
		}
	}
	l.entries = ents
	return l
}

func (l durableLog) entry(i raft.Index) (raft.Entry, bool) {
	if len(l.entries) == 0 || i < l.entries[0].Index || i > l.entries[len(l.entries)-1].Index {
		return raft.Entry{}, false
	}
	return l.entries[i-l.entries[0].Index], true
}

// checkMatching: §5.3 Log Matching. Walking down from the highest index both logs hold, once
// the terms agree every lower entry both hold must be identical.
func (ch *Checker) checkMatching(a, b durableLog) {
	if len(a.entries) == 0 || len(b.entries) == 0 {
		return
	}
	hi := min(a.entries[len(a.entries)-1].Index, b.entries[len(b.entries)-1].Index)
	lo := max(a.entries[0].Index, b.entries[0].Index)
	matched := false
	for i := hi; i >= lo && i > 0; i-- {
		ea, _ := a.entry(i)
		eb, _ := b.entry(i)
		if ea.Term == eb.Term {
			if matched && (ea.Type != eb.Type || !bytes.Equal(ea.Data, eb.Data)) {
				ch.violate("log matching: nodes %d and %d agree on a later term but differ at index %d: %s vs %s",
					a.id, b.id, i, DescribeEntry(ea), DescribeEntry(eb))
				return
			}
			matched = true
		} else if matched {
			ch.violate("log matching: nodes %d and %d agree on a later entry but have terms %d and %d at index %d",
				a.id, b.id, ea.Term, eb.Term, i)
			return
		}
	}
}

// checkComplete: §5.4.1 Leader Completeness. A leader of term holds every entry that some
// node applied while at a term no later than term.
func (ch *Checker) checkComplete(l durableLog, term raft.Term) {
	idxs := make([]raft.Index, 0, len(ch.applied))
	for idx := range ch.applied {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		ae := ch.applied[idx]
		if ae.term > term || idx < l.snapIndex {
			continue
		}
		if idx == l.snapIndex {
			if l.snapTerm != ae.entry.Term {
				ch.violate("leader completeness: leader %d of term %d has snapshot term %d at committed index %d (term %d)",
					l.id, term, l.snapTerm, idx, ae.entry.Term)
			}
			continue
		}
		e, ok := l.entry(idx)
		if !ok || e.Term != ae.entry.Term || !bytes.Equal(e.Data, ae.entry.Data) {
			ch.violate("leader completeness: leader %d of term %d lacks committed entry %s (has %s, present=%t)",
				l.id, term, DescribeEntry(ae.entry), DescribeEntry(e), ok)
		}
	}
}

// ObserveReadIssued records that a ReadIndex request with context rctx was issued now.
func (ch *Checker) ObserveReadIssued(rctx []byte) { ch.reads[string(rctx)] = ch.maxCommit }

// ObserveReadState checks a ReadState node id received. §6.4 (thesis): a read must see every
// write that completed before it was issued, so its read index may not be below the highest
// commit index any node knew at that time.
func (ch *Checker) ObserveReadState(id raft.NodeID, rs raft.ReadState) {
	need, ok := ch.reads[string(rs.RequestCtx)]
	if !ok {
		return
	}
	if rs.Index < need {
		ch.violate("linearizable read: node %d got read index %d for %q, issued after index %d committed",
			id, rs.Index, rs.RequestCtx, need)
	}
}

// ObserveSent checks the messages node n is about to send against its durable state (the
// driver persisted the Ready just before). A granted vote must be durable (§5.2, Figure 2:
// votedFor is persistent), and an append acknowledgement must not cover entries the node
// has not stored (the leader counts it towards commitment).
func (ch *Checker) ObserveSent(n *Node, msgs []raft.Message) {
	hs := n.Storage.HardState()
	last, _ := n.Storage.LastIndex()
	for _, m := range msgs {
		switch {
		case m.Type == raft.MsgVoteResp && !m.Reject:
			// A later durable term also protects the vote: the node never votes in m.Term again.
			if hs.Term < m.Term || hs.Term == m.Term && hs.Vote != m.To {
				ch.violate("node %d: granted its vote to %d in term %d but its durable state is %s",
					n.ID, m.To, m.Term, DescribeHardState(hs))
			}
		case m.Type == raft.MsgAppResp && !m.Reject && !ch.IgnoreUndurableAcks:
			ch.checkAck(n, m, last)
		}
	}
}

// checkAck: an acknowledgement of index i sent in term T claims that the node stores the
// term-T leader's log up to i. So i must be stored, and the stored entry at i cannot be
// from a term after T (no term-T leader ever sent it): otherwise the ack is false.
func (ch *Checker) checkAck(n *Node, m raft.Message, last raft.Index) {
	if m.Index > last {
		ch.violate("node %d: acknowledged entries up to %d in term %d but stored only up to %d",
			n.ID, m.Index, m.Term, last)
		return
	}
	if t, err := n.Storage.Term(m.Index); err == nil && t > m.Term {
		ch.violate("node %d: acknowledged index %d in term %d but stores an entry of term %d there",
			n.ID, m.Index, m.Term, t)
	}
}
