package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/raftchat/raftchat/raft"
)

// recorder collects what a transport hands to its node.
type recorder struct {
	mu          sync.Mutex
	msgs        []raft.Message
	unreachable map[raft.NodeID]int
	snaps       []bool // failed flags, in order
	changed     chan struct{}
}

func newRecorder() *recorder {
	return &recorder{unreachable: map[raft.NodeID]int{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) deliver(m raft.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) reportUnreachable(id raft.NodeID) {
	r.mu.Lock()
	r.unreachable[id]++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) reportSnapshot(_ raft.NodeID, failed bool) {
	r.mu.Lock()
	r.snaps = append(r.snaps, failed)
	r.mu.Unlock()
	r.poke()
}

// waitFor blocks until cond holds (checked under the lock after every event) or fails the
// test after a generous deadline; it never asserts on timing.
func (r *recorder) waitFor(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type testNode struct {
	t   *testing.T
	tr  *Transport
	rec *recorder
	lis net.Listener
	err chan error
}

type tlsPair struct {
	server, client credentials.TransportCredentials
}

// startCluster starts n transports on loopback listeners, all stopped when the test ends.
func startCluster(t *testing.T, n int, tweak func(*Config), creds []tlsPair) []*testNode {
	t.Helper()
	addrs := map[raft.NodeID]string{}
	liss := make([]net.Listener, n)
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss[i] = lis
		addrs[raft.NodeID(i+1)] = lis.Addr().String()
	}
	nodes := make([]*testNode, n)
	for i := range n {
		nodes[i] = startNode(t, raft.NodeID(i+1), addrs, liss[i], tweak, creds)
	}
	return nodes
}

func startNode(t *testing.T, id raft.NodeID, addrs map[raft.NodeID]string, lis net.Listener,
	tweak func(*Config), creds []tlsPair) *testNode {
	t.Helper()
	rec := newRecorder()
	cfg := DefaultConfig(id, addrs)
	cfg.Deliver, cfg.ReportUnreachable, cfg.ReportSnapshot = rec.deliver, rec.reportUnreachable, rec.reportSnapshot
	cfg.BackoffMin, cfg.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	if creds != nil {
		cfg.ServerCreds, cfg.ClientCreds = creds[id-1].server, creds[id-1].client
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{t: t, tr: tr, rec: rec, lis: lis, err: make(chan error, 1)}
	go func() { tn.err <- tr.Serve(lis) }()
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) stop() {
	if tn.tr == nil {
		return
	}
	tn.tr.Close()
	tn.tr = nil
	if err := <-tn.err; err != nil {
		tn.t.Errorf("serve: %v", err)
	}
}

func heartbeat(from, to raft.NodeID, commit raft.Index) raft.Message {
	return raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: 1, Commit: commit}
}

func TestDeliversInOrderAcrossPeers(t *testing.T) {
	nodes := startCluster(t, 3, nil, nil)
	const count = 2000
	for i := 1; i <= count; i++ {
		nodes[0].tr.Send([]raft.Message{heartbeat(1, 2, raft.Index(i)), heartbeat(1, 3, raft.Index(i))})
		if i%500 == 0 {
			// Let the queue drain so the bound is never hit; drops are tested elsewhere.
			nodes[1].rec.waitFor(t, "progress", func(r *recorder) bool { return len(r.msgs) >= i/2 })
		}
	}
	for _, n := range nodes[1:] {
		n.rec.waitFor(t, "all heartbeats", func(r *recorder) bool { return len(r.msgs) == count })
		n.rec.mu.Lock()
		for i, m := range n.rec.msgs {
			if m.Commit != raft.Index(i+1) || m.From != 1 {
				t.Fatalf("message %d: got commit %d from %d", i, m.Commit, m.From)
			}
		}
		n.rec.mu.Unlock()
	}
	// Node 2 heard from node 1 and holds an outbound stream to it; it reaches node 3 too.
	nodes[1].rec.waitFor(t, "streams up", func(*recorder) bool { return len(nodes[1].tr.Reachable(time.Minute)) == 2 })
	// Once node 3 is gone and its stream has broken, only node 1 is left.
	nodes[2].stop()
	nodes[1].rec.waitFor(t, "node 3 unreachable", func(*recorder) bool {
		got := nodes[1].tr.Reachable(0)
		return len(got) == 1 && got[0] == 1
	})
}

func TestFullQueueDropsAndReportsUnreachable(t *testing.T) {
	nodes := startCluster(t, 2, func(c *Config) { c.QueueMessages = 4 }, nil)
	// Stop the receiver so nothing drains the sender's queue for long.
	nodes[1].stop()
	msgs := make([]raft.Message, 100)
	for i := range msgs {
		msgs[i] = heartbeat(1, 2, raft.Index(i))
	}
	nodes[0].tr.Send(msgs)
	nodes[0].rec.waitFor(t, "unreachable report", func(r *recorder) bool { return r.unreachable[2] > 0 })
	if st := nodes[0].tr.Stats(); st.Dropped == 0 || st.Dropped > 100 {
		t.Fatalf("dropped %d of 100 messages into a queue of 4", st.Dropped)
	}
}

func TestReconnectsAfterPeerRestart(t *testing.T) {
	nodes := startCluster(t, 2, nil, nil)
	nodes[0].tr.Send([]raft.Message{heartbeat(1, 2, 1)})
	nodes[1].rec.waitFor(t, "first message", func(r *recorder) bool { return len(r.msgs) == 1 })
	addr := nodes[1].lis.Addr().String()
	nodes[1].stop()
	nodes[0].rec.waitFor(t, "stream break noticed", func(r *recorder) bool { return r.unreachable[2] > 0 })

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	addrs := map[raft.NodeID]string{1: nodes[0].lis.Addr().String(), 2: addr}
	restarted := startNode(t, 2, addrs, lis, nil, nil)
	// Keep sending until one gets through: messages sent while the stream is down are lost.
	for i := raft.Index(2); ; i++ {
		nodes[0].tr.Send([]raft.Message{heartbeat(1, 2, i)})
		restarted.rec.mu.Lock()
		got := len(restarted.rec.msgs)
		restarted.rec.mu.Unlock()
		if got > 0 {
			break
		}
		if i > 20000 {
			t.Fatal("no message reached the restarted peer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSnapshotInChunks(t *testing.T) {
	nodes := startCluster(t, 2, func(c *Config) { c.SnapshotChunkBytes = 1000 }, nil)
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 175) // 3500 bytes: 3.5 chunks
	snap := raft.Snapshot{Data: data, Metadata: raft.SnapshotMetadata{Index: 42, Term: 3,
		ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2}}}}
	nodes[0].tr.Send([]raft.Message{{Type: raft.MsgSnap, From: 1, To: 2, Term: 3, Snapshot: &snap}})
	nodes[0].rec.waitFor(t, "snapshot report", func(r *recorder) bool { return len(r.snaps) == 1 })
	if nodes[0].rec.snaps[0] {
		t.Fatal("snapshot reported failed")
	}
	nodes[1].rec.waitFor(t, "snapshot delivered", func(r *recorder) bool { return len(r.msgs) == 1 })
	got := nodes[1].rec.msgs[0]
	if got.Type != raft.MsgSnap || got.Snapshot == nil || !bytes.Equal(got.Snapshot.Data, data) ||
		got.Snapshot.Metadata.Index != 42 || len(got.Snapshot.Metadata.ConfState.Voters) != 2 {
		t.Fatalf("reassembled snapshot differs: %+v", got.Snapshot.Metadata)
	}
}

func TestSnapshotToDeadPeerFails(t *testing.T) {
	nodes := startCluster(t, 2, nil, nil)
	nodes[1].stop()
	snap := raft.Snapshot{Data: []byte("x"), Metadata: raft.SnapshotMetadata{Index: 1, Term: 1}}
	nodes[0].tr.Send([]raft.Message{{Type: raft.MsgSnap, From: 1, To: 2, Snapshot: &snap}})
	nodes[0].rec.waitFor(t, "snapshot report", func(r *recorder) bool { return len(r.snaps) == 1 })
	if !nodes[0].rec.snaps[0] {
		t.Fatal("snapshot to a stopped peer reported success")
	}
}

func TestMisaddressedMessagesDropped(t *testing.T) {
	nodes := startCluster(t, 2, nil, nil)
	// A message claiming to come from node 3 on node 1's stream, then a genuine one.
	nodes[0].tr.Send([]raft.Message{heartbeat(3, 2, 7), heartbeat(1, 2, 8)})
	nodes[1].rec.waitFor(t, "genuine message", func(r *recorder) bool { return len(r.msgs) >= 1 })
	if m := nodes[1].rec.msgs[0]; m.From != 1 || m.Commit != 8 || len(nodes[1].rec.msgs) != 1 {
		t.Fatalf("forged message delivered: %+v", nodes[1].rec.msgs)
	}
}

func TestConfigValidation(t *testing.T) {
	cfg := DefaultConfig(1, nil)
	if _, err := New(cfg); err == nil {
		t.Fatal("config without callbacks accepted")
	}
	rec := newRecorder()
	cfg.Deliver, cfg.ReportUnreachable, cfg.ReportSnapshot = rec.deliver, rec.reportUnreachable, rec.reportSnapshot
	cfg.QueueMessages = 0
	if _, err := New(cfg); err == nil {
		t.Fatal("zero queue bound accepted")
	}
}

func TestDownloadBlob(t *testing.T) {
	data := bytes.Repeat([]byte("blob bytes "), 60000) // 660 kB: three pieces
	sum := sha256.Sum256(data)
	nodes := startCluster(t, 2, func(c *Config) {
		c.OpenBlob = func(s [32]byte) (io.ReadCloser, error) {
			if s != sum {
				return nil, os.ErrNotExist
			}
			return io.NopCloser(bytes.NewReader(data)), nil
		}
	}, nil)
	ctx := context.Background()
	got, err := nodes[0].tr.DownloadBlob(ctx, 2, sum, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download: %d bytes, %v", len(got), err)
	}
	if _, err := nodes[0].tr.DownloadBlob(ctx, 2, sum, 1000); err == nil {
		t.Fatal("blob over the size limit accepted")
	}
	if _, err := nodes[0].tr.DownloadBlob(ctx, 2, sha256.Sum256([]byte("x")), 1<<20); !errors.Is(err, ErrBlobUnavailable) {
		t.Fatalf("missing blob: %v", err)
	}
}

func TestBatchTakesWhatIsQueuedWithinLimits(t *testing.T) {
	tr := &Transport{cfg: DefaultConfig(1, nil)}
	tr.cfg.MaxBatchMessages = 8
	queue := make(chan raft.Message, 100)
	for i := range 20 {
		queue <- heartbeat(1, 2, raft.Index(i+2))
	}
	f := tr.batch(heartbeat(1, 2, 1), queue)
	if len(f.Messages) != 8 || f.Messages[0].Commit != 1 || f.Messages[7].Commit != 8 || len(queue) != 13 {
		t.Fatalf("frame of %d messages, %d left queued", len(f.Messages), len(queue))
	}
	// The byte bound: entries of 600 kB each, 1 MiB per frame, so two fit (the second crosses).
	big := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Entries: []raft.Entry{{Data: make([]byte, 600<<10)}}}
	queue = make(chan raft.Message, 10)
	queue <- big
	queue <- big
	if f := tr.batch(big, queue); len(f.Messages) != 2 || len(queue) != 1 {
		t.Fatalf("byte-bounded frame of %d messages, %d left", len(f.Messages), len(queue))
	}
	// An empty queue: the frame goes out at once with just the first message.
	if f := tr.batch(heartbeat(1, 2, 9), make(chan raft.Message, 1)); len(f.Messages) != 1 {
		t.Fatalf("frame of %d messages from an empty queue", len(f.Messages))
	}
}

// Peers added and removed while running: a node that started knowing only node 2 reaches node
// 3 once it is added, and sends nothing to a removed peer (its messages are dropped).
func TestSetAndRemovePeer(t *testing.T) {
	liss := make([]net.Listener, 3)
	addrs := map[raft.NodeID]string{}
	for i := range liss {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		liss[i] = lis
		addrs[raft.NodeID(i+1)] = lis.Addr().String()
	}
	n1 := startNode(t, 1, map[raft.NodeID]string{2: addrs[2]}, liss[0], nil, nil)
	n2 := startNode(t, 2, addrs, liss[1], nil, nil)
	n3 := startNode(t, 3, addrs, liss[2], nil, nil)
	n1.tr.Send([]raft.Message{heartbeat(1, 3, 1)}) // unknown: dropped
	if err := n1.tr.SetPeer(3, addrs[3]); err != nil {
		t.Fatal(err)
	}
	if err := n1.tr.SetPeer(1, addrs[1]); err != nil { // itself: ignored
		t.Fatal(err)
	}
	if got := n1.tr.Peers(); len(got) != 2 || got[3] != addrs[3] {
		t.Fatalf("peers after SetPeer: %v", got)
	}
	n1.tr.Send([]raft.Message{heartbeat(1, 3, 2), heartbeat(1, 2, 2)})
	n3.rec.waitFor(t, "heartbeat at the added peer", func(r *recorder) bool { return len(r.msgs) == 1 })
	n2.rec.waitFor(t, "heartbeat at the old peer", func(r *recorder) bool { return len(r.msgs) == 1 })
	if m := n3.rec.msgs[0]; m.Commit != 2 {
		t.Fatalf("node 3 got %+v", m)
	}
	n1.tr.RemovePeer(3)
	n1.tr.RemovePeer(3) // twice: no-op
	if got := n1.tr.Peers(); len(got) != 1 {
		t.Fatalf("peers after RemovePeer: %v", got)
	}
	n1.tr.Send([]raft.Message{heartbeat(1, 3, 3), heartbeat(1, 2, 3)})
	n2.rec.waitFor(t, "second heartbeat at node 2", func(r *recorder) bool { return len(r.msgs) == 2 })
	n3.rec.mu.Lock()
	defer n3.rec.mu.Unlock()
	if len(n3.rec.msgs) != 1 {
		t.Fatalf("removed peer got %d messages", len(n3.rec.msgs))
	}
	if err := n1.tr.SetPeer(0, "x"); err == nil {
		t.Fatal("SetPeer accepted node 0")
	}
}

// A node removed from the cluster learns it from the first peer that refuses its stream.
func TestRemovedNodeIsTold(t *testing.T) {
	var mu sync.Mutex
	var toldBy []raft.NodeID
	nodes := startCluster(t, 2, func(c *Config) {
		if c.ID == 2 {
			c.Removed = func(id raft.NodeID) bool { return id == 1 }
		} else {
			c.ReportRemoved = func(by raft.NodeID) {
				mu.Lock()
				toldBy = append(toldBy, by)
				mu.Unlock()
			}
		}
	}, nil)
	nodes[1].tr.Send([]raft.Message{heartbeat(2, 1, 1)}) // node 2 still reaches node 1
	nodes[0].rec.waitFor(t, "node 2's heartbeat", func(r *recorder) bool { return len(r.msgs) == 1 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes[0].tr.Send([]raft.Message{heartbeat(1, 2, 1)})
		mu.Lock()
		n := len(toldBy)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 1 never told it was removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if toldBy[0] != 2 {
		t.Fatalf("told by %v", toldBy)
	}
	nodes[1].rec.mu.Lock()
	defer nodes[1].rec.mu.Unlock()
	if len(nodes[1].rec.msgs) != 0 {
		t.Fatalf("node 2 accepted %d messages from a removed node", len(nodes[1].rec.msgs))
	}
}
