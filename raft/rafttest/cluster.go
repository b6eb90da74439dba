package rafttest

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

// Options are the raft settings every node of a Cluster shares. Zero values get small,
// test-friendly defaults (see withDefaults).
type Options struct {
	ElectionTimeoutTicks      int
	HeartbeatIntervalTicks    int
	MaxMessageBytes           uint64
	MaxInflightMessages       int
	MaxUncommittedBytes       uint64
	MaxCommittedBytesPerReady uint64
	CheckQuorum               bool
	PreVote                   bool
	// Seed derives each node's election-timeout source; node i of incarnation k gets a seed
	// that depends on Seed, i and k only.
	Seed uint64
	// Logger receives raft's logs; nil discards them.
	Logger *slog.Logger
	// Knobs plants bugs in every node (nil: none).
	Knobs *raft.TestingKnobs
	// Out, if set, receives a human-readable trace of everything the cluster does; the
	// datadriven tests print it. Nil skips all formatting.
	Out io.Writer
	// AutoReportSnapshot makes the network call ReportSnapshot on the sender when it delivers
	// (success) or drops (failure) a MsgSnap, as a real transport would.
	AutoReportSnapshot bool
	// ReportUnreachable makes the network call ReportUnreachable on the sender when it
	// drops a message because of a partition or a crashed receiver, as a transport that
	// notices a broken connection would.
	ReportUnreachable bool
	// BackgroundWrites makes a leader write the Readies that change neither term nor vote
	// in the background, as chatd does (raft.RawNode.AdvanceWriting): the writes stay pending
	// until CompleteWrites (or until the node must write synchronously), and a crash loses
	// them.
	BackgroundWrites bool
	// CoalesceMessages sets raft.Config.CoalesceMessages on every node.
	CoalesceMessages bool
	// IdleHeartbeats sets raft.Config.IdleHeartbeats on every node.
	IdleHeartbeats bool
	// DeferCommitBroadcast sets raft.Config.DeferCommitBroadcast on every node.
	DeferCommitBroadcast bool
	// Membership lets RandomStep change the membership: add learners (existing non-members
	// or new nodes that join with an empty configuration), promote them, remove members.
	Membership bool
}

func (o Options) withDefaults() Options {
	if o.ElectionTimeoutTicks == 0 {
		o.ElectionTimeoutTicks = 10
	}
	if o.HeartbeatIntervalTicks == 0 {
		o.HeartbeatIntervalTicks = 1
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.MaxInflightMessages == 0 {
		o.MaxInflightMessages = 256
	}
	if o.MaxUncommittedBytes == 0 {
		o.MaxUncommittedBytes = 1 << 30
	}
	if o.MaxCommittedBytesPerReady == 0 {
		o.MaxCommittedBytesPerReady = 1 << 30
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Cluster is a set of nodes joined by a controllable network. It is not safe for concurrent
// use; it is meant to be driven by one test goroutine.
type Cluster struct {
	opts  Options
	nodes []*Node // sorted by ID
	net   network
	// Checker records observations and holds the first safety violation seen.
	Checker *Checker
}

// NewCluster returns an empty cluster; add nodes with AddNodes or AddNode.
func NewCluster(opts Options) *Cluster {
	c := &Cluster{opts: opts.withDefaults(), Checker: NewChecker()}
	c.net.cut = map[link]bool{}
	return c
}

// Options returns the effective options (defaults filled in).
func (c *Cluster) Options() Options { return c.opts }

// Nodes returns the nodes in ID order. The slice must not be modified.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// IDs returns the node IDs in ascending order.
func (c *Cluster) IDs() []raft.NodeID {
	ids := make([]raft.NodeID, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.ID
	}
	return ids
}

// Node returns the node with the given ID, or nil.
func (c *Cluster) Node(id raft.NodeID) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func (c *Cluster) mustNode(id raft.NodeID) (*Node, error) {
	n := c.Node(id)
	if n == nil {
		return nil, fmt.Errorf("no node %d", id)
	}
	return n, nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Out != nil {
		// A failing trace writer (a test's buffer) must not change the run.
		_, _ = fmt.Fprintf(c.opts.Out, format, args...)
	}
}

// tracing reports whether a trace is being written, so callers can skip formatting.
func (c *Cluster) tracing() bool { return c.opts.Out != nil }

// NodeSetup is the durable state a new node starts from. The zero value is an empty log.
type NodeSetup struct {
	// Voters is the initial membership; nil means every node ID from 1 to the number of
	// nodes being added at once (AddNodes) or just this node (AddNode).
	Voters []raft.NodeID
	// Join starts the node with an empty configuration, as a server about to be added to a
	// running cluster (Voters is ignored).
	Join bool
	// Snapshot, if not empty, is installed in storage first (its data is ignored and
	// replaced by a state machine at Snapshot.Metadata.Index with an arbitrary hash).
	Snapshot raft.Snapshot
	// Entries are appended to storage after the snapshot.
	Entries []raft.Entry
	// HardState is stored as is.
	HardState raft.HardState
}

// AddNodes adds n nodes with the next free IDs, all voters of one cluster made of exactly
// these new nodes plus setup.Voters if given, each starting from setup.
func (c *Cluster) AddNodes(n int, setup NodeSetup) error {
	first := raft.NodeID(len(c.nodes) + 1)
	if setup.Voters == nil {
		for i := 0; i < n; i++ {
			setup.Voters = append(setup.Voters, first+raft.NodeID(i))
		}
	}
	for i := 0; i < n; i++ {
		if err := c.AddNode(first+raft.NodeID(i), setup); err != nil {
			return err
		}
	}
	return nil
}

// AddNode adds one node with the given ID and durable state and starts it.
func (c *Cluster) AddNode(id raft.NodeID, setup NodeSetup) error {
	if c.Node(id) != nil {
		return fmt.Errorf("node %d already exists", id)
	}
	voters := slices.Clone(setup.Voters)
	if voters == nil {
		voters = []raft.NodeID{id}
	}
	if setup.Join {
		voters = nil
	}
	slices.Sort(voters)
	st, err := newStorage(voters, setup)
	if err != nil {
		return fmt.Errorf("set up storage of node %d: %w", id, err)
	}
	n := &Node{ID: id, Storage: st, voters: voters}
	if len(voters) > 0 {
		c.Checker.ObserveBootstrap(voters)
	}
	c.nodes = append(c.nodes, n)
	slices.SortFunc(c.nodes, func(a, b *Node) int { return int(a.ID) - int(b.ID) })
	if err := c.start(n); err != nil {
		return err
	}
	c.logf("added node %d voters=%v\n", id, voters)
	return nil
}

func newStorage(voters []raft.NodeID, setup NodeSetup) (*raft.MemoryStorage, error) {
	st := raft.NewMemoryStorage()
	if !setup.Snapshot.IsEmpty() {
		snap := setup.Snapshot
		if len(snap.Metadata.ConfState.Voters) == 0 {
			snap.Metadata.ConfState.Voters = voters
		}
		snap.Data = StateMachine{Index: snap.Metadata.Index, Hash: uint64(snap.Metadata.Index)}.Encode()
		if err := st.ApplySnapshot(snap); err != nil {
			return nil, fmt.Errorf("apply initial snapshot: %w", err)
		}
	}
	if len(setup.Entries) > 0 {
		if err := st.Append(setup.Entries); err != nil {
			return nil, fmt.Errorf("append initial entries: %w", err)
		}
	}
	if !setup.HardState.IsEmpty() {
		if err := st.SetHardState(setup.HardState); err != nil {
			return nil, fmt.Errorf("set initial hard state: %w", err)
		}
	}
	return st, nil
}
