package raft

import (
	"fmt"

	"github.com/raftchat/raftchat/raft/tracker"
)

func stepLeader(r *raft, m *Message) error {
	switch m.Type {
	case MsgBeat:
		r.heartbeat()
		return nil
	case MsgProp:
		return r.handlePropose(m)
	case MsgReadIndex:
		r.handleReadIndex(m)
		return nil
	default:
	}
	pr := r.progress(m.From)
	if pr == nil {
		return nil // not a member: ignore
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		r.handleHeartbeatResponse(m, pr)
	case MsgSnapStatus:
		r.handleSnapStatus(m, pr)
	case MsgUnreachable:
		// The follower may have dropped pipelined messages: fall back to probing.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
	case MsgTransferLeader:
		r.handleTransferLeader(m, pr)
	default:
		// Another leader of our term cannot exist (election safety); ignore stray traffic.
	}
	return nil
}

func (r *raft) handlePropose(m *Message) error {
	if len(m.Entries) == 0 {
		return ErrProposalDropped // only a forged forwarded proposal can be empty
	}
	if r.leadTransferee != None || r.removedElapsed >= 0 {
		// Thesis §3.10: stop accepting proposals while handing over, or the transfer may
		// never catch the target up; likewise while leaving after a removal.
		return ErrProposalDropped
	}
	ents := m.Entries
	forwarded := m.From != r.id
	if forwarded {
		// appendEntry stamps term and index in place; never write into a received message,
		// which the transport or a simulator may still hold (duplicates, traces). The log
		// copies what it appends, so a reused scratch slice serves.
		ents = append(r.propScratch[:0], ents...)
	}
	confAt, err := r.resolveConfChanges(ents)
	ok := err == nil && r.appendEntry(ents...)
	if ok && confAt >= 0 {
		r.pendingConfIndex = ents[confAt].Index
	}
	if forwarded {
		clear(ents) // do not keep the data alive
		r.propScratch = ents[:0]
	}
	if err != nil {
		return err
	}
	if !ok {
		return ErrProposalDropped
	}
	if forwarded && r.deferCommit {
		if pr := r.progress(m.From); pr != nil {
			// The follower's clients wait for these entries to apply there.
			pr.CommitWanted = uint64(r.raftLog.lastIndex())
		}
	}
	r.bcastAppend()
	return nil
}

// resolveConfChanges writes the resulting configuration into the proposal's change entry
// and returns its position (-1 if there is none). A proposal may carry one change at most.
func (r *raft) resolveConfChanges(ents []Entry) (int, error) {
	at := -1
	for i := range ents {
		if ents[i].Type != EntryConfChange {
			continue
		}
		if at >= 0 {
			return -1, fmt.Errorf("%w: two changes in one proposal", ErrConfChangeRefused)
		}
		if err := r.resolveConfChange(&ents[i]); err != nil {
			r.logger.Info("configuration change refused", "err", err)
			return -1, err
		}
		at = i
	}
	return at, nil
}

func (r *raft) bcastAppend() {
	for _, id := range r.members {
		if id != r.id {
			r.sendAppend(id)
		}
	}
}

// heartbeat is the periodic heartbeat round. It carries the context of the latest pending
// ReadIndex, so a lost confirmation is retried.
func (r *raft) heartbeat() {
	ctx := r.readOnly.lastPendingCtx()
	for i, id := range r.members {
		if id == r.id {
			continue
		}
		pr := &r.prs[i]
		skip := r.idleHeartbeats && ctx == nil && pr.AppendedSinceBeat // Config.IdleHeartbeats
		pr.AppendedSinceBeat = false
		if !skip {
			r.sendHeartbeat(id, ctx)
		}
	}
}

func (r *raft) bcastHeartbeatWithCtx(ctx []byte) {
	for _, id := range r.members {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	}
}

func (r *raft) sendHeartbeat(to NodeID, ctx []byte) {
	// A follower may not have the leader's commit index yet; never tell it to commit beyond
	// what it is known to hold.
	commit := min(Index(r.progress(to).Match), r.raftLog.committed)
	if r.knobs.HeartbeatCommitUncapped {
		commit = r.raftLog.committed // planted bug
	}
	r.send(Message{To: to, Type: MsgHeartbeat, Commit: commit, Context: ctx})
	r.toldCommit(r.progress(to), commit)
}

// toldCommit notes that a message carrying commit index commit went to the follower.
func (r *raft) toldCommit(pr *tracker.Progress, commit Index) {
	if pr.CommitWanted != 0 && uint64(commit) >= pr.CommitWanted {
		pr.CommitWanted = 0
	}
}

func (r *raft) sendAppend(to NodeID) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends to a follower the entries after its Next, or a snapshot when those
// are compacted. With sendIfEmpty false it sends nothing when there are no new entries. It
// reports whether a message was sent.
func (r *raft) maybeSendAppend(to NodeID, sendIfEmpty bool) bool {
	pr := r.progress(to)
	if pr.IsPaused() {
		return false
	}
	prev := Index(pr.Next - 1)
	prevTerm, errt := r.raftLog.term(prev)
	ents, erre := r.raftLog.entries(Index(pr.Next), r.maxMsgSize)
	if len(ents) == 0 && !sendIfEmpty && errt == nil && erre == nil {
		return false
	}
	if errt != nil || erre != nil {
		return r.sendSnapshot(to, pr)
	}
	if len(ents) > 0 {
		pr.SentEntries(uint64(ents[len(ents)-1].Index))
	}
	r.send(Message{To: to, Type: MsgApp, Index: prev, LogTerm: prevTerm, Entries: ents, Commit: r.raftLog.committed})
	r.toldCommit(pr, r.raftLog.committed)
	pr.AppendedSinceBeat = true
	return true
}

// sendSnapshot sends the latest snapshot to a follower whose next entries are compacted (§7).
func (r *raft) sendSnapshot(to NodeID, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		// Snapshots are large: send one only to a follower known to be alive.
		return false
	}
	snap, err := r.raftLog.snapshot()
	if err != nil {
		// Stay in probe: the next heartbeat response tries again.
		r.logger.Debug("snapshot for a lagging follower unavailable", "to", uint64(to), "err", err)
		return false
	}
	if snap.IsEmpty() {
		panic(fmt.Sprintf("raft: follower %d needs a snapshot but none exists", to))
	}
	pr.BecomeSnapshot(uint64(snap.Metadata.Index))
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	pr.AppendedSinceBeat = true
	return true
}

func (r *raft) handleAppendResponse(m *Message, pr *tracker.Progress) {
	pr.RecentActive = true
	if m.Index > r.raftLog.lastIndex() {
		return // no follower of ours can hold more than we do: forged or corrupt
	}
	if m.Reject {
		r.handleAppendReject(m, pr)
		return
	}
	wasPaused := pr.IsPaused()
	// A probe answered at exactly Match still proves the logs match: start replicating.
	probeConfirmed := pr.Match == uint64(m.Index) && pr.State == tracker.StateProbe
	if !pr.MaybeUpdate(uint64(m.Index)) && !probeConfirmed {
		return // stale acknowledgement
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= uint64(r.raftLog.firstIndex()):
		// The snapshot (or entries after it) arrived: replicate normally from Match.
		pr.BecomeProbe()
		pr.BecomeReplicate()
	case pr.State == tracker.StateReplicate:
		pr.Inflights.FreeLE(uint64(m.Index))
	}
	if r.maybeCommit() {
		r.onCommitAdvanced()
	} else if wasPaused {
		r.sendAppend(m.From)
	}
	// Pipelining: keep the window full while there is something to send.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == uint64(r.raftLog.lastIndex()) {
		r.send(Message{To: m.From, Type: MsgTimeoutNow})
	}
}

// handleAppendReject backs Next off using the follower's hint: with HintTerm, skip every
// entry of a term the follower cannot have (fast backtracking, §5.3 end).
func (r *raft) handleAppendReject(m *Message, pr *tracker.Progress) {
	hint := m.RejectHint
	if m.HintTerm > 0 {
		hint, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.HintTerm)
	}
	if !pr.MaybeDecrTo(uint64(m.Index), uint64(hint)) {
		return
	}
	if pr.State == tracker.StateReplicate {
		pr.BecomeProbe()
	}
	if r.knobs.NextIndexOffByOne {
		pr.Next = min(pr.Next+1, uint64(r.raftLog.lastIndex())+1) // planted bug
	}
	r.sendAppend(m.From)
}

func (r *raft) handleHeartbeatResponse(m *Message, pr *tracker.Progress) {
	pr.RecentActive = true
	pr.ProbeSent = false
	if pr.State == tracker.StateReplicate && pr.Inflights.Full() {
		// Acknowledgements may have been lost; make room so replication cannot stall.
		pr.Inflights.FreeFirstOne()
	}
	if pr.Match < uint64(r.raftLog.lastIndex()) {
		r.sendAppend(m.From)
	}
	r.handleReadAck(m)
}

func (r *raft) handleSnapStatus(m *Message, pr *tracker.Progress) {
	if pr.State != tracker.StateSnapshot {
		return
	}
	if m.Reject {
		pr.PendingSnapshot = 0 // failed: probe from Match again
	}
	pr.BecomeProbe()
	// Wait for the follower's answer (or a heartbeat response) before probing.
	pr.ProbeSent = true
}

// handleTransferLeader starts a leadership transfer to m.From (thesis §3.10): catch the
// target up, then tell it to campaign at once.
func (r *raft) handleTransferLeader(m *Message, pr *tracker.Progress) {
	target := m.From
	if r.leadTransferee != None {
		if r.leadTransferee == target {
			return
		}
		r.leadTransferee = None
	}
	if target == r.id || pr.IsLearner {
		return // a learner cannot lead
	}
	// The transfer must finish within an election timeout (tickHeartbeat aborts it).
	r.transferElapsed = 0
	r.leadTransferee = target
	if pr.Match == uint64(r.raftLog.lastIndex()) {
		r.send(Message{To: target, Type: MsgTimeoutNow})
		return
	}
	r.sendAppend(target)
}
