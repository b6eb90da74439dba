package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/statemachine"
)

var _ service.Backend = (*Node)(nil)

// submit runs f on the loop goroutine, waiting for room in the request queue.
func (n *Node) submit(ctx context.Context, f func()) error {
	select {
	case n.reqs <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// submitQuiet is submit for clean-up work that must not block a returning caller.
func (n *Node) submitQuiet(f func()) {
	select {
	case n.reqs <- f:
	default:
		go func() { _ = n.submit(context.Background(), f) }()
	}
}

type proposal struct {
	res *commandpb.Result
	err error
}

// Propose implements service.Backend. It fills in what the proposer left empty (it modifies
// cmd): time_unix_ms from this node's clock, and for a command with neither client id nor
// request id, a node-unique pair. It keeps asking while ctx lasts: again after RetryInterval when no
// leader took the command, and (for a deduplicated command, request id non-zero) again after
// ResendAfter when it never applied, since a leader change may have lost it; the session
// table makes the repeats harmless.
func (n *Node) Propose(ctx context.Context, cmd *commandpb.Command) (*commandpb.Result, error) {
	if cmd.GetTimeUnixMs() == 0 {
		cmd.TimeUnixMs = time.Now().UnixMilli()
	}
	if cmd.GetClientId() == "" && cmd.GetRequestId() == 0 {
		// The Replica matches results to proposals by (client id, request id): anonymous
		// commands would all share one key and receive each other's results.
		cmd.ClientId, cmd.RequestId = n.anonClient, n.anonRequest.Add(1)
	}
	start := time.Now()
	ch := make(chan proposal, 1)
	var cancel func()
	// asks counts submissions; after a success on the first one the Replica has already
	// dropped the proposal, so no clean-up needs to wake the loop.
	asks := 0
	answered := false
	defer func() {
		if !answered || asks > 1 {
			n.submitQuiet(func() { cancelIf(cancel) })
		}
	}()
	for {
		// A deduplicated command is proposed again when the term or the leader changes.
		var changed <-chan struct{}
		if cmd.GetRequestId() != 0 {
			changed = n.leaderChange.wait()
		}
		asks++
		err := n.submit(ctx, func() {
			cancelIf(cancel)
			cancel = n.rep.Propose(cmd, func(res *commandpb.Result, err error) {
				select {
				case ch <- proposal{res, err}:
				default:
				}
			})
		})
		if err != nil {
			return nil, n.proposeFailed(err)
		}
		var resend <-chan time.Time
		if cmd.GetRequestId() != 0 {
			resend = time.After(n.cfg.ResendAfter)
		}
		select {
		case p := <-ch:
			if p.err == nil {
				answered = true
				n.m.proposalsOK.Inc()
				n.m.proposeSeconds.Observe(time.Since(start).Seconds())
				return p.res, nil
			}
			if !retryable(p.err) {
				return nil, n.proposeFailed(p.err)
			}
			if err := n.pause(ctx); err != nil {
				return nil, n.proposeFailed(n.leaderError(p.err))
			}
		case <-resend:
			n.m.proposals.WithLabelValues("resent").Inc()
		case <-changed:
			// A leader change may have lost the entry; a deduplicated command is safe
			// to propose again at once rather than after ResendAfter.
			n.m.proposals.WithLabelValues("resent").Inc()
		case <-ctx.Done():
			return nil, n.proposeFailed(n.leaderError(ctx.Err()))
		case <-n.done:
			return nil, n.proposeFailed(ErrStopped)
		}
	}
}

func cancelIf(cancel func()) {
	if cancel != nil {
		cancel()
	}
}

func (n *Node) proposeFailed(err error) error {
	n.m.proposals.WithLabelValues("error").Inc()
	return err
}

// retryable reports whether an error means "no leader took it; ask again".
func retryable(err error) bool {
	return errors.Is(err, raft.ErrProposalDropped) || errors.Is(err, raft.ErrNoLeader) ||
		errors.Is(err, raft.ErrNotLeader)
}

// pause waits RetryInterval, or fails when ctx ends or the node stops first.
func (n *Node) pause(ctx context.Context) error {
	t := time.NewTimer(n.cfg.RetryInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// leaderError wraps err with the leader this node knows of, when no leader is known or err is
// a leader problem, so the client can go there; a context error while a leader is known stays
// a plain context error.
func (n *Node) leaderError(err error) error {
	st := n.status.Load()
	if st.Leader != raft.None && !retryable(err) {
		return err
	}
	le := &service.LeaderError{Leader: st.Leader, Err: raft.ErrNoLeader}
	if retryable(err) {
		le.Err = err
	}
	if m, ok := n.book.get(st.Leader); ok {
		le.LeaderAddr = m.ClientAddr
	}
	return le
}

// Read implements service.Backend.
func (n *Node) Read(ctx context.Context, stale bool, fn func(m *statemachine.Machine) error) error {
	if stale {
		n.m.staleReadsOK.Inc()
	} else {
		if err := n.readIndex(ctx); err != nil {
			n.m.reads.WithLabelValues("linearizable", "error").Inc()
			return err
		}
		n.m.linearReadsOK.Inc()
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return fn(n.sm)
}

// readIndex waits until this node has applied everything committed when it was called
// (Raft's ReadIndex), asking again while no leader is known and ctx lasts. A request that a
// leader change lost is never answered, so it also asks again when the term or the leader
// changes.
func (n *Node) readIndex(ctx context.Context) error {
	ch := make(chan error, 1)
	var cancel func()
	asks, answered := 0, false // as in Propose
	defer func() {
		if !answered || asks > 1 {
			n.submitQuiet(func() { cancelIf(cancel) })
		}
	}()
	for {
		changed := n.leaderChange.wait()
		asks++
		err := n.submit(ctx, func() {
			cancelIf(cancel)
			cancel = n.joinRead(ch)
		})
		if err != nil {
			return err
		}
		select {
		case err := <-ch:
			if err == nil {
				answered = true
				return nil
			}
			if !retryable(err) {
				return fmt.Errorf("read index: %w", err)
			}
			if perr := n.pause(ctx); perr != nil {
				return n.leaderError(err)
			}
		case <-changed:
			n.m.reads.WithLabelValues("linearizable", "reasked").Inc()
		case <-ctx.Done():
			return n.leaderError(ctx.Err())
		case <-n.done:
			return ErrStopped
		}
	}
}

// readBatch is the linearizable reads gathered in one loop iteration: they share one Raft
// ReadIndex (and so one heartbeat round), which is as good for each of them as its own, since
// it starts after all of them arrived.
type readBatch struct {
	waiters []chan error
	left    int    // waiters that have not given up
	cancel  func() // set once the ReadIndex is issued
}

// joinRead adds a waiter to this iteration's batch; it returns the function that withdraws it
// (the batch's ReadIndex is cancelled when every waiter withdrew). Runs on the loop.
func (n *Node) joinRead(ch chan error) (leave func()) {
	b := n.reads
	if b == nil {
		b = &readBatch{}
		n.reads = b
	}
	b.waiters = append(b.waiters, ch)
	b.left++
	return func() {
		b.left--
		if b.left == 0 && b.cancel != nil {
			b.cancel()
		}
	}
}

// flushReads issues the ReadIndex of this iteration's batch. Runs on the loop.
func (n *Node) flushReads() {
	b := n.reads
	n.reads = nil
	if b == nil || b.left == 0 {
		return
	}
	b.cancel = n.rep.ReadIndex(func(err error) {
		for _, w := range b.waiters {
			select {
			case w <- err:
			default:
			}
		}
	})
}

// subscribeBatch bounds the events a subscriber copies out at once.
const subscribeBatch = 256

// Subscribe implements service.Backend.
func (n *Node) Subscribe(ctx context.Context, afterIndex uint64,
	fn func(index uint64, cmd *commandpb.Command, res *commandpb.Result) error) error {
	next := afterIndex + 1
	started := false
	for {
		evs, wake, gone := n.events.read(next, subscribeBatch)
		if gone {
			if started {
				return fmt.Errorf("subscribe at %d: %w", next, service.ErrSubscriberTooSlow)
			}
			return fmt.Errorf("subscribe after %d: %w", afterIndex, service.ErrEventsCompacted)
		}
		started = true
		for _, ev := range evs {
			if err := fn(ev.index, ev.cmd, ev.res); err != nil {
				return err
			}
			next = ev.index + 1
		}
		if wake == nil {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.draining:
			return ErrStopped
		case <-n.done:
			return ErrStopped
		}
	}
}

// OpenBlob implements service.Backend. A blob this node lacks (it caught up through a
// snapshot, so it never applied the chunk) is fetched from the peers, checked against its sum
// and stored before it is opened.
func (n *Node) OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error) {
	if !n.blobs.Has(sum) {
		if err := n.fetchBlob(ctx, sum); err != nil {
			return nil, err
		}
	}
	r, _, err := n.blobs.Open(sum)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %x: %w", sum[:8], service.ErrBlobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %x: %w", sum[:8], err)
	}
	return r, nil
}

// fetchBlob asks the leader, then every other peer, for a blob and stores it.
func (n *Node) fetchBlob(ctx context.Context, sum [32]byte) error {
	leader := n.status.Load().Leader
	peers := []raft.NodeID{}
	if leader != n.cfg.ID && leader != raft.None {
		peers = append(peers, leader)
	}
	for _, id := range append(slices.Clone(n.status.Load().Peers), n.status.Load().Learners...) {
		if id != n.cfg.ID && id != leader {
			peers = append(peers, id)
		}
	}
	for _, id := range peers {
		data, err := n.tr.DownloadBlob(ctx, id, sum, int(n.cfg.StateMachine.MaxChunkBytes))
		if err != nil {
			n.log.Debug("blob not fetched", "peer", id, "err", err)
			continue
		}
		if err := n.blobs.Put(sum, data); err != nil {
			return fmt.Errorf("store fetched blob %x: %w", sum[:8], err)
		}
		return nil
	}
	return fmt.Errorf("blob %x: %w", sum[:8], service.ErrBlobNotFound)
}

// matchOf is the leader's replication progress for id (0 when this node does not lead).
func matchOf(progress []raft.PeerProgress, id raft.NodeID) uint64 {
	for _, p := range progress {
		if p.ID == id {
			return uint64(p.Match)
		}
	}
	return 0
}

// Status implements service.Backend.
func (n *Node) Status(_ context.Context) (service.ClusterStatus, error) {
	st := n.status.Load()
	reachable := map[raft.NodeID]bool{n.cfg.ID: true}
	for _, id := range n.tr.Reachable(n.cfg.ReachableWindow) {
		reachable[id] = true
	}
	cs := service.ClusterStatus{
		ID: n.cfg.ID, Role: roleName(st.Role), Term: uint64(st.Term), Leader: st.Leader,
		Commit: uint64(st.Commit), Applied: uint64(st.Applied), Removed: n.removed.Load(),
	}
	if m, ok := n.book.get(st.Leader); ok {
		cs.LeaderAddr = m.ClientAddr
	}
	up := 0
	for _, id := range st.Peers {
		m, _ := n.book.get(id)
		cs.Peers = append(cs.Peers, service.PeerStatus{ID: id, ClientAddr: m.ClientAddr,
			PeerAddr: m.PeerAddr, Reachable: reachable[id], Match: matchOf(st.Progress, id)})
		if reachable[id] {
			up++
		}
	}
	voters := len(cs.Peers)
	for _, id := range st.Learners {
		m, _ := n.book.get(id)
		cs.Peers = append(cs.Peers, service.PeerStatus{ID: id, ClientAddr: m.ClientAddr,
			PeerAddr: m.PeerAddr, Reachable: reachable[id], Match: matchOf(st.Progress, id), Learner: true})
	}
	slices.SortFunc(cs.Peers, func(a, b service.PeerStatus) int { return cmpID(a.ID, b.ID) })
	if st.Role == raft.StateLeader {
		cs.Quorum = up > voters/2
	} else {
		cs.Quorum = st.Leader != raft.None
	}
	return cs, nil
}

// RaftStatus is the Replica's position as of the loop's last iteration.
func (n *Node) RaftStatus() node.Status { return *n.status.Load() }

func roleName(r raft.StateType) string {
	switch r {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}
