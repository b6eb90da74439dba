package raft

import "github.com/raftchat/raftchat/raft/quorum"

// stepCandidate serves both StateCandidate and StatePreCandidate.
func stepCandidate(r *raft, m *Message) error {
	voteResp := MsgVoteResp
	if r.state == StatePreCandidate {
		voteResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		return errNoLeaderDropped
	case MsgApp:
		// §5.2: a candidate hearing from a leader of its term returns to follower.
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case voteResp:
		r.handleVoteResponse(m)
	default:
		// MsgTimeoutNow, reads and transfers need a leader: dropped.
	}
	return nil
}

func (r *raft) handleVoteResponse(m *Message) {
	if r.state == StatePreCandidate && m.Term != r.term+1 && !m.Reject {
		return // a grant from an earlier pre-election
	}
	switch r.poll(m.From, !m.Reject) {
	case quorum.VoteWon:
		if r.state == StatePreCandidate {
			r.campaign(campaignElection)
			return
		}
		r.becomeLeader()
		r.bcastAppend()
	case quorum.VoteLost:
		// Keep the term: a higher one would have made us a follower in Step already.
		r.becomeFollower(r.term, None)
	case quorum.VotePending:
	}
}

func stepFollower(r *raft, m *Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None {
			return errNoLeaderDropped
		}
		// Forward a copy: the caller's slice may be reused.
		m.Entries = append([]Entry(nil), m.Entries...)
		m.To = r.lead
		r.send(*m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader, MsgReadIndex:
		if r.lead == None {
			return nil // dropped: nobody to forward to
		}
		m.To = r.lead
		m.Term = 0
		r.send(*m)
	case MsgTimeoutNow:
		// The leader asked us to take over (thesis §3.10): campaign now, skipping PreVote and
		// the lease, which would otherwise stop a planned handover. Only a voter can.
		if r.isVoter(r.id) {
			r.campaign(campaignTransferType)
		}
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	default:
	}
	return nil
}

// handleAppendEntries is the follower's AppendEntries receiver (§5.3).
func (r *raft) handleAppendEntries(m *Message) {
	if m.Index < r.raftLog.committed {
		// Everything up to our commit index matches the leader (§5.4): acknowledge that.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if last, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		if t := r.raftLog.truncatedAt; t != 0 {
			r.raftLog.truncatedAt = 0
			r.dropStaleAcks(t)
		}
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	// Reject with a hint: the last index <= m.Index whose term is <= m.LogTerm, the first
	// place our logs can possibly match, so the leader can skip whole terms at once.
	hint, hintTerm := r.raftLog.findConflictByTerm(min(m.Index, r.raftLog.lastIndex()), m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hint, HintTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m *Message) {
	r.raftLog.commitTo(min(m.Commit, r.raftLog.lastIndex()))
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context})
}

// handleSnapshot installs a leader's snapshot (§7, Figure 13).
func (r *raft) handleSnapshot(m *Message) {
	if m.Snapshot == nil {
		return
	}
	if r.restore(*m.Snapshot) {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.lastIndex()})
		return
	}
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
}

// restore applies snapshot s unless it is stale. Figure 13 rules 6 and 7: if our log holds
// the snapshot's last entry, keep the entries after it; otherwise discard the entire log.
func (r *raft) restore(s Snapshot) bool {
	meta := s.Metadata
	if meta.Index <= r.raftLog.committed {
		return false
	}
	if r.raftLog.matchTerm(meta.Index, meta.Term) {
		r.raftLog.commitTo(meta.Index)
		return false
	}
	r.dropStaleAcks(r.raftLog.committed + 1)
	r.raftLog.restore(s)
	if len(meta.ConfState.Voters) > 0 && meta.ConfState.validate() == nil {
		// The snapshot replaces the log that held the configuration changes up to it.
		r.setConf(meta.ConfState)
	}
	r.logger.Info("restored snapshot", "term", uint64(r.term), "index", uint64(meta.Index))
	return true
}

// dropStaleAcks removes queued, not yet handed out acknowledgements that cover index from or
// later. They were true when generated, but the entries they cover were replaced before
// reaching stable storage, and Ready sends messages only after persisting the log as it is
// now: sent, they would vouch for entries that exist nowhere (Figure 2: reply success only
// for stored entries), and an old leader could count them towards a commit.
func (r *raft) dropStaleAcks(from Index) {
	kept := r.msgs[:0]
	for _, m := range r.msgs {
		if m.Type == MsgAppResp && !m.Reject && m.Index >= from {
			continue
		}
		kept = append(kept, m)
	}
	clear(r.msgs[len(kept):])
	r.msgs = kept
}
