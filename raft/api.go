package raft

import "errors"

// Errors returned for operating conditions; check them with errors.Is.
var (
	// ErrProposalDropped: the proposal was not appended (no leader known, a leadership
	// transfer in progress, or the uncommitted-bytes limit reached). The caller may retry.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrNotLeader: the operation needs a leader and this node is not one.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrNoLeader: no leader is known to forward to.
	ErrNoLeader = errors.New("raft: no leader known")
	// ErrCompacted: the requested index precedes the first retained entry.
	ErrCompacted = errors.New("raft: requested index is compacted")
	// ErrUnavailable: the requested entry is not in storage.
	ErrUnavailable = errors.New("raft: requested entry is unavailable")
	// ErrSnapOutOfDate: the snapshot is older than the one already held.
	ErrSnapOutOfDate = errors.New("raft: snapshot is out of date")
	// ErrSnapshotTemporarilyUnavailable: Storage.Snapshot cannot produce the snapshot now;
	// a follower that needs it is sent it on a later attempt.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
	// ErrStepLocalMsg: Step was given a local-only message type.
	ErrStepLocalMsg = errors.New("raft: cannot step local message")
)

// Ready is a batch of work the driver must do, in this order (see the package doc):
//  1. persist Snapshot (if not empty), Entries and HardState (if not empty); if MustSync,
//     fsync before step 2;
//  2. send Messages;
//  3. apply Snapshot, then CommittedEntries, to the state machine; answer ReadStates once
//     applied index >= ReadState.Index;
//  4. call Advance(rd).
type Ready struct {
	// SoftState is nil when unchanged since the last Ready.
	*SoftState
	// HardState is empty when unchanged since the last Ready.
	HardState HardState
	// ReadStates answer ReadIndex requests.
	ReadStates []ReadState
	// Entries must be appended to stable storage before Messages are sent.
	Entries []Entry
	// Snapshot, if not empty, must be persisted and applied.
	Snapshot Snapshot
	// CommittedEntries may be applied to the state machine. They were persisted in an
	// earlier Ready (or are in this one's Entries and are safe once that is synced).
	CommittedEntries []Entry
	// Messages to send after the persistence above is done. The slice is the caller's:
	// Raft neither keeps nor modifies it (or its elements) once handed out.
	Messages []Message
	// MustSync says whether Entries/HardState must be fsynced before sending Messages.
	MustSync bool
}

// ErrInvalidMessage is returned by Step for a malformed message (for example MsgApp entries that are
// not contiguous after Index); it was ignored.
var ErrInvalidMessage = errors.New("raft: invalid message")
