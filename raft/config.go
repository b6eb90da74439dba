package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Default limits used by DefaultConfig. They are starting points, not magic: every limit is a
// required Config field and Validate rejects zero.
const (
	DefaultElectionTimeoutTicks      = 10
	DefaultHeartbeatIntervalTicks    = 1
	DefaultMaxMessageBytes           = 1 << 20
	DefaultMaxInflightMessages       = 256
	DefaultMaxUncommittedBytes       = 64 << 20
	DefaultMaxCommittedBytesPerReady = 16 << 20
)

// Config configures one Raft node. All limits are required: zero never silently means
// "unlimited" (Validate rejects it).
type Config struct {
	// ID is this node's identity; it must not be None, and it must be listed in Voters unless
	// Voters is empty.
	ID NodeID
	// Voters is the bootstrap membership: the configuration before the first change in the
	// log. A snapshot in Storage overrides it with the configuration as of its index, and each
	// applied change entry replaces it (RawNode.ApplyConfChange). Empty Voters starts a node
	// that joins an existing cluster: it never campaigns and takes whatever a leader sends it
	// until a change entry or snapshot tells it the configuration.
	Voters []NodeID
	// ElectionTimeoutTicks is the base election timeout; the effective timeout of each term
	// is drawn uniformly from [ElectionTimeoutTicks, 2*ElectionTimeoutTicks). It must be
	// greater than HeartbeatIntervalTicks.
	ElectionTimeoutTicks int
	// HeartbeatIntervalTicks is how often a leader sends heartbeats.
	HeartbeatIntervalTicks int
	// Storage is read by Raft for entries, terms and snapshots. The driver writes to it.
	Storage Storage
	// Applied is the last index the application had already applied when it restarted
	// (for example the index of the snapshot it restored). Zero on a fresh start. It must not
	// exceed the last index in Storage; the commit index is raised to it if it lags (a commit
	// index written without fsync may have been lost).
	Applied Index
	// MaxMessageBytes bounds the entry bytes (see Entry.Size) in one MsgApp; a single entry
	// larger than the limit is still sent alone.
	MaxMessageBytes uint64
	// MaxInflightMessages bounds the MsgApp messages in flight to a follower in the
	// replicate state (the pipelining window).
	MaxInflightMessages int
	// MaxUncommittedBytes bounds the payload bytes a leader has appended but not yet
	// committed; proposals beyond it fail with ErrProposalDropped.
	MaxUncommittedBytes uint64
	// MaxCommittedBytesPerReady bounds Ready.CommittedEntries (at least one entry is
	// always handed out).
	MaxCommittedBytesPerReady uint64
	// CheckQuorum makes a leader step down when it has not heard from a quorum for an
	// election timeout, and makes followers that heard from a leader recently ignore vote
	// requests (thesis §6.2 / §9.6).
	CheckQuorum bool
	// CoalesceMessages drops a queued message that a later one to the same peer in the same
	// Ready makes redundant: a commit-only append followed by another append, or an
	// acknowledgement followed by a higher one. Under load that halves the messages a leader
	// and its followers exchange; what each peer learns is the same.
	CoalesceMessages bool
	// IdleHeartbeats leaves a follower out of a periodic heartbeat when it was sent an append
	// since the previous one: the append already reset its election timer and carried the
	// commit index, and its answer marks the follower active for CheckQuorum. Heartbeats are
	// then what the Raft paper (§5.2) describes, the empty AppendEntries of idle periods. A
	// heartbeat that confirms a pending ReadIndex still goes to every follower.
	IdleHeartbeats bool
	// DeferCommitBroadcast makes a leader whose commit index advances tell it at once only
	// to the followers that wait for it: those that forwarded one of the proposals not yet
	// reported committed to them, whose clients wait for the entry to apply there. The
	// others learn the index from the next append or heartbeat, at most two heartbeat
	// intervals later (one with IdleHeartbeats off). Safety does not depend on when a
	// follower learns the commit index; a read on a follower waits for the heartbeat round
	// that confirms it, which carries the index. Without it every commit is broadcast as a
	// commit-only append, and in a lightly loaded cluster those and their acknowledgements
	// are about a quarter of all messages.
	DeferCommitBroadcast bool
	// PreVote runs a pre-election round before bumping the term (thesis §9.6).
	PreVote bool
	// Seed seeds the election-timeout randomness. It is mixed with ID, so nodes sharing a
	// seed still draw different timeouts.
	Seed uint64
	// Logger receives role changes and unusual events; nil discards them.
	Logger *slog.Logger
	// Knobs plants known bugs for testing the test harness; nil means none. NewRawNode copies
	// it, so later changes have no effect.
	Knobs *TestingKnobs
}

// DefaultConfig returns a Config with the default limits, CheckQuorum and PreVote on.
func DefaultConfig(id NodeID, voters []NodeID, st Storage) Config {
	return Config{
		ID:                        id,
		Voters:                    voters,
		ElectionTimeoutTicks:      DefaultElectionTimeoutTicks,
		HeartbeatIntervalTicks:    DefaultHeartbeatIntervalTicks,
		Storage:                   st,
		MaxMessageBytes:           DefaultMaxMessageBytes,
		MaxInflightMessages:       DefaultMaxInflightMessages,
		MaxUncommittedBytes:       DefaultMaxUncommittedBytes,
		MaxCommittedBytesPerReady: DefaultMaxCommittedBytesPerReady,
		CheckQuorum:               true,
		PreVote:                   true,
		Seed:                      uint64(id),
	}
}

// Validate reports the first problem with c, or nil.
func (c *Config) Validate() error {
	switch {
	case c.ID == None:
		return errors.New("raft config: ID must not be None")
	case len(c.Voters) > 0 && !slices.Contains(c.Voters, c.ID):
		return fmt.Errorf("raft config: ID %d is not in Voters %v", c.ID, c.Voters)
	case c.HeartbeatIntervalTicks <= 0:
		return fmt.Errorf("raft config: HeartbeatIntervalTicks %d must be positive", c.HeartbeatIntervalTicks)
	case c.ElectionTimeoutTicks <= c.HeartbeatIntervalTicks:
		return fmt.Errorf("raft config: ElectionTimeoutTicks %d must exceed HeartbeatIntervalTicks %d",
			c.ElectionTimeoutTicks, c.HeartbeatIntervalTicks)
	case c.Storage == nil:
		return errors.New("raft config: Storage is nil")
	case c.MaxMessageBytes == 0:
		return errors.New("raft config: MaxMessageBytes must be positive")
	case c.MaxInflightMessages <= 0:
		return fmt.Errorf("raft config: MaxInflightMessages %d must be positive", c.MaxInflightMessages)
	case c.MaxUncommittedBytes == 0:
		return errors.New("raft config: MaxUncommittedBytes must be positive")
	case c.MaxCommittedBytesPerReady == 0:
		return errors.New("raft config: MaxCommittedBytesPerReady must be positive")
	}
	seen := make(map[NodeID]bool, len(c.Voters))
	for _, id := range c.Voters {
		if id == None {
			return errors.New("raft config: Voters contains None")
		}
		if seen[id] {
			return fmt.Errorf("raft config: Voters lists %d twice", id)
		}
		seen[id] = true
	}
	return nil
}

// TestingKnobs plants known Raft bugs, so that tests and the simulator can show that their
// checks catch them. Every knob is off by default; all off means correct Raft. Reading a knob
// is a plain field load, so they cost nothing when off. Never set one in production.
type TestingKnobs struct {
	// CommitPreviousTermByCount is the Figure 8 bug (§5.4.2): a new leader appends no no-op
	// and, to make progress anyway, commits entries of earlier terms as soon as a majority
	// stores them. A later leader whose last entry has a higher term can still win and
	// overwrite such a "committed" entry.
	CommitPreviousTermByCount bool
	// VoteWithoutLogCheck grants votes without the §5.4.1 up-to-date check, so a candidate
	// missing committed entries can win and overwrite them (leader completeness broken).
	VoteWithoutLogCheck bool
	// VoteBeforePersist leaves a granted vote out of the HardState handed to the driver (and
	// out of MustSync), so a crash forgets the vote and the node can vote twice in one term:
	// two leaders of the same term become possible.
	VoteBeforePersist bool
	// KeepConflictingSuffix makes a follower append only entries beyond its last index
	// without truncating a conflicting suffix (§5.3), yet acknowledge the leader's whole
	// batch: logs diverge while the leader believes they match.
	KeepConflictingSuffix bool
	// ApplyBeforeCommit hands entries out in CommittedEntries up to the last log index, not
	// the commit index: uncommitted entries that are later overwritten get applied.
	ApplyBeforeCommit bool
	// ReadWithoutReadIndex answers every ReadIndex request at once with the local commit
	// index, on any node, with no leadership confirmation: reads can be stale (§6.4).
	ReadWithoutReadIndex bool
	// ReadBeforeNoopCommitted lets a new leader serve ReadIndex before the no-op of its
	// term committed, when its commit index may still lag the previous leader's (§6.4 step 1).
	ReadBeforeNoopCommitted bool
	// AcceptStaleTermAppend makes a follower handle MsgApp from a lower term (a deposed
	// leader) as if it were current (§5.1): it appends the stale entries, overwriting newer
	// ones, and acknowledges in the sender's term, so the deposed leader counts the
	// acknowledgement and can commit its stale entries.
	AcceptStaleTermAppend bool
	// NextIndexOffByOne sets Next one too high after a rejection, so the probe skips the
	// entry the follower needs: the follower rejects forever and never catches up
	// (a liveness bug).
	NextIndexOffByOne bool
	// IgnoreCheckQuorum makes a leader never step down for lack of quorum contact even with
	// CheckQuorum on: a partitioned leader keeps serving (and stalls clients) and followers
	// that still lease it ignore candidates.
	IgnoreCheckQuorum bool
	// HeartbeatCommitUncapped sends the leader's full commit index in heartbeats instead of
	// min(commit, follower's match): a follower still holding a stale, conflicting entry at
	// that index commits and applies it (state machine safety broken).
	HeartbeatCommitUncapped bool
	// LeaderCountsUnwrittenCopy makes AdvanceWriting count the leader's own copy of the
	// entries at once, before the background write is durable: with one follower's copy the
	// leader commits and answers clients, then a crash loses its copy and a new leader can
	// overwrite a committed entry (thesis §10.2.1 allows the parallel write only if the leader
	// counts itself once the write completes).
	LeaderCountsUnwrittenCopy bool
	// AcceptConfChangeWhilePending makes a leader accept a membership change while its
	// previous one (or its election no-op) is not applied yet. Each change entry carries the
	// configuration the leader computes from the one it has applied, so a second change
	// silently undoes the first, and two configurations in force at once may differ by two
	// servers: majorities that do not overlap (thesis §4.1).
	AcceptConfChangeWhilePending bool
}

// Names lists the knob names, in declaration order, for command-line flags.
func (TestingKnobs) Names() []string {
	return []string{
		"CommitPreviousTermByCount", "VoteWithoutLogCheck", "VoteBeforePersist",
		"KeepConflictingSuffix", "ApplyBeforeCommit", "ReadWithoutReadIndex",
		"ReadBeforeNoopCommitted", "AcceptStaleTermAppend", "NextIndexOffByOne",
		"IgnoreCheckQuorum", "HeartbeatCommitUncapped", "LeaderCountsUnwrittenCopy",
		"AcceptConfChangeWhilePending",
	}
}

// Set switches on the knob called name and reports whether such a knob exists.
func (k *TestingKnobs) Set(name string) bool {
	p := k.field(name)
	if p == nil {
		return false
	}
	*p = true
	return true
}

func (k *TestingKnobs) field(name string) *bool {
	switch name {
	case "CommitPreviousTermByCount":
		return &k.CommitPreviousTermByCount
	case "VoteWithoutLogCheck":
		return &k.VoteWithoutLogCheck
	case "VoteBeforePersist":
		return &k.VoteBeforePersist
	case "KeepConflictingSuffix":
		return &k.KeepConflictingSuffix
	case "ApplyBeforeCommit":
		return &k.ApplyBeforeCommit
	case "ReadWithoutReadIndex":
		return &k.ReadWithoutReadIndex
	case "ReadBeforeNoopCommitted":
		return &k.ReadBeforeNoopCommitted
	case "AcceptStaleTermAppend":
		return &k.AcceptStaleTermAppend
	case "NextIndexOffByOne":
		return &k.NextIndexOffByOne
	case "IgnoreCheckQuorum":
		return &k.IgnoreCheckQuorum
	case "HeartbeatCommitUncapped":
		return &k.HeartbeatCommitUncapped
	case "LeaderCountsUnwrittenCopy":
		return &k.LeaderCountsUnwrittenCopy
	case "AcceptConfChangeWhilePending":
		return &k.AcceptConfChangeWhilePending
	}
	return nil
}
