package rafttest

import (
	"fmt"
	"strings"

	"github.com/raftchat/raftchat/raft"
)

// observe feeds n's current volatile state to the checker; it runs after every call into n.
func (c *Cluster) observe(n *Node) {
	if n.Down() {
		return
	}
	st := n.Raw.Status()
	if st.RaftState == raft.StateLeader {
		c.Checker.ObserveLeader(n.ID, st.Term)
	}
	c.Checker.ObserveVolatile(n.ID, n.Incarnation, st.Commit, n.SM.Index)
}

// CheckNow runs the whole-cluster log checks (log matching, leader completeness) on the
// durable logs. Violations accumulate in c.Checker.
func (c *Cluster) CheckNow() {
	leaders := map[raft.NodeID]raft.Term{}
	for _, n := range c.nodes {
		if n.Down() {
			continue
		}
		// A node with a Ready pending may hold entries that are not durable yet; its durable
		// log is still a valid log, but a leader's may lag its in-memory one, so only
		// leaders with nothing pending are held to completeness.
		if st := n.Raw.Status(); st.RaftState == raft.StateLeader && !n.Raw.HasReady() {
			leaders[n.ID] = st.Term
		}
	}
	c.Checker.CheckLogs(c.nodes, leaders)
}

// Err returns the safety violations seen so far, or nil.
func (c *Cluster) Err() error { return c.Checker.Err() }

// TickElection ticks node id until its role or term changes, at most twice the election
// timeout (the longest randomized timeout), so scripts need not know the random draw.
func (c *Cluster) TickElection(id raft.NodeID) error {
	n, err := c.upNode(id)
	if err != nil {
		return err
	}
	before := n.Raw.Status()
	for i := 0; i < 2*c.opts.ElectionTimeoutTicks; i++ {
		if err := c.Tick(id); err != nil {
			return err
		}
		now := n.Raw.Status()
		if now.RaftState != before.RaftState || now.Term != before.Term || now.Lead != before.Lead {
			return nil
		}
	}
	return nil
}

// Leader returns the ID of a live node that believes it leads with the highest term, or
// raft.None.
func (c *Cluster) Leader() raft.NodeID {
	var lead raft.NodeID
	var term raft.Term
	for _, n := range c.nodes {
		if n.Down() {
			continue
		}
		if st := n.Raw.Status(); st.RaftState == raft.StateLeader && st.Term >= term {
			lead, term = n.ID, st.Term
		}
	}
	return lead
}

// DescribeState renders one line per node: role, term, vote, leader, commit and applied
// index, or that it is down.
func (c *Cluster) DescribeState() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if n.Down() {
			fmt.Fprintf(&b, "%d: down\n", n.ID)
			continue
		}
		st := n.Raw.Status()
		last, _ := n.Storage.LastIndex()
		fmt.Fprintf(&b, "%d: %s Term:%d Vote:%d Lead:%d Commit:%d Applied:%d LastIndex:%d",
			n.ID, st.RaftState, st.Term, st.Vote, st.Lead, st.Commit, n.SM.Index, last)
		if st.LeadTransferee != raft.None {
			fmt.Fprintf(&b, " Transferee:%d", st.LeadTransferee)
		}
		b.WriteString("\n")
	}
	return b.String()
}
