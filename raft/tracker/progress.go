// Package tracker holds a leader's view of each follower's replication progress: match and
// next indexes, the probe/replicate/snapshot state machine and the in-flight window. It is pure
// and imports nothing of package raft; indexes are plain uint64.
package tracker

import "fmt"

// StateType is the replication state of one follower, as seen by the leader.
type StateType uint8

const (
	// StateProbe means the leader does not know where the follower's log matches; it sends one
	// MsgApp at a time and waits for the answer (or a heartbeat response) before the next.
	StateProbe StateType = iota
	// StateReplicate means the logs match up to Match; the leader streams entries optimistically,
	// bounded by the in-flight window.
	StateReplicate
	// StateSnapshot means the follower needs a snapshot; nothing else is sent until it reports.
	StateSnapshot
)

func (s StateType) String() string {
	switch s {
	case StateProbe:
		return "StateProbe"
	case StateReplicate:
		return "StateReplicate"
	case StateSnapshot:
		return "StateSnapshot"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// Progress is the leader's view of one follower.
type Progress struct {
	// Match is the highest index known to be replicated on the follower.
	// Invariant: Match < Next.
	Match uint64
	// Next is the index of the next entry to send.
	Next uint64
	// State is the replication state.
	State StateType
	// PendingSnapshot is the index of the snapshot being sent (StateSnapshot only).
	PendingSnapshot uint64
	// RecentActive is set on any message from the follower and cleared by the leader every
	// election timeout (CheckQuorum).
	RecentActive bool
	// ProbeSent is set in StateProbe once a MsgApp with entries went out; cleared by any
	// answer or heartbeat response.
	ProbeSent bool
	// AppendedSinceBeat says an append or snapshot went to the follower since the leader's
	// last periodic heartbeat (raft Config.IdleHeartbeats).
	AppendedSinceBeat bool
	// CommitWanted is the last index of the proposals the follower forwarded that it has not
	// yet been told are committed, or 0 (raft Config.DeferCommitBroadcast): the follower's
	// clients wait for those entries to apply there.
	CommitWanted uint64
	// SnapshotPeriods counts the election timeouts spent in StateSnapshot; the leader gives
	// up waiting for a snapshot report after a few.
	SnapshotPeriods int
	// IsLearner marks a member that receives the log but neither votes nor counts towards
	// commitment or the leader's quorum checks.
	IsLearner bool
	// Inflights is the pipelining window (StateReplicate). It is held by value: the leader
	// checks it before every append, and that should not cost a trip to another allocation.
	Inflights Inflights
}

// New returns the progress of a follower about which nothing is known yet: probe from next.
func New(next uint64, maxInflight int) *Progress {
	return &Progress{Next: next, Inflights: *NewInflights(maxInflight)}
}

func (pr *Progress) reset(state StateType) {
	pr.ProbeSent = false
	pr.PendingSnapshot = 0
	pr.SnapshotPeriods = 0
	pr.State = state
	pr.Inflights.Reset()
}

// BecomeProbe moves to StateProbe. After a snapshot, probing resumes after the snapshot.
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.reset(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.reset(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate moves to StateReplicate, sending from Match+1.
func (pr *Progress) BecomeReplicate() {
	pr.reset(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot moves to StateSnapshot while a snapshot at index snapshot is sent.
func (pr *Progress) BecomeSnapshot(snapshot uint64) {
	pr.reset(StateSnapshot)
	pr.PendingSnapshot = snapshot
	pr.Next = snapshot + 1
}

// MaybeUpdate records that the follower acknowledged index n. It reports whether Match grew.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	updated := false
	if pr.Match < n {
		pr.Match = n
		updated = true
		pr.ProbeSent = false
	}
	pr.Next = max(pr.Next, n+1)
	return updated
}

// SentEntries records that a MsgApp whose last entry has index last went out (StateReplicate
// advances Next optimistically and fills the window; StateProbe pauses until an answer).
func (pr *Progress) SentEntries(last uint64) {
	switch pr.State {
	case StateReplicate:
		pr.Next = last + 1
		pr.Inflights.Add(last)
	case StateProbe:
		pr.ProbeSent = true
	case StateSnapshot:
		panic("tracker: sending entries to a follower in StateSnapshot")
	}
}

// MaybeDecrTo handles a rejection of the MsgApp whose preceding index was rejected. matchHint
// is the highest index at which the leader believes the logs may match (from the follower's
// hint). It reports false when the rejection is stale (an answer to an older message).
func (pr *Progress) MaybeDecrTo(rejected, matchHint uint64) bool {
	if pr.State == StateReplicate {
		if rejected <= pr.Match {
			return false
		}
		// A pipelined message was lost or reordered; restart from the known match.
		pr.Next = pr.Match + 1
		return true
	}
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, matchHint+1), pr.Match+1)
	pr.ProbeSent = false
	return true
}

// IsPaused reports whether the leader must not send MsgApp now.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.ProbeSent
	case StateReplicate:
		return pr.Inflights.Full()
	case StateSnapshot:
		return true
	}
	return true
}

func (pr *Progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d inflight=%d", pr.State, pr.Match, pr.Next, pr.Inflights.Count())
}
