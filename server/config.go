// Package server is the real raftchat node: it runs a node.Replica on one goroutine, driven by
// a wall-clock ticker, peer messages from the transport and client requests arriving over
// channels, keeps the log in a storage.DiskLog and file bytes in a blob store, and implements
// service.Backend for the ChatService.
//
// Concurrency: only the loop goroutine calls the Replica. The state machine is mutated only
// inside Replica.Process, which the loop runs holding mu for writing; Read runs the caller's
// function holding mu for reading, so queries run in parallel with each other but never with
// apply. Group commit falls out of the loop: everything that arrives while Process is blocked
// in an fsync is handed to the Replica before the next Process, which persists it all with one
// fsync.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
	"github.com/raftchat/raftchat/transport"
)

// Member is one node of the cluster as configured.
type Member struct {
	ID raft.NodeID
	// PeerAddr is where the node's transport listens.
	PeerAddr string
	// ClientAddr is where the node serves clients; used to point clients at the leader. May
	// be empty when unknown.
	ClientAddr string
}

// Bootstrap is what the first leader of a new cluster proposes when the state machine has not
// been initialised: the first admin account. The token signing key is drawn from crypto/rand.
type Bootstrap struct {
	AdminUsername     string
	AdminPasswordHash string
}

// Config configures a Node. Start from DefaultConfig; zero limits are rejected.
type Config struct {
	// ID is this node; Members the whole initial cluster, including ID. With Join, Members
	// are instead the nodes this one can reach to join a running cluster (itself included,
	// for its own addresses), and its configuration starts empty: it learns the membership
	// from the leader once an admin adds it. Either way Members seeds the address book kept
	// in DataDir (PeersFile), which follows every membership change applied afterwards.
	ID      raft.NodeID
	Members []Member
	Join    bool
	// DataDir holds the write-ahead log, snapshots and blobs. Ignored for what Log and Blobs
	// supply.
	DataDir string
	// Log and Blobs override the stores normally opened in DataDir (tests).
	Log   node.LogStore
	Blobs BlobStore

	// TickInterval is the wall-clock length of one Raft tick.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks are Raft's timers in ticks; an election timeout is
	// drawn from [ElectionTicks, 2*ElectionTicks). The default election timeout, 500 ms,
	// outlasts the fsync stalls of a busy disk: a follower syncs before it answers, and a
	// leader that hears from no follower for an election timeout steps down (CheckQuorum).
	// With 150 ms, 6 of 7 runs of `chatd dev` at 64 clients for 40 s had one to three
	// elections while fsyncs took 100-400 ms; with 500 ms, none did.
	ElectionTicks, HeartbeatTicks int
	// SnapshotEveryEntries and CompactionTailEntries control log compaction (see node.Config).
	SnapshotEveryEntries, CompactionTailEntries uint64
	// SnapshotLogRatio is node.Config.SnapshotLogRatio (0: snapshot on the entry count alone).
	SnapshotLogRatio float64

	// MaxPendingRequests bounds the requests queued for the loop; beyond it callers wait.
	MaxPendingRequests int
	// MaxInboundMessages bounds peer messages queued for the loop; beyond it they are dropped
	// (Raft retransmits).
	MaxInboundMessages int
	// MaxDrainPerIteration bounds how many queued items the loop takes before it processes,
	// so that a flood of proposals cannot starve ticks.
	MaxDrainPerIteration int
	// EventRetention is how many applied entries are kept for Subscribe to replay.
	EventRetention int
	// RetryInterval is how long Propose and Read wait before asking again when no leader is
	// known; ResendAfter is how long Propose waits for a deduplicated command (non-zero
	// request id) to apply before proposing it again, in case a leader change lost it.
	RetryInterval, ResendAfter time.Duration
	// ReachableWindow: a peer counts as reachable if heard from within this window.
	ReachableWindow time.Duration

	// BackgroundWrites lets the leader write its log on a separate goroutine while its loop
	// goes on (see node.LogWriter); off, every save happens inside the loop.
	BackgroundWrites bool

	// StateMachine configures the chat state machine; every node must use the same.
	StateMachine statemachine.Config
	// Bootstrap, when set, lets this node initialise a new cluster once it leads.
	Bootstrap *Bootstrap

	// Transport limits; the addresses, ID and callbacks are filled in by New.
	Transport transport.Config
	// PeerServerCreds and PeerClientCreds secure the peer transport; nil is plaintext.
	PeerServerCreds, PeerClientCreds credentials.TransportCredentials

	// Seed seeds Raft's election timeouts; zero draws one at random.
	Seed uint64
	// Registerer receives the node's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration chatd runs with for node id in members.
func DefaultConfig(id raft.NodeID, members []Member, dataDir string) Config {
	return Config{
		ID: id, Members: members, DataDir: dataDir,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 50, HeartbeatTicks: 2,
		SnapshotEveryEntries: 50_000, CompactionTailEntries: 10_000, SnapshotLogRatio: 1,
		MaxPendingRequests: 8192, MaxInboundMessages: 8192, MaxDrainPerIteration: 4096,
		EventRetention: 10_000,
		RetryInterval:  20 * time.Millisecond, ResendAfter: 2 * time.Second,
		ReachableWindow: time.Second, BackgroundWrites: true,
		StateMachine: statemachine.DefaultConfig(),
		Transport:    transport.DefaultConfig(id, nil),
	}
}

func (c *Config) validate() error {
	switch {
	case c.ID == raft.None:
		return errors.New("server config: ID is zero")
	case c.Log == nil && c.DataDir == "":
		return errors.New("server config: DataDir is required")
	case c.TickInterval <= 0 || c.ElectionTicks <= c.HeartbeatTicks || c.HeartbeatTicks <= 0:
		return errors.New("server config: need TickInterval > 0 and 0 < HeartbeatTicks < ElectionTicks")
	case c.SnapshotEveryEntries == 0:
		return errors.New("server config: SnapshotEveryEntries must be positive")
	case c.MaxPendingRequests <= 0 || c.MaxInboundMessages <= 0 || c.MaxDrainPerIteration <= 0 || c.EventRetention <= 0:
		return errors.New("server config: queue limits must be positive")
	case c.RetryInterval <= 0 || c.ResendAfter <= 0 || c.ReachableWindow <= 0:
		return errors.New("server config: retry intervals must be positive")
	case c.Bootstrap != nil && (c.Bootstrap.AdminUsername == "" || c.Bootstrap.AdminPasswordHash == ""):
		return errors.New("server config: Bootstrap needs an admin username and password hash")
	}
	seen := map[raft.NodeID]bool{}
	for _, m := range c.Members {
		if m.ID == raft.None || m.PeerAddr == "" || seen[m.ID] {
			return fmt.Errorf("server config: bad or duplicate member %+v", m)
		}
		seen[m.ID] = true
	}
	if !seen[c.ID] {
		return fmt.Errorf("server config: members do not include node %d", c.ID)
	}
	return nil
}

// voters returns the bootstrap configuration: the member IDs, sorted, or none for a node that
// joins a running cluster.
func (c *Config) voters() []raft.NodeID {
	if c.Join {
		return nil
	}
	ids := make([]raft.NodeID, 0, len(c.Members))
	for _, m := range c.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// member returns the configured member id, if any.
func (c *Config) member(id raft.NodeID) (Member, bool) {
	for _, m := range c.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}
