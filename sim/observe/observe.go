// Package observe is the seam between the simulator and the checkers that watch it: the
// simulator calls an Observer after every event and on every applied entry, and hands it a
// read-only Cluster view. It lives in its own package so checkers (sim/check) need not import
// the simulator, and the simulator can import them.
package observe

import "github.com/raftchat/raftchat/raft"

// NodeState is one node's Raft position as of the last processed event.
type NodeState struct {
	ID      raft.NodeID
	Up      bool // false while crashed (the fields below are then those of the last incarnation)
	Paused  bool
	Role    raft.StateType
	Term    raft.Term
	Vote    raft.NodeID
	Leader  raft.NodeID
	Commit  raft.Index
	Applied raft.Index
	// FirstIndex and LastIndex bound the entries held in the node's in-memory log
	// (FirstIndex-1 is the compaction point; LastIndex may be FirstIndex-1 when empty).
	FirstIndex raft.Index
	LastIndex  raft.Index
}

// Cluster is the read-only view of the simulated cluster given to observers. Node indexes are
// 0-based; node i has raft.NodeID i+1.
type Cluster interface {
	// Now is the virtual time in nanoseconds.
	Now() int64
	// NumNodes is the cluster size.
	NumNodes() int
	// Node returns node i's state.
	Node(i int) NodeState
	// Entries returns node i's in-memory log entries in [lo, hi). Callers must not modify them.
	Entries(i int, lo, hi raft.Index) ([]raft.Entry, error)
	// Term returns the term of node i's entry at index (0 for index 0 or out of range).
	Term(i int, index raft.Index) (raft.Term, bool)
}

// Observer watches a run. Violations are reported through Violations at any time; a run fails
// if any observer reports one.
type Observer interface {
	// AfterEvent runs after every simulator event that touched node (−1 for events that
	// touched none, such as a partition).
	AfterEvent(c Cluster, node int)
	// Applied runs when node applies the entry at index with the given term and data (empty
	// for Raft no-ops). Restoring a snapshot applies no entries: see Restored.
	Applied(node int, index raft.Index, term raft.Term, data []byte)
	// Restored runs when node replaces its state machine with a snapshot taken at index.
	Restored(node int, index raft.Index)
	// Crashed runs when node loses its volatile state (it restarts from its disk later).
	Crashed(node int)
	// Violations returns the failed checks so far, each one line of text.
	Violations() []string
}
