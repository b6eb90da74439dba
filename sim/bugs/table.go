package bugs

import "github.com/raftchat/raftchat/sim"

// Standard is the run every bug is hunted with unless its case says otherwise: the
// acceptance sweep's faults on a five-node cluster with eight clients, 20 s of faults and
// chatsim's default 20 s liveness bound.
var Standard = sim.GenParams{
	Nodes: 5, Clients: 8, DurationMs: 20_000, LivenessMs: 20_000,
	Flags: sim.Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02},
}

// Swarm is Standard with swarm mode: per-seed fault probabilities and cluster sizes reach
// the rarer interleavings some bugs need (a read at a new leader right after its election).
var Swarm = sim.GenParams{
	Nodes: 5, Clients: 8, DurationMs: 30_000, LivenessMs: 20_000,
	Flags: sim.Flags{Partition: true, Crash: true, Skew: true, Swarm: true, Drop: 0.05, Dup: 0.02},
}

// Long is Standard over the acceptance sweep's 60 s: more leader changes, so more chances
// for a deposed leader's late appends to meet a follower that moved on.
var Long = sim.GenParams{
	Nodes: 5, Clients: 8, DurationMs: 60_000, LivenessMs: 20_000,
	Flags: sim.Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02},
}

// Membership is Standard with membership changes, which the membership bugs need.
var Membership = sim.GenParams{
	Nodes: 5, Clients: 8, DurationMs: 20_000, LivenessMs: 20_000,
	Flags: sim.Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02, Membership: true},
}

// Table lists every planted bug with its pinned seed (0: not pinned, the test searches).
var Table = []Case{
	{Bug: "CommitPreviousTermByCount", Params: Standard, Seed: 1},
	{Bug: "VoteWithoutLogCheck", Params: Standard, Seed: 7},
	{Bug: "VoteBeforePersist", Params: Standard, Seed: 1},
	{Bug: "KeepConflictingSuffix", Params: Standard, Seed: 1},
	{Bug: "ApplyBeforeCommit", Params: Standard, Seed: 1},
	{Bug: "ReadWithoutReadIndex", Params: Standard, Seed: 1},
	{Bug: "ReadBeforeNoopCommitted", Params: Swarm, Seed: 24},
	{Bug: "AcceptStaleTermAppend", Params: Long, Seed: 29},
	{Bug: "NextIndexOffByOne", Params: Standard, Seed: 1},
	{Bug: "IgnoreCheckQuorum", Params: Standard, Seed: 49},
	{Bug: "HeartbeatCommitUncapped", Params: Standard, Seed: 1},
	// Needs a leader fsync slower than a follower's round trip, which swarm's disk and network
	// draws give and the standard run's do not.
	{Bug: "LeaderCountsUnwrittenCopy", Params: Swarm, Seed: 2},
	{Bug: "DropSessionsFromSnapshot", Params: Standard, Seed: 54},
	{Bug: "AcceptConfChangeWhilePending", Params: Membership, Seed: 3},
}

// Cases returns one case per planted bug the simulator knows, in its order: the Table entry,
// or the Standard run with no pinned seed for a bug the table does not list yet.
func Cases() []Case {
	var out []Case
	for _, name := range sim.BugNames() {
		c := Case{Bug: name, Params: Standard}
		for _, t := range Table {
			if t.Bug == name {
				c = t
			}
		}
		out = append(out, c)
	}
	return out
}
