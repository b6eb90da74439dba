package server

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
)

// The membership calls on in-process nodes: a learner added through a follower (forwarded
// to the leader), promotion refused off the leader with a LeaderError naming it, promotion on
// the leader, removal through a follower, the removed node knowing it was removed (and
// stopping its clock), and its ID refused ever after. The whole operator path (chatd run --join, chat cluster) is e2e.TestReplaceNode.
func TestMembershipCalls(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.waitLeader()
	follower := (lead + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(4, append(slices.Clone(c.members), Member{ID: 4, PeerAddr: lis.Addr().String()}),
		filepath.Join(c.dir, "4"))
	cfg.TickInterval, cfg.Join, cfg.Seed = 5*time.Millisecond, true, 4
	n4, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n4.Start(lis)
	t.Cleanup(func() { _ = n4.Stop() })
	if st := n4.RaftStatus(); len(st.Peers) != 0 || len(st.Learners) != 0 {
		t.Fatalf("joiner starts with a configuration: %+v", st)
	}

	if _, err := c.nodes[follower].AddMember(ctx, service.MemberAdd{ID: 0, PeerAddr: "x:1"}, func(service.MemberProgress) {}); !errors.Is(err, service.ErrInvalidMember) {
		t.Fatalf("node 0: %v", err)
	}
	add := service.MemberAdd{ID: 4, PeerAddr: lis.Addr().String(), ClientAddr: "127.0.0.1:7004", Learner: true}
	var stages []string
	progress := func(p service.MemberProgress) { stages = append(stages, p.Stage) }
	l, err := c.nodes[follower].AddMember(ctx, add, progress)
	if err != nil {
		t.Fatalf("add learner through a follower: %v", err)
	}
	if got := memberKinds(l); !slices.Equal(got, []string{"1 voter", "2 voter", "3 voter", "4 learner"}) {
		t.Fatalf("members after adding the learner: %v", got)
	}
	waitFor(t, "the joiner to learn the configuration", func() bool {
		st := n4.RaftStatus()
		return len(st.Peers) == 3 && slices.Equal(st.Learners, []raft.NodeID{4})
	})

	add.Learner = false
	_, err = c.nodes[follower].AddMember(ctx, add, progress)
	var le *service.LeaderError
	if !errors.As(err, &le) || le.Leader != raft.NodeID(lead+1) {
		t.Fatalf("promotion off the leader: %v", err)
	}
	if _, err := c.nodes[lead].AddMember(ctx, add, progress); err != nil {
		t.Fatalf("promote on the leader: %v", err)
	}
	if !slices.Contains(stages, "caught-up") || stages[len(stages)-1] != "voter" {
		t.Fatalf("progress: %v", stages)
	}
	if _, err := c.nodes[lead].AddMember(ctx, service.MemberAdd{ID: 4, PeerAddr: add.PeerAddr, Learner: true}, progress); !errors.Is(err, raft.ErrConfChangeRefused) {
		t.Fatalf("adding a voter as a learner: %v", err)
	}
	// Every node's address book holds node 4's addresses from the change.
	for i, n := range c.nodes {
		if m, ok := n.book.get(4); !ok || m.PeerAddr != add.PeerAddr || m.ClientAddr != add.ClientAddr {
			t.Fatalf("node %d address book: %+v %v", i+1, m, ok)
		}
	}

	l, err = c.nodes[follower].RemoveMember(ctx, 4)
	if err != nil {
		t.Fatalf("remove through a follower: %v", err)
	}
	if got := memberKinds(l); !slices.Equal(got, []string{"1 voter", "2 voter", "3 voter"}) {
		t.Fatalf("members after the removal: %v", got)
	}
	if _, err := c.nodes[follower].RemoveMember(ctx, 4); !errors.Is(err, raft.ErrConfChangeRefused) {
		t.Fatalf("removing a node that is not a member: %v", err)
	}
	// Two changes at once: one is refused while the other applies (the previous change is
	// not applied yet), and asked again.
	errs := make(chan error, 2)
	for _, id := range []raft.NodeID{5, 6} {
		go func() {
			_, err := c.nodes[lead].AddMember(ctx, service.MemberAdd{ID: id, PeerAddr: "127.0.0.1:1", Learner: true}, func(service.MemberProgress) {})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent learner adds: %v", err)
		}
	}
	for _, id := range []raft.NodeID{5, 6} {
		if _, err := c.nodes[lead].RemoveMember(ctx, id); err != nil {
			t.Fatalf("remove learner %d: %v", id, err)
		}
	}
	waitFor(t, "node 4 to apply its removal", func() bool {
		st, _ := n4.Status(ctx)
		return st.Removed
	})
	if _, ok := c.nodes[lead].book.get(4); ok {
		t.Fatal("removed node still in the leader's address book")
	}
	// Its clock runs on for a while (a voter that missed the removal's commit may still need
	// it), then stops.
	if !n4.ticking() {
		t.Fatal("removed node stopped Raft's clock at once")
	}
	n4.removedAt.Store(time.Now().Add(-time.Hour).UnixNano())
	if n4.ticking() {
		t.Fatal("removed node still runs Raft's clock an hour later")
	}

	// A removed ID never joins again (raft.ConfState.Removed): refused at once, also by a
	// follower, whose leader would drop the change without a word.
	add.Learner = true
	for _, i := range []int{follower, lead} {
		if _, err := c.nodes[i].AddMember(ctx, add, progress); !errors.Is(err, raft.ErrConfChangeRefused) {
			t.Fatalf("adding the removed node again through node %d: %v", i+1, err)
		}
	}
}

func memberKinds(l service.MemberList) []string {
	var out []string
	for _, m := range l.Members {
		kind := "learner"
		if m.Voter {
			kind = "voter"
		}
		out = append(out, string(rune('0'+m.ID))+" "+kind)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
