package rafttest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

// Chooser supplies the random choices of RandomStep. Property tests back it with rapid (which
// then shrinks failing schedules); other tests with a seeded PRNG.
type Chooser interface {
	// IntN returns a value in [0, n); label names the choice in failure output.
	IntN(label string, n int) int
}

// opWeights are the relative frequencies of RandomStep's operations, in the order of the
// switch in RandomStep. Ticks and deliveries dominate so that elections and commits happen;
// faults are rarer so that the cluster makes progress between them.
var opWeights = []int{
	15, // tick one node
	8,  // tick every node
	15, // process one node's Ready
	20, // deliver one message (any in flight: the network reorders)
	4,  // drop one message
	2,  // duplicate one message
	10, // propose, usually at the leader
	2,  // campaign
	3,  // partition a random subset, or heal
	2,  // crash
	4,  // restart a crashed node
	2,  // compact
	3,  // read index
	1,  // transfer leadership
	6,  // complete one node's background writes
	10, // deliver everything, complete background writes, then process every Ready
	0,  // change the membership (membershipWeight with Options.Membership)
}

// membershipWeight is the weight of a membership change when Options.Membership is on. Off,
// the weight is zero and schedules draw exactly as they did before membership changes.
const membershipWeight = 3

// weightsFor returns the operation weights for the given options.
func weightsFor(o Options) []int {
	w := append([]int(nil), opWeights...)
	if !o.BackgroundWrites {
		w[14] = 0 // no background-write step for clusters that write synchronously
	}
	if o.Membership {
		w[16] = membershipWeight
	}
	return w
}

// maxNodes bounds the nodes a membership schedule creates (joiners get new IDs).
const maxNodes = 7

// RandomStep performs one random operation on c: a tick, a Ready, a delivery, a drop or
// duplicate, a proposal, a campaign, a partition or heal, a crash or restart, a compaction, a
// read, a leadership transfer, finishing background writes, or a full round. It returns a short description of what it
// did and an error only for harness failures; safety violations collect in c.Checker.
func (c *Cluster) RandomStep(ch Chooser, seq int) (string, error) {
	weights := weightsFor(c.opts)
	total := 0
	for _, w := range weights {
		total += w
	}
	r := ch.IntN("op", total)
	op := 0
	for ; r >= weights[op]; op++ {
		r -= weights[op]
	}
	ids := c.IDs()
	id := ids[ch.IntN("node", len(ids))]
	n := c.Node(id)
	switch op {
	case 0:
		return fmt.Sprintf("tick %d", id), c.ignoreDown(n, func() error { return c.Tick(id) })
	case 1:
		return "tick all", c.tickAll()
	case 2:
		_, err := c.ProcessReady(id)
		return fmt.Sprintf("process-ready %d", id), err
	case 3, 4, 5:
		return c.randomNetworkOp(ch, op)
	case 6:
		return c.randomPropose(ch, id, seq)
	case 7:
		return fmt.Sprintf("campaign %d", id), c.ignoreDown(n, func() error { return c.Campaign(id) })
	case 8:
		return c.randomPartition(ch)
	case 9:
		if ch.IntN("crash-after-persist", 2) == 0 {
			return fmt.Sprintf("crash-after-persist %d", id), c.ignoreDown(n, func() error { return c.CrashAfterPersist(id) })
		}
		return fmt.Sprintf("crash %d", id), c.ignoreDown(n, func() error { return c.Crash(id) })
	case 10:
		return c.restartOne()
	case 11:
		return fmt.Sprintf("compact %d", id), c.ignoreDown(n, func() error { _ = c.Compact(id); return nil })
	case 12:
		return fmt.Sprintf("read-index %d", id), c.ignoreDown(n, func() error { return c.ReadIndex(id, fmt.Appendf(nil, "r%d", seq)) })
	case 13:
		to := ids[ch.IntN("to", len(ids))]
		return fmt.Sprintf("transfer-leadership %d->%d", id, to), c.ignoreDown(n, func() error { return c.TransferLeadership(id, to) })
	case 14:
		return fmt.Sprintf("complete-writes %d", id), c.CompleteWrites(id)
	case 16:
		return c.randomConfChange(ch, id)
	default:
		if _, err := c.Deliver(Filter{}); err != nil {
			return "round", err
		}
		for _, n := range c.nodes {
			if err := c.CompleteWrites(n.ID); err != nil {
				return "round", err
			}
		}
		_, err := c.ProcessAllReady()
		return "round", err
	}
}

// randomConfChange proposes a membership change at the leader (three times out of four) or at
// id: remove a member, add a non-member (an existing node, or a new one that joins with an
// empty configuration) as a learner, or promote a learner. The proposer's own view of the
// configuration picks the candidates; raft refuses what it cannot do now.
func (c *Cluster) randomConfChange(ch Chooser, id raft.NodeID) (string, error) {
	if lead := c.Leader(); lead != raft.None && ch.IntN("at-leader", 4) > 0 {
		id = lead
	}
	n := c.Node(id)
	if n.Down() {
		return "conf-change (down)", nil
	}
	cs := n.Raw.ConfState()
	var cc raft.ConfChange
	switch ch.IntN("conf-op", 3) {
	case 0:
		members := append(slices.Clone(cs.Voters), cs.Learners...)
		if len(members) == 0 {
			return "conf-change (no members)", nil
		}
		cc = raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: members[ch.IntN("conf-node", len(members))]}
	case 1:
		var outside []raft.NodeID
		for _, nd := range c.nodes {
			if !slices.Contains(cs.Voters, nd.ID) && !slices.Contains(cs.Learners, nd.ID) {
				outside = append(outside, nd.ID)
			}
		}
		pick := ch.IntN("conf-node", len(outside)+1)
		if pick == len(outside) {
			if len(c.nodes) >= maxNodes {
				return "conf-change (node limit)", nil
			}
			newID := c.nodes[len(c.nodes)-1].ID + 1
			if err := c.AddNode(newID, NodeSetup{Join: true}); err != nil {
				return "add-node", err
			}
			outside = append(outside, newID)
		}
		cc = raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: outside[pick]}
	default:
		if len(cs.Learners) == 0 {
			return "conf-change (no learner)", nil
		}
		cc = raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: cs.Learners[ch.IntN("conf-node", len(cs.Learners))]}
	}
	err := c.ProposeConfChange(id, cc)
	desc := fmt.Sprintf("conf-change %d %s %d", id, cc.Type, cc.NodeID)
	if err != nil {
		desc += " (refused)"
	}
	return desc, nil
}

func (c *Cluster) tickAll() error {
	for _, n := range c.nodes {
		if !n.Down() {
			if err := c.Tick(n.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// randomPropose proposes at the leader three times out of four (so entries get committed),
// otherwise at id (exercising forwarding and rejection).
func (c *Cluster) randomPropose(ch Chooser, id raft.NodeID, seq int) (string, error) {
	if lead := c.Leader(); lead != raft.None && ch.IntN("at-leader", 4) > 0 {
		id = lead
	}
	data := fmt.Appendf(nil, "p%d", seq)
	if c.Node(id).Down() {
		return "propose (down)", nil
	}
	_ = c.Propose(id, data) // dropped proposals are normal here
	return fmt.Sprintf("propose %d %s", id, data), nil
}

// restartOne restarts the lowest-numbered crashed node, if any.
func (c *Cluster) restartOne() (string, error) {
	for _, n := range c.nodes {
		if n.Down() {
			return fmt.Sprintf("restart %d", n.ID), c.Restart(n.ID)
		}
	}
	return "restart (none down)", nil
}

func (c *Cluster) ignoreDown(n *Node, f func() error) error {
	if n.Down() {
		return nil
	}
	return f()
}

func (c *Cluster) randomNetworkOp(ch Chooser, op int) (string, error) {
	if len(c.net.queue) == 0 {
		return "network idle", nil
	}
	i := ch.IntN("msg", len(c.net.queue))
	desc := DescribeMessage(c.net.queue[i])
	switch op {
	case 3:
		return "deliver " + desc, c.DeliverAt(i)
	case 4:
		return "drop " + desc, c.DropAt(i)
	default:
		return "duplicate " + desc, c.DuplicateAt(i)
	}
}

func (c *Cluster) randomPartition(ch Chooser) (string, error) {
	if ch.IntN("heal", 2) == 0 {
		c.Heal()
		return "heal", nil
	}
	var side []raft.NodeID
	for _, id := range c.IDs() {
		if ch.IntN("side", 2) == 1 {
			side = append(side, id)
		}
	}
	c.Partition(side...)
	return fmt.Sprintf("partition %v", side), nil
}

// Converge heals the network, restarts crashed nodes and runs rounds (tick every node,
// process every Ready, deliver everything) until a leader has committed a fresh proposal and
// every node has applied it. It fails after maxRounds rounds: with all faults gone a correct
// Raft must make progress (the liveness half of a simulation).
func (c *Cluster) Converge(maxRounds int) error {
	c.Heal()
	// Every node comes back, removed ones too: a server that never learned it was removed
	// campaigns with its old configuration (thesis §4.2.3), which the others must survive.
	for _, n := range c.nodes {
		if n.Down() {
			if err := c.Restart(n.ID); err != nil {
				return err
			}
		}
	}
	var marker raft.Index // index of our proposal once a leader appended it
	for round := 0; round < maxRounds; round++ {
		if err := c.tickAll(); err != nil {
			return err
		}
		// Generous: with one entry per message and one in flight, catching up a follower
		// takes a round per entry.
		if err := c.Stabilize(10000); err != nil {
			return errors.Join(c.Err(), err) // a safety violation usually explains a stall
		}
		if err := c.Err(); err != nil {
			return err
		}
		lead := c.Leader()
		if lead == raft.None {
			continue
		}
		ln := c.Node(lead)
		if marker == 0 || ln.Raw.Status().Commit < marker && round%20 == 0 {
			if err := c.Propose(lead, []byte("converge")); err == nil {
				last, _ := ln.Storage.LastIndex()
				marker = last + 1
			}
			continue
		}
		if c.allApplied(marker) {
			return nil
		}
	}
	return fmt.Errorf("no progress within %d rounds after healing:\n%s", maxRounds, c.DescribeState())
}

func (c *Cluster) allApplied(i raft.Index) bool {
	var members func(raft.NodeID) bool
	if c.opts.Membership {
		// A node removed meanwhile is sent nothing more, not even its removal.
		members = c.Checker.LatestConf()
	}
	for _, n := range c.nodes {
		if members != nil && !members(n.ID) {
			continue
		}
		if n.SM.Index < i {
			return false
		}
	}
	return true
}
