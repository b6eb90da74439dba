package raft

import (
	"fmt"

	"github.com/raftchat/raftchat/raft/tracker"
)

// RawNode is the Raft node the driver talks to: a step function with no I/O, clock or
// goroutines (see the package doc for the driver loop). It is not safe for concurrent use.
type RawNode struct {
	// raft is held by value, one pointer hop less on every call. Nothing keeps a pointer to
	// a raft (its step and tick functions are chosen by a switch), so newRaft's is copied.
	raft     raft
	prevSoft SoftState
	prevHard HardState
	// voteChanged: the outstanding Ready changes term or vote (AdvanceWriting refuses it).
	voteChanged bool
	// readyAsLeader: the outstanding Ready was built by a leader. What the driver does
	// between Ready and Advance (applying its committed entries, configuration changes
	// among them) must not change what AdvanceWriting checks: who built the Ready.
	readyAsLeader bool
	outstanding   bool // a Ready was handed out and not yet Advanced
	// propScratch lets Propose build its one-entry slice without allocating, batchScratch
	// ProposeBatch its slice (the log copies proposed entries, so neither is kept).
	propScratch  [1]Entry
	batchScratch []Entry
}

// NewRawNode returns a node recovered from cfg.Storage (its HardState, snapshot and entries),
// starting as a follower without a known leader.
func NewRawNode(cfg Config) (*RawNode, error) {
	r, err := newRaft(&cfg)
	if err != nil {
		return nil, err
	}
	rn := &RawNode{raft: *r, prevSoft: r.softState(), prevHard: r.hardState()}
	rn.checkInvariants()
	return rn, nil
}

// Tick advances logical time by one tick: followers count towards an election, leaders
// towards a heartbeat and the CheckQuorum period.
func (rn *RawNode) Tick() {
	rn.raft.tick()
	rn.checkInvariants()
}

// TicksUntilAction returns how many more Ticks it takes, with nothing stepped in between,
// until one does more than count: every earlier Tick leaves no Ready and changes nothing a
// message or a caller could observe except the tick counters. A simulator uses it to wake a
// node only for the ticks that matter and to hand it the quiet ones in a batch before the
// next thing it does. The answer is at least 1; it changes when a message is stepped.
func (rn *RawNode) TicksUntilAction() int { return rn.raft.ticksUntilAction() }

// PauseApply with paused set makes the following Readys carry no CommittedEntries until it
// is called with paused unset; everything else (appends, acknowledgements, heartbeats, elections,
// commits) goes on. A driver pauses applying while it reads its state machine on another
// goroutine, for example to encode a snapshot of a large state without stopping the node.
func (rn *RawNode) PauseApply(paused bool) { rn.raft.raftLog.applyPaused = paused }

// Campaign starts an election now (a pre-election first when PreVote is on). A leader
// ignores it.
func (rn *RawNode) Campaign() error {
	err := rn.raft.Step(Message{From: rn.raft.id, Type: MsgHup})
	rn.checkInvariants()
	return err
}

// Propose asks to append data to the log. A leader appends it; a follower forwards it to
// the leader (any failure there is silent: the driver learns the outcome only by seeing the
// entry committed, so it needs its own timeout). Errors: a proposal made with no known leader
// (follower without leader, candidate) fails with an error matching both ErrProposalDropped
// and ErrNoLeader; a leader in a leadership transfer or at MaxUncommittedBytes returns
// ErrProposalDropped. data must not be modified afterwards.
func (rn *RawNode) Propose(data []byte) error {
	rn.propScratch[0] = Entry{Data: data}
	err := rn.raft.Step(Message{From: rn.raft.id, Type: MsgProp, Entries: rn.propScratch[:]})
	rn.propScratch[0] = Entry{}
	rn.checkInvariants()
	return err
}

// ProposeBatch asks to append every element of data to the log, in order, as one proposal:
// one append message per follower carries them all, where separate Propose calls would send
// one each. The batch is accepted or refused as a whole, with Propose's errors. data and its
// elements must not be modified afterwards.
func (rn *RawNode) ProposeBatch(data [][]byte) error {
	if len(data) == 0 {
		return nil
	}
	ents := rn.batchScratch[:0]
	for _, d := range data {
		ents = append(ents, Entry{Data: d})
	}
	err := rn.raft.Step(Message{From: rn.raft.id, Type: MsgProp, Entries: ents})
	clear(ents) // do not keep the data alive
	rn.batchScratch = ents[:0]
	rn.checkInvariants()
	return err
}

// Step feeds a message received from a peer. Local message types (MsgHup, MsgBeat,
// MsgUnreachable, MsgSnapStatus) are rejected with ErrStepLocalMsg; answers from nodes
// outside the configuration are ignored.
func (rn *RawNode) Step(m Message) error {
	switch m.Type {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus:
		return ErrStepLocalMsg
	default:
	}
	if m.From == None {
		return nil
	}
	if m.From == rn.raft.id {
		return fmt.Errorf("%w: %s from this node itself", ErrInvalidMessage, m.Type)
	}
	if err := validateMessage(&m); err != nil {
		return err
	}
	err := rn.raft.step(&m)
	rn.checkInvariants()
	return err
}

// maxSaneValue bounds terms and indexes accepted from the network.
const maxSaneValue = 1 << 62

// validateMessage rejects messages no correct peer sends, which would otherwise break
// internal invariants (Step is fed from the network and from fuzzers).
// It takes m by pointer to spare a 128-byte copy per message received.
func validateMessage(m *Message) error {
	if m.Term > maxSaneValue || m.Index > maxSaneValue || m.Commit > maxSaneValue {
		// Terms and indexes never get anywhere near this; accepting them would let arithmetic
		// such as term+1 wrap around.
		return fmt.Errorf("%w: %s with absurd term %d / index %d / commit %d", ErrInvalidMessage, m.Type, m.Term, m.Index, m.Commit)
	}
	switch m.Type {
	case MsgProp, MsgReadIndex:
		return nil
	case MsgApp:
		if m.Term == 0 || m.LogTerm > m.Term {
			return fmt.Errorf("%w: %s term %d log term %d", ErrInvalidMessage, m.Type, m.Term, m.LogTerm)
		}
		prevTerm := m.LogTerm
		for i, e := range m.Entries {
			if e.Index != m.Index+1+Index(i) || e.Term < prevTerm || e.Term > m.Term {
				return fmt.Errorf("%w: MsgApp entry %d is (index %d, term %d) after (index %d, term %d)",
					ErrInvalidMessage, i, e.Index, e.Term, m.Index, m.LogTerm)
			}
			prevTerm = e.Term
		}
	case MsgSnap:
		if m.Term == 0 || m.Snapshot == nil || m.Snapshot.Metadata.Term > m.Term {
			return fmt.Errorf("%w: MsgSnap without a valid snapshot", ErrInvalidMessage)
		}
	default:
		if m.Term == 0 {
			return fmt.Errorf("%w: %s without a term", ErrInvalidMessage, m.Type)
		}
	}
	return nil
}

// ReadIndex requests a linearizable read point (thesis §6.4). When leadership is confirmed a
// ReadState with the same rctx appears in a later Ready: once the application has applied up
// to its Index, a read from local state is linearizable. Raft hands rctx back as is and does
// not need it to be unique (it tells requests apart itself); the driver usually does. Requests
// are dropped silently when no leader is known or leadership is lost before confirmation, so
// the driver needs a timeout and retry.
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(Message{From: rn.raft.id, Type: MsgReadIndex, Context: rctx})
	rn.checkInvariants()
}

// TransferLeadership asks the leader (directly, or through this follower) to hand
// leadership to node to (thesis §3.10). It is best effort: it is abandoned after an election
// timeout, and proposals are dropped while it runs.
func (rn *RawNode) TransferLeadership(to NodeID) {
	_ = rn.raft.Step(Message{From: to, Type: MsgTransferLeader})
	rn.checkInvariants()
}

// ReportUnreachable tells a leader that sending to id failed, so it stops pipelining to it.
func (rn *RawNode) ReportUnreachable(id NodeID) {
	_ = rn.raft.Step(Message{From: id, Type: MsgUnreachable})
}

// ReportSnapshot tells a leader how sending a MsgSnap to id ended. Without the report the
// follower stays in the snapshot state until it answers on its own.
func (rn *RawNode) ReportSnapshot(id NodeID, failed bool) {
	_ = rn.raft.Step(Message{From: id, Type: MsgSnapStatus, Reject: failed})
}

// HasReady reports whether Ready would return any work. It is false while a Ready is
// outstanding (handed out, not yet Advanced).
func (rn *RawNode) HasReady() bool {
	if rn.outstanding {
		return false
	}
	r := &rn.raft
	// Cheapest and most often true first: most Readys carry messages.
	if len(r.msgs) > 0 || len(r.readStates) > 0 {
		return true
	}
	if r.softState() != rn.prevSoft {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != rn.prevHard {
		return true
	}
	u := &r.raftLog.unstable
	return u.snapshot != nil || u.inProgress < u.end() || r.raftLog.hasNextCommittedEnts()
}

// Ready returns the pending work; the driver must carry it out as described in the package
// doc and then call Advance before calling Ready again (calling it twice panics).
//
// rd is a named result filled in field by field, so that it is built in the caller's result
// slot: a Ready is 200 bytes, built once per driver loop, and a local copied out at return
// cost measurably (the copy's wide loads stall on the narrower stores just made).
func (rn *RawNode) Ready() (rd Ready) {
	if rn.outstanding {
		panic("raft: Ready called again before Advance")
	}
	r := &rn.raft
	u := &r.raftLog.unstable
	rn.voteChanged = false
	rn.readyAsLeader = r.state == StateLeader
	if u.inProgress < u.end() {
		rd.Entries = u.slice(u.inProgress, u.end())
	}
	rd.CommittedEntries = r.raftLog.nextCommittedEnts()
	rd.ReadStates = r.readStates
	if n := len(r.msgs); n > 0 {
		// Hand out the queued messages with their capacity capped, and queue later ones in
		// the slab after them: neither Raft nor the driver can then write over the other's.
		rd.Messages = r.msgs[:n:n]
		r.msgs = r.msgs[n:n]
	}
	r.readStates = nil
	if ss := r.softState(); ss != rn.prevSoft {
		changed := ss // declared here so the heap copy is made only on change
		rd.SoftState = &changed
		rn.prevSoft = ss
	}
	if hs := r.hardState(); hs != rn.prevHard {
		rd.HardState = hs
		// Term and vote must be durable before any message that depends on them leaves
		// (§5.1, Figure 2); a commit index alone may be lost and relearned.
		rd.MustSync = hs.Term != rn.prevHard.Term || hs.Vote != rn.prevHard.Vote
		rn.voteChanged = rd.MustSync
		rn.prevHard = hs
	}
	if s := r.raftLog.unstable.snapshot; s != nil {
		rd.Snapshot = *s
		rd.MustSync = true
	}
	if len(rd.Entries) > 0 {
		rd.MustSync = true
	}
	rn.outstanding = true
	return rd
}

// Advance reports that the driver carried out rd: its snapshot and entries are durable and
// its committed entries applied.
func (rn *RawNode) Advance(rd Ready) {
	r := &rn.raft
	if !rd.Snapshot.IsEmpty() {
		r.raftLog.unstable.stableSnapTo(rd.Snapshot.Metadata.Index)
		r.raftLog.appliedTo(rd.Snapshot.Metadata.Index)
	}
	if n := len(rd.Entries); n > 0 {
		last := rd.Entries[n-1]
		r.raftLog.unstable.stableTo(last.Index, last.Term)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		r.reduceUncommittedSize(rd.CommittedEntries)
	}
	r.onPersisted()
	rn.outstanding = false
	rn.checkInvariants()
}

// AdvanceWriting is Advance for a driver that writes rd's entries in the background: rd's
// committed entries are applied and its messages sent, but its entries (and hard state) are
// only being written. Raft does not hand them out again and does not count them as this
// node's copy until the driver reports them durable with Persisted; entries committed by
// the other voters' copies still come out for applying. A leader may thus keep stepping
// acknowledgements and proposals while its disk works (Raft thesis §10.2.1).
//
// Only a leader's Ready that changes neither term nor vote and carries no snapshot may be
// advanced this way; such a Ready promises nothing that needs this node's write. It panics
// otherwise.
func (rn *RawNode) AdvanceWriting(rd Ready) {
	r := &rn.raft
	if !rd.Snapshot.IsEmpty() {
		panic("raft: AdvanceWriting with a snapshot")
	}
	if !rn.readyAsLeader || rn.voteChanged {
		panic(fmt.Sprintf("raft: AdvanceWriting as %s in term %d (term or vote changed: %v)", r.state, r.term, rn.voteChanged))
	}
	if n := len(rd.Entries); n > 0 {
		u := &r.raftLog.unstable
		u.inProgress = max(u.inProgress, rd.Entries[n-1].Index+1)
		if r.knobs.LeaderCountsUnwrittenCopy {
			if pr := r.progress(r.id); pr != nil && pr.MaybeUpdate(uint64(rd.Entries[n-1].Index)) && r.maybeCommit() {
				r.onCommitAdvanced()
			}
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		r.reduceUncommittedSize(rd.CommittedEntries)
	}
	rn.outstanding = false
	rn.checkInvariants()
}

// Persisted reports that the entries handed out by AdvanceWriting up to index i, whose term
// is t, and every Ready's hard state before them, are durable. A report for entries since
// replaced (a different term at i) is ignored.
func (rn *RawNode) Persisted(i Index, t Term) {
	r := &rn.raft
	r.raftLog.unstable.stableTo(i, t)
	r.onPersisted()
	rn.checkInvariants()
}

// Status is a snapshot of a node's state for monitoring and tests.
type Status struct {
	ID NodeID
	HardState
	SoftState
	// Applied is the last index reported applied through Advance.
	Applied Index
	// LeadTransferee is the target of a leadership transfer in progress, or None.
	LeadTransferee NodeID
	// Progress is the leader's view of every voter, sorted by ID (nil on non-leaders).
	Progress []PeerProgress
}

// PeerProgress is a leader's view of one voter's replication.
type PeerProgress struct {
	ID           NodeID
	Match, Next  Index
	State        string
	RecentActive bool
	Inflight     int
}

// HardState returns the in-memory term, vote and commit index (what Status().HardState
// holds) without building the rest of Status: drivers read it after every Process.
func (rn *RawNode) HardState() HardState {
	r := &rn.raft
	return HardState{Term: r.term, Vote: r.vote, Commit: r.raftLog.committed}
}

// Status returns the node's current state. The HardState is the in-memory one, which may be
// ahead of what is durable.
func (rn *RawNode) Status() Status {
	r := &rn.raft
	s := Status{
		ID:             r.id,
		HardState:      HardState{Term: r.term, Vote: r.vote, Commit: r.raftLog.committed},
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		LeadTransferee: r.leadTransferee,
	}
	if r.state == StateLeader {
		s.Progress = make([]PeerProgress, 0, len(r.members))
		for i, id := range r.members {
			pr := &r.prs[i]
			s.Progress = append(s.Progress, peerProgress(id, pr))
		}
	}
	return s
}

func peerProgress(id NodeID, pr *tracker.Progress) PeerProgress {
	return PeerProgress{
		ID: id, Match: Index(pr.Match), Next: Index(pr.Next), State: pr.State.String(),
		RecentActive: pr.RecentActive, Inflight: pr.Inflights.Count(),
	}
}

// ConfState returns the membership as of the last applied configuration change (or the
// snapshot or bootstrap configuration), to record with snapshots
// (MemoryStorage.CreateSnapshot).
func (rn *RawNode) ConfState() ConfState { return rn.raft.confState() }
