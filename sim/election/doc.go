// Package election repeats the leader-election experiment of the Raft paper (Ongaro and
// Ousterhout, USENIX ATC 2014, §9.3, Figure 16) on raftchat's own raft core.
//
// One trial: five servers start, one is elected, and the leader then proposes entries while
// its appends to each follower are dropped with a per-follower probability, so the followers'
// logs have different lengths and some of them cannot win the next election (§5.4.1). Right
// after one of its heartbeat broadcasts the leader crashes at a moment drawn uniformly from
// its heartbeat interval. The trial measures the time without a leader: from the crash until
// a new leader is elected AND every surviving server knows it (each has stepped down to a
// follower of the new leader's term). Trials that find no leader within Config.MaxOutage
// count as MaxOutage and are reported in Result.Capped; so are trials in which no leader
// held on long enough to be crashed (Result.Unstable: timeouts near the broadcast time).
//
// Timing model, in virtual time (nothing here reads a clock):
//   - network: one-way delay uniform in [LatencyMin, LatencyMax] (default 4.5-7.5 ms);
//   - disk: a Ready that must be synced (a vote, new entries) delays the node's outgoing
//     messages by a write drawn uniformly from [DiskMin, DiskMax] (default 2-4 ms), and the
//     node is busy meanwhile;
//   - so a broadcast (request out, disk write, reply back) takes about 15 ms on average, as in
//     the paper;
//   - one raft tick is Config.Tick (default 1 ms); the heartbeat interval is half the minimum
//     election timeout, in ticks (75 ticks for 150 ms).
//
// Election timers. The raft core draws each term's election timeout from
// [ElectionTimeoutTicks, 2*ElectionTimeoutTicks), which covers the paper's 150-300 ms line but
// none of its narrow ranges (150-151, 150-155, ...). So this experiment keeps the timers
// outside the core, exactly as Figure 2 states the rule: a server that is not the leader
// campaigns (RawNode.Campaign, no PreVote, no CheckQuorum — as in the paper) when a timeout
// drawn uniformly from [TimeoutMin, TimeoutMax] passes without an append or heartbeat of the
// current term and without granting a vote; becoming a candidate restarts the timer. Only
// leaders are ticked (for heartbeats), so the core's own election timer never fires. Votes,
// terms, log comparison and replication are all the real raft code.
//
// Run runs Config.Trials trials with seeds derived from Config.Seed and returns the median,
// mean, 99th percentile and maximum time without a leader and the CDF; WriteSVG draws CDFs of
// several configurations in one hand-written SVG plot.
package election
