// Package check holds the Raft safety checks the simulator runs after every event.
//
// The simulator owns one Checker per run and, after each event, hands it a NodeView for every
// node (alive or crashed): role, term, leader, vote, a LogView over the entries the node holds,
// commit and applied indexes and an AppliedView saying which entry was applied at each index.
// Entries are compared by term and by DigestEntry of their type and data.
//
//	c := check.New(check.Config{})
//	for each event {
//		... run the event ...
//		for _, v := range c.Observe(views) { report v }
//	}
//	c.Sweep(views)          // a last full sweep at the end of the run
//	ok := c.OK()
//
// The checks (paper section in brackets):
//   - election safety: at most one leader per term over the whole run (§5.2, Figure 3);
//   - vote safety: a node votes for at most one candidate per term, across restarts too
//     (§5.2), and terms never go back within one life;
//   - persistence: when the simulator fills NodeView.Durable, a live node's in-memory term
//     and vote equal the ones on stable storage between events (Figure 2: persistent state
//     is updated on stable storage before responding to RPCs);
//   - log matching: two logs holding an entry with the same index and term hold the same
//     entries up to it, and terms never decrease along a log (§5.3);
//   - commit rule: a leader advances its commit index only onto an entry of its own term
//     (§5.4.2); judged when one observation to the next shows the same leader, term and
//     life with a higher commit;
//   - leader completeness: a leader of term T holds every entry committed in a term below T
//     (§5.4);
//   - committed entries never change: per node commit never goes back within one life (a
//     restart may go back to the durable commit), commit <= last index, and the term and
//     digest first seen committed at an index stay the same on every node whose commit covers
//     it (§5.4.2, Figure 3 "State Machine Safety");
//   - state machine safety: applied <= commit, and every node applies the same entry at each
//     index, which is also the committed one;
//   - state divergence (ObserveState, when the simulator reports state digests): replicas at
//     the same applied index hold identical state.
//
// Cost. Observe is incremental: it looks only at indexes a node newly committed or applied,
// at the last TailWindow entries of a node whose log, role or term changed, and at a new
// leader's log against the committed record. Every SweepEvery observations (and at least
// as rarely as the total log length, so the amortised cost per event stays O(nodes)), a full
// sweep compares every held entry with the committed record and every pair of logs with each
// other. Memory is one fixed-size record per index (~56 bytes), trimmed at each sweep below
// the lowest FirstIndex and applied index over all nodes.
//
// Violations are strings naming the check, nodes, term and index; each distinct string is
// reported once and at most MaxViolations are kept.
//
// Simulator wiring notes. NodeView.Term and Vote should be Raft's in-memory values
// (raft.RawNode.Status().HardState), and Durable the HardState on the simulated disk's
// stable storage, with DurableKnown set only when the node has no unhandled Ready (after
// Process drained it); then a vote granted but never persisted is caught on the spot.
// ObserveState wants a digest of the state machine (DigestBytes over its deterministic
// snapshot) at a quiet moment, for example for every live node at the end of the liveness
// phase, when all of them have applied the same index.
package check
