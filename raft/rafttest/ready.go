package rafttest

import (
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

// ProcessReady handles one Ready of node id the way a correct driver does: persist the
// snapshot, entries and hard state; put the messages on the network; apply the snapshot and
// the committed entries; keep the read states; Advance. It reports whether there was a Ready.
func (c *Cluster) ProcessReady(id raft.NodeID) (bool, error) {
	n, err := c.mustNode(id)
	if err != nil {
		return false, err
	}
	if n.Down() || !n.Raw.HasReady() {
		return false, nil
	}
	rd := n.Raw.Ready()
	if c.tracing() {
		c.logf("%s", describeReady(n.ID, rd))
	}
	c.checkReadyContract(n, rd)
	background := c.writesInBackground(n, rd)
	if background {
		// Queued, not yet on storage: the entries are Raft's unstable ones until then. The
		// commit index needs no durability (a quorum holds the entries), so the leader may
		// apply up to it at once.
		n.writes = append(n.writes, raft.Ready{HardState: rd.HardState, Entries: slices.Clone(rd.Entries)})
		n.commit = max(n.commit, rd.HardState.Commit)
		if len(rd.Entries) > 0 {
			c.logf("node %d writes %d entries in the background\n", n.ID, len(rd.Entries))
		}
	} else {
		if err := c.CompleteWrites(n.ID); err != nil {
			return true, err
		}
		if err := c.persist(n, rd); err != nil {
			return true, err
		}
	}
	c.Checker.ObserveSent(n, rd.Messages)
	c.checkAcksAgainstLeader(n, rd.Messages)
	c.net.send(rd.Messages)
	if err := c.apply(n, rd); err != nil {
		return true, err
	}
	for _, rs := range rd.ReadStates {
		c.Checker.ObserveReadState(n.ID, rs)
	}
	n.ReadStates = append(n.ReadStates, rd.ReadStates...)
	if background {
		n.Raw.AdvanceWriting(rd)
	} else {
		n.Raw.Advance(rd)
	}
	c.observe(n)
	return true, nil
}

// writesInBackground reports whether rd may be written in the background: Options ask for
// it, n leads, and rd changes neither term nor vote and carries no snapshot (what chatd's
// driver does).
func (c *Cluster) writesInBackground(n *Node, rd raft.Ready) bool {
	if !c.opts.BackgroundWrites || !rd.Snapshot.IsEmpty() {
		return false
	}
	role := n.Raw.Status().RaftState
	if role != raft.StateLeader {
		return false
	}
	durable := n.Storage.HardState()
	hs := rd.HardState
	return hs.IsEmpty() || hs.Term == durable.Term && hs.Vote == durable.Vote
}

// CompleteWrites finishes node id's background writes, in order, and tells raft the last
// entry among them is durable.
func (c *Cluster) CompleteWrites(id raft.NodeID) error {
	n, err := c.mustNode(id)
	if err != nil {
		return err
	}
	if n.Down() || len(n.writes) == 0 {
		return nil
	}
	var last raft.Entry
	for _, w := range n.writes {
		if err := c.persist(n, w); err != nil {
			return err
		}
		if k := len(w.Entries); k > 0 {
			last = w.Entries[k-1]
		}
	}
	c.logf("node %d completed %d background writes\n", n.ID, len(n.writes))
	n.writes = nil
	if last.Index != 0 {
		n.Raw.Persisted(last.Index, last.Term)
	}
	c.observe(n)
	return nil
}

// CrashAfterPersist takes node id's next Ready, persists it (after any background writes),
// and crashes the node before it
// sends the messages, applies the entries or calls Advance: the window a real process can
// die in. Raft must cope because everything it needs was made durable first.
func (c *Cluster) CrashAfterPersist(id raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	if n.Raw.HasReady() {
		rd := n.Raw.Ready()
		if c.tracing() {
			c.logf("%s", describeReady(n.ID, rd))
		}
		if err := c.CompleteWrites(id); err != nil {
			return err
		}
		if err := c.persist(n, rd); err != nil {
			return err
		}
	}
	c.logf("node %d crashed after persisting, before sending\n", id)
	return c.Crash(id)
}

// ProcessAllReady runs ProcessReady once on every live node, in ID order, and reports
// whether any had a Ready.
func (c *Cluster) ProcessAllReady() (bool, error) {
	worked := false
	for _, n := range c.nodes {
		did, err := c.ProcessReady(n.ID)
		if err != nil {
			return worked, err
		}
		worked = worked || did
	}
	return worked, nil
}

// checkAcksAgainstLeader: a successful MsgAppResp for index i in term T tells the leader of
// T that the sender's log matches its own up to i (§5.3). While that leader still leads
// term T its log only grows, so wherever both durable logs hold entry i, they must agree.
func (c *Cluster) checkAcksAgainstLeader(n *Node, msgs []raft.Message) {
	for _, m := range msgs {
		if m.Type != raft.MsgAppResp || m.Reject {
			continue
		}
		l := c.Node(m.To)
		if l == nil || l.Down() {
			continue
		}
		if st := l.Raw.Status(); st.RaftState != raft.StateLeader || st.Term != m.Term {
			continue
		}
		lt, err1 := l.Storage.Term(m.Index)
		ft, err2 := n.Storage.Term(m.Index)
		if err1 == nil && err2 == nil && lt != ft {
			c.Checker.violate("node %d: acknowledged index %d to leader %d of term %d, but holds term %d there and the leader term %d",
				n.ID, m.Index, l.ID, m.Term, ft, lt)
		}
	}
}

// checkReadyContract checks what a driver relies on before it acts on rd: MustSync is set
// whenever something must survive a crash before the messages leave (entries, a snapshot, a
// new term or vote), and a snapshot never rolls the state machine back.
func (c *Cluster) checkReadyContract(n *Node, rd raft.Ready) {
	durable := n.Storage.HardState()
	hs := rd.HardState
	needSync := len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty() ||
		!hs.IsEmpty() && (hs.Term != durable.Term || hs.Vote != durable.Vote)
	if needSync && !rd.MustSync {
		c.Checker.violate("node %d: Ready with entries, a snapshot or a new term/vote has MustSync unset", n.ID)
	}
	if !rd.Snapshot.IsEmpty() && rd.Snapshot.Metadata.Index <= n.SM.Index {
		c.Checker.violate("node %d: Ready snapshot at %d would roll back the state machine at %d",
			n.ID, rd.Snapshot.Metadata.Index, n.SM.Index)
	}
}

func (c *Cluster) persist(n *Node, rd raft.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		if err := n.Storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("node %d: persist snapshot %d: %w", n.ID, rd.Snapshot.Metadata.Index, err)
		}
	}
	if len(rd.Entries) > 0 {
		if err := n.Storage.Append(rd.Entries); err != nil {
			return fmt.Errorf("node %d: persist entries: %w", n.ID, err)
		}
	}
	if !rd.HardState.IsEmpty() {
		if err := n.Storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("node %d: persist hard state: %w", n.ID, err)
		}
		c.Checker.ObserveDurableHardState(n.ID, rd.HardState)
		if rd.HardState.Commit > n.commit {
			n.commit = rd.HardState.Commit
		}
	}
	return nil
}

func (c *Cluster) apply(n *Node, rd raft.Ready) error {
	term := n.Raw.Status().Term
	if !rd.Snapshot.IsEmpty() {
		sm, err := DecodeStateMachine(rd.Snapshot.Data)
		if err != nil {
			return fmt.Errorf("node %d: %w", n.ID, err)
		}
		if sm.Index != rd.Snapshot.Metadata.Index {
			return fmt.Errorf("node %d: snapshot data at %d, metadata at %d", n.ID, sm.Index, rd.Snapshot.Metadata.Index)
		}
		n.SM = sm
		c.Checker.ObserveApplied(n.ID, term, sm, nil)
	}
	for _, e := range rd.CommittedEntries {
		if e.Index > n.commit {
			c.Checker.violate("node %d: applying entry %d beyond its durable commit index %d", n.ID, e.Index, n.commit)
		}
		if err := n.SM.Apply(e); err != nil {
			c.Checker.violate("node %d: %v", n.ID, err)
			return nil
		}
		if e.Type == raft.EntryConfChange {
			if _, cs, err := n.Raw.ApplyConfChange(e.Data); err != nil {
				c.Checker.violate("node %d: applying the configuration change at %d: %v", n.ID, e.Index, err)
			} else {
				c.Checker.ObserveConf(n.ID, e.Index, cs)
			}
		}
		c.Checker.ObserveApplied(n.ID, term, n.SM, &e)
	}
	return nil
}

// Tick advances node id's logical clock by one tick.
func (c *Cluster) Tick(id raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	n.Raw.Tick()
	c.observe(n)
	c.checkQuorumLiveness(n)
	return nil
}

// checkQuorumLiveness: with CheckQuorum a leader that cannot reach a quorum must step down
// within two election timeouts of its own ticks (thesis §6.2): one period may still count
// contact from before the cut, the next must not.
func (c *Cluster) checkQuorumLiveness(n *Node) {
	if !c.opts.CheckQuorum || n.Raw.Status().RaftState != raft.StateLeader || c.reachesQuorum(n) {
		n.isolatedTicks = 0
		return
	}
	n.isolatedTicks++
	if n.isolatedTicks == 2*c.opts.ElectionTimeoutTicks+1 {
		c.Checker.violate("check quorum: node %d still leads after %d ticks without a quorum",
			n.ID, 2*c.opts.ElectionTimeoutTicks)
	}
}

// reachesQuorum reports whether n and the live voters it is linked with both ways form a
// majority of n's configuration.
func (c *Cluster) reachesQuorum(n *Node) bool {
	voters := n.Raw.ConfState().Voters
	reach := 0
	for _, id := range voters {
		p := c.Node(id)
		if p == n || p != nil && !p.Down() && c.Connected(n.ID, p.ID) && c.Connected(p.ID, n.ID) {
			reach++
		}
	}
	return reach > len(voters)/2
}

// ProposeConfChange proposes a membership change at node id; the error is raft's.
func (c *Cluster) ProposeConfChange(id raft.NodeID, cc raft.ConfChange) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	err = n.Raw.ProposeConfChange(cc)
	c.observe(n)
	return err
}

// Campaign makes node id start an election now.
func (c *Cluster) Campaign(id raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	err = n.Raw.Campaign()
	c.observe(n)
	return err
}

// Propose hands data to node id; a follower forwards it to the leader it knows. The error
// is raft's (for example raft.ErrProposalDropped).
func (c *Cluster) Propose(id raft.NodeID, data []byte) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	err = n.Raw.Propose(data)
	c.observe(n)
	return err
}

// ReadIndex starts a linearizable read on node id; the answer arrives as a ReadState.
func (c *Cluster) ReadIndex(id raft.NodeID, rctx []byte) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	c.Checker.ObserveReadIssued(rctx)
	n.Raw.ReadIndex(rctx)
	c.observe(n)
	return nil
}

// TransferLeadership asks node id (normally the leader) to hand leadership to node to.
func (c *Cluster) TransferLeadership(id, to raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	n.Raw.TransferLeadership(to)
	c.observe(n)
	return nil
}

// Compact makes node id take a snapshot of its state machine at its applied index and
// release the log up to it, as an application does to bound its log (§7).
func (c *Cluster) Compact(id raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	if err := c.CompleteWrites(id); err != nil { // the snapshot must not overtake them
		return err
	}
	first, err := n.Storage.FirstIndex()
	if err != nil {
		return fmt.Errorf("node %d: first index: %w", n.ID, err)
	}
	if n.SM.Index < first {
		return fmt.Errorf("node %d: nothing to compact (applied %d, first index %d)", n.ID, n.SM.Index, first)
	}
	// The configuration as of the applied index: every change up to it has been applied.
	cs := n.Raw.ConfState()
	if _, err := n.Storage.CreateSnapshot(n.SM.Index, &cs, n.SM.Encode()); err != nil {
		return fmt.Errorf("node %d: create snapshot at %d: %w", n.ID, n.SM.Index, err)
	}
	if err := n.Storage.Compact(n.SM.Index); err != nil {
		return fmt.Errorf("node %d: compact to %d: %w", n.ID, n.SM.Index, err)
	}
	c.logf("node %d: snapshot and compact at %d\n", n.ID, n.SM.Index)
	return nil
}
