package rafttest

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/datadriven"

	"github.com/raftchat/raftchat/raft"
)

func tickN(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	id, _, err := singleID(td)
	if err != nil {
		return err
	}
	n, err := argUint(td, "n", 1)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if err := c.Tick(id); err != nil {
			return err
		}
	}
	return nil
}

func tickHeartbeat(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	ids, err := nodeIDs(td)
	if err != nil {
		return err
	}
	for _, id := range ids {
		for i := 0; i < c.opts.HeartbeatIntervalTicks; i++ {
			if err := c.Tick(id); err != nil {
				return err
			}
		}
	}
	return nil
}

func propose(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	id, rest, err := singleID(td)
	if err != nil {
		return err
	}
	if err := c.Propose(id, []byte(strings.Join(rest, " "))); err != nil {
		c.logf("propose: %v\n", err)
	}
	return nil
}

func readIndex(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	id, rest, err := singleID(td)
	if err != nil {
		return err
	}
	return c.ReadIndex(id, []byte(strings.Join(rest, " ")))
}

func transferLeadership(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	from, err := argUint(td, "from", 0)
	if err != nil {
		return err
	}
	to, err := argUint(td, "to", 0)
	if err != nil {
		return err
	}
	return c.TransferLeadership(raft.NodeID(from), raft.NodeID(to))
}

func processReady(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	ids, err := nodeIDs(td)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		ids = c.IDs()
	}
	for _, id := range ids {
		if _, err := c.ProcessReady(id); err != nil {
			return err
		}
	}
	return nil
}

func msgFilter(td *datadriven.TestData) (Filter, error) {
	var f Filter
	from, err := argUint(td, "from", 0)
	if err != nil {
		return f, err
	}
	to, err := argUint(td, "to", 0)
	if err != nil {
		return f, err
	}
	f.From, f.To = raft.NodeID(from), raft.NodeID(to)
	if a, ok := td.Arg("type"); ok {
		for _, name := range a.Vals {
			t, ok := messageTypeByName(strings.TrimSpace(name))
			if !ok {
				return f, fmt.Errorf("unknown message type %q", name)
			}
			f.Types = append(f.Types, t)
		}
	}
	return f, nil
}

func messageTypeByName(name string) (raft.MessageType, bool) {
	for t := raft.MessageType(0); t < 64; t++ {
		if s := t.String(); s == name {
			return t, true
		} else if strings.HasPrefix(s, "MessageType(") {
			break
		}
	}
	return 0, false
}

func deliverMsgs(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	f, err := msgFilter(td)
	if err != nil {
		return err
	}
	n, err := c.Deliver(f)
	if err == nil && n == 0 {
		c.logf("no messages delivered\n")
	}
	return err
}

func dropMsgs(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	f, err := msgFilter(td)
	if err != nil {
		return err
	}
	if c.Drop(f) == 0 {
		c.logf("no messages dropped\n")
	}
	return nil
}

func pending(_ *Interaction, c *Cluster, _ *datadriven.TestData) error {
	msgs := c.Pending()
	if len(msgs) == 0 {
		c.logf("no messages in flight\n")
	}
	for _, m := range msgs {
		c.logf("%s\n", DescribeMessage(m))
	}
	return nil
}

func partition(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	ids, err := nodeIDs(td)
	if err != nil {
		return err
	}
	c.Partition(ids...)
	return nil
}

func cut(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	from, err := argUint(td, "from", 0)
	if err != nil {
		return err
	}
	to, err := argUint(td, "to", 0)
	if err != nil {
		return err
	}
	c.Cut(raft.NodeID(from), raft.NodeID(to))
	return nil
}

func raftLog(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	ids, err := nodeIDs(td)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		ids = c.IDs()
	}
	for _, id := range ids {
		n, err := c.mustNode(id)
		if err != nil {
			return err
		}
		if len(ids) > 1 {
			c.logf("node %d:\n", id)
		}
		c.logf("%s", DescribeLog(n))
	}
	return nil
}

func readStates(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	id, _, err := singleID(td)
	if err != nil {
		return err
	}
	n, err := c.mustNode(id)
	if err != nil {
		return err
	}
	rss := n.TakeReadStates()
	if len(rss) == 0 {
		c.logf("no read states\n")
	}
	for _, rs := range rss {
		c.logf("Index:%d Context:%q (applied %d)\n", rs.Index, rs.RequestCtx, n.SM.Index)
	}
	return nil
}

func check(_ *Interaction, c *Cluster, _ *datadriven.TestData) error {
	c.CheckNow()
	if c.Checker.Err() == nil {
		c.logf("safety checks passed\n")
	}
	return nil
}

// confChange proposes a membership change at a node:
// conf-change ID type=(add-learner|add-voter|remove) node=N.
func confChange(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
	id, _, err := singleID(td)
	if err != nil {
		return err
	}
	var typ string
	if a, ok := td.Arg("type"); ok && len(a.Vals) == 1 {
		typ = a.Vals[0]
	}
	types := map[string]raft.ConfChangeType{
		"add-learner": raft.ConfChangeAddLearner, "add-voter": raft.ConfChangeAddVoter, "remove": raft.ConfChangeRemove,
	}
	t, ok := types[typ]
	if !ok {
		return fmt.Errorf("conf-change: type must be add-learner, add-voter or remove, not %q", typ)
	}
	node, err := argUint(td, "node", 0)
	if err != nil || node == 0 {
		return fmt.Errorf("conf-change: node=N required (%v)", err)
	}
	if err := c.ProposeConfChange(id, raft.ConfChange{Type: t, NodeID: raft.NodeID(node)}); err != nil {
		c.logf("conf-change: %v\n", err)
	}
	return nil
}

// confState prints every live node's configuration as of its last applied change.
func confState(_ *Interaction, c *Cluster, _ *datadriven.TestData) error {
	for _, n := range c.nodes {
		if n.Down() {
			c.logf("%d: down\n", n.ID)
			continue
		}
		c.logf("%d: %s\n", n.ID, DescribeConf(n.Raw.ConfState()))
	}
	return nil
}
