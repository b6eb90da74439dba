package election

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/raftchat/raftchat/raft"
)

type evKind uint8

const (
	evDeliver evKind = iota // a message arrives at node
	evTick                  // a leader's raft tick
	evTimer                 // node's election timer fires (if gen is still current)
	evPropose               // the leader proposes an entry
	evCrash                 // the leader crashes
)

type event struct {
	at   time.Duration
	seq  uint64
	kind evKind
	node int
	gen  uint64
	msg  raft.Message
}

// queue orders events by (time, sequence number): ties run in the order scheduled.
type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// server is one simulated raft server.
type server struct {
	id        raft.NodeID
	rn        *raft.RawNode
	st        *raft.MemoryStorage
	alive     bool
	role      raft.StateType
	lead      raft.NodeID
	term      raft.Term
	timerGen  uint64
	busyUntil time.Duration
	ticking   bool
	// dropApp is the chance that an append from the leader to this server is lost before
	// the crash, which leaves the logs with different lengths.
	dropApp float64
}

// world is one trial.
type world struct {
	cfg     Config
	rng     *rand.Rand
	now     time.Duration
	seq     uint64
	q       queue
	servers []*server

	warmupEnd time.Duration // 0 until the first leader is known by all
	crashSet  bool
	crashed   bool
	crashAt   time.Duration
	crashTerm raft.Term
}

// errUnstable: no leader stayed in place long enough to be crashed (timeouts far below the
// broadcast time).
var errUnstable = errors.New("election: no stable leader to crash")

// warmupHeartbeats is how many heartbeat intervals the first leader serves (and proposes
// entries) before it may be crashed.
const warmupHeartbeats = 3

func newWorld(cfg Config, seed uint64) (*world, error) {
	w := &world{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
	voters := make([]raft.NodeID, cfg.Nodes)
	for i := range voters {
		voters[i] = raft.NodeID(i + 1)
	}
	for i := range voters {
		st := raft.NewMemoryStorage()
		rc := raft.Config{
			ID: voters[i], Voters: voters,
			ElectionTimeoutTicks:   int(cfg.TimeoutMin / cfg.Tick),
			HeartbeatIntervalTicks: cfg.heartbeatTicks(),
			Storage:                st,
			MaxMessageBytes:        raft.DefaultMaxMessageBytes, MaxInflightMessages: raft.DefaultMaxInflightMessages,
			MaxUncommittedBytes: raft.DefaultMaxUncommittedBytes, MaxCommittedBytesPerReady: raft.DefaultMaxCommittedBytesPerReady,
			Seed: seed + uint64(i),
		}
		rn, err := raft.NewRawNode(rc)
		if err != nil {
			return nil, fmt.Errorf("start raft node %d: %w", voters[i], err)
		}
		s := &server{id: voters[i], rn: rn, st: st, alive: true, dropApp: 0.8 * w.rng.Float64()}
		w.servers = append(w.servers, s)
	}
	return w, nil
}

func (w *world) schedule(e *event) {
	w.seq++
	e.seq = w.seq
	heap.Push(&w.q, e)
}

func (w *world) uniform(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

// resetTimer restarts node i's election timer with a fresh random timeout.
func (w *world) resetTimer(i int) {
	s := w.servers[i]
	s.timerGen++
	w.schedule(&event{at: w.now + w.uniform(w.cfg.TimeoutMin, w.cfg.TimeoutMax), kind: evTimer, node: i, gen: s.timerGen})
}

// run plays one trial and returns the time without a leader and the number of elections
// it took.
func (w *world) run() (time.Duration, int, error) {
	// Server 1 campaigns at once so the first leader is elected without a split vote even
	// when the timeout range has no randomness; the others start their timers normally.
	w.schedule(&event{at: 0, kind: evTimer, node: 0, gen: 1})
	w.servers[0].timerGen = 1
	for i := 1; i < len(w.servers); i++ {
		w.resetTimer(i)
	}
	for w.q.Len() > 0 {
		e := heap.Pop(&w.q).(*event)
		w.now = e.at
		if w.crashed && w.now-w.crashAt > w.cfg.MaxOutage {
			return w.cfg.MaxOutage, w.termsSinceCrash(), nil
		}
		if !w.crashed && w.now > w.cfg.MaxOutage {
			return 0, 0, errUnstable
		}
		if err := w.handle(e); err != nil {
			return 0, 0, err
		}
		if w.crashed {
			if lead := w.knownLeader(); lead != nil && lead.term > w.crashTerm {
				return w.now - w.crashAt, int(lead.term - w.crashTerm), nil
			}
		} else if w.warmupEnd == 0 && w.knownLeader() != nil {
			w.warmupEnd = w.now + time.Duration(warmupHeartbeats*w.cfg.heartbeatTicks())*w.cfg.Tick
			w.schedule(&event{at: w.now + w.uniform(2*time.Millisecond, 20*time.Millisecond), kind: evPropose})
		}
	}
	return 0, 0, fmt.Errorf("election: event queue ran dry at %v", w.now)
}

// termsSinceCrash counts the terms started since the crash: the elections held.
func (w *world) termsSinceCrash() int {
	top := w.crashTerm
	for _, s := range w.servers {
		if s.alive {
			top = max(top, s.term)
		}
	}
	return int(top - w.crashTerm)
}

// knownLeader returns the leader every live server follows, if there is one.
func (w *world) knownLeader() *server {
	var lead *server
	for _, s := range w.servers {
		if s.alive && s.role == raft.StateLeader {
			if lead != nil {
				return nil
			}
			lead = s
		}
	}
	if lead == nil {
		return nil
	}
	for _, s := range w.servers {
		if s.alive && (s.lead != lead.id || s.term != lead.term) {
			return nil
		}
	}
	return lead
}

func (w *world) handle(e *event) error {
	s := w.servers[e.node]
	if !s.alive {
		return nil
	}
	switch e.kind {
	case evDeliver:
		return w.deliver(e.node, e.msg)
	case evTick:
		if s.role != raft.StateLeader {
			s.ticking = false
			return nil
		}
		s.rn.Tick()
		w.schedule(&event{at: w.now + w.cfg.Tick, kind: evTick, node: e.node})
	case evTimer:
		if e.gen != s.timerGen {
			return nil
		}
		w.resetTimer(e.node)
		if s.role == raft.StateLeader {
			return nil
		}
		if err := s.rn.Campaign(); err != nil {
			return fmt.Errorf("campaign node %d: %w", s.id, err)
		}
	case evPropose:
		return w.propose()
	case evCrash:
		s.alive = false
		w.crashed, w.crashAt = true, w.now
		for _, o := range w.servers {
			w.crashTerm = max(w.crashTerm, o.term)
		}
		return nil
	}
	return w.process(e.node)
}

func (w *world) deliver(i int, m raft.Message) error {
	s := w.servers[i]
	if err := s.rn.Step(m); err != nil {
		return fmt.Errorf("step %v on node %d: %w", m.Type, s.id, err)
	}
	if err := w.process(i); err != nil {
		return err
	}
	// Figure 2: a follower that hears from the current leader restarts its timer.
	fromLeader := m.Type == raft.MsgApp || m.Type == raft.MsgHeartbeat || m.Type == raft.MsgSnap
	if fromLeader && m.Term == s.term && s.role != raft.StateLeader {
		w.resetTimer(i)
	}
	return nil
}

// propose has the leader append an entry, until the crash is set up.
func (w *world) propose() error {
	if w.crashSet {
		return nil
	}
	for i, s := range w.servers {
		if s.alive && s.role == raft.StateLeader {
			if err := s.rn.Propose([]byte("entry")); err != nil {
				return fmt.Errorf("propose on node %d: %w", s.id, err)
			}
			if err := w.process(i); err != nil {
				return err
			}
		}
	}
	w.schedule(&event{at: w.now + w.uniform(2*time.Millisecond, 20*time.Millisecond), kind: evPropose})
	return nil
}

// process carries out every Ready of node i: persist, then send after the disk write.
func (w *world) process(i int) error {
	s := w.servers[i]
	for s.rn.HasReady() {
		rd := s.rn.Ready()
		if rd.SoftState != nil {
			s.role, s.lead = rd.RaftState, rd.Lead
			if s.role == raft.StateLeader && !s.ticking {
				s.ticking = true
				w.schedule(&event{at: w.now + w.cfg.Tick, kind: evTick, node: i})
			}
		}
		if !rd.HardState.IsEmpty() {
			s.term = rd.HardState.Term
			if err := s.st.SetHardState(rd.HardState); err != nil {
				return fmt.Errorf("node %d: save hard state: %w", s.id, err)
			}
		}
		if err := s.st.Append(rd.Entries); err != nil {
			return fmt.Errorf("node %d: append entries: %w", s.id, err)
		}
		sendAt := max(w.now, s.busyUntil)
		if rd.MustSync {
			sendAt += w.uniform(w.cfg.DiskMin, w.cfg.DiskMax)
			s.busyUntil = sendAt
		}
		for _, m := range rd.Messages {
			w.send(i, m, sendAt)
		}
		s.rn.Advance(rd)
	}
	return nil
}

func (w *world) send(from int, m raft.Message, at time.Duration) {
	s := w.servers[from]
	switch {
	case m.Type == raft.MsgVoteResp && !m.Reject:
		// Figure 2: granting a vote restarts the timer.
		w.resetTimer(from)
	case m.Type == raft.MsgHeartbeat && s.role == raft.StateLeader && !w.crashSet && w.warmupEnd != 0 && at >= w.warmupEnd:
		// Right after this heartbeat broadcast, crash within one heartbeat interval.
		w.crashSet = true
		hb := time.Duration(w.cfg.heartbeatTicks()) * w.cfg.Tick
		w.schedule(&event{at: at + time.Duration(w.rng.Int64N(int64(hb))), kind: evCrash, node: from})
	}
	to := int(m.To) - 1
	if m.Type == raft.MsgApp && !w.crashed && w.rng.Float64() < w.servers[to].dropApp {
		return
	}
	w.schedule(&event{at: at + w.uniform(w.cfg.LatencyMin, w.cfg.LatencyMax), kind: evDeliver, node: to, msg: m})
}
