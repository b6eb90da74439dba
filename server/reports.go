package server

import (
	"crypto/rand"
	"slices"
	"sync"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

// report is a transport outcome for the Replica: a peer unreachable, or a snapshot's fate.
type report struct {
	peer        raft.NodeID
	unreachable bool
	failed      bool
}

// reportQueue hands transport reports to the loop. It is a list rather than a channel because
// the transport may report from inside Send, which the loop itself calls: a full channel would
// deadlock, and a snapshot outcome must not be lost or Raft keeps waiting for it. It stays
// small: unreachable reports for a peer coalesce, and one snapshot is in flight per peer.
type reportQueue struct {
	mu      sync.Mutex
	pending []report
	wake    chan struct{}
}

func newReportQueue() reportQueue { return reportQueue{wake: make(chan struct{}, 1)} }

func (q *reportQueue) add(r report) {
	q.mu.Lock()
	if !r.unreachable || !slices.Contains(q.pending, r) {
		q.pending = append(q.pending, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *reportQueue) take() []report {
	q.mu.Lock()
	defer q.mu.Unlock()
	rs := q.pending
	q.pending = nil
	return rs
}

// bootstrapClientID is the session under which leaders propose the bootstrap command. Every
// attempt uses request id 1, so a retry by a later leader returns the first result instead of
// applying again.
const bootstrapClientID = "chatd-bootstrap"

// maybeBootstrap proposes the bootstrap command once per leadership term while the state
// machine has not been initialised. Runs on the loop.
func (n *Node) maybeBootstrap() {
	if n.cfg.Bootstrap == nil {
		return
	}
	st := n.status.Load()
	if st.Role != raft.StateLeader || st.Term == n.bootstrapTerm || n.sm.Bootstrapped() {
		return
	}
	n.bootstrapTerm = st.Term
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		n.log.Error("bootstrap: signing key", "err", err)
		return
	}
	cmd := &commandpb.Command{
		ClientId: bootstrapClientID, RequestId: 1, TimeUnixMs: time.Now().UnixMilli(),
		Op: &commandpb.Command_Bootstrap{Bootstrap: &commandpb.Bootstrap{
			SigningKey:        key,
			AdminUsername:     n.cfg.Bootstrap.AdminUsername,
			AdminPasswordHash: n.cfg.Bootstrap.AdminPasswordHash,
		}},
	}
	n.log.Info("proposing cluster bootstrap", "term", st.Term, "admin", n.cfg.Bootstrap.AdminUsername)
	n.rep.Propose(cmd, func(res *commandpb.Result, err error) {
		switch {
		case err != nil:
			n.log.Warn("bootstrap proposal failed", "err", err)
		case res.GetCode() != commandpb.ErrorCode_OK:
			n.log.Info("bootstrap not applied", "index", res.GetIndex(), "reason", res.GetError())
		default:
			n.log.Info("cluster bootstrapped", "index", res.GetIndex())
		}
	})
}

// loopLog is the LogStore the Replica sees. It measures synced saves (the fsync latency
// clients wait for) and lets readers in while the disk works: Process holds mu for writing,
// but the Replica only touches the state machine when it applies, never inside a save (the
// Ready order is persist, send, apply), so the machine is consistent and idle for the whole
// write and fsync.
type loopLog struct {
	node.LogStore
	n *Node
}

func (l loopLog) Save(hs raft.HardState, ents []raft.Entry, sync bool) error {
	if !sync {
		return l.LogStore.Save(hs, ents, false)
	}
	start := time.Now()
	l.n.mu.Unlock()
	err := l.LogStore.Save(hs, ents, true)
	l.n.mu.Lock()
	l.n.m.fsyncSeconds.Observe(time.Since(start).Seconds())
	l.n.m.savedEntries.Add(float64(len(ents)))
	return err
}

// readingLoopLog is a loopLog over a store that can read its snapshots back
// (node.SnapshotReader), so the Replica need not keep a durable snapshot's data in memory.
// The read runs inside Raft's step, under the loop's lock: it costs a pass the time to read
// one snapshot file, and only when a follower fell behind the log.
type readingLoopLog struct {
	loopLog
	node.SnapshotReader
}

func (l loopLog) SaveSnapshot(snap raft.Snapshot) error {
	l.n.mu.Unlock()
	defer l.n.mu.Lock()
	return l.LogStore.SaveSnapshot(snap)
}
