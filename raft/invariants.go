package raft

import "fmt"

// checkInvariants runs the expensive sweeps when built with -tags invariants.
func (rn *RawNode) checkInvariants() {
	if !invariantsOn {
		return
	}
	if err := rn.raft.invariantViolation(); err != nil {
		panic(fmt.Sprintf("raft invariant violated on node %d: %v", rn.raft.id, err))
	}
}

// invariantViolation sweeps the node's state and describes the first broken invariant.
func (r *raft) invariantViolation() error {
	l := &r.raftLog
	last := l.lastIndex()
	if l.committed > last {
		return fmt.Errorf("committed %d beyond last index %d", l.committed, last)
	}
	if l.applied > l.committed && !r.knobs.ApplyBeforeCommit {
		return fmt.Errorf("applied %d beyond committed %d", l.applied, l.committed)
	}
	u := &l.unstable
	if u.snapshot != nil && u.offset != u.snapshot.Metadata.Index+1 {
		return fmt.Errorf("unstable offset %d does not follow snapshot %d", u.offset, u.snapshot.Metadata.Index)
	}
	if u.inProgress < u.offset || u.inProgress > u.end() {
		return fmt.Errorf("unstable entries in progress up to %d outside [%d, %d]", u.inProgress, u.offset, u.end())
	}
	prevTerm := Term(0)
	for i, e := range u.entries {
		if e.Index != u.offset+Index(i) {
			return fmt.Errorf("unstable entry %d has index %d, want %d", i, e.Index, u.offset+Index(i))
		}
		if e.Term < prevTerm || e.Term > r.term {
			return fmt.Errorf("unstable entry %d has term %d (previous %d, current term %d)", e.Index, e.Term, prevTerm, r.term)
		}
		prevTerm = e.Term
	}
	return r.roleViolation()
}

func (r *raft) roleViolation() error {
	switch r.state {
	case StateLeader:
		if r.lead != r.id || r.vote != r.id && !r.knobs.VoteBeforePersist {
			return fmt.Errorf("leader with lead %d vote %d", r.lead, r.vote)
		}
		for i, id := range r.members {
			pr := &r.prs[i]
			if pr.Match >= pr.Next {
				return fmt.Errorf("progress of %d: match %d >= next %d", id, pr.Match, pr.Next)
			}
			if Index(pr.Match) > r.raftLog.lastIndex() {
				return fmt.Errorf("progress of %d: match %d beyond leader's last index", id, pr.Match)
			}
		}
	case StateCandidate:
		if r.vote != r.id || r.lead != None {
			return fmt.Errorf("candidate with vote %d lead %d", r.vote, r.lead)
		}
	case StatePreCandidate, StateFollower:
		if r.lead == r.id {
			return fmt.Errorf("%s believes itself leader", r.state)
		}
	}
	return nil
}
