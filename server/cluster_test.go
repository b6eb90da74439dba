package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/statemachine"
	"github.com/raftchat/raftchat/storage/blob"
)

// testCluster is n Nodes on loopback with data in a temporary directory.
type testCluster struct {
	t       testing.TB
	dir     string
	members []Member
	nodes   []*Node // nil while stopped
	mod     func(*Config)
}

func newTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith is newTestCluster with mod applied to every node's Config.
func newTestClusterWith(t testing.TB, n int, mod func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir(), nodes: make([]*Node, n), mod: mod}
	liss := make([]net.Listener, n)
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss[i] = lis
		c.members = append(c.members, Member{ID: raft.NodeID(i + 1), PeerAddr: lis.Addr().String()})
	}
	for i := range n {
		c.start(i, liss[i])
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) config(i int) Config {
	id := raft.NodeID(i + 1)
	cfg := DefaultConfig(id, c.members, filepath.Join(c.dir, fmt.Sprint(id)))
	cfg.TickInterval = 5 * time.Millisecond
	cfg.Bootstrap = &Bootstrap{AdminUsername: "admin", AdminPasswordHash: "not-a-real-hash"}
	cfg.Seed = uint64(id) * 7919
	if c.mod != nil {
		c.mod(&cfg)
	}
	return cfg
}

func (c *testCluster) start(i int, lis net.Listener) {
	c.t.Helper()
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", c.members[i].PeerAddr); err != nil {
			c.t.Skipf("peer port of node %d taken meanwhile: %v", i+1, err)
		}
	}
	n, err := New(c.config(i))
	if err != nil {
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	n.Start(lis)
	c.nodes[i] = n
}

func (c *testCluster) stop(i int) {
	if c.nodes[i] == nil {
		return
	}
	if err := c.nodes[i].Stop(); err != nil {
		c.t.Errorf("stop node %d: %v", i+1, err)
	}
	c.nodes[i] = nil
}

// waitLeader waits until every running node agrees on one running leader, and returns its index.
func (c *testCluster) waitLeader() int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if i, ok := c.agreedLeader(); ok {
			return i
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no agreed leader within 20s")
	return -1
}

func (c *testCluster) agreedLeader() (int, bool) {
	var lead raft.NodeID
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		st := n.RaftStatus()
		if st.Leader == raft.None || (lead != raft.None && st.Leader != lead) {
			return 0, false
		}
		lead = st.Leader
	}
	i := int(lead) - 1
	if c.nodes[i] == nil || c.nodes[i].RaftStatus().Role != raft.StateLeader {
		return 0, false
	}
	return i, true
}

func createUser(name string, req uint64) *commandpb.Command {
	return &commandpb.Command{ClientId: "cluster-test", RequestId: req,
		Op: &commandpb.Command_CreateUser{CreateUser: &commandpb.CreateUser{Username: name, PasswordHash: "h"}}}
}

func (c *testCluster) propose(i int, cmd *commandpb.Command) *commandpb.Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.nodes[i].Propose(ctx, cmd)
	if err != nil {
		c.t.Fatalf("propose through node %d: %v", i+1, err)
	}
	return res
}

// hasUsers checks with a linearizable read on node i that every name exists.
// hasUsers waits until a linearizable read on node i finds every user in names (a user
// proposed by the cluster itself, such as the bootstrap admin, may commit after the read
// index of a first read).
func (c *testCluster) hasUsers(i int, names []string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		err := c.nodes[i].Read(ctx, false, func(m *statemachine.Machine) error {
			for _, name := range names {
				if _, err := m.LookupUser(name); err != nil {
					return fmt.Errorf("user %s: %w", name, err)
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			c.t.Fatalf("read on node %d: %v", i+1, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterReplicatesFailsOverAndRecovers(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitLeader()
	var names []string
	req := uint64(0)
	// Through every node: followers forward to the leader.
	for round := 0; round < 3; round++ {
		for i := range c.nodes {
			req++
			name := fmt.Sprintf("user%d", req)
			if res := c.propose(i, createUser(name, req)); res.GetCode() != commandpb.ErrorCode_OK {
				t.Fatalf("create %s through node %d: %v %s", name, i+1, res.GetCode(), res.GetError())
			}
			names = append(names, name)
		}
	}
	for i := range c.nodes {
		c.hasUsers(i, append(names, "admin"))
	}
	// The leader's cluster view reports how far each voter's log is known to match; with
	// every node caught up, a majority (at least) matches the commit index. (Ask the current
	// leader: with 5 ms ticks, a first leader whose peers connected slowly may have stepped
	// down for lack of quorum contact.)
	leader := c.waitLeader()
	st, err := c.nodes[leader].Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for _, p := range st.Peers {
		if p.Match >= st.Commit {
			matched++
		}
	}
	if st.Commit == 0 || matched < 2 {
		t.Fatalf("leader status: role %s leader %d commit %d, peers %+v: want a majority matching it", st.Role, st.Leader, st.Commit, st.Peers)
	}

	// A retried request (same client and request id) returns the first result, not a new one.
	again := c.propose((leader+1)%3, createUser(names[0], 1))
	if again.GetCode() != commandpb.ErrorCode_OK {
		t.Fatalf("retried request did not return the first result: %v %s", again.GetCode(), again.GetError())
	}

	c.stop(leader)
	next := c.waitLeader()
	if next == leader {
		t.Fatalf("stopped node %d still leads", leader+1)
	}
	follower := 3 - leader - next
	for j := 0; j < 5; j++ {
		req++
		name := fmt.Sprintf("user%d", req)
		if res := c.propose(follower, createUser(name, req)); res.GetCode() != commandpb.ErrorCode_OK {
			t.Fatalf("create %s after failover: %v %s", name, res.GetCode(), res.GetError())
		}
		names = append(names, name)
	}

	// The old leader restarts from its data directory and catches up.
	c.start(leader, nil)
	c.hasUsers(leader, names)
	c.waitLeader()

	// A whole-cluster restart: everything comes back from the data directories alone.
	for i := range c.nodes {
		c.stop(i)
	}
	for i := range c.nodes {
		c.start(i, nil)
	}
	c.waitLeader()
	for i := range c.nodes {
		c.hasUsers(i, append(names, "admin"))
	}
}

func TestConcurrentProposalsAndSubscribe(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitLeader()
	c.hasUsers(0, []string{"admin"}) // bootstrapped and applied on node 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A subscriber on node 3 must see every created user exactly once, in log order.
	const workers, each = 16, 10
	var mu sync.Mutex
	seen := map[string]int{}
	var last uint64
	subErr := make(chan error, 1)
	go func() {
		subErr <- c.nodes[2].Subscribe(ctx, 0, func(index uint64, cmd *commandpb.Command, _ *commandpb.Result) error {
			mu.Lock()
			defer mu.Unlock()
			if index != last+1 {
				return fmt.Errorf("index %d after %d", index, last)
			}
			last = index
			if u := cmd.GetCreateUser(); u != nil && cmd.GetClientId() != "cluster-test-dup" {
				seen[u.GetUsername()]++
			}
			return nil
		})
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				req := uint64(w*each + k + 1)
				pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
				res, err := c.nodes[w%3].Propose(pctx, createUser(fmt.Sprintf("w%d-%d", w, k), req))
				pcancel()
				if err != nil || res.GetCode() != commandpb.ErrorCode_OK {
					errs <- fmt.Errorf("worker %d op %d: %w (result %q)", w, k, err, res.GetError())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == workers*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber saw %d of %d users", n, workers*each)
		}
		select {
		case err := <-subErr:
			t.Fatalf("subscribe ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for name, k := range seen {
		if k != 1 {
			t.Fatalf("user %s seen %d times", name, k)
		}
	}
}

func TestUploadedChunkReachesEveryBlobStore(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitLeader()
	ok := func(res *commandpb.Result) *commandpb.Result {
		t.Helper()
		if res.GetCode() != commandpb.ErrorCode_OK {
			t.Fatalf("%v %s", res.GetCode(), res.GetError())
		}
		return res
	}
	ok(c.propose(0, createUser("carol", 1)))
	conv := ok(c.propose(1, &commandpb.Command{Actor: "carol",
		Op: &commandpb.Command_CreateGroup{CreateGroup: &commandpb.CreateGroup{Name: "files"}}})).
		GetConversation().GetConversationId()
	data := []byte("the bytes of a small file, one chunk long")
	sum := sha256.Sum256(data)
	file := ok(c.propose(2, &commandpb.Command{Actor: "carol", Op: &commandpb.Command_BeginUpload{
		BeginUpload: &commandpb.BeginUpload{ConversationId: conv, Name: "f.txt", Size: int64(len(data)),
			Sha256: sum[:], ChunkSize: int64(len(data))}}})).GetFile().GetFileId()
	ok(c.propose(0, &commandpb.Command{Actor: "carol", Op: &commandpb.Command_UploadChunk{
		UploadChunk: &commandpb.UploadChunk{FileId: file, Index: 0, Data: data, Sha256: sum[:]}}}))
	for i, n := range c.nodes {
		c.hasUsers(i, []string{"carol"}) // a linearizable read: node i applied the chunk
		r, err := n.OpenBlob(context.Background(), sum)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		got, err := io.ReadAll(r)
		_ = r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("node %d: blob %q, %v", i+1, got, err)
		}
	}
	// A node that lacks the bytes (as after catching up through a snapshot) fetches them.
	if err := c.nodes[2].blobs.(*blob.Store).Remove(sum); err != nil || c.nodes[2].blobs.Has(sum) {
		t.Fatalf("remove blob: %v", err)
	}
	r, err := c.nodes[2].OpenBlob(context.Background(), sum)
	if err != nil {
		t.Fatalf("open a blob held only by peers: %v", err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, data) || !c.nodes[2].blobs.Has(sum) {
		t.Fatalf("fetched blob %q, %v", got, err)
	}
	if _, err := c.nodes[0].OpenBlob(context.Background(), sha256.Sum256([]byte("absent"))); !errors.Is(err, service.ErrBlobNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
}

func TestDrainHandsOverLeadershipAndEndsSubscriptions(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.waitLeader()
	c.hasUsers(leader, []string{"admin"})
	subErr := make(chan error, 1)
	go func() {
		subErr <- c.nodes[leader].Subscribe(context.Background(), 0,
			func(uint64, *commandpb.Command, *commandpb.Result) error { return nil })
	}()
	c.nodes[leader].Drain(10 * time.Second)
	if err := <-subErr; !errors.Is(err, ErrStopped) {
		t.Fatalf("subscription after drain: %v", err)
	}
	if st := c.nodes[leader].RaftStatus(); st.Leader == raft.NodeID(leader+1) || st.Role == raft.StateLeader {
		t.Fatalf("node %d still leads after drain: %+v", leader+1, st)
	}
	c.stop(leader)
	// The others carry on under the new leader.
	next := c.waitLeader()
	if res := c.propose(next, createUser("after", 1)); res.GetCode() != commandpb.ErrorCode_OK {
		t.Fatalf("propose after drain: %v %s", res.GetCode(), res.GetError())
	}
}

func TestStopWithoutStart(t *testing.T) {
	c := &testCluster{t: t, dir: t.TempDir(), members: []Member{{ID: 1, PeerAddr: "127.0.0.1:1"}}}
	n, err := New(c.config(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The data directory is released: it opens again.
	n, err = New(c.config(0))
	if err != nil {
		t.Fatalf("reopen after stop: %v", err)
	}
	_ = n.Stop()
}

func TestStartHostFailureReleasesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	c := &testCluster{t: t, dir: t.TempDir(), members: []Member{{ID: 1, PeerAddr: "127.0.0.1:0"}}}
	cfg := HostConfig{Node: c.config(0), ClientAddr: "127.0.0.1:0", MetricsAddr: busy.Addr().String()}
	if _, err := StartHost(cfg); err == nil {
		t.Fatal("metrics on a busy port accepted")
	}
	cfg.MetricsAddr = ""
	h, err := StartHost(cfg)
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestReadAfterWriteOnAnotherNode: a linearizable read that starts after a write was
// acknowledged sees it on every node, also when many reads share one ReadIndex.
func TestReadAfterWriteOnAnotherNode(t *testing.T) {
	c := newTestCluster(t, 3)
	c.waitLeader()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			name := fmt.Sprintf("reader%d", w)
			res, err := c.nodes[w%3].Propose(ctx, createUser(name, uint64(w+1)))
			if err != nil || res.GetCode() != commandpb.ErrorCode_OK {
				errs <- fmt.Errorf("create %s: %w %s", name, err, res.GetError())
				return
			}
			err = c.nodes[(w+1)%3].Read(ctx, false, func(m *statemachine.Machine) error {
				_, err := m.LookupUser(name)
				return err
			})
			if err != nil {
				errs <- fmt.Errorf("read %s on node %d after the write: %w", name, (w+1)%3+1, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSnapshotsWhileServing: with snapshots every few entries, each encoded and saved off the
// loop while queries read the same state machine, concurrent writes and reads all succeed
// (run with -race: the encoding must only read), every node ends with every user, and the
// logs were compacted.
func TestSnapshotsWhileServing(t *testing.T) {
	c := newTestClusterWith(t, 3, func(cfg *Config) {
		cfg.SnapshotEveryEntries, cfg.CompactionTailEntries, cfg.SnapshotLogRatio = 8, 4, 0
	})
	c.waitLeader()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	const writers, each = 12, 15
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for k := range each {
				name := fmt.Sprintf("snapuser%d_%d", w, k)
				res, err := c.nodes[(w+k)%3].Propose(ctx, createUser(name, uint64(w*each+k+1)))
				if err != nil || res.GetCode() != commandpb.ErrorCode_OK {
					errs <- fmt.Errorf("create %s: %w %s", name, err, res.GetError())
					return
				}
				err = c.nodes[(w+k+1)%3].Read(ctx, k%2 == 0, func(m *statemachine.Machine) error {
					_ = m.Users(0)
					_ = m.Stats()
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("list users on node %d: %w", (w+k+1)%3+1, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, n := range c.nodes {
		err := n.Read(ctx, false, func(m *statemachine.Machine) error {
			for w := range writers {
				for k := range each {
					if _, err := m.LookupUser(fmt.Sprintf("snapuser%d_%d", w, k)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("node %d: %v", i+1, err)
		}
		if first, _ := n.rep.Storage().FirstIndex(); first < 10 {
			t.Errorf("node %d: log never compacted (first index %d)", i+1, first)
		}
	}
}
