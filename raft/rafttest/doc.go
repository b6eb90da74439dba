// Package rafttest is a deterministic, single-threaded harness that drives a cluster of
// raft.RawNodes through the real Ready/Advance loop, for scenario (datadriven), property and
// fuzz tests.
//
// Each Node keeps a raft.MemoryStorage that stands for its durable disk: the harness writes a
// Ready's snapshot, entries and hard state there before it hands the Ready's messages to the
// network, exactly as a production driver must. Everything else about a node (the RawNode, the
// toy state machine, read states) is volatile and is lost on Crash; Restart rebuilds the node
// from its storage alone.
//
// The network is a FIFO queue of messages in flight. Tests deliver, drop, duplicate or reorder
// them, optionally filtered by sender, receiver and type, and may cut links (partitions).
//
// The state machine is a hash chain over applied entries, so two replicas that applied the same
// entries in the same order hold identical state, and a snapshot is just that state. The
// Checker records every observation (leaders per term, committed and applied entries, durable
// hard states) and reports the first violation of the Raft safety properties (§5.2, §5.3, §5.4,
// Figure 3).
//
// Nothing here reads a clock or a global random source: the same sequence of calls yields the
// same output, byte for byte.
package rafttest
