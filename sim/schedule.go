package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
)

// Fault kinds of a schedule event.
const (
	FaultPartition = "partition" // block Links (directed pairs of 0-based node indexes)
	FaultHeal      = "heal"      // unblock every link
	FaultCrash     = "crash"     // Node loses power: process state and unsynced writes gone
	FaultRestart   = "restart"   // Node boots again from its disk
	FaultPause     = "pause"     // Node stops running (a GC pause, a stopped VM); state kept
	FaultResume    = "resume"    // Node runs again and drains what queued up meanwhile
	FaultClockJump = "clock_jump"
	FaultClockRate = "clock_rate"
	// FaultCrashPoint arms Node to crash at the next moment named by Point (right after it
	// grants a vote, right after it acknowledges a client's write, or as a leader between
	// sending new entries and writing them) and to restart
	// RestartAfterUs later: the classic windows where durability bugs hide.
	FaultCrashPoint = "crash_point"
	// Membership operations (--membership), run by a simulated operator one at a time
	// through random nodes, with timeouts and retries (see membership.go).
	// FaultReplace replaces a voter (Node: a position among the voters; Target "leader":
	// the leader) by a fresh node with a new ID: the old one is removed and wiped, the new
	// one joins as a learner and is promoted once it caught up.
	FaultReplace = "replace"
	// FaultAddLearner starts a fresh node and adds it as a learner.
	FaultAddLearner = "add_learner"
	// FaultRemoveLearner removes a learner (Node: a position among the learners) and wipes it.
	FaultRemoveLearner = "remove_learner"
)

// Crash points.
const (
	PointAfterVote = "after_vote"
	PointAfterAck  = "after_ack"
	// PointBeforeLeaderWrite crashes the leader after it sent new entries to its followers
	// but before its own write of them reached the disk: the window the leader's parallel
	// write (thesis §10.2.1, node.Replica sends before persisting) opens.
	PointBeforeLeaderWrite = "before_leader_write"
	// PointDuringLeaderWrite crashes the leader while a background write of several entries
	// is still unsynced: the disk may keep a prefix of it, or tear it (the torn-tail
	// recovery that only such a multi-entry write exercises).
	PointDuringLeaderWrite = "during_leader_write"
)

// FaultEvent is one timed fault. A schedule is plain data so it can be saved, replayed and
// shrunk without the generator that produced it.
type FaultEvent struct {
	AtUs int64  `json:"at_us"`
	Kind string `json:"kind"`
	Node int    `json:"node,omitempty"`
	// Target "leader" aims the fault at whichever node leads when it fires (Node is the
	// fallback when none does). A partition aimed at the leader isolates it; Shape says in
	// which direction (isolate-leader, isolate-leader-in: it cannot receive,
	// isolate-leader-out: it cannot send).
	Target string `json:"target,omitempty"`
	// ID names an event; Of, on a restart or resume, names the crash or pause it ends, so the
	// same node comes back even when that one was chosen at run time.
	ID    int      `json:"id,omitempty"`
	Of    int      `json:"of,omitempty"`
	Shape string   `json:"shape,omitempty"` // for partitions: halves, isolate, ring, bridge (+ "-asym")
	Links [][2]int `json:"links,omitempty"`
	// JumpMs moves the node's clock: forward jumps fire the missed ticks at once, backward
	// jumps stall the ticker for as long.
	JumpMs int64 `json:"jump_ms,omitempty"`
	// Rate is the node's new tick-rate factor (1 = true time) for drift.
	Rate float64 `json:"rate,omitempty"`
	// Point and RestartAfterUs describe a crash point.
	Point          string `json:"point,omitempty"`
	RestartAfterUs int64  `json:"restart_after_us,omitempty"`
	// Members says Node and Links name positions in the list of the nodes not removed so
	// far (in ID order) rather than node indexes: with membership changes, nodes come and
	// go, and a fault should hit one that is still there.
	Members bool `json:"members,omitempty"`
}

// Schedule is everything that defines a run besides the code: cluster shape, network
// characteristics, per-node clock rates and the timed faults.
type Schedule struct {
	Seed       uint64 `json:"seed"`
	Nodes      int    `json:"nodes"`
	Clients    int    `json:"clients"`
	DurationMs int64  `json:"duration_ms"`
	// LivenessMs bounds the liveness phase after the faults heal.
	LivenessMs int64        `json:"liveness_ms"`
	Bug        string       `json:"bug,omitempty"`
	Net        NetParams    `json:"net"`
	TickRates  []float64    `json:"tick_rates"`
	Events     []FaultEvent `json:"events"`
	// SnapshotEvery is how many applied entries separate a node's snapshots.
	SnapshotEvery int `json:"snapshot_every"`
	// BackgroundWrites makes a leader write its log in the background (node.LogWriter), as
	// chatd does; schedules saved before it existed replay with synchronous writes.
	BackgroundWrites bool `json:"background_writes,omitempty"`
	// Batching makes nodes propose the commands queued between two Process calls as one
	// batch and coalesce redundant Raft messages (node.Config.BatchProposals and
	// CoalesceMessages), as chatd does; schedules saved before it existed replay without.
	Batching bool `json:"batching,omitempty"`
	// IdleHeartbeats makes leaders heartbeat only the followers they sent no append since
	// the last round (raft.Config.IdleHeartbeats), as chatd does; schedules saved before it
	// existed replay without.
	IdleHeartbeats bool `json:"idle_heartbeats,omitempty"`
	// DeferCommits makes leaders send a new commit index at once only to the followers
	// waiting for it (raft.Config.DeferCommitBroadcast), as chatd does; schedules saved
	// before it existed replay without.
	DeferCommits bool `json:"defer_commits,omitempty"`
	// BackgroundSnapshots makes nodes save their own snapshots in the background
	// (node.Config.Snapshots), as chatd does; schedules saved before it existed replay
	// without.
	BackgroundSnapshots bool `json:"background_snapshots,omitempty"`
	// ApplyBudgetBytes is node.Config.ApplyBudgetBytes: a node applies at most about that
	// many bytes of entries per pass and takes the rest in further passes, other events
	// between, as chatd does (with a budget scaled to the simulator's small entries).
	ApplyBudgetBytes uint64 `json:"apply_budget_bytes,omitempty"`
	// Ops is the client workload: each client runs its own ops in order.
	Ops []ClientOp `json:"ops"`
	// Flags records the command-line fault flags that generated the schedule, for humans.
	Flags Flags `json:"flags"`
}

// Flags are the fault switches of the chatsim command line.
type Flags struct {
	Partition bool    `json:"partition,omitempty"`
	Crash     bool    `json:"crash,omitempty"`
	Skew      bool    `json:"skew,omitempty"`
	Drop      float64 `json:"drop,omitempty"`
	Dup       float64 `json:"dup,omitempty"`
	Swarm     bool    `json:"swarm,omitempty"`
	// Membership adds membership changes (replace a voter, add or remove a learner). Swarm
	// mode leaves it as the flag says.
	Membership bool `json:"membership,omitempty"`
}

// GenParams are the inputs of schedule generation.
type GenParams struct {
	Seed       uint64
	Nodes      int
	Clients    int
	DurationMs int64
	LivenessMs int64
	Bug        string
	Flags      Flags
}

// swarmKnobs are the per-seed fault intensities.
type swarmKnobs struct {
	partition, crash, pause, skew, jump               bool
	partitionGapMs, crashGapMs, pauseGapMs, jumpGapMs float64
	drop, dup, slow                                   float64
	skewMax                                           float64
	latMeanUs, fsyncUs                                int64
	snapshotEvery                                     int
}

func drawKnobs(r *rand.Rand, p GenParams) (swarmKnobs, int) {
	f := p.Flags
	k := swarmKnobs{
		partition: f.Partition, crash: f.Crash, pause: f.Crash, skew: f.Skew, jump: f.Skew,
		partitionGapMs: 4000, crashGapMs: 6000, pauseGapMs: 8000, jumpGapMs: 8000,
		drop: f.Drop, dup: f.Dup, skewMax: 0.05,
		latMeanUs: 2500, fsyncUs: 1000, snapshotEvery: 200,
	}
	if f.Partition || f.Drop > 0 {
		k.slow = 0.002
	}
	nodes := p.Nodes
	if !f.Swarm {
		return k, nodes
	}
	// Swarm testing: each enabled feature is kept with probability 3/4 and its intensity is
	// drawn per seed, so some seeds hammer one fault class and others mix them.
	nodes = []int{3, 5, 7}[r.IntN(3)]
	keep := func(on bool) bool { return on && r.IntN(4) != 0 }
	k.partition, k.crash, k.pause = keep(k.partition), keep(k.crash), keep(k.pause)
	k.skew, k.jump = keep(k.skew), keep(k.jump)
	k.partitionGapMs = 1000 + r.Float64()*9000
	k.crashGapMs = 1000 + r.Float64()*9000
	k.pauseGapMs = 2000 + r.Float64()*10000
	k.jumpGapMs = 2000 + r.Float64()*10000
	k.drop = f.Drop * r.Float64()
	k.dup = f.Dup * r.Float64()
	k.skewMax = 0.01 + r.Float64()*0.14
	k.slow = 0.02 * r.Float64() * r.Float64()
	k.latMeanUs = 1000 + r.Int64N(10_000)
	k.fsyncUs = 100 + r.Int64N(8000)
	k.snapshotEvery = []int{30, 100, 200, 500}[r.IntN(4)]
	return k, nodes
}

// genApplyBudgetBytes is the apply budget of generated schedules: a few simulated commands,
// so that catching up after a paused apply or a restart takes several passes.
const genApplyBudgetBytes = 2048

// Generate draws the schedule for p deterministically from p.Seed.
func Generate(p GenParams) Schedule {
	r := newStream(p.Seed, "schedule")
	k, nodes := drawKnobs(r, p)
	s := Schedule{
		Seed: p.Seed, Nodes: nodes, Clients: p.Clients, DurationMs: p.DurationMs, LivenessMs: p.LivenessMs, Bug: p.Bug,
		Net: NetParams{LatencyMinUs: 500, LatencyMeanUs: k.latMeanUs, Drop: k.drop, Dup: k.dup,
			Slow: k.slow, SlowMaxMs: 3000, FsyncUs: k.fsyncUs},
		SnapshotEvery:       k.snapshotEvery,
		BackgroundWrites:    true,
		Batching:            true,
		IdleHeartbeats:      true,
		DeferCommits:        true,
		BackgroundSnapshots: true,
		ApplyBudgetBytes:    genApplyBudgetBytes,
		Flags:               p.Flags,
	}
	s.TickRates = make([]float64, nodes)
	for i := range s.TickRates {
		s.TickRates[i] = 1
		if k.skew {
			s.TickRates[i] = 1 + (2*r.Float64()-1)*k.skewMax
		}
	}
	endUs := p.DurationMs * 1000
	if k.partition {
		s.Events = append(s.Events, genPartitions(r, nodes, endUs, k.partitionGapMs)...)
	}
	nextID := 0
	if k.crash {
		s.Events = append(s.Events, genEpisodes(r, nodes, endUs, k.crashGapMs, FaultCrash, FaultRestart, 50, 5000, &nextID)...)
	}
	if k.crash {
		s.Events = append(s.Events, genCrashPoints(r, nodes, endUs, k.crashGapMs)...)
	}
	if k.pause {
		s.Events = append(s.Events, genEpisodes(r, nodes, endUs, k.pauseGapMs, FaultPause, FaultResume, 50, 3000, &nextID)...)
	}
	if k.jump {
		s.Events = append(s.Events, genClock(r, nodes, endUs, k.jumpGapMs, k.skewMax)...)
	}
	if p.Flags.Membership {
		// Its own stream, so the other faults are the same with and without it.
		for i := range s.Events {
			s.Events[i].Members = true
		}
		s.Events = append(s.Events, genMembership(newStream(p.Seed, "membership"), endUs, membershipGapMs)...)
	}
	sort.SliceStable(s.Events, func(i, j int) bool { return s.Events[i].AtUs < s.Events[j].AtUs })
	s.Ops = genOps(newStream(p.Seed, "workload"), p.Clients, p.DurationMs)
	return s
}

func expGapUs(r *rand.Rand, meanMs float64) int64 {
	return int64(r.ExpFloat64()*meanMs*1000) + 1
}

func genPartitions(r *rand.Rand, n int, endUs int64, gapMs float64) []FaultEvent {
	var out []FaultEvent
	for t := expGapUs(r, gapMs); t < endUs; t += expGapUs(r, gapMs) {
		if r.IntN(3) == 0 {
			// Isolating the leader, sometimes for long, is what tests step-down and
			// re-election; the one-way variants test CheckQuorum.
			shape := []string{"isolate-leader", "isolate-leader-in", "isolate-leader-out"}[r.IntN(3)]
			out = append(out, FaultEvent{AtUs: t, Kind: FaultPartition, Shape: shape, Target: "leader", Node: r.IntN(n)})
			t += 500_000 + min(int64(r.ExpFloat64()*6_000_000), 20_000_000)
		} else {
			shape, links := partitionShape(r, n)
			out = append(out, FaultEvent{AtUs: t, Kind: FaultPartition, Shape: shape, Links: links})
			t += 300_000 + min(int64(r.ExpFloat64()*3_000_000), 20_000_000)
		}
		if t >= endUs {
			break
		}
		out = append(out, FaultEvent{AtUs: t, Kind: FaultHeal})
	}
	return out
}

// genEpisodes generates non-overlapping start/stop episodes (crash/restart, pause/resume) of
// random nodes, lasting between minMs and maxMs.
func genEpisodes(r *rand.Rand, n int, endUs int64, gapMs float64, start, stop string, minMs, maxMs int64, nextID *int) []FaultEvent {
	var out []FaultEvent
	for t := expGapUs(r, gapMs); t < endUs; t += expGapUs(r, gapMs) {
		nd := r.IntN(n)
		*nextID++
		start := FaultEvent{AtUs: t, Kind: start, Node: nd, ID: *nextID}
		if r.IntN(2) == 0 {
			start.Target = "leader" // leader failures are what elections and bugs are made of
		}
		out = append(out, start)
		t += (minMs + r.Int64N(maxMs-minMs)) * 1000
		if t >= endUs {
			break
		}
		out = append(out, FaultEvent{AtUs: t, Kind: stop, Node: nd, Of: start.ID})
	}
	return out
}

func genCrashPoints(r *rand.Rand, n int, endUs int64, gapMs float64) []FaultEvent {
	var out []FaultEvent
	for t := expGapUs(r, gapMs); t < endUs; t += expGapUs(r, gapMs) {
		// A voter that comes back within a few milliseconds can be asked again in the same
		// election, which is what exposes a vote that was granted but never persisted.
		f := FaultEvent{AtUs: t, Kind: FaultCrashPoint, Node: r.IntN(n), Point: PointAfterVote,
			RestartAfterUs: 100 + r.Int64N(3000)}
		switch r.IntN(4) {
		case 0:
			f.Point, f.Target, f.RestartAfterUs = PointAfterAck, "leader", 1000+r.Int64N(50_000)
		case 1:
			f.Point, f.Target, f.RestartAfterUs = PointBeforeLeaderWrite, "leader", 1000+r.Int64N(50_000)
		case 2:
			f.Point, f.Target, f.RestartAfterUs = PointDuringLeaderWrite, "leader", 1000+r.Int64N(50_000)
		}
		out = append(out, f)
	}
	return out
}

func genClock(r *rand.Rand, n int, endUs int64, gapMs, skewMax float64) []FaultEvent {
	var out []FaultEvent
	for t := expGapUs(r, gapMs); t < endUs; t += expGapUs(r, gapMs) {
		nd := r.IntN(n)
		if r.IntN(2) == 0 {
			jump := 50 + r.Int64N(1500)
			if r.IntN(3) == 0 {
				jump = -jump
			}
			out = append(out, FaultEvent{AtUs: t, Kind: FaultClockJump, Node: nd, JumpMs: jump})
		} else {
			out = append(out, FaultEvent{AtUs: t, Kind: FaultClockRate, Node: nd, Rate: 1 + (2*r.Float64()-1)*skewMax})
		}
	}
	return out
}

// partitionShape draws one partition and returns its name and the directed links it cuts.
func partitionShape(r *rand.Rand, n int) (string, [][2]int) {
	perm := r.Perm(n)
	side := make([]int, n) // group number per node
	var shape string
	switch r.IntN(4) {
	case 0: // halves: a minority and a majority
		shape = "halves"
		for i, nd := range perm {
			if i < n/2 {
				side[nd] = 1
			}
		}
	case 1:
		shape = "isolate"
		side[perm[0]] = 1
	case 2:
		return "ring", ringLinks(perm)
	default:
		return "bridge", bridgeLinks(perm)
	}
	links := cutBetweenSides(side)
	if r.IntN(3) == 0 {
		// Asymmetric: only one direction of each cut link fails.
		shape += "-asym"
		var one [][2]int
		for _, l := range links {
			if side[l[0]] == 1 {
				one = append(one, l)
			}
		}
		links = one
	}
	return shape, links
}

func cutBetweenSides(side []int) [][2]int {
	var links [][2]int
	for a := range side {
		for b := range side {
			if a != b && side[a] != side[b] {
				links = append(links, [2]int{a, b})
			}
		}
	}
	return links
}

// ringLinks lets each node talk only to its two neighbours in the ring order perm: with five
// nodes every node sees a majority, but no two majorities are the same.
func ringLinks(perm []int) [][2]int {
	n := len(perm)
	pos := make([]int, n)
	for i, nd := range perm {
		pos[nd] = i
	}
	var links [][2]int
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			d := (pos[a] - pos[b] + n) % n
			if a != b && d != 1 && d != n-1 {
				links = append(links, [2]int{a, b})
			}
		}
	}
	return links
}

// bridgeLinks splits the nodes into two sides that can only reach each other through one
// bridge node perm[0], which talks to everyone.
func bridgeLinks(perm []int) [][2]int {
	n := len(perm)
	side := make([]int, n)
	for i, nd := range perm[1:] {
		side[nd] = 1 + i%2
	}
	var links [][2]int
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			if a != b && side[a] != 0 && side[b] != 0 && side[a] != side[b] {
				links = append(links, [2]int{a, b})
			}
		}
	}
	return links
}

// WriteSchedule saves s as indented JSON.
func WriteSchedule(path string, s Schedule) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode schedule: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write schedule %s: %w", path, err)
	}
	return nil
}

// ReadSchedule loads a schedule saved by WriteSchedule.
func ReadSchedule(path string) (Schedule, error) {
	var s Schedule
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read schedule %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode schedule %s: %w", path, err)
	}
	if s.Nodes < 1 || len(s.TickRates) != s.Nodes {
		return s, fmt.Errorf("schedule %s: %d nodes but %d tick rates", path, s.Nodes, len(s.TickRates))
	}
	return s, nil
}
