package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/sim/check"
	"github.com/raftchat/raftchat/sim/linearize"
	"github.com/raftchat/raftchat/statemachine"
)

// Timing of the simulated cluster. Raft counts ticks; the simulator decides what a tick is.
const (
	tickNs               = 25_000_000 // 25 ms: election timeout 250-500 ms, heartbeat 50 ms
	electionTicks        = 10
	heartbeatTicks       = 2
	defaultSnapshotEvery = 200
	epochUnixMs          = 1_780_000_000_000 // the virtual clock's zero as wall-clock time
	defaultLivenessMs    = 20_000
	livenessProbeNs      = 100_000_000
	// eventsPerSimSecond bounds a run's events (a healthy 5-node run needs about 700 per
	// simulated second); a buggy cluster that ping-pongs messages forever fails instead.
	eventsPerSimSecond    = 3_000
	eventsPerClientSecond = 400
)

// GCPercent is the garbage collector setting chatsim runs with (unless GOGC is set). A run
// allocates many short-lived objects and keeps a live heap of only a few megabytes, so with
// Go's default of 100 the collector is marking for a large part of the run (about ten cycles
// in a 60 s 5-node run). At 400 the Run5x8 benchmark measured 1.4x faster (860 -> 1232 sim
// seconds per wall second, same session); 800 gained little more and 1600 was slower.
const GCPercent = 400

// Options configure one run besides its schedule.
type Options struct {
	// LivenessMs, if positive, overrides the schedule's liveness bound.
	LivenessMs int64
	// NoChecks switches off the per-event Raft checks (for speed measurements only).
	NoChecks bool
}

// simNode is one simulated server: a process (the Replica, gone while crashed) and the
// hardware that outlives it (disk, clock).
type simNode struct {
	idx  int
	id   raft.NodeID
	rep  *node.Replica
	disk *Disk
	// gen counts incarnations and pauses; tick events of an older gen are ignored.
	gen uint64
	// boots counts incarnations; writer is this one's background log writer (nil unless
	// the schedule writes the leader's log in the background).
	boots  uint64
	writer *bgWriter
	// snaps is this incarnation's background snapshot saver (nil unless the schedule saves
	// snapshots in the background).
	snaps *bgSnapshots
	// durableChecked is the highest commit index checkCommitDurable has checked.
	durableChecked raft.Index
	up             bool
	paused         bool
	inbox          []*raft.Message // delivered while paused
	calls          []func()        // client requests that arrived while paused
	// crashPoint is armed by a crash_point fault; crashNow is set when it is reached.
	crashPoint string
	// muted drops everything the node sends until it crashes: it died at a crash point
	// earlier in the current instant.
	muted          bool
	crashRestartNs int64
	crashNow       bool
	// retired: removed from the configuration and wiped; it never runs again. joiner: a
	// fresh node that started with an empty configuration. confIndex is the index of the
	// change entry that made its current configuration (0: bootstrap or none).
	retired   bool
	joiner    bool
	confIndex raft.Index
	// voidSentAt is the send time of messages lost with the process at a crash point.
	voidSentAt int64
	// Clock: ticks every tickNs/rate; wall time is virtual time plus offsetNs.
	rate       float64
	offsetNs   int64
	stallUntil int64
	// nextTick is when the clock ticks next; wakeAt is the pending wake event's time (-1:
	// none). See catchUp.
	nextTick int64
	wakeAt   int64
	// Last observed Raft position, for timelines and leader-change counting.
	lastRole raft.StateType
	lastTerm raft.Term
	applied  appliedRing
	log      logView
	timeline []string
}

// World is one simulation run. It is single-threaded and deterministic given its schedule.
type World struct {
	sched Schedule
	opts  Options
	q     queue
	inFly msgTable // the messages the queue's events deliver
	now   int64
	nodes []*simNode
	net   *network
	// Random streams, one per concern so they do not perturb each other.
	clientRng *rand.Rand
	smCfg     statemachine.Config
	raftKnobs *raft.TestingKnobs
	decoded   decodeCache
	digests   digestCache

	// oper runs membership changes; nil when the schedule has none (nodes never change).
	oper *operator

	// resolved maps a fault event's ID to the node it hit.
	resolved map[int]int

	clients []*client
	dir     directory
	ops     []opRecord
	rec     *linearize.Recorder

	checker *check.Checker
	views   []check.NodeView
	// viewsFresh says views hold every node's state as of the last observed event.
	viewsFresh bool

	progress progress

	safetyEndNs int64
	endNs       int64
	liveness    bool // in the liveness phase
	livenessOK  bool
	livenessMsg string
	staleRead   string
	durability  string // a committed entry found durable on no majority
	done        bool

	stats      Stats
	probes     map[string]int
	lastJumpNs int64
	digest     digest
	fatal      []string
	delays     []int64
}

// Stats are the counters a run reports.
type Stats struct {
	Events        int
	LeaderChanges int
	Crashes       int
	Partitions    int
	Pauses        int
	ClockJumps    int
	Snapshots     int // snapshots installed from a leader
	MsgsSent      int
	MsgsDropped   int
	MsgsDup       int
	MsgsCut       int
	MsgsSlow      int
}

// NewWorld builds the cluster described by s.
func NewWorld(s Schedule, opts Options) (*World, error) {
	if s.Nodes < 1 || len(s.TickRates) != s.Nodes {
		return nil, fmt.Errorf("schedule: %d nodes, %d tick rates", s.Nodes, len(s.TickRates))
	}
	if opts.LivenessMs <= 0 {
		opts.LivenessMs = s.LivenessMs
	}
	if s.SnapshotEvery <= 0 {
		s.SnapshotEvery = defaultSnapshotEvery
	}
	if opts.LivenessMs <= 0 {
		opts.LivenessMs = defaultLivenessMs
	}
	raftKnobs, smKnobs, err := knobsFor(s.Bug)
	if err != nil {
		return nil, err
	}
	w := &World{
		sched: s, opts: opts,
		net:       newNetwork(s.Nodes, s.Net, newStream(s.Seed, "net")),
		clientRng: newStream(s.Seed, "clients"),
		smCfg:     statemachine.DefaultConfig(),
		raftKnobs: raftKnobs,
		checker:   check.New(check.Config{}),
		resolved:  map[int]int{},
	}
	w.smCfg.Knobs = smKnobs
	w.initMembership()
	w.safetyEndNs = s.DurationMs * 1_000_000
	w.endNs = w.safetyEndNs + opts.LivenessMs*1_000_000
	for i := 0; i < s.Nodes; i++ {
		n := &simNode{idx: i, id: raft.NodeID(i + 1), rate: s.TickRates[i], voidSentAt: -1,
			disk: NewDisk(newStream(s.Seed, fmt.Sprintf("disk-%d", i)))}
		n.log.sums = &w.digests
		w.nodes = append(w.nodes, n)
		if err := w.boot(n); err != nil {
			return nil, err
		}
	}
	w.views = make([]check.NodeView, s.Nodes)
	for i := range s.Events {
		w.q.push(event{at: s.Events[i].AtUs * 1000, kind: evFault, arg: int32(i), node: -1})
	}
	w.q.push(event{at: w.safetyEndNs, kind: evPhase, node: -1})
	w.q.push(event{at: progressProbeNs, kind: evProbe, arg: probeProgress, node: -1})
	w.progress.healthySince = 0
	w.initClients()
	return w, nil
}

func (w *World) voters() []raft.NodeID {
	ids := make([]raft.NodeID, w.sched.Nodes)
	for i := range ids {
		ids[i] = raft.NodeID(i + 1)
	}
	return ids
}

// Run executes the whole run and returns its result.
func (w *World) Run() *Result {
	budget := (eventsPerSimSecond + eventsPerClientSecond*int64(len(w.clients))) * (w.endNs/1e9 + 1)
	for w.q.len() > 0 && !w.done {
		e := w.q.pop()
		if e.at > w.endNs {
			break
		}
		if int64(w.stats.Events) >= budget {
			w.fail("event budget of %d exhausted (a message storm?)", budget)
			break
		}
		w.now = e.at
		w.stats.Events++
		w.digest.event(&e, w.inFly.get(e.msg))
		touched := w.dispatch(&e)
		if len(w.fatal) > 0 {
			break
		}
		w.observe(touched)
	}
	return w.finish()
}

// untouched is what dispatch returns for an event that changed no node (a stale timer, a
// message to a crashed node): the checks can skip it.
const untouched = -2

// dispatch runs one event and returns the index of the node it touched, -1 for events that
// may have touched several (faults), or untouched.
func (w *World) dispatch(e *event) int {
	switch e.kind {
	case evTick:
		return w.onTick(e)
	case evDeliver:
		return w.onDeliver(e)
	case evFault:
		if f := &w.sched.Events[e.arg]; isMembershipFault(f.Kind) {
			if !w.liveness {
				w.onMembershipFault(int(e.arg))
			}
		} else {
			w.onFault(f)
		}
		return -1
	case evOperator:
		return w.onOperator(e)
	case evClient:
		return w.onClientWake(e)
	case evTimeout:
		return w.onClientTimeout(e)
	case evPhase:
		w.onPhase()
		return -1
	case evRestart:
		if n := w.nodes[e.node]; n.gen == e.gen && !w.liveness {
			w.restart(n)
		}
		return -1
	case evWriteDone:
		return w.onWriteDone(e)
	case evResume:
		return w.onResume(e)
	case evSnapStep:
		return w.onSnapStep(e)
	case evProbe:
		if e.arg == probeProgress {
			w.probeProgress()
		} else {
			w.probeLiveness()
		}
		return untouched
	}
	panic(fmt.Sprintf("sim: unknown event kind %d", e.kind))
}

// fail records a harness-level failure (a driver error) that ends the run.
func (w *World) fail(format string, args ...any) {
	w.fatal = append(w.fatal, fmt.Sprintf("t=%s ", fmtTime(w.now))+fmt.Sprintf(format, args...))
}

func fmtTime(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

// wallMs is node n's wall clock in Unix milliseconds (what it stamps commands with).
func (w *World) wallMs(n *simNode) int64 {
	return epochUnixMs + (w.now+n.offsetNs)/1_000_000
}

func (n *simNode) logf(w *World, format string, args ...any) {
	const maxTimeline = 20000
	if len(n.timeline) >= maxTimeline {
		return
	}
	n.timeline = append(n.timeline, fmt.Sprintf("%10s  ", fmtTime(w.now))+fmt.Sprintf(format, args...))
}

// RunSchedule builds the world for s and runs it.
func RunSchedule(s Schedule, opts Options) (*Result, error) {
	w, err := NewWorld(s, opts)
	if err != nil {
		return nil, err
	}
	return w.Run(), nil
}
