package node

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

// Config configures a Replica. Zero limits are rejected, never read as "unlimited".
type Config struct {
	// ID is this replica's Raft id; Voters the bootstrap cluster (including ID), or empty for
	// a replica that joins a running cluster and learns its membership from the leader
	// (raft.Config.Voters). Membership then changes through ProposeConfChange.
	ID     raft.NodeID
	Voters []raft.NodeID
	// ElectionTimeoutTicks and HeartbeatIntervalTicks are Raft's timers in Tick calls.
	ElectionTimeoutTicks   int
	HeartbeatIntervalTicks int
	// Seed seeds Raft's randomized election timeouts.
	Seed uint64
	// Log is the durable home of the Raft state; New recovers from it.
	Log LogStore
	// Blobs receives the bytes of uploaded chunks before the chunk command applies. Nil
	// discards them (the simulator does not model file bytes).
	Blobs BlobStore
	// Writer, when set, writes a leader's log in the background (see LogWriter); nil writes
	// every Ready through Log before the Replica moves on.
	Writer LogWriter
	// Snapshots, when set, saves the Replica's own snapshots in the background (see
	// SnapshotSaver); nil saves them through Log before the Replica moves on.
	Snapshots SnapshotSaver
	// Send hands messages to the transport. It must not block and must not call back into
	// the Replica.
	Send func([]raft.Message)
	// DecodeCommand, when set, decodes a committed entry's data in place of proto.Unmarshal:
	// it must return what proto.Unmarshal would (a command equal to its, or its error). The
	// Replica and its state machine only read the command, so one decoded command may be
	// shared by several replicas (the simulator decodes each entry once for its cluster).
	DecodeCommand func(data []byte) (*commandpb.Command, error)
	// BatchProposals makes Propose wait for the next Process, which proposes every waiting
	// command at once: Raft then replicates the batch in one append message per follower
	// (and one acknowledgement back), instead of one per command.
	BatchProposals bool
	// CoalesceMessages sets raft.Config.CoalesceMessages.
	CoalesceMessages bool
	// IdleHeartbeats sets raft.Config.IdleHeartbeats.
	IdleHeartbeats bool
	// DeferCommitBroadcast sets raft.Config.DeferCommitBroadcast.
	DeferCommitBroadcast bool
	// StateMachine configures the chat state machine (every replica must use the same).
	StateMachine statemachine.Config
	// SnapshotEveryEntries takes a state-machine snapshot after that many applied entries.
	SnapshotEveryEntries uint64
	// SnapshotLogRatio, when positive, also waits until the entries applied since the last
	// snapshot hold at least that fraction of its size in bytes. A snapshot encodes the
	// whole state, so with a fixed entry count its cost per entry grows with the state;
	// with the ratio it stays bounded (each snapshot is paid for by a log at least
	// ratio times its size), at the price of keeping that much log in memory.
	SnapshotLogRatio float64
	// CompactionTailEntries is how many entries before a snapshot stay in the in-memory log,
	// so slightly lagging followers catch up without a snapshot. Zero keeps none.
	CompactionTailEntries uint64
	// ApplyBudgetBytes, when positive, makes Process return once it applied that many bytes
	// of entries, leaving the remaining work for the next call (see Pending), so that a loop
	// catching up on a long backlog (after a snapshot's encoding paused applying, or a
	// restart) still ticks and answers its peers in between. It also caps
	// MaxCommittedBytesPerReady (a Ready is applied whole). Zero applies everything.
	ApplyBudgetBytes uint64
	// MaxMessageBytes, MaxInflightMessages, MaxUncommittedBytes and MaxCommittedBytesPerReady
	// are Raft's flow-control limits; zero picks the defaults below.
	MaxMessageBytes           uint64
	MaxInflightMessages       int
	MaxUncommittedBytes       uint64
	MaxCommittedBytesPerReady uint64
	// RaftKnobs plants Raft bugs for the simulator; nil means none.
	RaftKnobs *raft.TestingKnobs
	// Logger receives Raft's and the driver's logs; nil discards them.
	Logger *slog.Logger
}

// Default flow-control limits, used where Config leaves them zero.
const (
	DefaultMaxMessageBytes           = 1 << 20
	DefaultMaxInflightMessages       = 256
	DefaultMaxUncommittedBytes       = 64 << 20
	DefaultMaxCommittedBytesPerReady = 4 << 20
)

// Status is a snapshot of a replica's Raft position.
type Status struct {
	ID      raft.NodeID
	Role    raft.StateType
	Term    raft.Term
	Leader  raft.NodeID
	Commit  raft.Index
	Applied raft.Index
	// Peers are the voters and Learners the learners of the configuration as last applied;
	// Removed the nodes removed from it, which never join again.
	Peers    []raft.NodeID
	Learners []raft.NodeID
	Removed  []raft.NodeID
	// Progress is the leader's replication progress per voter, sorted by ID (nil on
	// followers and candidates).
	Progress []raft.PeerProgress
}

// ApplyHook observes every applied command (cmd is nil for Raft no-ops and undecodable data).
type ApplyHook func(index uint64, cmd *commandpb.Command, res *commandpb.Result)

// snapPhase is the stage of a background snapshot (Config.Snapshots).
type snapPhase uint8

const (
	snapIdle     snapPhase = iota
	snapEncoding           // the saver encodes the machine; applying is paused
	snapSaving             // the saver makes the snapshot durable
	// snapStreaming: the saver encodes the machine straight into the snapshot file
	// (SnapshotStreamer); applying is paused
	snapStreaming
)

// ErrStopped is returned to pending callbacks when the replica is closed.
var ErrStopped = errors.New("node: replica stopped")

type propKey struct {
	client  string
	request uint64
}

type pendingProp struct {
	done      func(*commandpb.Result, error)
	withdrawn bool // cancelled while queued for a batch: not proposed
	// next is the following proposal of the same request (a retry proposed before the first
	// attempt completed), in proposal order. A list through the proposals themselves costs
	// no allocation per proposal; lists are one or two long.
	next *pendingProp
}

type pendingRead struct {
	id uint64
	// ctx is id encoded, the request context handed to Raft (part of this allocation
	// rather than one of its own; never modified, as Raft keeps it).
	ctx   [8]byte
	index raft.Index // valid once known
	known bool
	done  func(error)
}

// Replica drives one Raft member and its chat state machine. It is not safe for concurrent
// use: the caller serializes every method (chatd holds a mutex, chatsim has one goroutine).
type Replica struct {
	cfg     Config
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	sm      *statemachine.Machine
	conf    raft.ConfState

	applied  raft.Index
	lastSnap raft.Index
	// snap is where a background snapshot (Config.Snapshots) stands; snapIndex and snapConf
	// are its position while it is in progress.
	snap      snapPhase
	snapIndex raft.Index
	snapConf  raft.ConfState
	// streamEncoded is set by a streamed snapshot's encoder once it has read the machine for
	// the last time (Config.Snapshots as a SnapshotStreamer): applying may resume while the
	// file is flushed and made durable.
	streamEncoded atomic.Bool
	// lastSnapBytes is the size of the last snapshot taken or restored; logBytes counts the
	// entry bytes applied since (Config.SnapshotLogRatio).
	lastSnapBytes, logBytes uint64
	soft                    raft.SoftState
	hard                    raft.HardState // as last handed out in a Ready (what was persisted)
	raftHard                raft.HardState // Raft's in-memory one as of the last Process

	// writes are the saves queued on cfg.Writer and not yet reported complete, oldest
	// first, each by its last entry (Index 0: it carries none); writesDone counts the ones
	// reported.
	writes     []raft.Entry
	writesDone uint64

	// props holds, per request, the first of the proposals waiting for it (see pendingProp).
	props map[propKey]*pendingProp
	// queued are the commands waiting for the next batch (Config.BatchProposals);
	// batchScratch is reused to hand their data to Raft.
	queued       []queuedProp
	batchScratch [][]byte
	reads        map[uint64]*pendingRead
	nextReadID   uint64
	// knownReads counts the reads whose index is known, and readFloor is at most the lowest
	// of those indexes (serveReads skips its scan until applied reaches it).
	knownReads   int
	readFloor    raft.Index
	readyScratch []*pendingRead // reused by serveReads
	// later holds completions decided outside Process (failed proposals) so that callbacks
	// always run from Process, never re-entrantly from Propose.
	later []func()
	// drained says the last Process call ended because Raft had nothing ready (see
	// PendingAfterProcess).
	drained bool
	hooks   []ApplyHook
	// entryHooks and restoreHooks serve invariant checkers that compare raw entries.
	entryHooks   []func(raft.Entry)
	restoreHooks []func(raft.Index)
	confHooks    []func(raft.ConfChange, raft.ConfState)
}

// New builds a Replica, recovering the Raft log, hard state and state-machine snapshot from
// cfg.Log.
func New(cfg Config) (*Replica, error) {
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	sm, err := statemachine.New(cfg.StateMachine)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	r := &Replica{
		cfg: cfg, storage: raft.NewMemoryStorage(), sm: sm,
		conf:  raft.ConfState{Voters: sortedIDs(cfg.Voters)},
		props: map[propKey]*pendingProp{}, reads: map[uint64]*pendingRead{},
	}
	if err := r.recover(); err != nil {
		return nil, fmt.Errorf("node %d: recover: %w", cfg.ID, err)
	}
	rn, err := raft.NewRawNode(r.raftConfig())
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", cfg.ID, err)
	}
	r.rn = rn
	return r, nil
}

func validate(cfg *Config) error {
	switch {
	case cfg.ID == raft.None:
		return errors.New("node: config: ID must be set")
	case len(cfg.Voters) > 0 && !slices.Contains(cfg.Voters, cfg.ID):
		return fmt.Errorf("node %d: config: Voters %v must include ID", cfg.ID, cfg.Voters)
	case cfg.Log == nil || cfg.Send == nil:
		return fmt.Errorf("node %d: config: Log and Send are required", cfg.ID)
	case cfg.SnapshotEveryEntries == 0:
		return fmt.Errorf("node %d: config: SnapshotEveryEntries must be positive", cfg.ID)
	case cfg.SnapshotLogRatio < 0:
		return fmt.Errorf("node %d: config: SnapshotLogRatio must not be negative", cfg.ID)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxInflightMessages == 0 {
		cfg.MaxInflightMessages = DefaultMaxInflightMessages
	}
	if cfg.MaxUncommittedBytes == 0 {
		cfg.MaxUncommittedBytes = DefaultMaxUncommittedBytes
	}
	if cfg.MaxCommittedBytesPerReady == 0 {
		cfg.MaxCommittedBytesPerReady = DefaultMaxCommittedBytesPerReady
	}
	if b := cfg.ApplyBudgetBytes; b > 0 {
		// A pass applies whole Readys: one must fit the budget for the budget to hold.
		cfg.MaxCommittedBytesPerReady = min(cfg.MaxCommittedBytesPerReady, b)
	}
	return nil
}

func (r *Replica) raftConfig() raft.Config {
	return raft.Config{
		// The bootstrap membership: Raft takes the one recorded with a snapshot instead.
		ID: r.cfg.ID, Voters: r.cfg.Voters,
		ElectionTimeoutTicks:      r.cfg.ElectionTimeoutTicks,
		HeartbeatIntervalTicks:    r.cfg.HeartbeatIntervalTicks,
		Storage:                   r.storage,
		Applied:                   r.applied,
		MaxMessageBytes:           r.cfg.MaxMessageBytes,
		MaxInflightMessages:       r.cfg.MaxInflightMessages,
		MaxUncommittedBytes:       r.cfg.MaxUncommittedBytes,
		MaxCommittedBytesPerReady: r.cfg.MaxCommittedBytesPerReady,
		CheckQuorum:               true,
		PreVote:                   true,
		CoalesceMessages:          r.cfg.CoalesceMessages,
		IdleHeartbeats:            r.cfg.IdleHeartbeats,
		DeferCommitBroadcast:      r.cfg.DeferCommitBroadcast,
		Seed:                      r.cfg.Seed,
		Logger:                    r.cfg.Logger,
		Knobs:                     r.cfg.RaftKnobs,
	}
}

// recover loads the durable state into the in-memory Raft storage and restores the state
// machine from the snapshot. Committed entries after the snapshot are re-applied by Raft.
func (r *Replica) recover() error {
	hs, snap, ents, err := r.cfg.Log.Load()
	if err != nil {
		return err
	}
	if !snap.IsEmpty() {
		if err := r.storage.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("apply snapshot %d: %w", snap.Metadata.Index, err)
		}
		if err := r.sm.Restore(snap.Data); err != nil {
			return fmt.Errorf("restore snapshot %d: %w", snap.Metadata.Index, err)
		}
		r.releaseSnapshotData(snap.Metadata.Index)
		r.applied, r.lastSnap = snap.Metadata.Index, snap.Metadata.Index
		r.lastSnapBytes = uint64(len(snap.Data))
		if len(snap.Metadata.ConfState.Voters) > 0 {
			r.conf = snap.Metadata.ConfState
		}
	}
	if err := r.storage.Append(ents); err != nil {
		return fmt.Errorf("append %d entries: %w", len(ents), err)
	}
	if !hs.IsEmpty() {
		if err := r.storage.SetHardState(hs); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
		r.hard = hs
	}
	return nil
}

func sortedIDs(ids []raft.NodeID) []raft.NodeID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// Tick advances Raft's logical clock by one tick.
func (r *Replica) Tick() { r.rn.Tick() }

// TicksUntilAction is how many more Ticks, with nothing else in between, it takes until one
// does more than count (raft.RawNode.TicksUntilAction). The Replica itself keeps no timers.
func (r *Replica) TicksUntilAction() int { return r.rn.TicksUntilAction() }

// Step hands a message from a peer to Raft.
func (r *Replica) Step(m raft.Message) error {
	if err := r.rn.Step(m); err != nil {
		return fmt.Errorf("node %d: step %s from %d: %w", r.cfg.ID, m.Type, m.From, err)
	}
	return nil
}

// Campaign makes this replica start an election now (tests and tooling).
func (r *Replica) Campaign() error { return r.rn.Campaign() }

// TransferLeadership asks the leader to hand leadership to the given replica.
func (r *Replica) TransferLeadership(to raft.NodeID) { r.rn.TransferLeadership(to) }

// ReportUnreachable tells Raft that the transport failed to reach a peer.
func (r *Replica) ReportUnreachable(id raft.NodeID) { r.rn.ReportUnreachable(id) }

// ReportSnapshot tells Raft whether sending a snapshot to a peer failed.
func (r *Replica) ReportSnapshot(id raft.NodeID, failed bool) { r.rn.ReportSnapshot(id, failed) }

// Machine returns the chat state machine. Reads through it are linearizable only after a
// ReadIndex callback fired with nil (and before the caller releases its serialization).
func (r *Replica) Machine() *statemachine.Machine { return r.sm }

// Storage returns Raft's in-memory log, for invariant checkers. Callers must not modify it.
func (r *Replica) Storage() *raft.MemoryStorage { return r.storage }

// OnApply registers a hook called, from Process, after each entry applies.
func (r *Replica) OnApply(h ApplyHook) { r.hooks = append(r.hooks, h) }

// OnApplyEntry registers a hook called, from Process, with each raw entry just before it
// applies (checkers compare what every replica applied at each index).
func (r *Replica) OnApplyEntry(h func(raft.Entry)) { r.entryHooks = append(r.entryHooks, h) }

// OnRestore registers a hook called, from Process, when the state machine is replaced by a
// snapshot received from the leader.
func (r *Replica) OnRestore(h func(index raft.Index)) { r.restoreHooks = append(r.restoreHooks, h) }

// OnConfChange registers a hook called, from Process, after a membership change applies,
// with the change (its Context holds what the proposer attached, such as an address) and the
// configuration it produced. chatd uses it to connect to new members.
func (r *Replica) OnConfChange(h func(raft.ConfChange, raft.ConfState)) {
	r.confHooks = append(r.confHooks, h)
}

// ConfState is the membership as of the last applied change (or snapshot, or bootstrap).
func (r *Replica) ConfState() raft.ConfState { return r.conf.Clone() }

// ProposeConfChange proposes a membership change (raft.RawNode.ProposeConfChange). An error
// means it was refused at once; otherwise it is in flight, and whether it took effect shows
// through OnConfChange or ConfState once applied. Only a leader can refuse it outright: a
// follower forwards it, and the leader drops a change it cannot make, so the caller needs a
// timeout.
func (r *Replica) ProposeConfChange(cc raft.ConfChange) error {
	if err := r.rn.ProposeConfChange(cc); err != nil {
		return fmt.Errorf("node %d: %w", r.cfg.ID, err)
	}
	return nil
}

// RaftHardState is Raft's in-memory term, vote and commit as of the last Process call. It
// equals the persisted hard state unless a bug skipped persisting something.
func (r *Replica) RaftHardState() raft.HardState { return r.raftHard }

// Applied is the index of the last entry applied to the state machine.
func (r *Replica) Applied() raft.Index { return r.applied }

// Position is Status without the peer list; it does not allocate (the simulator calls it
// after every event).
func (r *Replica) Position() Status {
	return Status{
		ID: r.cfg.ID, Role: r.soft.RaftState, Term: r.hard.Term, Leader: r.soft.Lead,
		Commit: r.hard.Commit, Applied: r.applied,
	}
}

// Status reports the replica's Raft position.
func (r *Replica) Status() Status {
	st := Status{
		ID: r.cfg.ID, Role: r.soft.RaftState, Term: r.hard.Term, Leader: r.soft.Lead,
		Commit: r.hard.Commit, Applied: r.applied, Peers: slices.Clone(r.conf.Voters),
		Learners: slices.Clone(r.conf.Learners), Removed: slices.Clone(r.conf.Removed),
	}
	if st.Role == raft.StateLeader {
		st.Progress = r.rn.Status().Progress
	}
	return st
}
