package raft

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"

	"github.com/raftchat/raftchat/raft/quorum"
	"github.com/raftchat/raftchat/raft/tracker"
)

// errNoLeaderDropped is returned for proposals when no leader is known: it matches both
// ErrProposalDropped and ErrNoLeader under errors.Is.
var errNoLeaderDropped = fmt.Errorf("%w: %w", ErrProposalDropped, ErrNoLeader)

// campaignTransfer marks the votes of a campaign started by MsgTimeoutNow: such votes bypass
// the CheckQuorum lease, since the old leader itself asked for the election.
var campaignTransfer = []byte("CampaignTransfer")

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransferType
)

// raft is the algorithm's state. Every method runs to completion; nothing here blocks.
type raft struct {
	id   NodeID
	term Term
	vote NodeID
	lead NodeID

	// state also selects the role's step and tick functions (stepRole, tick): direct calls
	// through a switch, where function-valued fields cost an indirect call per message.
	state StateType

	// raftLog is held by value: every message reads it, and a separate allocation would
	// cost another cache miss per message.
	raftLog raftLog
	// voters is sorted; iterating it (never the votes map) keeps output deterministic.
	voters []NodeID
	// members is voters and learners, sorted: everyone the leader replicates to.
	members []NodeID
	// removed are the nodes removed so far (ConfState.Removed), who may never join again.
	removed []NodeID
	// prs[i] is the progress of members[i] (its IsLearner tells learners apart). A slice of
	// values rather than a map of pointers: a leader looks a peer up on every message, and
	// scanning a handful of IDs in one array is cheaper than hashing and touches fewer cache
	// lines. Only a configuration change (setConf) replaces it, between steps, so pointers to
	// its elements stay valid within one step.
	prs []tracker.Progress
	// pendingConfIndex is the index of the last configuration change a leader appended (or its
	// last index when it was elected): another change is accepted only once that is applied,
	// so configurations differ by at most one server at a time (thesis §4.1).
	pendingConfIndex Index
	// removedElapsed counts the ticks since this leader applied its own removal (-1 while it
	// has not): it leads on until the remaining voters hold its whole log, then steps down
	// (see leaveAfterRemoval).
	removedElapsed int
	votes          map[NodeID]bool
	// matchScratch is reused by maybeCommit to avoid allocating on the hot path.
	matchScratch []uint64
	// propScratch holds a forwarded proposal's entries while they are stamped and appended.
	propScratch []Entry

	// msgs are the messages queued for the next Ready. They live in a slab shared by many
	// Readys: msgs starts where the previous Ready's Messages ended and its capacity runs to
	// the slab's end, so each Ready takes exactly the slots it uses (see send and Ready).
	msgs       []Message
	readStates []ReadState
	readOnly   readOnly
	// pendingReadIndex holds ReadIndex requests that arrived before this term's no-op
	// committed (§6.4 step 1); they are served once it is.
	pendingReadIndex []Message

	leadTransferee NodeID
	// transferElapsed counts the ticks since the transfer started; it has its own counter so
	// a transfer request never postpones the CheckQuorum period.
	transferElapsed int
	uncommittedSize uint64

	electionElapsed           int
	heartbeatElapsed          int
	electionTimeout           int
	heartbeatTimeout          int
	randomizedElectionTimeout int

	maxMsgSize         uint64
	coalesce           bool // Config.CoalesceMessages
	idleHeartbeats     bool // Config.IdleHeartbeats
	deferCommit        bool // Config.DeferCommitBroadcast
	maxInflight        int
	maxUncommittedSize uint64
	checkQuorum        bool
	preVote            bool

	rng    prng
	knobs  TestingKnobs
	logger *slog.Logger
}

func newRaft(c *Config) (*raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var knobs TestingKnobs
	if c.Knobs != nil {
		knobs = *c.Knobs
	}
	log, err := newLog(c.Storage, c.MaxCommittedBytesPerReady, knobs)
	if err != nil {
		return nil, fmt.Errorf("raft: open log: %w", err)
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: initial state: %w", err)
	}
	// The bootstrap configuration applies until a snapshot or an applied configuration change
	// replaces it; a snapshot records the configuration as of its index.
	conf := ConfState{Voters: slices.Clone(c.Voters)}
	slices.Sort(conf.Voters)
	if len(cs.Voters) > 0 {
		if err := cs.validate(); err != nil {
			return nil, fmt.Errorf("raft: snapshot configuration: %w", err)
		}
		conf = cs.Clone()
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &raft{
		id:                 c.ID,
		lead:               None,
		raftLog:            *log,
		votes:              make(map[NodeID]bool, len(conf.Voters)),
		electionTimeout:    c.ElectionTimeoutTicks,
		heartbeatTimeout:   c.HeartbeatIntervalTicks,
		maxMsgSize:         c.MaxMessageBytes,
		coalesce:           c.CoalesceMessages,
		idleHeartbeats:     c.IdleHeartbeats,
		deferCommit:        c.DeferCommitBroadcast,
		maxInflight:        c.MaxInflightMessages,
		maxUncommittedSize: c.MaxUncommittedBytes,
		checkQuorum:        c.CheckQuorum,
		preVote:            c.PreVote,
		rng:                newPRNG(c.Seed, uint64(c.ID)),
		knobs:              knobs,
		logger:             logger.With("node", uint64(c.ID)),
	}
	r.setConf(conf)
	if err := r.loadState(hs); err != nil {
		return nil, err
	}
	if c.Applied > 0 {
		if last := r.raftLog.lastIndex(); c.Applied > last {
			return nil, fmt.Errorf("raft: applied %d beyond the last log index %d", c.Applied, last)
		}
		// The application applies only committed entries, so Applied is known committed even
		// when the commit index persisted without fsync was lost in a crash.
		r.raftLog.commitTo(c.Applied)
		r.raftLog.appliedTo(c.Applied)
	}
	r.becomeFollower(r.term, None)
	return r, nil
}

func (r *raft) loadState(hs HardState) error {
	if hs.IsEmpty() {
		return nil
	}
	if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
		return fmt.Errorf("raft: hard state commit %d out of range [%d, %d]",
			hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
	}
	r.raftLog.committed = hs.Commit
	r.term = hs.Term
	r.vote = hs.Vote
	return nil
}

func (r *raft) hardState() HardState {
	hs := HardState{Term: r.term, Vote: r.vote, Commit: r.raftLog.committed}
	if r.knobs.VoteBeforePersist && r.vote != r.id {
		hs.Vote = None // planted bug: the granted vote never reaches the driver
	}
	return hs
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// isSingleVoter reports whether this node is the configuration's only voter. A removed
// leader whose configuration has one other voter is not: that voter may lead alone already.
func (r *raft) isSingleVoter() bool { return len(r.voters) == 1 && r.voters[0] == r.id }

// isVoter reports whether id is a voter of the current configuration.
func (r *raft) isVoter(id NodeID) bool { return slices.Contains(r.voters, id) }

// progress returns the progress of member id, or nil if id is not a member.
func (r *raft) progress(id NodeID) *tracker.Progress {
	for i, v := range r.members {
		if v == id {
			return &r.prs[i]
		}
	}
	return nil
}

// msgSlabLen is how many messages one slab allocation holds: 64 messages of 128 bytes fill
// an 8 KiB size class exactly (TestMessageSize keeps Message at 128 bytes).
const msgSlabLen = 64

// send queues m. Vote traffic carries its term explicitly; proposals and forwarded read
// requests carry none (they are treated like local messages); everything else gets ours.
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s sent without a term", m.Type))
		}
	case MsgProp, MsgReadIndex:
		m.Term = 0
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft: %s sent with explicit term %d", m.Type, m.Term))
		}
		m.Term = r.term
	}
	if r.coalesce && r.supersede(&m) {
		return
	}
	if len(r.msgs) == cap(r.msgs) {
		r.growMsgs()
	}
	r.msgs = append(r.msgs, m)
}

// growMsgs moves the queued messages to the start of a new slab. Messages are small and
// allocated by the million (a follower's Ready usually carries one), so they are carved from
// slabs rather than allocated per Ready; a slab stays alive while any of its messages is
// referenced, which the consumers keep short (until delivery).
func (r *raft) growMsgs() {
	n := len(r.msgs)
	slab := make([]Message, n, max(msgSlabLen, 2*n))
	copy(slab, r.msgs)
	// The old slots were never handed out: clear them so they do not keep entries alive
	// for as long as the old slab lives.
	clear(r.msgs)
	r.msgs = slab
}

// supersede puts m in place of the last queued message to the same peer when m makes it
// redundant, and reports whether it did (Config.CoalesceMessages):
//   - an append that carries no entries (sent to move the follower's commit index on) is
//     covered by a later append of the same term from the same or a later position, whose
//     commit index is at least as high;
//   - an acceptance of appended entries is covered by a later acceptance of the same term
//     up to the same or a later index (acknowledgements are cumulative).
//
// Only the last message to the peer is considered, so the peer still sees the messages of a
// Ready in the order they were generated.
//
// m is taken by pointer: a Message is 128 bytes, and send calls this for every message.
func (r *raft) supersede(m *Message) bool {
	if m.Type != MsgApp && m.Type != MsgAppResp {
		return false
	}
	for i := len(r.msgs) - 1; i >= 0; i-- {
		q := &r.msgs[i]
		if q.To != m.To {
			continue
		}
		if q.Type != m.Type || q.Term != m.Term || q.Index > m.Index {
			return false
		}
		if m.Type == MsgApp && (len(q.Entries) > 0 || q.Commit > m.Commit) {
			return false
		}
		if m.Type == MsgAppResp && (q.Reject || m.Reject) {
			return false
		}
		*q = *m
		return true
	}
	return false
}

// reset clears per-term state when the role or term changes.
func (r *raft) reset(term Term) {
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.randomizedElectionTimeout = r.electionTimeout + int(r.rng.intn(uint64(r.electionTimeout)))
	r.leadTransferee = None
	clear(r.votes)
	last := r.raftLog.lastIndex()
	for i, id := range r.members {
		pr := &r.prs[i]
		*pr = tracker.Progress{Next: uint64(last) + 1, Inflights: pr.Inflights, IsLearner: pr.IsLearner}
		pr.Inflights.Reset()
		if id == r.id {
			pr.Match = uint64(r.raftLog.stableLastIndex())
			pr.Next = max(pr.Next, pr.Match+1)
			pr.RecentActive = true
		}
	}
	r.readOnly.reset()
	r.pendingReadIndex = nil
	r.uncommittedSize = 0
	r.removedElapsed = -1
}

func (r *raft) becomeFollower(term Term, lead NodeID) {
	r.reset(term)
	r.lead = lead
	r.state = StateFollower
	r.logger.Debug("became follower", "term", uint64(r.term), "lead", uint64(lead))
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition leader -> pre-candidate")
	}
	// PreVote changes neither term nor vote (thesis §9.6): a partitioned node that keeps
	// pre-campaigning cannot inflate its term and later disrupt the cluster.
	clear(r.votes)
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Debug("became pre-candidate", "term", uint64(r.term))
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: invalid transition leader -> candidate")
	}
	r.reset(r.term + 1)
	r.vote = r.id
	r.state = StateCandidate
	r.logger.Debug("became candidate", "term", uint64(r.term))
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic("raft: invalid transition follower -> leader")
	}
	r.reset(r.term)
	r.lead = r.id
	r.state = StateLeader
	if pr := r.progress(r.id); pr != nil {
		pr.BecomeReplicate()
	} else {
		// Elected though removed (see hup): lead only to hand the log over, then leave.
		r.removedElapsed = 0
	}
	// The log may hold a configuration change not yet applied: accept no new one until
	// everything up to here, this term's no-op included, is applied. Waiting for the no-op
	// also closes the gap of single-server changes across leader changes (a change from an
	// earlier term that never committed must not be followed by another one).
	r.pendingConfIndex = r.raftLog.lastIndex() + 1
	// The no-op lets the leader commit (and so learn the commit index of) earlier terms'
	// entries, which §5.4.2 forbids committing by counting replicas.
	if r.knobs.CommitPreviousTermByCount {
		r.logger.Info("became leader without a no-op (planted bug)", "term", uint64(r.term))
		return
	}
	if !r.appendEntry(Entry{}) {
		panic("raft: leader could not append its no-op entry")
	}
	r.logger.Info("became leader", "term", uint64(r.term), "index", uint64(r.raftLog.lastIndex()))
}

// ticksUntilAction is how many more ticks it takes until one does more than advance the
// counters: the one that times a follower's election out, or makes a leader heartbeat, check
// its quorum or give up a transfer. Keep it in step with tickElection and tickHeartbeat.
func (r *raft) ticksUntilAction() int {
	var n int
	if r.state == StateLeader {
		n = min(r.heartbeatTimeout-r.heartbeatElapsed, r.electionTimeout-r.electionElapsed)
		if r.leadTransferee != None {
			n = min(n, r.electionTimeout-r.transferElapsed)
		}
	} else {
		n = r.randomizedElectionTimeout - r.electionElapsed
	}
	return max(n, 1)
}

// tick advances the role's timer by one tick.
func (r *raft) tick() {
	if r.state == StateLeader {
		r.tickHeartbeat()
	} else {
		r.tickElection()
	}
}

// stepRole hands m to the step function of the current role.
func (r *raft) stepRole(m *Message) error {
	switch r.state {
	case StateLeader:
		return stepLeader(r, m)
	case StateCandidate, StatePreCandidate:
		return stepCandidate(r, m)
	default:
		return stepFollower(r, m)
	}
}

func (r *raft) tickElection() {
	r.electionElapsed++
	if r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		_ = r.Step(Message{From: r.id, Type: MsgHup})
	}
}

func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.leadTransferee != None {
		r.transferElapsed++
		if r.transferElapsed >= r.electionTimeout {
			// A transfer that did not finish within an election timeout is abandoned so the
			// leader can take proposals again (thesis §3.10).
			r.leadTransferee = None
		}
	}
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum && !r.knobs.IgnoreCheckQuorum && !r.quorumActive() {
			r.logger.Info("stepping down: no quorum contact", "term", uint64(r.term))
			r.becomeFollower(r.term, None)
			return
		}
		r.expireSnapshots()
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(Message{From: r.id, Type: MsgBeat})
	}
	if r.removedElapsed >= 0 {
		r.removedElapsed++
		r.leaveAfterRemoval()
	}
}

// expireSnapshots returns to probing any follower that has been in StateSnapshot for two
// whole election timeouts: without a ReportSnapshot (a lost MsgSnap, a transport that does not
// report) it would otherwise never be sent anything again.
func (r *raft) expireSnapshots() {
	for i := range r.prs {
		pr := &r.prs[i]
		if pr.State != tracker.StateSnapshot {
			continue
		}
		pr.SnapshotPeriods++
		if pr.SnapshotPeriods >= 2 {
			pr.BecomeProbe()
		}
	}
}

// quorumActive reports whether a majority was heard from since the last check, and clears
// the marks for the next period.
func (r *raft) quorumActive() bool {
	active := 0
	for i, id := range r.members {
		pr := &r.prs[i]
		if !pr.IsLearner && (id == r.id || pr.RecentActive) {
			active++
		}
		if id != r.id {
			pr.RecentActive = false
		}
	}
	return active >= quorum.Majority(len(r.voters))
}

// Step is the entry point for every message. Term logic common to all roles comes first
// (§5.1: a higher term makes us a follower, a lower one is stale); then the role's step.
func (r *raft) Step(m Message) error { return r.step(&m) }

// step is Step on a message the caller owns and no longer reads: the role functions and
// handlers take it by pointer (a Message is 128 bytes, handed down several calls per
// message received) and may change its fields, as they could change their own copies.
func (r *raft) step(m *Message) error {
	if m.From != r.id && m.From != None && len(r.removed) > 0 && slices.Contains(r.removed, m.From) {
		// A node removed from the configuration takes no part any more: whatever it sends
		// (votes of a term it inflated, appends as a leader of the old configuration) is
		// ignored once the removal is applied here.
		return nil
	}
	switch {
	case m.Term == 0:
		// Local message, proposal or forwarded read request.
	case m.Term > r.term:
		if r.ignoreHigherTerm(m) {
			return nil
		}
		r.stepHigherTerm(m)
	case m.Term < r.term:
		return r.stepLowerTerm(m)
	}
	switch {
	case m.Type == MsgHup:
		r.hup()
	case m.Type == MsgVote || m.Type == MsgPreVote:
		r.handleVoteRequest(m)
	case m.Type == MsgReadIndex && r.knobs.ReadWithoutReadIndex:
		r.respondReadIndex(*m, r.raftLog.committed) // planted bug: no confirmation at all
	default:
		return r.stepRole(m)
	}
	return nil
}

// ignoreHigherTerm implements the CheckQuorum lease (thesis §4.2.3): a node that heard from a
// live leader within the minimum election timeout ignores vote requests, so a partitioned node
// rejoining cannot depose a healthy leader. Transfer campaigns are exempt.
func (r *raft) ignoreHigherTerm(m *Message) bool {
	if m.Type != MsgVote && m.Type != MsgPreVote {
		return false
	}
	force := bytes.Equal(m.Context, campaignTransfer)
	inLease := r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
	return !force && inLease
}

func (r *raft) stepHigherTerm(m *Message) {
	switch {
	case m.Type == MsgPreVote:
		// A pre-vote does not change our term.
	case m.Type == MsgPreVoteResp && !m.Reject:
		// A granted pre-vote carries the future term; ours changes only if we win.
	case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
		r.becomeFollower(m.Term, m.From)
	default:
		r.becomeFollower(m.Term, None)
	}
}

func (r *raft) stepLowerTerm(m *Message) error {
	switch {
	case m.Type == MsgApp && r.knobs.AcceptStaleTermAppend && r.state == StateFollower:
		// Planted bug: a deposed leader's entries are accepted and acknowledged in its term.
		// (Coalescing is off meanwhile: it could fold the answer into an earlier message,
		// which the term rewrite below would miss.)
		n, coalesce := len(r.msgs), r.coalesce
		r.coalesce = false
		r.handleAppendEntries(m)
		r.coalesce = coalesce
		for i := n; i < len(r.msgs); i++ {
			r.msgs[i].Term = m.Term
		}
	case (r.checkQuorum || r.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp):
		// The sender is a stale leader that may never hear a higher term otherwise (its
		// peers ignore its vote requests or pre-votes): tell it ours so it steps down.
		r.send(Message{To: m.From, Type: MsgAppResp})
	case m.Type == MsgPreVote:
		// Rejecting with our term lets the pre-candidate catch up its term.
		r.send(Message{To: m.From, Type: MsgPreVoteResp, Term: r.term, Reject: true})
	}
	return nil
}

// hup starts an election (or pre-election) unless this node leads already.
func (r *raft) hup() {
	if r.state == StateLeader {
		return
	}
	if !r.isVoter(r.id) && !slices.Contains(r.removed, r.id) {
		// A learner, or a node that has not yet learned the configuration (joining), never
		// campaigns. A node that applied its own removal still may: a voter that has not
		// applied it yet counts it, and may need its vote and its log (with a change applied
		// when applied, not when appended, a follower that missed the commit of the removal
		// keeps the old configuration). Elected, it leads only until the voters hold its log
		// (leaveAfterRemoval); voters that applied the removal ignore it altogether (step).
		return
	}
	if r.preVote {
		r.campaign(campaignPreElection)
	} else {
		r.campaign(campaignElection)
	}
}

func (r *raft) campaign(t campaignType) {
	var term Term
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg, term = MsgPreVote, r.term+1
	} else {
		r.becomeCandidate()
		voteMsg, term = MsgVote, r.term
	}
	if r.poll(r.id, true) == quorum.VoteWon {
		// Single voter: won outright.
		if t == campaignPreElection {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
		}
		return
	}
	var ctx []byte
	if t == campaignTransferType {
		ctx = campaignTransfer
	}
	lastIndex, lastTerm := r.raftLog.lastIndex(), r.raftLog.lastTerm()
	for _, id := range r.voters {
		if id == r.id {
			continue
		}
		r.send(Message{To: id, Type: voteMsg, Term: term, Index: lastIndex, LogTerm: lastTerm, Context: ctx})
	}
}

// poll records a vote and returns the election's outcome so far.
func (r *raft) poll(id NodeID, granted bool) quorum.VoteResult {
	if _, ok := r.votes[id]; !ok {
		r.votes[id] = granted
	}
	g, rj := 0, 0
	for _, v := range r.voters {
		if granted, ok := r.votes[v]; ok {
			if granted {
				g++
			} else {
				rj++
			}
		}
	}
	return quorum.Vote(len(r.voters), g, rj)
}

// handleVoteRequest answers MsgVote and MsgPreVote (§5.2, §5.4.1, thesis §9.6).
func (r *raft) handleVoteRequest(m *Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	upToDate := r.knobs.VoteWithoutLogCheck || r.raftLog.isUpToDate(m.Index, m.LogTerm)
	if !canVote || !upToDate {
		r.send(Message{To: m.From, Type: respType, Term: r.term, Reject: true})
		return
	}
	// Grants carry the request's term: for a pre-vote it is the future term, which the
	// pre-candidate uses to tell current answers from stale ones.
	r.send(Message{To: m.From, Type: respType, Term: m.Term})
	if m.Type == MsgVote {
		r.electionElapsed = 0
		r.vote = m.From
	}
}

// appendEntry appends leader entries of the current term. It returns false, appending
// nothing, when the uncommitted-bytes limit would be exceeded.
func (r *raft) appendEntry(es ...Entry) bool {
	li := r.raftLog.lastIndex()
	var size uint64
	for i := range es {
		es[i].Term = r.term
		es[i].Index = li + 1 + Index(i)
		size += uint64(len(es[i].Data))
	}
	// A single oversized proposal is still accepted when nothing is outstanding, so the
	// limit can never wedge the leader.
	if r.uncommittedSize > 0 && size > 0 && r.uncommittedSize+size > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += size
	r.raftLog.append(es...)
	return true
}

func (r *raft) reduceUncommittedSize(ents []Entry) {
	if r.state != StateLeader {
		return
	}
	var size uint64
	for i := range ents {
		size += uint64(len(ents[i].Data))
	}
	r.uncommittedSize -= min(size, r.uncommittedSize)
}

// onPersisted is called when the driver reports the log durable up to the stable index: the
// leader counts its own copy only now, so "committed" always means durable on a majority.
func (r *raft) onPersisted() {
	if r.state != StateLeader {
		return
	}
	stable := r.raftLog.stableLastIndex()
	if stable == 0 {
		return
	}
	// A leader removed from the configuration (see leaveAfterRemoval) has no progress of its
	// own: its copy no longer counts.
	if pr := r.progress(r.id); pr != nil && pr.MaybeUpdate(uint64(stable)) && r.maybeCommit() {
		r.onCommitAdvanced()
	}
}

// maybeCommit advances the commit index to the majority's match index, but only if that
// entry is of the current term (§5.4.2).
func (r *raft) maybeCommit() bool {
	match := r.matchScratch[:0]
	for i := range r.prs {
		if !r.prs[i].IsLearner {
			match = append(match, r.prs[i].Match)
		}
	}
	r.matchScratch = match
	mci := Index(quorum.CommittedIndex(match))
	if mci <= r.raftLog.committed {
		return false
	}
	if !r.knobs.CommitPreviousTermByCount {
		if t, err := r.raftLog.term(mci); err != nil || t != r.term {
			return false
		}
	}
	r.raftLog.commitTo(mci)
	return true
}

func (r *raft) committedEntryInCurrentTerm() bool {
	t, err := r.raftLog.term(r.raftLog.committed)
	return err == nil && t == r.term
}

// onCommitAdvanced tells followers the new commit index (only those waiting for it, with
// Config.DeferCommitBroadcast) and releases read requests that waited for this term's first
// commit.
func (r *raft) onCommitAdvanced() {
	if r.deferCommit {
		for i, id := range r.members {
			if id != r.id && r.prs[i].CommitWanted != 0 {
				r.sendAppend(id)
			}
		}
	} else {
		r.bcastAppend()
	}
	if len(r.pendingReadIndex) > 0 && r.committedEntryInCurrentTerm() {
		pending := r.pendingReadIndex
		r.pendingReadIndex = nil
		for _, m := range pending {
			r.serveReadIndex(&m)
		}
	}
}
