package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/statemachine"
	"github.com/raftchat/raftchat/transport"
)

// BlobStore is the node's store of file bytes: what the Replica fills as upload chunks apply,
// plus reading them back for downloads.
type BlobStore interface {
	node.BlobStore
	// Open returns the bytes stored under sum and their size, or an error wrapping
	// fs.ErrNotExist. The reader fails at the end if the bytes do not match sum.
	Open(sum [32]byte) (io.ReadCloser, int64, error)
}

// ErrStopped is returned by requests to a node that has stopped. It wraps
// service.ErrStopped so the service edge answers Unavailable and clients fail over.
var ErrStopped = fmt.Errorf("server: %w", service.ErrStopped)

// Node is a running raftchat node. Its methods are safe for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	rep   *node.Replica
	sm    *statemachine.Machine
	tr    *transport.Transport
	book  *addrBook
	store node.LogStore
	blobs BlobStore
	close func() error // releases the stores opened by New
	m     *metrics

	// mu is held for writing while the loop runs Replica.Process (which applies entries)
	// and for reading by Read's callers.
	mu sync.RWMutex

	reqs    chan func()
	inbound *inboundQueue
	// writer saves the leader's log in the background (nil: every save is synchronous);
	// writesDone wakes the loop when some of its saves, or a snapshot step, completed.
	writer     *diskWriter
	snaps      *snapshotSaver
	writesDone chan struct{}
	reports    reportQueue
	events     *eventLog
	status     atomic.Pointer[node.Status]
	// leaderChange fires when the term or the leader changes: requests a leader change may
	// have lost ask again.
	leaderChange signal

	started   atomic.Bool // set by Start, or by Stop of a node never started
	stopOnce  sync.Once
	stopc     chan struct{}
	drainOnce sync.Once
	draining  chan struct{} // closed by Drain
	done      chan struct{}
	err       error // why the loop ended; read after done is closed

	// anonClient and anonRequest name commands proposed without a client id.
	anonClient  string
	anonRequest atomic.Uint64

	// Loop-goroutine state.
	forwarded     []raft.Message // proposals from followers, for the next request pass
	reads         *readBatch     // linearizable reads gathered in this iteration
	bootstrapTerm raft.Term
	lastLeader    raft.NodeID
	lastTerm      raft.Term

	// removed is set once this node applied its own removal from the configuration, or a
	// peer refused it as removed; wasMember once it has been a member (a bootstrap node
	// always has; loop goroutine).
	removed   atomic.Bool
	wasMember bool
	// removedAt is when removed was last set (unix nanoseconds).
	removedAt atomic.Int64
}

// New opens the node's stores, recovers its state and creates its transport. Call Start to
// begin serving, and Stop to shut down.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.ID)
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	n := &Node{
		cfg: cfg, log: log, anonClient: fmt.Sprintf("chatd-%d-%x", cfg.ID, nonce),
		reqs:    make(chan func(), cfg.MaxPendingRequests),
		inbound: newInboundQueue(cfg.MaxInboundMessages),
		reports: newReportQueue(),
		stopc:   make(chan struct{}), done: make(chan struct{}), draining: make(chan struct{}),
		writesDone: make(chan struct{}, 1),
		m:          newMetrics(cfg.Registerer),
	}
	if err := n.openStores(); err != nil {
		return nil, err
	}
	if err := n.openAddrBook(); err != nil {
		_ = n.close()
		return nil, err
	}
	if err := n.newReplica(); err != nil {
		_ = n.close()
		return nil, err
	}
	if err := n.newTransport(); err != nil {
		_ = n.close()
		return nil, err
	}
	n.wasMember = !cfg.Join
	n.checkAddresses(n.rep.ConfState())
	return n, nil
}

func (n *Node) openStores() error {
	n.store, n.blobs, n.close = n.cfg.Log, n.cfg.Blobs, func() error { return nil }
	if n.store != nil && n.blobs != nil {
		return nil
	}
	store, blobs, closeFn, err := openDataDir(n.cfg.DataDir, n.log)
	if err != nil {
		return err
	}
	if n.store == nil {
		n.store = store
	}
	if n.blobs == nil {
		n.blobs = blobs
	}
	n.close = closeFn
	return nil
}

// applyBudgetBytes bounds the entry bytes one loop pass applies: a 256-byte message applies
// at roughly 10-20 MB/s on a loaded 2-core machine, so a pass stays within tens of
// milliseconds, well inside the election timeout, even while a backlog drains.
const applyBudgetBytes = 512 << 10

func (n *Node) newReplica() error {
	seed := n.cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	wake := n.wake
	// Saves use the store directly, not loopLog: they run off the loop.
	n.snaps = newSnapshotSaver(n.store, n.m, wake)
	var writer node.LogWriter
	if n.cfg.BackgroundWrites {
		n.writer = newDiskWriter(n.store, n.m, wake)
		writer = n.writer
	}
	var logStore node.LogStore = loopLog{n.store, n}
	if reader, ok := n.store.(node.SnapshotReader); ok {
		logStore = readingLoopLog{loopLog{n.store, n}, reader}
	}
	rep, err := node.New(node.Config{
		ID: n.cfg.ID, Voters: n.cfg.voters(),
		ElectionTimeoutTicks: n.cfg.ElectionTicks, HeartbeatIntervalTicks: n.cfg.HeartbeatTicks,
		Seed: seed, Log: logStore, Writer: writer, Blobs: n.blobs,
		Snapshots:             n.snaps,
		BatchProposals:        true,
		CoalesceMessages:      true,
		IdleHeartbeats:        true,
		DeferCommitBroadcast:  true,
		Send:                  func(ms []raft.Message) { n.tr.Send(ms) },
		StateMachine:          n.cfg.StateMachine,
		SnapshotEveryEntries:  n.cfg.SnapshotEveryEntries,
		SnapshotLogRatio:      n.cfg.SnapshotLogRatio,
		ApplyBudgetBytes:      applyBudgetBytes,
		CompactionTailEntries: n.cfg.CompactionTailEntries,
		Logger:                n.log,
	})
	if err != nil {
		if n.writer != nil {
			n.writer.close()
		}
		return fmt.Errorf("start replica: %w", err)
	}
	n.rep, n.sm = rep, rep.Machine()
	n.events = newEventLog(uint64(rep.Applied()), n.cfg.EventRetention)
	rep.OnApply(n.events.append)
	rep.OnConfChange(n.onConfChange)
	rep.OnRestore(func(raft.Index) { n.checkAddresses(n.rep.ConfState()) })
	n.publishStatus()
	return nil
}

func (n *Node) newTransport() error {
	tc := n.cfg.Transport
	tc.ID = n.cfg.ID
	tc.Peers = map[raft.NodeID]string{}
	for _, m := range n.book.all() {
		if m.ID != n.cfg.ID {
			tc.Peers[m.ID] = m.PeerAddr
		}
	}
	tc.DeliverFrame = n.deliver
	tc.Removed = n.book.isRemoved
	tc.ReportRemoved = n.toldRemoved
	tc.ReportUnreachable = func(id raft.NodeID) { n.reports.add(report{peer: id, unreachable: true}) }
	tc.ReportSnapshot = func(id raft.NodeID, failed bool) { n.reports.add(report{peer: id, failed: failed}) }
	tc.ServerCreds, tc.ClientCreds = n.cfg.PeerServerCreds, n.cfg.PeerClientCreds
	tc.OpenBlob = func(sum [32]byte) (io.ReadCloser, error) {
		r, _, err := n.blobs.Open(sum)
		return r, err
	}
	if tc.Logger == nil {
		tc.Logger = n.log
	}
	tr, err := transport.New(tc)
	if err != nil {
		return fmt.Errorf("start transport: %w", err)
	}
	n.tr = tr
	n.m.registerTransport(n.cfg.Registerer, tr)
	return nil
}

// deliver queues a frame of peer messages for the loop, dropping it when the queue is full.
func (n *Node) deliver(ms []raft.Message) {
	if d := n.inbound.add(ms); d > 0 {
		n.m.droppedInbound.Add(float64(d))
	}
}

// Start serves peers on lis and starts the loop. The node owns lis from now on. Start after
// Stop only closes lis.
func (n *Node) Start(lis net.Listener) {
	if !n.started.CompareAndSwap(false, true) {
		_ = lis.Close()
		return
	}
	go func() {
		if err := n.tr.Serve(lis); err != nil {
			n.log.Error("peer server stopped", "err", err)
		}
	}()
	go n.run()
}

// Stop shuts the node down: the loop ends, pending requests fail with ErrStopped, the
// transport closes and the stores are released. It returns why the loop ended, if it failed.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { close(n.stopc) })
	if n.started.CompareAndSwap(false, true) {
		// Never started: no loop will release anything.
		n.finish(nil)
	}
	<-n.done
	return n.err
}

// Drain prepares a graceful stop: subscriptions end (with ErrStopped, so their clients
// resume on another node) and, if this node leads, it hands leadership to a reachable peer and
// waits up to timeout for the handover, so the cluster does not sit out an election timeout.
func (n *Node) Drain(timeout time.Duration) {
	n.drainOnce.Do(func() { close(n.draining) })
	st := n.status.Load()
	if st.Role != raft.StateLeader {
		return
	}
	peers := n.tr.Reachable(n.cfg.ReachableWindow)
	if len(peers) == 0 {
		return
	}
	to := peers[0]
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Raft abandons a transfer after an election timeout (its TimeoutNow may have been
	// lost on the way), so ask again that often while this node still leads.
	again := time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	for ctx.Err() == nil && n.status.Load().Leader == n.cfg.ID {
		if n.submit(ctx, func() { n.rep.TransferLeadership(to) }) != nil {
			return
		}
		for waited := time.Duration(0); waited < again && ctx.Err() == nil && n.status.Load().Leader == n.cfg.ID; waited += n.cfg.TickInterval {
			select {
			case <-ctx.Done():
			case <-n.done:
				return
			case <-time.After(n.cfg.TickInterval):
			}
		}
	}
	n.log.Info("leadership handed over for shutdown", "to", to, "leader", n.status.Load().Leader)
}

// Done is closed when the loop has ended (Stop, or a fatal storage error; see Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is the fatal error that ended the loop, nil after a clean Stop or while running.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// ID is this node's id.
func (n *Node) ID() raft.NodeID { return n.cfg.ID }

// run is the loop goroutine: the only caller of the Replica.
func (n *Node) run() {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	err := n.loop(ticker.C)
	if err != nil {
		n.log.Error("node stopped on a fatal error", "err", err)
	}
	n.finish(err)
}

// finish releases the transport and the stores and marks the node done with err.
func (n *Node) finish(err error) {
	n.tr.Close()
	if n.writer != nil {
		n.writer.close() // its queued saves complete before the stores close
	}
	if n.snaps != nil {
		_ = n.snaps.Wait() // and a snapshot save in progress (the loop reports a failed one)
	}
	if cerr := n.close(); cerr != nil && err == nil {
		err = fmt.Errorf("close stores: %w", cerr)
	}
	n.err = err
	close(n.done)
}

// loop runs iterations until Stop or a fatal error. Each iteration handles peer traffic and
// client requests in two separate passes, because a pass that persists entries sends its
// messages only after the fsync: a follower's forwarded proposals must not wait behind the
// fsync of the leader's entries, and the leader's commits and applies (which need no fsync)
// must not wait behind the fsync of new proposals. Group commit is unaffected: every request
// queued during an fsync still goes into the next request pass together.
func (n *Node) loop(tick <-chan time.Time) error {
	for {
		var first func()
		select {
		case <-n.stopc:
			return nil
		case <-tick:
			if n.ticking() {
				n.rep.Tick()
			}
		case <-n.inbound.wake:
		case first = <-n.reqs:
		case <-n.reports.wake:
		case <-n.writesDone:
		}
		if first != nil {
			// A request woke the loop. Under load its neighbours are runnable too, a step
			// behind (read from the same connection, or woken by the same commit): let them
			// queue their requests first, so the pass proposes one batch where it would
			// propose one request, and each append, fsync and acknowledgement serves many.
			// With nothing else runnable this returns at once.
			runtime.Gosched()
		}
		n.drainPeers()
		if n.rep.WritesInBackground() {
			// A leader sends before it writes, so nothing waits behind an fsync: one
			// pass lets the commit its acknowledgements advance ride on the append of
			// the new proposals (raft.Config.CoalesceMessages).
			n.drainRequests(first)
			if err := n.process(); err != nil {
				return err
			}
			continue
		}
		if err := n.process(); err != nil {
			return err
		}
		if !n.drainRequests(first) {
			continue
		}
		if err := n.process(); err != nil {
			return err
		}
	}
}

// drainPeers hands the Replica the transport's reports and the queued peer messages, up to
// the per-iteration bound.
func (n *Node) drainPeers() {
	for _, r := range n.reports.take() {
		if r.unreachable {
			n.rep.ReportUnreachable(r.peer)
		} else {
			n.rep.ReportSnapshot(r.peer, r.failed)
		}
	}
	for _, m := range n.inbound.take(n.cfg.MaxDrainPerIteration) {
		n.stepPeer(m)
	}
}

// stepPeer steps a peer message, except that proposals forwarded by followers wait for the
// request pass, so that they share an fsync with this node's own proposals.
func (n *Node) stepPeer(m raft.Message) {
	if m.Type == raft.MsgProp {
		n.forwarded = append(n.forwarded, m)
		return
	}
	n.step(m)
}

// drainRequests runs first (when set) and the queued client requests, up to the
// per-iteration bound. It reports whether it ran any.
func (n *Node) drainRequests(first func()) bool {
	ran := first != nil || len(n.forwarded) > 0
	for i, m := range n.forwarded {
		n.step(m)
		n.forwarded[i] = raft.Message{}
	}
	n.forwarded = n.forwarded[:0]
	if first != nil {
		first()
	}
	defer n.flushReads()
	for i := 0; i < n.cfg.MaxDrainPerIteration; i++ {
		select {
		case f := <-n.reqs:
			f()
			ran = true
		default:
			return ran
		}
	}
	return ran
}

func (n *Node) step(m raft.Message) {
	if err := n.rep.Step(m); err != nil {
		n.log.Debug("step failed", "type", m.Type, "from", m.From, "err", err)
	}
}

func (n *Node) process() error {
	start := time.Now()
	n.mu.Lock()
	err := n.rep.Process()
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("process ready: %w", err)
	}
	n.m.loopSeconds.Observe(time.Since(start).Seconds())
	if n.rep.Pending() {
		n.wake() // a long backlog is applied in slices, with ticks and peer traffic between
	}
	n.events.publish()
	n.publishStatus()
	n.maybeBootstrap()
	return nil
}

// wake makes the loop run another pass soon; it never blocks.
func (n *Node) wake() {
	select {
	case n.writesDone <- struct{}{}:
	default:
	}
}

// publishStatus makes the Replica's position visible to other goroutines and metrics.
func (n *Node) publishStatus() {
	st := n.rep.Status()
	n.status.Store(&st)
	n.m.observe(st)
	if st.Leader != n.lastLeader {
		n.log.Info("leader changed", "term", st.Term, "leader", st.Leader, "role", st.Role.String())
	}
	if st.Leader != n.lastLeader || st.Term != n.lastTerm {
		n.lastLeader, n.lastTerm = st.Leader, st.Term
		n.leaderChange.fire()
	}
}

// signal is a broadcast: wait returns a channel that the next fire closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
