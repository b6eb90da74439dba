package raft

import (
	"errors"
	"testing"
)

// Tests of the extensions in Ongaro's thesis: PreVote (§9.6), CheckQuorum and the leader lease
// on votes (§6.2, §4.2.3), leadership transfer (§3.10).

func withPreVoteCheckQuorum(c *Config) { c.PreVote, c.CheckQuorum = true, true }

// §9.6: a partitioned node running PreVote does not increment its term, however long it
// is cut off.
func TestPreVoteKeepsTermWhilePartitioned(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	term := nw.r(3).term
	nw.isolate(3)
	nw.tickAll(10 * DefaultElectionTimeoutTicks)
	if got := nw.r(3).term; got != term {
		t.Fatalf("isolated node's term grew from %d to %d", term, got)
	}
	if nw.r(3).state != StatePreCandidate {
		t.Fatalf("isolated node is %s, want StatePreCandidate", nw.r(3).state)
	}
}

// §9.6: when it rejoins, the partitioned node does not depose the healthy leader.
func TestPreVoteRejoinDoesNotDisrupt(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.isolate(3)
	nw.tickAll(5 * DefaultElectionTimeoutTicks)
	term := nw.r(1).term
	nw.heal()
	nw.tickAll(3 * DefaultElectionTimeoutTicks)
	if nw.leader() != 1 || nw.r(1).term != term {
		t.Fatalf("leader %d term %d, want leader 1 still at term %d", nw.leader(), nw.r(1).term, term)
	}
	if !sameLog(nw, 1, 3) {
		t.Fatal("rejoined node did not catch up")
	}
}

// Without PreVote, the same rejoining node does disrupt (it bumped its term): the contrast
// shows the test above can fail.
func TestWithoutPreVoteRejoinDisrupts(t *testing.T) {
	nw := electLeader(t, 3, nil)
	term := nw.r(1).term
	nw.isolate(3)
	nw.tickAll(5 * DefaultElectionTimeoutTicks)
	nw.heal()
	nw.tickAll(3 * DefaultElectionTimeoutTicks)
	if nw.r(1).term == term {
		t.Fatal("term did not change: the rejoining node should have forced an election")
	}
}

// §9.6: PreVote grants do not change the voter's term or vote; a pre-candidate that wins its
// pre-election runs a real election.
func TestPreVoteThenElection(t *testing.T) {
	nw := newTestNet(t, 3, withPreVoteCheckQuorum)
	nw.campaign(2)
	if nw.leader() != 2 || nw.r(2).term != 1 {
		t.Fatalf("leader %d term %d, want 2 at term 1", nw.leader(), nw.r(2).term)
	}
}

// §6.2: with CheckQuorum a leader that has not heard from a quorum for an election timeout
// steps down.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.isolate(1)
	nw.tickAll(2 * DefaultElectionTimeoutTicks)
	if nw.r(1).state == StateLeader {
		t.Fatal("isolated leader did not step down")
	}
	if err := nw.nodes[1].rn.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("propose on deposed leader: %v", err)
	}
}

// §6.2: a leader in contact with a quorum keeps leading through many check periods.
func TestCheckQuorumLeaderStaysWithQuorum(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.isolate(3)
	nw.tickAll(5 * DefaultElectionTimeoutTicks)
	if nw.leader() != 1 {
		t.Fatalf("leader %d, want 1", nw.leader())
	}
}

// §4.2.3: a follower that heard from a leader within the election timeout ignores vote
// requests, so a node with a newer log but a stale view cannot disrupt.
func TestCheckQuorumLeaseIgnoresVotes(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, withPreVoteCheckQuorum)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1})
	drain(t, rn, st)
	stepOK(t, rn, Message{From: 3, To: 1, Type: MsgVote, Term: 2})
	d := drain(t, rn, st)
	if len(d.msgs) != 0 || rn.raft.term != 1 {
		t.Fatalf("vote during lease: msgs %+v term %d", d.msgs, rn.raft.term)
	}
	// After an election timeout without the leader, votes are considered again.
	for i := 0; i < DefaultElectionTimeoutTicks; i++ {
		rn.Tick()
	}
	if rn.raft.state != StateFollower {
		t.Fatalf("setup: %s", rn.raft.state) // the randomized timeout is at least 2x longer
	}
	stepOK(t, rn, Message{From: 3, To: 1, Type: MsgVote, Term: 2})
	d = drain(t, rn, st)
	if resp := msgsOf(d.msgs, MsgVoteResp); len(resp) != 1 || resp[0].Reject {
		t.Fatalf("vote after lease expiry: %+v", d.msgs)
	}
}

// §3.10: leadership transfer catches the target up, then tells it to campaign; it wins.
func TestTransferLeadership(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.isolate(3)
	_ = nw.propose(1, "a")
	nw.heal()
	nw.nodes[1].rn.TransferLeadership(3)
	nw.settle()
	if nw.leader() != 3 {
		t.Fatalf("leader %d after transfer, want 3", nw.leader())
	}
	if !sameLog(nw, 1, 3) {
		t.Fatal("logs differ after transfer")
	}
}

// §3.10: a follower forwards a transfer request to the leader.
func TestTransferLeadershipViaFollower(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.nodes[2].rn.TransferLeadership(2)
	nw.settle()
	if nw.leader() != 2 {
		t.Fatalf("leader %d, want 2", nw.leader())
	}
}

// §3.10: proposals are dropped during a transfer, and a transfer that cannot finish is
// abandoned after an election timeout.
func TestTransferDropsProposalsThenAborts(t *testing.T) {
	nw := electLeader(t, 3, nil)
	nw.isolate(3)
	nw.nodes[1].rn.TransferLeadership(3)
	nw.settle()
	if nw.r(1).leadTransferee != 3 {
		t.Fatal("transfer not started")
	}
	if err := nw.propose(1, "x"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("propose during transfer: %v", err)
	}
	nw.tickAll(DefaultElectionTimeoutTicks)
	if nw.r(1).leadTransferee != None || nw.leader() != 1 {
		t.Fatalf("transfer not aborted: transferee %d leader %d", nw.r(1).leadTransferee, nw.leader())
	}
	if err := nw.propose(1, "y"); err != nil {
		t.Fatalf("propose after abort: %v", err)
	}
}

// §3.10: the transfer campaign bypasses the followers' lease (CheckQuorum) and PreVote.
func TestTransferBypassesLease(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	term := nw.r(1).term
	nw.nodes[1].rn.TransferLeadership(2)
	nw.settle()
	if nw.leader() != 2 || nw.r(2).term != term+1 {
		t.Fatalf("leader %d term %d", nw.leader(), nw.r(2).term)
	}
}

// §6.2 with §3.10: transfer requests reaching an isolated leader do not postpone its
// CheckQuorum step-down.
func TestTransferDoesNotPostponeCheckQuorum(t *testing.T) {
	nw := electLeader(t, 3, withPreVoteCheckQuorum)
	nw.isolate(1)
	for i := 0; i <= 2*DefaultElectionTimeoutTicks; i++ {
		nw.nodes[1].rn.TransferLeadership(NodeID(2 + i%2))
		nw.tickAll(1)
	}
	if nw.r(1).state == StateLeader {
		t.Fatal("isolated leader still leads after two election timeouts of transfer requests")
	}
}
