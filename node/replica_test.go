package node

import (
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

// cluster wires replicas with an in-order, lossless in-memory network.
type cluster struct {
	t     *testing.T
	reps  map[raft.NodeID]*Replica
	logs  map[raft.NodeID]*MemLogStore
	queue []raft.Message
	ids   []raft.NodeID
	mod   func(*Config)
}

func newCluster(t *testing.T, n int, snapEvery uint64) *cluster {
	return newClusterWith(t, n, snapEvery, nil)
}

// newClusterWith is newCluster with mod applied to every replica's Config.
func newClusterWith(t *testing.T, n int, snapEvery uint64, mod func(*Config)) *cluster {
	c := &cluster{t: t, reps: map[raft.NodeID]*Replica{}, logs: map[raft.NodeID]*MemLogStore{}, mod: mod}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, raft.NodeID(i))
	}
	for _, id := range c.ids {
		c.logs[id] = NewMemLogStore()
		c.start(id, snapEvery)
	}
	return c
}

func (c *cluster) start(id raft.NodeID, snapEvery uint64) {
	cfg := Config{
		ID: id, Voters: c.ids, ElectionTimeoutTicks: 10, HeartbeatIntervalTicks: 1, Seed: 7,
		Log: c.logs[id], Blobs: NewMemBlobStore(),
		Send:                 func(ms []raft.Message) { c.queue = append(c.queue, ms...) },
		StateMachine:         statemachine.DefaultConfig(),
		SnapshotEveryEntries: snapEvery, CompactionTailEntries: 2,
	}
	if c.mod != nil {
		c.mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.reps[id] = r
}

// settle delivers messages and processes until the cluster is quiet.
func (c *cluster) settle() {
	for _, id := range c.ids {
		c.process(id)
	}
	for steps := 0; len(c.queue) > 0; steps++ {
		if steps > 100000 {
			c.t.Fatal("cluster does not settle")
		}
		m := c.queue[0]
		c.queue = c.queue[1:]
		if r := c.reps[m.To]; r != nil {
			_ = r.Step(m)
			c.process(m.To)
		}
	}
}

func (c *cluster) process(id raft.NodeID) {
	if r := c.reps[id]; r != nil {
		if err := r.Process(); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) elect(id raft.NodeID) {
	if err := c.reps[id].Campaign(); err != nil {
		c.t.Fatal(err)
	}
	c.settle()
	if st := c.reps[id].Status(); st.Role != raft.StateLeader {
		c.t.Fatalf("node %d is %s after campaigning", id, st.Role)
	}
}

func cmd(req uint64, op any) *commandpb.Command {
	c := &commandpb.Command{ClientId: "test", RequestId: req, TimeUnixMs: 1000 + int64(req)}
	switch o := op.(type) {
	case *commandpb.Bootstrap:
		c.Op = &commandpb.Command_Bootstrap{Bootstrap: o}
	case *commandpb.CreateUser:
		c.Op = &commandpb.Command_CreateUser{CreateUser: o}
	}
	return c
}

func bootstrapCmd(req uint64) *commandpb.Command {
	return cmd(req, &commandpb.Bootstrap{SigningKey: []byte("0123456789abcdef0123456789abcdef"),
		AdminUsername: "admin", AdminPasswordHash: "h"})
}

func userCmd(req uint64) *commandpb.Command {
	return cmd(req, &commandpb.CreateUser{Username: fmt.Sprintf("user%d", req), PasswordHash: "h",
		Role: commandpb.Role_ROLE_USER})
}

// propose submits through node via and waits for the result.
func (c *cluster) propose(via raft.NodeID, x *commandpb.Command) *commandpb.Result {
	var got *commandpb.Result
	var gotErr error
	done := false
	c.reps[via].Propose(x, func(res *commandpb.Result, err error) { got, gotErr, done = res, err, true })
	c.settle()
	if !done {
		c.t.Fatalf("proposal %d via %d never completed", x.RequestId, via)
	}
	if gotErr != nil {
		c.t.Fatalf("proposal %d via %d: %v", x.RequestId, via, gotErr)
	}
	return got
}

func TestReplicaReplicatesAndAnswersProposals(t *testing.T) {
	c := newCluster(t, 3, 1000)
	c.elect(1)
	if res := c.propose(2, bootstrapCmd(1)); res.GetCode() != commandpb.ErrorCode_OK {
		t.Fatalf("bootstrap via follower: %v", res)
	}
	for i := uint64(2); i < 10; i++ {
		c.propose(raft.NodeID(1+i%3), userCmd(i))
	}
	// A retry with the same request id gets the first result, not a second application.
	first := c.propose(1, userCmd(5))
	if first.GetCode() != commandpb.ErrorCode_OK {
		t.Fatalf("retry of request 5 got %v, want the first (OK) result", first)
	}
	for _, id := range c.ids {
		st := c.reps[id].Status()
		if st.Applied != c.reps[1].Status().Applied {
			t.Fatalf("node %d applied %d, leader %d", id, st.Applied, c.reps[1].Status().Applied)
		}
		if _, err := c.reps[id].Machine().LookupUser("user9"); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}
}

func TestReplicaProposalWithoutLeaderFails(t *testing.T) {
	c := newCluster(t, 3, 1000)
	var gotErr error
	called := false
	c.reps[1].Propose(bootstrapCmd(1), func(_ *commandpb.Result, err error) { gotErr, called = err, true })
	c.process(1)
	if !called || gotErr == nil {
		t.Fatalf("proposal with no leader: called=%v err=%v", called, gotErr)
	}
	readErr := error(nil)
	c.reps[1].ReadIndex(func(err error) { readErr = err })
	c.process(1)
	if readErr == nil {
		t.Fatal("read with no leader succeeded")
	}
}

func TestReplicaReadIndex(t *testing.T) {
	c := newCluster(t, 3, 1000)
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	c.propose(1, userCmd(2))
	for _, id := range c.ids {
		served := false
		c.reps[id].ReadIndex(func(err error) {
			if err != nil {
				t.Fatalf("read via %d: %v", id, err)
			}
			if _, err := c.reps[id].Machine().LookupUser("user2"); err != nil {
				t.Fatalf("read via %d does not see user2: %v", id, err)
			}
			served = true
		})
		c.settle()
		if !served {
			t.Fatalf("read via %d never served", id)
		}
	}
}

func TestReplicaSnapshotsAndRecovers(t *testing.T) {
	c := newCluster(t, 3, 5)
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	for i := uint64(2); i < 20; i++ {
		c.propose(1, userCmd(i))
	}
	_, snap, ents, _ := c.logs[3].Load()
	if snap.IsEmpty() {
		t.Fatal("no snapshot saved after 20 entries with SnapshotEveryEntries 5")
	}
	if len(ents) > 0 && ents[0].Index != snap.Metadata.Index+1 {
		t.Fatalf("log starts at %d after snapshot %d", ents[0].Index, snap.Metadata.Index)
	}
	applied := c.reps[3].Status().Applied
	c.start(3, 5)    // restart node 3 from its log store
	c.reps[1].Tick() // a heartbeat tells it who leads
	c.settle()
	if got := c.reps[3].Status().Applied; got < applied {
		t.Fatalf("restarted node applied %d, had %d", got, applied)
	}
	if _, err := c.reps[3].Machine().LookupUser("user19"); err != nil {
		t.Fatalf("restarted node lost state: %v", err)
	}
	c.propose(3, userCmd(20))
	if _, err := c.reps[2].Machine().LookupUser("user20"); err != nil {
		t.Fatalf("cluster stuck after restart: %v", err)
	}
}

func TestReplicaLaggingFollowerGetsSnapshot(t *testing.T) {
	c := newCluster(t, 3, 5)
	c.elect(1)
	down := c.reps[3]
	c.reps[3] = nil // partitioned away: messages to it are lost
	c.propose(1, bootstrapCmd(1))
	for i := uint64(2); i < 30; i++ {
		c.propose(1, userCmd(i))
	}
	c.reconnectFromSnapshot(3, down, "user29")
}

// reconnectFromSnapshot puts replica rep back as node id, behind the leader (node 1) by more
// than its log holds, and checks that it catches up from the leader's snapshot and then
// knows user.
func (c *cluster) reconnectFromSnapshot(id raft.NodeID, rep *Replica, user string) {
	c.t.Helper()
	c.reps[id] = rep
	restored := false
	rep.OnRestore(func(raft.Index) { restored = true })
	for i := 0; i < 5; i++ {
		c.reps[1].Tick()
		c.settle()
	}
	if !restored {
		c.t.Fatal("lagging follower was not sent a snapshot")
	}
	if _, err := rep.Machine().LookupUser(user); err != nil {
		c.t.Fatalf("follower after snapshot: %v", err)
	}
}

// Once its snapshot is durable a leader holds no copy of the encoded state: a lagging
// follower is sent the snapshot read back from the LogStore. While the store cannot produce
// it the follower waits (and nothing fails); once it can, the follower catches up.
func TestLaggingFollowerGetsSnapshotReadBack(t *testing.T) {
	c := newCluster(t, 3, 5)
	c.elect(1)
	down := c.reps[3]
	c.reps[3] = nil
	c.propose(1, bootstrapCmd(1))
	for i := uint64(2); i < 30; i++ {
		c.propose(1, userCmd(i))
	}
	saved := c.logs[1].snap
	if saved.IsEmpty() {
		t.Fatal("leader saved no snapshot")
	}
	c.logs[1].snap = raft.Snapshot{} // the store cannot read it back for now
	c.reps[3] = down
	restored := false
	down.OnRestore(func(raft.Index) { restored = true })
	for i := 0; i < 5; i++ {
		c.reps[1].Tick()
		c.settle()
	}
	if restored {
		t.Fatal("follower restored a snapshot the leader should no longer hold in memory")
	}
	c.logs[1].snap = saved
	c.reps[3] = nil
	c.reconnectFromSnapshot(3, down, "user29")
}
