// Package transport carries Raft messages between raftchat nodes over gRPC: one long-lived
// bidirectional stream per peer for ordinary messages, batched (every message queued while a
// frame was being written goes into the next frame), and a short-lived stream per snapshot,
// which is split into chunks. A bounded queue per peer decouples the node's loop from the
// network: when it is full the message is dropped and the peer reported unreachable, and Raft
// retransmits.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// Defaults for the limits in Config; DefaultConfig fills them in.
const (
	DefaultQueueMessages      = 4096
	DefaultMaxBatchBytes      = 1 << 20
	DefaultMaxBatchMessages   = 512
	DefaultSnapshotChunkBytes = 1 << 20
	DefaultMaxSnapshotBytes   = 4 << 30
	DefaultMaxFrameBytes      = 64 << 20
	DefaultBackoffMin         = 50 * time.Millisecond
	DefaultBackoffMax         = 2 * time.Second
	DefaultSnapshotTimeout    = 5 * time.Minute
)

// Config configures a Transport. Every limit must be positive; DefaultConfig sets them all.
type Config struct {
	// ID is this node.
	ID raft.NodeID
	// Peers maps every other node to its peer address (host:port). An entry for ID is ignored.
	Peers map[raft.NodeID]string
	// Deliver receives every message from a peer. It is called from network goroutines,
	// possibly concurrently, and must not block for long.
	Deliver func(raft.Message)
	// DeliverFrame, when set, is used instead of Deliver: it receives the messages of one
	// frame together (a snapshot alone), so the receiver can step them as a batch. The
	// slice is the receiver's to keep.
	DeliverFrame func([]raft.Message)
	// ReportUnreachable is told when a message to a peer was lost (queue full, stream broken).
	ReportUnreachable func(raft.NodeID)
	// ReportSnapshot is told how sending a snapshot to a peer ended.
	ReportSnapshot func(to raft.NodeID, failed bool)
	// Removed, when set, names the nodes removed from the cluster: their streams are refused
	// with a status that tells their transport so (see ReportRemoved), since Raft itself
	// never tells a removed follower that its removal committed.
	Removed func(raft.NodeID) bool
	// ReportRemoved, when set, is told when a peer refused this node's stream because this
	// node was removed from the cluster.
	ReportRemoved func(by raft.NodeID)
	// OpenBlob serves peers' FetchBlob calls; nil serves none. The reader must fail at the end
	// if the stored bytes do not match sum.
	OpenBlob func(sum [32]byte) (io.ReadCloser, error)

	// QueueMessages bounds the outbound queue of each peer.
	QueueMessages int
	// MaxBatchBytes and MaxBatchMessages bound one frame of ordinary messages.
	MaxBatchBytes    int
	MaxBatchMessages int
	// SnapshotChunkBytes is the size of one snapshot chunk on the wire.
	SnapshotChunkBytes int
	// MaxSnapshotBytes bounds a snapshot the receiver is willing to reassemble.
	MaxSnapshotBytes uint64
	// MaxFrameBytes bounds one gRPC message in either direction.
	MaxFrameBytes int
	// BackoffMin and BackoffMax bound the wait before reopening a broken stream; the wait
	// doubles after every failure and is jittered by up to half.
	BackoffMin, BackoffMax time.Duration
	// SnapshotTimeout bounds sending one snapshot.
	SnapshotTimeout time.Duration

	// ServerCreds and ClientCreds secure the peer connections (see MutualTLS); nil means
	// plaintext.
	ServerCreds credentials.TransportCredentials
	ClientCreds credentials.TransportCredentials
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config for node id with every limit set to its default.
func DefaultConfig(id raft.NodeID, peers map[raft.NodeID]string) Config {
	return Config{
		ID: id, Peers: peers,
		QueueMessages: DefaultQueueMessages, MaxBatchBytes: DefaultMaxBatchBytes,
		MaxBatchMessages: DefaultMaxBatchMessages, SnapshotChunkBytes: DefaultSnapshotChunkBytes,
		MaxSnapshotBytes: DefaultMaxSnapshotBytes, MaxFrameBytes: DefaultMaxFrameBytes,
		BackoffMin: DefaultBackoffMin, BackoffMax: DefaultBackoffMax,
		SnapshotTimeout: DefaultSnapshotTimeout,
	}
}

func (c *Config) validate() error {
	switch {
	case c.ID == raft.None:
		return errors.New("transport config: ID is zero")
	case (c.Deliver == nil && c.DeliverFrame == nil) || c.ReportUnreachable == nil || c.ReportSnapshot == nil:
		return errors.New("transport config: Deliver (or DeliverFrame), ReportUnreachable and ReportSnapshot are required")
	case c.QueueMessages <= 0 || c.MaxBatchBytes <= 0 || c.MaxBatchMessages <= 0:
		return errors.New("transport config: queue and batch limits must be positive")
	case c.SnapshotChunkBytes <= 0 || c.MaxSnapshotBytes == 0 || c.MaxFrameBytes <= 0:
		return errors.New("transport config: snapshot and frame limits must be positive")
	case c.SnapshotChunkBytes+(64<<10) > c.MaxFrameBytes:
		return errors.New("transport config: snapshot chunks do not fit in a frame")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin || c.SnapshotTimeout <= 0:
		return errors.New("transport config: bad backoff or snapshot timeout")
	}
	for id, addr := range c.Peers {
		if id == raft.None || addr == "" {
			return fmt.Errorf("transport config: bad peer %d=%q", id, addr)
		}
	}
	return nil
}

// Transport sends and receives Raft messages for one node. Send may be called from any
// goroutine.
type Transport struct {
	raftpb.UnimplementedRaftServer

	cfg Config
	log *slog.Logger
	// peers is the current peer set, replaced whole (copy on write) by SetPeer and
	// RemovePeer under mu, so Send and the receivers read it without a lock.
	peers  atomic.Pointer[map[raft.NodeID]*peer]
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	server *grpc.Server
	closed bool

	stats struct{ frames, messages, dropped atomic.Uint64 }
}

// Stats counts what the transport sent since it started.
type Stats struct {
	// Frames and Messages are the batches written to peer streams and the messages in them.
	Frames, Messages uint64
	// Dropped counts messages refused because their peer's queue was full.
	Dropped uint64
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	return Stats{Frames: t.stats.frames.Load(), Messages: t.stats.messages.Load(), Dropped: t.stats.dropped.Load()}
}

// peer is the sending side towards one node.
type peer struct {
	id   raft.NodeID
	addr string
	// ctx ends when the peer is removed or the transport closes.
	ctx    context.Context
	cancel context.CancelFunc
	conn   *grpc.ClientConn
	queue  chan raft.Message
	// snapBusy admits one snapshot in flight to this peer.
	snapBusy atomic.Bool
	// up is true while an outbound stream is open.
	up atomic.Bool
	// lastHeard is when a frame from this peer last arrived (unix nanoseconds).
	lastHeard atomic.Int64
}

// New returns a Transport that dials its peers lazily; call Serve to accept peers, and Close
// to stop everything.
func New(cfg Config) (*Transport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{cfg: cfg, log: log, ctx: ctx, cancel: cancel}
	t.peers.Store(&map[raft.NodeID]*peer{})
	for id, addr := range cfg.Peers {
		if err := t.SetPeer(id, addr); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// peerMap is the current peer set; callers must not modify it.
func (t *Transport) peerMap() map[raft.NodeID]*peer { return *t.peers.Load() }

// SetPeer adds a peer, or moves it to a new address, and starts its outbound stream. Setting
// this node's own ID is a no-op, as is setting a peer to the address it has. Messages queued
// for a peer that moves are dropped (Raft retransmits).
func (t *Transport) SetPeer(id raft.NodeID, addr string) error {
	if id == raft.None || addr == "" {
		return fmt.Errorf("transport: bad peer %d=%q", id, addr)
	}
	if id == t.cfg.ID {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("transport: closed")
	}
	old := t.peerMap()
	if p := old[id]; p != nil && p.addr == addr {
		return nil
	}
	conn, err := t.dial(addr)
	if err != nil {
		return fmt.Errorf("dial peer %d at %s: %w", id, addr, err)
	}
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{id: id, addr: addr, ctx: ctx, cancel: cancel, conn: conn,
		queue: make(chan raft.Message, t.cfg.QueueMessages)}
	next := make(map[raft.NodeID]*peer, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = p
	t.peers.Store(&next)
	if prev := old[id]; prev != nil {
		t.stopPeer(prev)
	}
	t.wg.Add(1)
	go t.runPeer(p)
	return nil
}

// RemovePeer stops sending to id and forgets it; messages to it are dropped from now on.
func (t *Transport) RemovePeer(id raft.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.peerMap()
	p := old[id]
	if p == nil || t.closed {
		return
	}
	next := make(map[raft.NodeID]*peer, len(old))
	for k, v := range old {
		if k != id {
			next[k] = v
		}
	}
	t.peers.Store(&next)
	t.stopPeer(p)
}

// stopPeer ends p's stream goroutine and closes its connection (without waiting).
func (t *Transport) stopPeer(p *peer) {
	p.cancel()
	_ = p.conn.Close()
}

// Peers returns the current peers and their addresses.
func (t *Transport) Peers() map[raft.NodeID]string {
	out := map[raft.NodeID]string{}
	for id, p := range t.peerMap() {
		out[id] = p.addr
	}
	return out
}

func (t *Transport) dial(addr string) (*grpc.ClientConn, error) {
	creds := t.cfg.ClientCreds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay: t.cfg.BackoffMin, Multiplier: 2, Jitter: 0.2, MaxDelay: t.cfg.BackoffMax,
			},
			MinConnectTimeout: time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(t.cfg.MaxFrameBytes), grpc.MaxCallRecvMsgSize(t.cfg.MaxFrameBytes)),
	)
}

// Serve accepts peer streams on lis until Close. It returns nil after Close (also when Close
// came first, in which case it just closes lis).
func (t *Transport) Serve(lis net.Listener) error {
	var opts []grpc.ServerOption
	if t.cfg.ServerCreds != nil {
		opts = append(opts, grpc.Creds(t.cfg.ServerCreds))
	}
	opts = append(opts,
		grpc.MaxRecvMsgSize(t.cfg.MaxFrameBytes), grpc.MaxSendMsgSize(t.cfg.MaxFrameBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	s := grpc.NewServer(opts...)
	raftpb.RegisterRaftServer(s, t)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = lis.Close()
		return nil
	}
	if t.server != nil {
		t.mu.Unlock()
		return errors.New("transport serve: already serving")
	}
	t.server = s
	t.mu.Unlock()
	if err := s.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve peers on %s: %w", lis.Addr(), err)
	}
	return nil
}

// Close stops the server, every stream and every connection, and waits for the goroutines.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	s := t.server
	t.mu.Unlock()
	t.cancel()
	if s != nil {
		// Inbound streams end only when their peers hang up, so do not wait for them.
		s.Stop()
	}
	for _, p := range t.peerMap() {
		_ = p.conn.Close()
	}
	t.wg.Wait()
}

// Send queues msgs for their destinations without blocking. A message that does not fit its
// peer's queue is dropped and the peer reported unreachable; a snapshot is sent on its own
// stream and its outcome reported through ReportSnapshot.
func (t *Transport) Send(msgs []raft.Message) {
	peers := t.peerMap()
	for _, m := range msgs {
		p := peers[m.To]
		if p == nil {
			t.log.Warn("message to unknown peer dropped", "node", t.cfg.ID, "to", m.To, "type", m.Type)
			continue
		}
		if m.Type == raft.MsgSnap {
			t.startSnapshot(p, m)
			continue
		}
		select {
		case p.queue <- m:
		default:
			t.stats.dropped.Add(1)
			t.cfg.ReportUnreachable(p.id)
		}
	}
}

// Reachable returns, sorted, the peers this node has an open outbound stream to or has heard
// from within window. (Followers rarely hear from each other, so an open stream alone counts:
// it breaks within a keepalive timeout of the peer going away.)
func (t *Transport) Reachable(window time.Duration) []raft.NodeID {
	now := time.Now().UnixNano()
	var ids []raft.NodeID
	for id, p := range t.peerMap() {
		if p.up.Load() || now-p.lastHeard.Load() <= int64(window) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// runPeer keeps one outbound stream to p open until Close, backing off after failures.
func (t *Transport) runPeer(p *peer) {
	defer t.wg.Done()
	wait := t.cfg.BackoffMin
	for p.ctx.Err() == nil {
		sent, err := t.streamTo(p)
		p.up.Store(false)
		if p.ctx.Err() != nil {
			return
		}
		t.log.Debug("peer stream broke", "node", t.cfg.ID, "peer", p.id, "addr", p.addr, "err", err)
		if isRemovedStatus(err) && t.cfg.ReportRemoved != nil {
			t.cfg.ReportRemoved(p.id)
		}
		t.cfg.ReportUnreachable(p.id)
		if sent {
			wait = t.cfg.BackoffMin
		}
		// Jitter keeps a cluster's nodes from reconnecting in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(d):
		}
		wait = min(2*wait, t.cfg.BackoffMax)
	}
}

// streamTo opens a stream to p and writes batches to it until it breaks. sent reports whether
// at least one frame was written, which resets the backoff.
func (t *Transport) streamTo(p *peer) (sent bool, err error) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	st, err := raftpb.NewRaftClient(p.conn).Stream(ctx)
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	p.up.Store(true)
	// The peer never writes on this stream, but reading notices when it goes away, and why.
	recvErr := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				recvErr <- err
				cancel()
				return
			}
		}
	}()
	for {
		var m raft.Message
		select {
		case <-ctx.Done():
			select {
			case err := <-recvErr:
				return sent, err
			default:
				return sent, ctx.Err()
			}
		case m = <-p.queue:
		}
		f := t.batch(m, p.queue)
		if err := st.Send(f); err != nil {
			if errors.Is(err, io.EOF) {
				// The stream ended: its status, which says why, comes from the reader.
				select {
				case rerr := <-recvErr:
					return sent, rerr
				case <-time.After(time.Second):
				}
			}
			return sent, fmt.Errorf("send frame: %w", err)
		}
		t.stats.frames.Add(1)
		t.stats.messages.Add(uint64(len(f.Messages)))
		sent = true
	}
}

// batch builds a frame from first plus whatever else is queued, within the batch limits.
func (t *Transport) batch(first raft.Message, queue chan raft.Message) *raftpb.Frame {
	f := &raftpb.Frame{From: uint64(t.cfg.ID), Messages: []*raftpb.Message{ToProto(first)}}
	size := approxSize(first)
	for size < t.cfg.MaxBatchBytes && len(f.Messages) < t.cfg.MaxBatchMessages {
		select {
		case m := <-queue:
			f.Messages = append(f.Messages, ToProto(m))
			size += approxSize(m)
		default:
			return f
		}
	}
	return f
}

// approxSize estimates a message's encoded size; it only needs to be good enough for batching.
func approxSize(m raft.Message) int {
	n := 64 + len(m.Context)
	for _, e := range m.Entries {
		n += 24 + len(e.Data)
	}
	return n
}
