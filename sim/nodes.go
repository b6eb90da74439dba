package sim

import (
	"fmt"
	"strings"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// boot starts a new incarnation of n's process from its disk.
func (w *World) boot(n *simNode) error {
	n.gen++
	n.boots++
	n.durableChecked = 0
	idx := n.idx
	var writer node.LogWriter
	n.writer = nil
	if w.sched.BackgroundWrites {
		n.writer = &bgWriter{w: w, n: n, boot: n.boots}
		writer = n.writer
	}
	var snaps node.SnapshotSaver
	n.snaps = nil
	if w.sched.BackgroundSnapshots {
		n.snaps = &bgSnapshots{w: w, n: n, boot: n.boots}
		snaps = n.snaps
	}
	voters := w.voters()
	if n.joiner {
		voters = nil // learns the configuration from the cluster
	}
	rep, err := node.New(node.Config{
		ID: n.id, Voters: voters,
		ElectionTimeoutTicks: electionTicks, HeartbeatIntervalTicks: heartbeatTicks,
		Seed:                  splitmix64(streamSeed(w.sched.Seed, "raft") ^ n.gen),
		Log:                   n.disk,
		Writer:                writer,
		Snapshots:             snaps,
		ApplyBudgetBytes:      w.sched.ApplyBudgetBytes,
		Send:                  func(msgs []raft.Message) { w.send(idx, msgs) },
		StateMachine:          w.smCfg,
		DecodeCommand:         w.decoded.decode,
		BatchProposals:        w.sched.Batching,
		CoalesceMessages:      w.sched.Batching,
		IdleHeartbeats:        w.sched.IdleHeartbeats,
		DeferCommitBroadcast:  w.sched.DeferCommits,
		SnapshotEveryEntries:  uint64(w.sched.SnapshotEvery),
		CompactionTailEntries: uint64(w.sched.SnapshotEvery / 4),
		RaftKnobs:             w.raftKnobs,
	})
	if err != nil {
		return fmt.Errorf("boot node %d: %w", n.id, err)
	}
	n.rep, n.up, n.paused = rep, true, false
	n.applied.reset(rep.Applied())
	n.log.reset(rep.Storage())
	rep.OnApplyEntry(func(e raft.Entry) {
		n.applied.put(e.Index, w.digests.of(&e))
		if e.Type == raft.EntryConfChange {
			w.noteConfEntry(n, &e)
		}
	})
	if w.oper != nil {
		n.confIndex = w.oper.confIndexAt(rep.Applied())
	}
	rep.OnRestore(func(i raft.Index) {
		n.applied.reset(i)
		if w.oper != nil {
			n.confIndex = w.oper.confIndexAt(i)
			if n.joiner {
				w.probe(ProbeJoinerBySnapshot)
			}
		}
		w.stats.Snapshots++
		w.probe(ProbeSnapshotInstalled)
		if w.net.anyBlocked() {
			w.probe(ProbeSnapshotDuringPart)
		}
		n.logf(w, "installed snapshot at index %d", i)
	})
	w.startClock(n)
	return nil
}

// A node's clock ticks every tickNs/rate of virtual time (and not before stallUntil, after a
// backward jump), but most ticks only advance Raft's counters. So instead of an event per tick
// a node keeps a cursor, nextTick (the time of its next tick), and one wake event at the tick
// that will act (node.Replica.TicksUntilAction): the heartbeat or election timeout. Before
// anything else touches the node, catchUp hands it the ticks due by then, so Raft sees the
// same counters as if every tick had been an event. A message that resets the election timer
// leaves the pending wake early; it then only catches up and arms the next one. In a healthy
// 5-node run this replaces about 12,000 tick events with about 1,500 wakes.

// tickPeriod is the virtual time between two of n's ticks at its current rate.
func tickPeriod(n *simNode) int64 { return int64(float64(tickNs) / n.rate) }

// startClock starts n's ticking one period from now (after a boot or a resume).
func (w *World) startClock(n *simNode) {
	n.nextTick = w.now + tickPeriod(n)
	n.wakeAt = -1
	w.armWake(n)
}

// catchUp delivers the ticks of n's clock due by now.
func (w *World) catchUp(n *simNode) {
	if !n.up || n.paused {
		return
	}
	for {
		n.nextTick = max(n.nextTick, n.stallUntil)
		if n.nextTick > w.now {
			return
		}
		n.rep.Tick()
		n.nextTick += tickPeriod(n)
	}
}

// armWake makes sure a wake event is pending no later than the tick at which n's Raft will
// act (an earlier one is kept: it catches up and arms again).
func (w *World) armWake(n *simNode) {
	if !n.up || n.paused {
		return
	}
	if n.nextTick <= w.now && n.stallUntil <= w.now {
		w.fail("node %d was processed without catching up its clock", n.id)
		return
	}
	at := max(n.nextTick, n.stallUntil) + int64(n.rep.TicksUntilAction()-1)*tickPeriod(n)
	if n.wakeAt >= 0 && n.wakeAt <= at {
		return
	}
	n.wakeAt = at
	w.q.push(event{at: at, kind: evTick, node: int32(n.idx), gen: n.gen})
}

func (w *World) onTick(e *event) int {
	n := w.nodes[e.node]
	if e.gen != n.gen || !n.up || n.paused || e.at != n.wakeAt {
		return untouched // an older incarnation's, or superseded by an earlier wake
	}
	n.wakeAt = -1
	w.catchUp(n)
	w.process(n)
	return n.idx
}

// process drains the node's Ready queue; a driver error ends the run.
func (w *World) process(n *simNode) {
	if err := n.rep.Process(); err != nil {
		w.fail("node %d: process: %v", n.id, err)
	}
	if n.crashNow {
		n.crashNow = false
		n.logf(w, "crash point %s reached", n.crashPoint)
		if n.crashPoint == PointAfterAck {
			// The process died after answering the client but before its peer messages of
			// this instant left the socket buffers (they go out on other threads).
			n.voidSentAt = w.now
		}
		n.crashPoint = ""
		w.crash(n)
		w.q.push(event{at: w.now + n.crashRestartNs, kind: evRestart, node: int32(n.idx), gen: n.gen})
		w.probe(ProbeCrashPoint)
	}
	if n.up && n.rep.PendingAfterProcess() {
		// Work left by the apply budget: another pass right away, after the events already
		// due now (chatd's loop wakes itself the same way).
		w.q.push(event{at: w.now, kind: evResume, node: int32(n.idx), gen: n.gen})
		w.probe(ProbeApplyInSlices)
	}
	w.armWake(n)
}

func (w *World) onResume(e *event) int {
	n := w.nodes[e.node]
	if e.gen != n.gen || !n.up || n.paused {
		return untouched
	}
	w.catchUp(n)
	w.process(n)
	return n.idx
}

// sendsEntries reports whether msgs carry log entries to a follower.
func sendsEntries(msgs []raft.Message) bool {
	for i := range msgs {
		if msgs[i].Type == raft.MsgApp && len(msgs[i].Entries) > 0 {
			return true
		}
	}
	return false
}

// hitCrashPoint crashes n once its current Process call returns, if it is armed for point.
func (w *World) hitCrashPoint(n *simNode, point string) {
	if n.crashPoint == point && !w.liveness && n.up {
		n.crashNow = true
	}
}

// send is node from's transport: each message is dropped, delivered, or delivered twice.
func (w *World) send(from int, msgs []raft.Message) {
	n := w.nodes[from]
	if n.muted {
		return // the process died earlier in this instant (a crash point)
	}
	if n.crashPoint == PointAfterVote {
		for i := range msgs {
			if msgs[i].Type == raft.MsgVoteResp && !msgs[i].Reject {
				w.hitCrashPoint(n, PointAfterVote)
			}
		}
	}
	if n.crashPoint == PointBeforeLeaderWrite && sendsEntries(msgs) {
		w.hitCrashPoint(n, PointBeforeLeaderWrite)
		if n.crashNow {
			// These messages leave, then the process dies before its own write of the
			// entries (the Save right after this send) or anything later completes.
			n.disk.loseWrites = true
			defer func() { n.muted = true }()
			w.probe(ProbeLeaderDiedBeforeWrite)
		}
	}
	// Messages that follow a synced write wait for the fsync. A leader sends before it
	// writes (node.Replica, thesis §10.2.1), so the sync its disk reports belongs to the
	// Ready whose messages already left: no wait.
	var fsync int64
	if n.disk.synced {
		n.disk.synced = false
		if n.rep.Position().Role != raft.StateLeader {
			fsync = w.net.fsyncDelay()
		}
	}
	for i := range msgs {
		m := &msgs[i]
		to := int(m.To) - 1
		if to < 0 || to >= len(w.nodes) || to == from {
			w.fail("node %d sent %s to unknown node %d", from+1, m.Type, m.To)
			continue
		}
		w.delays = w.net.plan(from, to, w.delays)
		if len(w.delays) == 0 {
			continue
		}
		// The Ready's messages are ours (raft.Ready.Messages): events point into the
		// slice, which nobody modifies.
		cp := m
		if len(w.delays) > 1 && m.Type == raft.MsgApp {
			w.probe(ProbeDuplicatedAppend)
		}
		for _, d := range w.delays {
			// gen carries the send time, so a crash point can void what was still unsent.
			w.q.push(event{at: w.now + fsync + d, kind: evDeliver, node: int32(to), msg: w.inFly.put(cp), gen: uint64(w.now)})
		}
	}
}

func (w *World) onDeliver(e *event) int {
	n := w.nodes[e.node]
	m := w.inFly.take(e.msg)
	from := int(m.From) - 1
	if from >= 0 && from < len(w.nodes) && w.nodes[from].voidSentAt == int64(e.gen) {
		return untouched
	}
	if !n.up || (from >= 0 && from < len(w.nodes) && w.net.isBlocked(from, n.idx)) {
		return untouched
	}
	if n.paused {
		n.inbox = append(n.inbox, m)
		return untouched
	}
	w.noteDelivery(n, m)
	w.catchUp(n)
	// A message's slices are shared with its sender's log: never modified, safe to share.
	if err := n.rep.Step(*m); err != nil {
		// Stale or unexpected messages are normal under faults; Raft ignores them.
		_ = err
	}
	w.process(n)
	return n.idx
}

func (w *World) onFault(f *FaultEvent) {
	if w.liveness {
		return
	}
	nd := w.faultNode(f)
	defer w.noteTopology()
	switch f.Kind {
	case FaultPartition:
		links := f.Links
		if f.Members {
			links = w.memberLinks(links)
		}
		if f.Target == "leader" {
			links = isolateLinks(nd, len(w.nodes), f.Shape)
		}
		w.net.healAll()
		w.net.setLinks(links, true)
		w.stats.Partitions++
		if strings.Contains(f.Shape, "asym") || strings.HasSuffix(f.Shape, "-in") || strings.HasSuffix(f.Shape, "-out") {
			w.probe(ProbeAsymPartition)
		}
		w.logAll("partition %s: %s", f.Shape, describeLinks(links))
	case FaultHeal:
		w.net.healAll()
		w.logAll("partition healed")
	case FaultCrash:
		w.crash(nd)
	case FaultRestart:
		w.restart(nd)
	case FaultPause:
		w.pause(nd)
	case FaultResume:
		w.resume(nd)
	case FaultClockJump:
		w.clockJump(nd, f.JumpMs)
	case FaultCrashPoint:
		nd.crashPoint, nd.crashRestartNs = f.Point, f.RestartAfterUs*1000
		nd.logf(w, "armed crash point %s", f.Point)
	case FaultClockRate:
		w.catchUp(nd) // the ticks due so far came at the old rate
		nd.rate = f.Rate
		nd.logf(w, "clock rate now %.3f", f.Rate)
	default:
		w.fail("unknown fault kind %q", f.Kind)
	}
}

// faultNode resolves the node a fault hits: the current leader for leader-targeted faults,
// the node its crash or pause hit for a restart or resume, else the scheduled node.
func (w *World) faultNode(f *FaultEvent) *simNode {
	nd := w.nodes[f.Node%len(w.nodes)]
	if f.Members {
		m := w.members()
		nd = m[f.Node%len(m)]
	}
	switch {
	case f.Of != 0:
		if i, ok := w.resolved[f.Of]; ok {
			nd = w.nodes[i]
		}
	case f.Target == "leader":
		if l := w.currentLeader(); l != nil {
			nd = l
		}
	}
	if f.ID != 0 {
		w.resolved[f.ID] = nd.idx
	}
	return nd
}

// currentLeader is the live leader of the highest term, or nil.
func (w *World) currentLeader() *simNode {
	var best *simNode
	var term raft.Term
	for _, n := range w.nodes {
		if n.up && !n.paused {
			if st := n.rep.Position(); st.Role == raft.StateLeader && st.Term >= term {
				best, term = n, st.Term
			}
		}
	}
	return best
}

// isolateLinks cuts node n off: both ways, only its incoming links ("-in") or only its
// outgoing ones ("-out").
func isolateLinks(n *simNode, size int, shape string) [][2]int {
	var links [][2]int
	for o := 0; o < size; o++ {
		if o == n.idx {
			continue
		}
		if !strings.HasSuffix(shape, "-in") {
			links = append(links, [2]int{n.idx, o})
		}
		if !strings.HasSuffix(shape, "-out") {
			links = append(links, [2]int{o, n.idx})
		}
	}
	return links
}

func (w *World) logAll(format string, args ...any) {
	for _, n := range w.nodes {
		n.logf(w, format, args...)
	}
}

func describeLinks(links [][2]int) string {
	s := ""
	for i, l := range links {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d>%d", l[0]+1, l[1]+1)
	}
	return s
}

func (w *World) crash(n *simNode) {
	if !n.up {
		return
	}
	if n.rep.Position().Role == raft.StateLeader {
		w.probe(ProbeLeaderCrashed)
	}
	if b := n.writer; b != nil && b.done < b.queued {
		w.probe(ProbeCrashDuringBgWrite)
	}
	n.writer = nil
	if s := n.snaps; s != nil && s.busy {
		w.probe(ProbeCrashDuringSnapshot) // the snapshot is lost with the process
	}
	n.snaps = nil
	torn, lost := n.disk.TornWrites, n.disk.LostWrites
	n.up, n.paused, n.inbox, n.calls, n.muted = false, false, nil, nil, false
	n.gen++
	n.disk.Crash()
	if n.disk.TornWrites > torn {
		w.probe(ProbeTornWrite)
	}
	if n.disk.LostWrites > lost {
		w.probe(ProbeLostUnsynced)
	}
	n.rep = nil
	n.log.reset(nil)
	w.stats.Crashes++
	n.logf(w, "CRASH (durable log up to %d)", n.disk.DurableLastIndex())
}

func (w *World) restart(n *simNode) {
	if n.up || n.retired {
		return
	}
	if err := w.boot(n); err != nil {
		w.fail("%v", err)
		return
	}
	n.logf(w, "RESTART (applied %d)", n.rep.Applied())
	w.process(n)
}

func (w *World) pause(n *simNode) {
	if !n.up || n.paused {
		return
	}
	w.catchUp(n)
	if n.rep.Position().Role == raft.StateLeader {
		w.probe(ProbeLeaderPaused)
	}
	n.paused = true
	n.gen++
	w.stats.Pauses++
	n.logf(w, "PAUSE")
}

func (w *World) resume(n *simNode) {
	if !n.up || !n.paused {
		return
	}
	n.paused = false
	n.gen++
	n.logf(w, "RESUME (%d queued messages)", len(n.inbox))
	// A resumed process's overdue timer fires before it reads its sockets: a deposed leader
	// sends one more round of heartbeats and appends from its old term.
	n.rep.Tick()
	w.startClock(n)
	calls := n.calls
	n.calls = nil
	for _, call := range calls {
		call()
		w.probe(ProbeRequestQueuedWhilePaus)
	}
	w.process(n)
	if !n.up {
		return // a crash point fired while it caught up
	}
	inbox := n.inbox
	n.inbox = nil
	for _, m := range inbox {
		_ = n.rep.Step(*m)
	}
	w.process(n)
}

// clockJump moves n's clock: a forward jump fires the ticks it skipped at once (a process
// whose timer thread was starved), a backward one stalls its ticker for as long.
func (w *World) clockJump(n *simNode, jumpMs int64) {
	w.catchUp(n)
	n.offsetNs += jumpMs * 1_000_000
	w.lastJumpNs = w.now
	w.stats.ClockJumps++
	n.logf(w, "clock jump %+d ms", jumpMs)
	if !n.up || n.paused {
		return
	}
	if jumpMs < 0 {
		n.stallUntil = w.now - jumpMs*1_000_000
		w.progress.healthySince = max(w.progress.healthySince, n.stallUntil)
		return
	}
	ticks := min(int(float64(jumpMs*1_000_000)*n.rate/tickNs), 4*electionTicks)
	for i := 0; i < ticks; i++ {
		n.rep.Tick()
	}
	w.process(n)
}

// onPhase ends the safety phase: every fault heals, and the liveness phase begins.
func (w *World) onPhase() {
	w.liveness = true
	w.net.healAll()
	w.net.faulty = false
	if w.oper != nil {
		w.oper.waiting = nil // the operation under way finishes; no new ones start
	}
	for _, n := range w.nodes {
		w.catchUp(n)
		n.stallUntil = 0
		if n.retired {
			continue
		}
		if !n.up {
			w.restart(n)
		} else if n.paused {
			w.resume(n)
		}
	}
	w.logAll("LIVENESS PHASE: faults healed")
	w.q.push(event{at: w.now + livenessProbeNs, kind: evProbe, arg: probeLiveness, node: -1})
}

// memberLinks maps links between positions in the list of nodes not removed (see
// FaultEvent.Members) to links between node indexes, dropping those past its end.
func (w *World) memberLinks(links [][2]int) [][2]int {
	m := w.members()
	var out [][2]int
	for _, l := range links {
		if l[0] < len(m) && l[1] < len(m) {
			out = append(out, [2]int{m[l[0]].idx, m[l[1]].idx})
		}
	}
	return out
}
