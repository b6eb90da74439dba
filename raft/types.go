package raft

import "fmt"

// Term is a Raft term number (§5.1). Terms only grow.
type Term uint64

// Index is the position of an entry in the replicated log. The first real entry has index 1;
// index 0 is the empty log's sentinel.
type Index uint64

// NodeID names one member of the cluster. None (zero) means "no node".
type NodeID uint64

// None is the NodeID that names no node: no vote cast, no leader known.
const None NodeID = 0

// EntryType tells the application how to interpret an entry's Data.
type EntryType uint8

const (
	// EntryNormal carries application data. A leader's no-op entry on election is an
	// EntryNormal entry with empty Data.
	EntryNormal EntryType = iota
	// EntryConfChange carries a membership change: its Data is a ConfChange, and once the
	// leader appended it, the whole configuration it produces (see ApplyConfChange).
	EntryConfChange
)

// Entry is one record of the replicated log.
type Entry struct {
	Term  Term
	Index Index
	Type  EntryType
	Data  []byte
}

// HardState is the part of a node's state that must be durable before it answers any
// message that depends on it (Figure 2, "Persistent state on all servers").
type HardState struct {
	Term   Term
	Vote   NodeID
	Commit Index
}

// IsEmpty reports whether hs is the zero HardState.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// ConfState is the cluster membership at some point in the log.
type ConfState struct {
	// Voters is sorted ascending and holds no duplicates. Only voters count towards
	// elections and commitment.
	Voters []NodeID
	// Learners receive the log but neither vote nor count towards any quorum: a new node
	// catches up as a learner before it is made a voter, so adding it never stalls commits.
	// Sorted ascending, no duplicates, disjoint from Voters.
	Learners []NodeID
	// Removed are the nodes removed from the configuration so far. None of them may join
	// again: a proposal to add one is refused, so a stale copy of an old change (a forwarded
	// proposal the network delayed or duplicated) cannot bring back a node that was removed
	// and perhaps wiped. A replacement server takes a new ID. Sorted, no duplicates,
	// disjoint from Voters and Learners.
	Removed []NodeID
}

// SnapshotMetadata identifies the log prefix a snapshot replaces.
type SnapshotMetadata struct {
	Index     Index
	Term      Term
	ConfState ConfState
}

// Snapshot is the application state as of Metadata.Index, plus what Raft needs to resume
// the log after it (§7).
type Snapshot struct {
	Metadata SnapshotMetadata
	Data     []byte
}

// IsEmpty reports whether s carries no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }

// MessageType names the kind of a Message.
type MessageType uint8

// The message types. Local messages (MsgHup, MsgBeat) never cross the network.
const (
	MsgHup            MessageType = iota // local: start an election
	MsgBeat                              // local: leader sends heartbeats
	MsgProp                              // a proposal, local or forwarded by a follower
	MsgApp                               // AppendEntries (§5.3)
	MsgAppResp                           // AppendEntries reply
	MsgVote                              // RequestVote (§5.2)
	MsgVoteResp                          // RequestVote reply
	MsgPreVote                           // PreVote request (thesis §9.6)
	MsgPreVoteResp                       // PreVote reply
	MsgSnap                              // InstallSnapshot (§7)
	MsgHeartbeat                         // empty AppendEntries carrying the commit index
	MsgHeartbeatResp                     // heartbeat reply
	MsgTransferLeader                    // ask the leader to transfer leadership (thesis §3.10)
	MsgTimeoutNow                        // leader tells the transfer target to campaign now
	MsgReadIndex                         // ReadIndex request, local or forwarded (thesis §6.4)
	MsgReadIndexResp                     // ReadIndex answer to a forwarding follower
	MsgUnreachable                       // local: the transport could not reach a peer
	MsgSnapStatus                        // local: the transport finished sending a snapshot
)

var messageTypeNames = [...]string{
	"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp",
	"MsgPreVote", "MsgPreVoteResp", "MsgSnap", "MsgHeartbeat", "MsgHeartbeatResp",
	"MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp",
	"MsgUnreachable", "MsgSnapStatus",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is what Raft nodes send each other. Which fields are meaningful depends on Type.
type Message struct {
	Type MessageType
	// Reject is set on refused votes and appends. It sits next to Type so the two share a
	// word: Message stays at 128 bytes, a size class of its own (see msgSlabLen).
	Reject bool
	To     NodeID
	From   NodeID
	Term   Term
	// LogTerm and Index: for MsgApp the term and index of the entry preceding Entries; for
	// votes the candidate's last log term and index; for MsgAppResp the index acknowledged
	// (or rejected).
	LogTerm Term
	Index   Index
	Entries []Entry
	Commit  Index
	// Snapshot is set only on MsgSnap.
	Snapshot *Snapshot
	// RejectHint is the follower's hint for fast backtracking: the highest index at which
	// its log might match the leader's.
	RejectHint Index
	// HintTerm is the term of the follower's entry at RejectHint (0 if none).
	HintTerm Term
	// Context carries the ReadIndex request context and marks campaign-by-transfer votes.
	Context []byte
}

// StateType is a node's role.
type StateType uint8

// The roles a node can hold.
const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

func (s StateType) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// SoftState is volatile state that need not be persisted: who leads, and this node's role.
type SoftState struct {
	Lead      NodeID
	RaftState StateType
}

// ReadState answers a ReadIndex request: once the application has applied up to Index, a
// read issued with RequestCtx may be served from local state and is linearizable.
type ReadState struct {
	Index      Index
	RequestCtx []byte
}
