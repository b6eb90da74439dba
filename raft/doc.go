// Package raft is a pure implementation of the Raft consensus algorithm: a step function with
// no I/O, no clock and no goroutines. The driver feeds it ticks, messages and proposals and
// carries out the work each Ready describes. The same input sequence always produces the same
// output, so the package runs unchanged inside the deterministic simulator and the real node.
//
// # What it implements
//
// Leader election with randomized timeouts (drawn from Config.Seed), PreVote and CheckQuorum;
// log replication with a byte limit per message, pipelining bounded by an in-flight window and
// fast conflict backtracking; the current-term commit rule (§5.4.2) with a no-op entry when a
// leader takes office; ReadIndex for linearizable reads; proposal forwarding; leadership
// transfer; log compaction with snapshots; membership changes one server at a time, with
// learners (ProposeConfChange, ApplyConfChange; see confchange.go).
//
// # Starting a node
//
// Fresh start: create a MemoryStorage (or another Storage), then
//
//	rn, err := raft.NewRawNode(raft.DefaultConfig(id, voters, storage))
//
// Restart: first load the durable state into the Storage (MemoryStorage.ApplySnapshot with the
// saved snapshot, SetHardState, Append the saved entries), restore the application from the
// same snapshot, and set Config.Applied to the index the application has applied (the
// snapshot's index, or 0). Raft resumes at the persisted term and vote as a follower; committed
// entries after Applied come back in CommittedEntries.
//
// # The driver loop
//
// Time is a tick count. Call Tick at a fixed rate (the simulator uses virtual time, the real
// node a ticker); elections and heartbeats are measured in ticks. Deliver every message
// received from a peer with Step, and local requests with Propose, ReadIndex and
// TransferLeadership. After any of these calls, drain the work:
//
//	for rn.HasReady() {
//		rd := rn.Ready()
//		// 1. Persist. In this order: rd.Snapshot (if !rd.Snapshot.IsEmpty()), then
//		//    rd.Entries (appending, after discarding stored entries at or after
//		//    rd.Entries[0].Index), then rd.HardState (if !rd.HardState.IsEmpty()).
//		//    With MemoryStorage: ApplySnapshot, Append, SetHardState. If rd.MustSync, the
//		//    writes must be on stable storage (fsync) before step 2.
//		// 2. Send rd.Messages to their peers (m.To). Never before step 1: a vote or an
//		//    acknowledgement promises that the state behind it is durable. Sending may be
//		//    asynchronous and lossy; Raft retries. If a peer cannot be reached, call
//		//    rn.ReportUnreachable(m.To); after sending a MsgSnap, call
//		//    rn.ReportSnapshot(m.To, failed) when the transfer ends.
//		// 3. Apply. First rd.Snapshot (restore the state machine from its Data), then each
//		//    of rd.CommittedEntries in order. Entries with empty Data are the leaders' no-ops:
//		//    skip them. Then answer each rd.ReadStates[i] once the applied index is at least
//		//    its Index (maybe in a later iteration): the read identified by RequestCtx may
//		//    now be served from the state machine and is linearizable.
//		// 4. rn.Advance(rd)
//	}
//
// Ready must not be called again before Advance; HasReady is false in between. Tick, Step,
// Propose and the rest may be called between Ready and Advance; their output appears in the
// next Ready. rd.SoftState, when not nil, tells who leads now and this node's role.
//
// A leader may write in parallel with replicating (thesis §10.2.1). For a Ready in which this
// node leads and neither term nor vote changes (and no snapshot comes), the driver may send
// rd.Messages first, hand rd.Entries and rd.HardState to a background writer (appending the
// entries to MemoryStorage at once), apply rd.CommittedEntries and call rn.AdvanceWriting(rd)
// instead of Advance. Raft then does not count the leader's copy of those entries towards a
// commit until the driver calls rn.Persisted(i, t) once the write of entry i (term t) is on
// stable storage. Any other Ready must wait for the background writes to finish first (writes
// reach the disk in order); Advance also reports everything handed out before as durable.
//
// Compaction is the application's decision: after applying index i, record a snapshot with
// MemoryStorage.CreateSnapshot(i, &cs, data), cs being rn.ConfState(), and release the log prefix with
// MemoryStorage.Compact(i) (keep some entries behind i so slow followers can catch up without
// a snapshot). Never compact beyond the latest snapshot's index: a follower needing the entries
// in between could then be served neither entries nor a snapshot. Followers whose next entry
// is compacted are sent the snapshot (MsgSnap).
//
// # Operating conditions
//
// Propose returns ErrProposalDropped when the proposal was not appended (leadership transfer in
// progress, MaxUncommittedBytes reached) and an error matching both ErrProposalDropped and
// ErrNoLeader when no leader is known. A proposal forwarded by a follower, or accepted by a
// leader that then loses office, may still be lost: the driver learns that a proposal succeeded
// only by seeing it in CommittedEntries, and needs its own timeout and retry (with request ids
// to make retries idempotent). ReadIndex requests are likewise dropped silently when no leader
// is known or leadership is lost. Step returns ErrStepLocalMsg for local-only message types and
// ErrInvalidMessage for malformed ones; both are safe to ignore.
//
// # Correctness aids
//
// Impossible transitions panic with context (they are programmer errors). Building with
// -tags invariants adds a sweep of the node's invariants after every call. Config.Knobs plants
// known bugs (see TestingKnobs) so that tests can prove their checks catch them.
package raft
