package rafttest

import (
	"fmt"

	"github.com/raftchat/raftchat/raft"
)

// Node is one member of a Cluster.
type Node struct {
	// ID is the node's raft ID.
	ID raft.NodeID
	// Storage is the node's durable state; it survives Crash.
	Storage *raft.MemoryStorage
	// Raw is the running RawNode, nil while the node is crashed.
	Raw *raft.RawNode
	// SM is the volatile state machine, rebuilt from the storage snapshot on Restart.
	SM StateMachine
	// ReadStates are the read states received and not yet consumed with TakeReadStates.
	ReadStates []raft.ReadState
	// Incarnation counts restarts; it varies the election-timeout seed.
	Incarnation int

	voters []raft.NodeID
	// commit is the highest commit index this incarnation has seen in a HardState.
	commit raft.Index
	// isolatedTicks counts this node's ticks as a leader cut off from a quorum.
	isolatedTicks int
	// writes are the background writes not yet on storage, oldest first.
	writes []raft.Ready
}

// Down reports whether the node is crashed.
func (n *Node) Down() bool { return n.Raw == nil }

// TakeReadStates returns and forgets the read states gathered so far.
func (n *Node) TakeReadStates() []raft.ReadState {
	rs := n.ReadStates
	n.ReadStates = nil
	return rs
}

// config builds the raft configuration for n's current incarnation.
func (c *Cluster) config(n *Node, applied raft.Index) raft.Config {
	o := c.opts
	return raft.Config{
		ID:                        n.ID,
		Voters:                    n.voters,
		ElectionTimeoutTicks:      o.ElectionTimeoutTicks,
		HeartbeatIntervalTicks:    o.HeartbeatIntervalTicks,
		Storage:                   n.Storage,
		Applied:                   applied,
		MaxMessageBytes:           o.MaxMessageBytes,
		MaxInflightMessages:       o.MaxInflightMessages,
		MaxUncommittedBytes:       o.MaxUncommittedBytes,
		MaxCommittedBytesPerReady: o.MaxCommittedBytesPerReady,
		CheckQuorum:               o.CheckQuorum,
		PreVote:                   o.PreVote,
		CoalesceMessages:          o.CoalesceMessages,
		IdleHeartbeats:            o.IdleHeartbeats,
		DeferCommitBroadcast:      o.DeferCommitBroadcast,
		Seed:                      o.Seed*1_000_003 + uint64(n.ID)*7919 + uint64(n.Incarnation),
		Logger:                    o.Logger.With("node", uint64(n.ID)),
		Knobs:                     o.Knobs,
	}
}

// start creates n's RawNode from its storage, restoring the state machine from the stored
// snapshot: everything after it is re-applied as raft hands out committed entries again.
func (c *Cluster) start(n *Node) error {
	snap, err := n.Storage.Snapshot()
	if err != nil {
		return fmt.Errorf("node %d: read snapshot: %w", n.ID, err)
	}
	n.SM = StateMachine{}
	if !snap.IsEmpty() {
		if n.SM, err = DecodeStateMachine(snap.Data); err != nil {
			return fmt.Errorf("node %d: %w", n.ID, err)
		}
	}
	rn, err := raft.NewRawNode(c.config(n, n.SM.Index))
	if err != nil {
		return fmt.Errorf("node %d: new raw node: %w", n.ID, err)
	}
	n.Raw = rn
	n.ReadStates = nil
	n.isolatedTicks = 0
	n.commit = n.Storage.HardState().Commit
	c.observe(n)
	return nil
}

// Crash stops node id, losing everything not yet written to its storage: its raft state, any
// Ready not yet processed, its state machine and its read states. Messages to it are dropped
// while it is down; messages it already sent stay in flight.
func (c *Cluster) Crash(id raft.NodeID) error {
	n, err := c.mustNode(id)
	if err != nil {
		return err
	}
	if n.Down() {
		return fmt.Errorf("node %d is already down", id)
	}
	n.Raw = nil
	n.ReadStates = nil
	if len(n.writes) > 0 {
		c.logf("node %d lost %d background writes\n", id, len(n.writes))
		n.writes = nil
	}
	c.logf("crashed node %d\n", id)
	return nil
}

// Restart brings a crashed node back from its storage.
func (c *Cluster) Restart(id raft.NodeID) error {
	n, err := c.mustNode(id)
	if err != nil {
		return err
	}
	if !n.Down() {
		return fmt.Errorf("node %d is not down", id)
	}
	n.Incarnation++
	if err := c.start(n); err != nil {
		return err
	}
	c.logf("restarted node %d\n", id)
	return nil
}

func (c *Cluster) upNode(id raft.NodeID) (*Node, error) {
	n, err := c.mustNode(id)
	if err != nil {
		return nil, err
	}
	if n.Down() {
		return nil, fmt.Errorf("node %d is down", id)
	}
	return n, nil
}
