// Package sim is raftchat's deterministic discrete-event simulator. One goroutine runs one
// event queue ordered by (virtual time, sequence number); every random choice comes from a
// stream derived from the run's root seed, so a seed and a set of flags replay bit for bit.
//
// The simulated nodes run the real raft and statemachine code through node.Replica, the same
// driver loop chatd uses. The world around them is modelled here: a disk whose unsynced writes
// are lost (or torn) on a crash, a network with latency, drop, duplication, reordering and
// partitions, per-node clocks with skew, drift and jumps, process crashes and pauses, and
// simulated chat clients whose call/return history feeds the linearizability checker.
package sim
