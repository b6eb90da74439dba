package rafttest

import (
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

type link struct{ from, to raft.NodeID }

// network is the queue of messages in flight, in the order they were sent, plus the set of
// links that are cut.
type network struct {
	queue []raft.Message
	cut   map[link]bool
}

func (nw *network) send(msgs []raft.Message) { nw.queue = append(nw.queue, msgs...) }

// Filter selects messages by sender, receiver and type; zero fields match everything.
type Filter struct {
	From  raft.NodeID
	To    raft.NodeID
	Types []raft.MessageType
}

// Match reports whether m passes the filter.
func (f Filter) Match(m raft.Message) bool {
	if f.From != raft.None && m.From != f.From {
		return false
	}
	if f.To != raft.None && m.To != f.To {
		return false
	}
	return len(f.Types) == 0 || slices.Contains(f.Types, m.Type)
}

// take removes and returns the queued messages that match f, keeping the others in order.
func (nw *network) take(f Filter) []raft.Message {
	var taken, kept []raft.Message
	for _, m := range nw.queue {
		if f.Match(m) {
			taken = append(taken, m)
		} else {
			kept = append(kept, m)
		}
	}
	nw.queue = kept
	return taken
}

// Pending returns a copy of the messages in flight, in send order.
func (c *Cluster) Pending() []raft.Message { return slices.Clone(c.net.queue) }

// PendingCount is len(Pending()) without the copy.
func (c *Cluster) PendingCount() int { return len(c.net.queue) }

// Deliver steps every in-flight message that matches f into its receiver, in send order, and
// returns how many arrived. Messages over a cut link or to a crashed node are dropped instead.
// Messages sent while delivering stay queued for a later call.
func (c *Cluster) Deliver(f Filter) (int, error) {
	delivered := 0
	for _, m := range c.net.take(f) {
		ok, err := c.deliver(m)
		if err != nil {
			return delivered, err
		}
		if ok {
			delivered++
		}
	}
	return delivered, nil
}

// DeliverAt delivers only the i-th in-flight message (0-based, send order), so tests can
// reorder the network at will.
func (c *Cluster) DeliverAt(i int) error {
	if i < 0 || i >= len(c.net.queue) {
		return fmt.Errorf("deliver message %d: only %d in flight", i, len(c.net.queue))
	}
	m := c.net.queue[i]
	c.net.queue = slices.Delete(c.net.queue, i, i+1)
	_, err := c.deliver(m)
	return err
}

// DuplicateAt queues a second copy of the i-th in-flight message at the end of the queue.
func (c *Cluster) DuplicateAt(i int) error {
	if i < 0 || i >= len(c.net.queue) {
		return fmt.Errorf("duplicate message %d: only %d in flight", i, len(c.net.queue))
	}
	c.net.queue = append(c.net.queue, c.net.queue[i])
	return nil
}

// Drop discards every in-flight message that matches f and returns how many it dropped.
func (c *Cluster) Drop(f Filter) int {
	msgs := c.net.take(f)
	for _, m := range msgs {
		c.lost(m, "dropped")
	}
	return len(msgs)
}

// DropAt discards the i-th in-flight message.
func (c *Cluster) DropAt(i int) error {
	if i < 0 || i >= len(c.net.queue) {
		return fmt.Errorf("drop message %d: only %d in flight", i, len(c.net.queue))
	}
	m := c.net.queue[i]
	c.net.queue = slices.Delete(c.net.queue, i, i+1)
	c.lost(m, "dropped")
	return nil
}

// deliver steps m into its receiver unless the link is cut or the receiver is down.
func (c *Cluster) deliver(m raft.Message) (bool, error) {
	to := c.Node(m.To)
	switch {
	case to == nil:
		c.lost(m, "dropped (no such node)")
		return false, nil
	case c.net.cut[link{m.From, m.To}]:
		c.lost(m, "dropped (partition)")
		c.reportUnreachable(m)
		return false, nil
	case to.Down():
		c.lost(m, "dropped (receiver down)")
		c.reportUnreachable(m)
		return false, nil
	}
	if c.tracing() {
		c.logf("%s\n", DescribeMessage(m))
	}
	to.isolatedTicks = 0 // contact, even from a node that crashed since, renews the quorum lease
	if err := to.Raw.Step(m); err != nil {
		c.logf("  step error: %v\n", err)
	}
	c.observe(to)
	if m.Type == raft.MsgSnap && c.opts.AutoReportSnapshot {
		c.reportSnapshot(m, false)
	}
	return true, nil
}

// lost records that m never arrived.
func (c *Cluster) lost(m raft.Message, why string) {
	if c.tracing() {
		c.logf("%s: %s\n", why, DescribeMessage(m))
	}
	if m.Type == raft.MsgSnap && c.opts.AutoReportSnapshot {
		c.reportSnapshot(m, true)
	}
}

func (c *Cluster) reportUnreachable(m raft.Message) {
	from := c.Node(m.From)
	if !c.opts.ReportUnreachable || from == nil || from.Down() {
		return
	}
	from.Raw.ReportUnreachable(m.To)
	c.observe(from)
}

func (c *Cluster) reportSnapshot(m raft.Message, failed bool) {
	from := c.Node(m.From)
	if from == nil || from.Down() {
		return
	}
	from.Raw.ReportSnapshot(m.To, failed)
	c.observe(from)
}

// Partition cuts every link, both ways, between the nodes in side and all other nodes.
func (c *Cluster) Partition(side ...raft.NodeID) {
	for _, a := range side {
		for _, b := range c.IDs() {
			if !slices.Contains(side, b) {
				c.net.cut[link{a, b}] = true
				c.net.cut[link{b, a}] = true
			}
		}
	}
	c.logf("partitioned %v from the rest\n", side)
}

// Cut cuts the one-way link from -> to (an asymmetric partition).
func (c *Cluster) Cut(from, to raft.NodeID) {
	c.net.cut[link{from, to}] = true
	c.logf("cut %d->%d\n", from, to)
}

// Heal restores every link.
func (c *Cluster) Heal() {
	clear(c.net.cut)
	c.logf("healed all links\n")
}

// Connected reports whether messages from -> to currently get through.
func (c *Cluster) Connected(from, to raft.NodeID) bool { return !c.net.cut[link{from, to}] }

// Stabilize alternates processing every Ready and delivering every message until nothing is
// left to do, and fails if that takes more than maxRounds rounds (a livelock, or a cluster
// that keeps electing leaders).
func (c *Cluster) Stabilize(maxRounds int) error {
	for round := 0; round < maxRounds; round++ {
		wrote := false
		for _, n := range c.nodes {
			wrote = wrote || len(n.writes) > 0 && !n.Down()
			if err := c.CompleteWrites(n.ID); err != nil {
				return err
			}
		}
		worked, err := c.ProcessAllReady()
		if err != nil {
			return err
		}
		worked = worked || wrote
		if !worked && len(c.net.queue) == 0 {
			return nil
		}
		if _, err := c.Deliver(Filter{}); err != nil {
			return err
		}
	}
	return fmt.Errorf("cluster did not stabilize within %d rounds", maxRounds)
}
