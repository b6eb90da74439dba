package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

// Backend is what the ChatService needs from a running node. server.Node implements it for
// chatd; the service tests implement it with a real statemachine.Machine applied in-process.
//
// Errors: a Backend reports operating conditions with errors the service maps to gRPC codes
// at its edge. Wrap raft.ErrNoLeader, raft.ErrNotLeader or raft.ErrProposalDropped (or return
// a *LeaderError naming the leader) when the request needs a leader that cannot be reached;
// they become codes.Unavailable, as does ErrStopped. ErrEventsCompacted from Subscribe becomes codes.OutOfRange.
// Context errors become DeadlineExceeded / Canceled.
type Backend interface {
	// Propose replicates cmd through the log and returns the state machine's Result once the
	// command has applied on this node. cmd.TimeUnixMs is set by the service before the call
	// (the proposer's clock); client_id and request_id make a retry return the first result.
	// A command that failed validation in the state machine is not an error here: its Result
	// carries the code.
	Propose(ctx context.Context, cmd *commandpb.Command) (*commandpb.Result, error)

	// Read runs fn with the state machine locked against concurrent apply. With stale false
	// the read is linearizable (ReadIndex: fn runs once this node has applied everything
	// committed when Read was called); with stale true fn runs on the local state at once.
	// fn must not retain the Machine or anything it returns that aliases machine state.
	Read(ctx context.Context, stale bool, fn func(m *statemachine.Machine) error) error

	// Subscribe calls fn, in log order and from a goroutine that holds no lock (fn may call
	// Read), for every entry applied on this node with index > afterIndex: cmd is the decoded
	// command (nil for entries that carry none, e.g. a leader's no-op; fn may skip those) and
	// res its result. It returns when ctx ends (ctx.Err()), when fn returns an error (that
	// error), or with an error wrapping ErrEventsCompacted when entries after afterIndex are
	// no longer retained for replay, or ErrSubscriberTooSlow when fn fell too far behind the
	// apply loop. It never skips or repeats an index.
	Subscribe(ctx context.Context, afterIndex uint64,
		fn func(index uint64, cmd *commandpb.Command, res *commandpb.Result) error) error

	// OpenBlob opens the bytes stored under their SHA-256 (one upload chunk). It returns an
	// error wrapping ErrBlobNotFound when this node does not hold them (yet).
	OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error)

	// Status describes the cluster as this node sees it.
	Status(ctx context.Context) (ClusterStatus, error)
}

// ErrEventsCompacted means the events after the requested position are no longer retained for
// replay; the subscriber must resynchronise through history queries.
var ErrEventsCompacted = errors.New("events compacted")

// ErrSubscriberTooSlow means a subscriber fell too far behind the apply loop and was dropped; it
// may resubscribe from its last seen index.
var ErrSubscriberTooSlow = errors.New("subscriber too slow")

// ErrBlobNotFound means the blob store does not hold the requested bytes.
var ErrBlobNotFound = errors.New("blob not found")

// ErrStopped means the node is shutting down; the client should go to another node.
var ErrStopped = errors.New("node stopped")

// LeaderError says a request needs the leader and this node could not serve it. Err wraps
// raft.ErrNotLeader, raft.ErrNoLeader or raft.ErrProposalDropped.
type LeaderError struct {
	// Leader is the leader this node knows of, raft.None when none.
	Leader raft.NodeID
	// LeaderAddr is the leader's client address, empty when unknown.
	LeaderAddr string
	// Err is the underlying condition.
	Err error
}

func (e *LeaderError) Error() string {
	if e.Leader == raft.None {
		return fmt.Sprintf("no leader: %v", e.Err)
	}
	return fmt.Sprintf("not the leader (leader %d at %s): %v", e.Leader, e.LeaderAddr, e.Err)
}

func (e *LeaderError) Unwrap() error { return e.Err }

// ClusterStatus is one node's view of the cluster for the ClusterStatus call.
type ClusterStatus struct {
	// ID is the node answering.
	ID raft.NodeID
	// Role is "leader", "follower", "candidate" or "pre-candidate".
	Role string
	// Term is the node's current term.
	Term uint64
	// Leader is the known leader, raft.None when none.
	Leader raft.NodeID
	// LeaderAddr is the leader's client address when known.
	LeaderAddr string
	// Commit and Applied are this node's commit and applied indexes.
	Commit, Applied uint64
	// Peers lists every voter and learner, this node included when a member, sorted by ID.
	Peers []PeerStatus
	// Quorum reports whether this node can currently reach a quorum (as leader: recent
	// responses from a majority; as follower: a leader is known).
	Quorum bool
	// Removed reports that this node applied its own removal from the cluster.
	Removed bool
}

// PeerStatus is one voter in a ClusterStatus.
type PeerStatus struct {
	ID raft.NodeID
	// ClientAddr and PeerAddr are where the node serves clients and peers.
	ClientAddr, PeerAddr string
	// Reachable reports whether the transport currently has a working stream to it (always
	// true for the answering node itself).
	Reachable bool
	// Match is the highest index known replicated on it (leader only, else 0).
	Match uint64
	// Learner is set for a member that receives the log without voting.
	Learner bool
}
