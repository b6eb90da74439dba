package sim

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/sim/check"
)

// Membership changes (--membership). A simulated operator runs the membership operations of
// the schedule one at a time, as a person with an admin tool would: each change is proposed
// through a random node (a follower forwards it; the leader may refuse it, or drop it
// silently), and the operator retries until a node reports a configuration that includes
// it. Fresh nodes get new IDs (never reused) and start with an empty configuration, like a
// chatd joining a running cluster; a removed node is wiped and never comes back.
//
// Bounds: a replacement keeps the number of voters, never letting it drop below minVoters on
// the way (a replacement of one of three voters adds the new voter first), and there are at
// most maxLearners learners.
const (
	minVoters       = 3
	maxLearners     = 2
	membershipGapMs = 7000
	// Operator timing: the wait before asking again after a proposal that was accepted
	// (it may have been dropped), after a refusal, and after a node that was down.
	opRecheckNs     = 300_000_000
	opBackoffMinNs  = 20_000_000
	opBackoffSpread = 80_000_000
	opRefusedNs     = 10_000_000
	// caughtUpSlack is how far behind the leader's commit index a learner may be and count
	// as caught up (promoting it then stalls commits for a moment at most).
	caughtUpSlack = 20
)

// Membership coverage probes.
const (
	ProbeMembershipApplied  = "membership_change_applied"
	ProbeLeaderRemoved      = "leader_removed"
	ProbeJoinerBySnapshot   = "new_member_caught_up_by_snapshot"
	ProbeConfRefusedPending = "conf_change_refused_pending"
	ProbeLearnerPromoted    = "learner_promoted"
	ProbeMemberReplaced     = "member_replaced"
	ProbeConfChangeForward  = "conf_change_through_follower"
	// ProbeRemovalWaitsForVoters: a removal is applied somewhere, but the operator waits for
	// every remaining voter to apply it before wiping the node.
	ProbeRemovalWaitsForVoters = "removal_waits_for_voters"
)

// MembershipProbes lists the membership probes, in a stable order (sweeps print them when
// membership changes are on).
func MembershipProbes() []string {
	p := []string{ProbeMembershipApplied, ProbeLeaderRemoved, ProbeJoinerBySnapshot, ProbeConfRefusedPending,
		ProbeLearnerPromoted, ProbeMemberReplaced, ProbeConfChangeForward, ProbeRemovalWaitsForVoters}
	slices.Sort(p)
	return p
}

func isMembershipFault(kind string) bool {
	return kind == FaultReplace || kind == FaultAddLearner || kind == FaultRemoveLearner
}

// genMembership draws the membership operations of a schedule.
func genMembership(r *rand.Rand, endUs int64, gapMs float64) []FaultEvent {
	var out []FaultEvent
	for t := expGapUs(r, gapMs); t < endUs; t += expGapUs(r, gapMs) {
		f := FaultEvent{AtUs: t, Node: r.IntN(8), Members: true}
		switch x := r.IntN(8); {
		case x < 4:
			f.Kind = FaultReplace
			if x == 0 {
				f.Target = "leader"
			}
		case x < 6:
			f.Kind = FaultAddLearner
		default:
			f.Kind = FaultRemoveLearner
		}
		out = append(out, f)
	}
	return out
}

// goal is one thing an operation waits for: a configuration change to show up applied, or
// a fresh node to catch up with the leader.
type goal struct {
	change  bool
	cc      raft.ConfChange
	node    int // the node that must catch up (change false)
	done    bool
	attempt uint64
}

// opStage is one step of an operation: first it wipes retire (if >= 0), then it waits for
// all its goals, which the operator pursues at the same time.
type opStage struct {
	retire int
	goals  []goal
}

// memberOp is the operation in progress.
type memberOp struct {
	desc   string
	stages []opStage
	stage  int
	// baseConf is the index of the newest configuration when the operation was planned:
	// none of its goals held in it, so a node reporting a configuration at least as new in
	// which a goal holds has applied that goal's change.
	baseConf raft.Index
}

// confAt is the configuration a change entry produced.
type confAt struct {
	index raft.Index
	cs    raft.ConfState
}

// operator is the simulated cluster administrator.
type operator struct {
	rng     *rand.Rand
	waiting []int // schedule event indexes of operations waiting for the current one
	cur     *memberOp
	seq     uint64
	// confs are the configurations applied anywhere, by index (index 0: bootstrap). Every
	// change entry at or below any node's applied index is here: someone applied it.
	confs []confAt
}

func (w *World) initMembership() {
	dynamic := w.sched.Flags.Membership
	for i := range w.sched.Events {
		dynamic = dynamic || isMembershipFault(w.sched.Events[i].Kind)
	}
	if !dynamic {
		return
	}
	boot := raft.ConfState{Voters: w.voters()}
	w.oper = &operator{rng: newStream(w.sched.Seed, "operator"), confs: []confAt{{cs: boot}}}
	w.checker.SetBootstrapConf(boot)
}

// latestConf is the newest configuration applied anywhere.
func (o *operator) latestConf() confAt { return o.confs[len(o.confs)-1] }

// confIndexAt is the index of the change entry that produced the configuration in force
// after applying index i.
func (o *operator) confIndexAt(i raft.Index) raft.Index {
	k, _ := slices.BinarySearchFunc(o.confs, i+1, func(c confAt, t raft.Index) int {
		if c.index < t {
			return -1
		}
		return 1
	})
	return o.confs[max(k-1, 0)].index
}

// noteConfEntry is called as node n applies a change entry.
func (w *World) noteConfEntry(n *simNode, e *raft.Entry) {
	cc, cs, err := raft.DecodeConfChange(e.Data)
	if err != nil || len(cs.Voters) == 0 {
		w.fail("node %d applied an unreadable change entry at index %d: %v", n.id, e.Index, err)
		return
	}
	n.confIndex = e.Index
	n.logf(w, "applied %s %d at index %d: voters %v learners %v", cc.Type, cc.NodeID, e.Index, cs.Voters, cs.Learners)
	if cc.Type == raft.ConfChangeRemove && cc.NodeID == n.id && n.rep.Position().Role == raft.StateLeader {
		w.probe(ProbeLeaderRemoved)
	}
	if o := w.oper; o != nil && e.Index > o.latestConf().index {
		o.confs = append(o.confs, confAt{index: e.Index, cs: cs})
		w.probe(ProbeMembershipApplied)
		if cc.Type == raft.ConfChangeAddVoter {
			w.probe(ProbeLearnerPromoted)
		}
		// The quorum the progress check waits for is the new configuration's.
		w.noteTopology()
		if id := cc.NodeID; cc.Type != raft.ConfChangeRemove && int(id) <= len(w.nodes) && w.nodes[id-1].retired {
			// A stale copy of an earlier proposal (a forwarded one the network delayed or
			// duplicated) must not bring back a removed, wiped node: raft refuses to add an
			// ID it removed (raft.ConfState.Removed).
			w.fail("node %d applied index %d: removed node %d joined again", n.id, e.Index, id)
		}
	}
	if w.opts.NoChecks {
		return
	}
	if v := w.checker.ObserveConfChange(n.id, e.Index, cc, cs); v != "" {
		w.logAll("VIOLATION %s", v)
		w.done = true
	}
}

// members returns the nodes not removed so far, in ID order.
func (w *World) members() []*simNode {
	out := make([]*simNode, 0, len(w.nodes))
	for _, n := range w.nodes {
		if !n.retired {
			out = append(out, n)
		}
	}
	return out
}

// spawn starts a fresh node with a new ID and an empty configuration.
func (w *World) spawn() *simNode {
	i := len(w.nodes)
	n := &simNode{idx: i, id: raft.NodeID(i + 1), rate: 1, voidSentAt: -1, joiner: true,
		disk: NewDisk(newStream(w.sched.Seed, fmt.Sprintf("disk-%d", i)))}
	if w.sched.Flags.Skew {
		n.rate = 1 + (2*w.oper.rng.Float64()-1)*0.05
	}
	w.nodes = append(w.nodes, n)
	w.views = append(w.views, check.NodeView{})
	w.viewsFresh = false
	w.net.grow(len(w.nodes))
	if err := w.boot(n); err != nil {
		w.fail("%v", err)
		return n
	}
	n.logf(w, "STARTED as a fresh node with an empty configuration")
	w.process(n)
	return n
}

// retire wipes node n for good: its process stops and its disk is thrown away.
func (w *World) retire(n *simNode) {
	crashes := w.stats.Crashes
	w.crash(n)
	w.stats.Crashes = crashes // a decommissioning, not a fault
	n.retired = true
	n.gen++
	n.disk = NewDisk(newStream(w.sched.Seed, fmt.Sprintf("wiped-disk-%d", n.idx)))
	n.logf(w, "REMOVED and wiped")
}

// onMembershipFault queues a membership operation.
func (w *World) onMembershipFault(i int) {
	o := w.oper
	if o == nil {
		return
	}
	if o.cur != nil {
		if len(o.waiting) < 2 {
			o.waiting = append(o.waiting, i)
		}
		return
	}
	w.startOp(i)
}

// startOp plans schedule event i's operation against the newest configuration and starts
// it; an operation the bounds forbid now is skipped.
func (w *World) startOp(i int) {
	o := w.oper
	f := &w.sched.Events[i]
	latest := o.latestConf()
	cs := latest.cs
	op := &memberOp{baseConf: latest.index}
	switch f.Kind {
	case FaultReplace:
		if len(cs.Voters) < minVoters {
			return
		}
		x := w.nodes[int(cs.Voters[f.Node%len(cs.Voters)])-1]
		if l := w.currentLeader(); f.Target == "leader" && l != nil && slices.Contains(cs.Voters, l.id) {
			x = l
		}
		y := w.spawn()
		add := goal{change: true, cc: raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: y.id}}
		remove := goal{change: true, cc: raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: x.id}}
		promote := goal{change: true, cc: raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: y.id}}
		caught := goal{node: y.idx}
		op.desc = fmt.Sprintf("replace node %d by node %d", x.id, y.id)
		if len(cs.Voters) > minVoters {
			// Remove first, and add the learner at the same time: the leader takes one
			// and refuses the other until the first is applied.
			op.stages = []opStage{{retire: -1, goals: []goal{remove, add}}, {retire: x.idx, goals: []goal{caught}},
				{retire: -1, goals: []goal{promote}}}
		} else {
			op.stages = []opStage{{retire: -1, goals: []goal{add}}, {retire: -1, goals: []goal{caught}},
				{retire: -1, goals: []goal{promote}}, {retire: -1, goals: []goal{remove}}, {retire: x.idx}}
		}
	case FaultAddLearner:
		if len(cs.Learners) >= maxLearners {
			return
		}
		y := w.spawn()
		op.desc = fmt.Sprintf("add node %d as a learner", y.id)
		op.stages = []opStage{{retire: -1, goals: []goal{{change: true, cc: raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: y.id}}}}}
	case FaultRemoveLearner:
		if len(cs.Learners) == 0 {
			return
		}
		x := w.nodes[int(cs.Learners[f.Node%len(cs.Learners)])-1]
		op.desc = fmt.Sprintf("remove learner %d", x.id)
		op.stages = []opStage{{retire: -1, goals: []goal{{change: true, cc: raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: x.id}}}},
			{retire: x.idx}}
	}
	o.cur = op
	w.logAll("OPERATOR: %s", op.desc)
	w.runStage()
}

// runStage starts the current stage's goals, or moves on when they are all done.
func (w *World) runStage() {
	o := w.oper
	op := o.cur
	for op.stage < len(op.stages) {
		st := &op.stages[op.stage]
		if st.retire >= 0 {
			w.retire(w.nodes[st.retire])
			st.retire = -1
		}
		pending := false
		for k := range st.goals {
			if g := &st.goals[k]; !g.done {
				pending = true
				o.seq++
				g.attempt = o.seq
				w.q.push(event{at: w.now, kind: evOperator, arg: int32(op.stage<<8 | k), gen: g.attempt, node: -1})
			}
		}
		if pending {
			return
		}
		op.stage++
	}
	if strings.HasPrefix(op.desc, "replace") {
		w.probe(ProbeMemberReplaced)
	}
	w.logAll("OPERATOR: done: %s", op.desc)
	o.cur = nil
	for len(o.waiting) > 0 && o.cur == nil && !w.liveness {
		next := o.waiting[0]
		o.waiting = o.waiting[1:]
		w.startOp(next)
	}
}

// onOperator is one attempt at one goal.
func (w *World) onOperator(e *event) int {
	o := w.oper
	op := o.cur
	stage, k := int(e.arg>>8), int(e.arg&0xff)
	if op == nil || stage != op.stage || k >= len(op.stages[stage].goals) {
		return untouched
	}
	g := &op.stages[stage].goals[k]
	if g.done || g.attempt != e.gen {
		return untouched
	}
	retry := func(d int64) {
		o.seq++
		g.attempt = o.seq
		w.q.push(event{at: w.now + d, kind: evOperator, arg: e.arg, gen: g.attempt, node: -1})
	}
	if !g.change {
		if w.caughtUp(w.nodes[g.node]) {
			w.goalDone(g)
			return -1
		}
		retry(opRecheckNs)
		return untouched
	}
	alive := w.members()
	n := alive[o.rng.IntN(len(alive))]
	if !n.up || n.paused {
		retry(opRefusedNs + o.rng.Int64N(opBackoffSpread))
		return untouched
	}
	w.catchUp(n)
	if w.changeApplied(n, op, g.cc) {
		if g.cc.Type == raft.ConfChangeRemove && !w.votersApplied(op, g.cc) {
			// The node is wiped once this goal is done: wait until every remaining voter
			// counts without it, or those that do not yet could need it for a quorum.
			w.probe(ProbeRemovalWaitsForVoters)
			retry(opRecheckNs)
			return untouched
		}
		w.goalDone(g)
		return -1
	}
	err := n.rep.ProposeConfChange(g.cc)
	if n.rep.Position().Role != raft.StateLeader {
		w.probe(ProbeConfChangeForward)
	}
	w.process(n)
	switch {
	case errors.Is(err, raft.ErrConfChangeRefused):
		if strings.Contains(err.Error(), "not applied yet") {
			w.probe(ProbeConfRefusedPending)
		}
		retry(opBackoffMinNs + o.rng.Int64N(opBackoffSpread))
	case err != nil:
		retry(opBackoffMinNs + o.rng.Int64N(opBackoffSpread))
	default:
		retry(opRecheckNs)
	}
	return n.idx
}

func (w *World) goalDone(g *goal) {
	g.done = true
	g.attempt = 0
	st := &w.oper.cur.stages[w.oper.cur.stage]
	for k := range st.goals {
		if !st.goals[k].done {
			return
		}
	}
	w.oper.cur.stage++
	w.runStage()
}

// changeApplied reports whether node n, or the leader it knows of (the operator's tool
// follows a redirect), reports a configuration at least as new as the operation's base in
// which cc holds.
func (w *World) changeApplied(n *simNode, op *memberOp, cc raft.ConfChange) bool {
	ask := []*simNode{n}
	if l := n.rep.Position().Leader; l != raft.None && l != n.id && int(l) <= len(w.nodes) {
		if ln := w.nodes[l-1]; ln.up && !ln.paused {
			ask = append(ask, ln)
		}
	}
	for _, a := range ask {
		if w.confHolds(a, op, cc) {
			return true
		}
	}
	return false
}

// confHolds reports whether node a's configuration is at least as new as op's base and
// includes cc.
func (w *World) confHolds(a *simNode, op *memberOp, cc raft.ConfChange) bool {
	cs := a.rep.ConfState()
	if len(cs.Voters) == 0 || a.confIndex < op.baseConf {
		return false
	}
	voter, learner := slices.Contains(cs.Voters, cc.NodeID), slices.Contains(cs.Learners, cc.NodeID)
	switch cc.Type {
	case raft.ConfChangeAddLearner:
		return voter || learner
	case raft.ConfChangeAddVoter:
		return voter
	case raft.ConfChangeRemove:
		return !voter && !learner
	}
	return false
}

// votersApplied reports whether every voter of the newest configuration reports one in which
// cc holds (the operator's tool asks each of them).
func (w *World) votersApplied(op *memberOp, cc raft.ConfChange) bool {
	for _, id := range w.oper.latestConf().cs.Voters {
		v := w.nodes[id-1]
		if !v.up || v.paused || !w.confHolds(v, op, cc) {
			return false
		}
	}
	return true
}

// caughtUp reports whether fresh node y has applied nearly all the leader has committed.
func (w *World) caughtUp(y *simNode) bool {
	l := w.currentLeader()
	if l == nil || !y.up || y.paused {
		return false
	}
	return y.rep.Applied()+caughtUpSlack >= l.rep.Position().Commit
}

// operatorIdle reports whether no membership operation is under way.
func (w *World) operatorIdle() bool { return w.oper == nil || w.oper.cur == nil }

// governingConfs returns the configurations under which an entry at index i can have been
// committed: a leader counts votes with the configuration it has applied, which is that of
// the last change entry below i, or the one before if the leader had not applied that
// entry yet. ok is false while a change entry below i may not be known yet (nobody applied
// up to i).
func (w *World) governingConfs(i raft.Index, appliedMax raft.Index) (a, b raft.ConfState, ok bool) {
	if i > appliedMax+1 {
		return a, b, false
	}
	cs := w.oper.confs
	k := len(cs) - 1
	for k > 0 && cs[k].index >= i {
		k--
	}
	return cs[k].cs, cs[max(k-1, 0)].cs, true
}

// majorityHolds reports whether the nodes for which holds is true are a majority of the
// voters of cs.
func (w *World) majorityHolds(cs raft.ConfState, holds func(*simNode) bool) bool {
	n := 0
	for _, id := range cs.Voters {
		if int(id) <= len(w.nodes) && holds(w.nodes[id-1]) {
			n++
		}
	}
	return n > len(cs.Voters)/2
}

// everyMajorityHolds reports whether every majority of the voters of cs includes a node for
// which holds is true.
func (w *World) everyMajorityHolds(cs raft.ConfState, holds func(*simNode) bool) bool {
	n := 0
	for _, id := range cs.Voters {
		if int(id) <= len(w.nodes) && holds(w.nodes[id-1]) {
			n++
		}
	}
	return n+len(cs.Voters)/2+1 > len(cs.Voters)
}

// checkCommitDurableDynamic is checkCommitDurable when membership changes: the majority
// that must hold a committed entry is one of the configuration it was committed under.
func (w *World) checkCommitDurableDynamic(n *simNode, c raft.Index, t raft.Term) {
	appliedMax := raft.Index(0)
	for _, m := range w.nodes {
		if m.up {
			appliedMax = max(appliedMax, m.rep.Applied())
		}
	}
	a, b, ok := w.governingConfs(c, appliedMax)
	if !ok {
		n.durableChecked-- // judge it again later
		return
	}
	holds := func(m *simNode) bool { return !m.retired && m.disk.durablyHolds(c, t) }
	// Judged later (a restart, a fresh node jumping there by snapshot), the entry may have
	// been committed by voters removed and wiped since; then it must still be on a node of
	// every majority of the newest configuration, or a leader without it could be elected.
	if w.majorityHolds(a, holds) || w.majorityHolds(b, holds) || w.everyMajorityHolds(w.oper.latestConf().cs, holds) {
		return
	}
	w.durability = fmt.Sprintf("t=%s durability: node %d committed index %d (term %d), durable on no majority of voters %v (or %v)",
		fmtTime(w.now), n.id, c, t, a.Voters, b.Voters)
	w.logAll("VIOLATION %s", w.durability)
	w.done = true
}

// healthyQuorumDynamic is healthyQuorum over the voters of the newest configuration.
func (w *World) healthyQuorumDynamic() bool {
	voters := w.oper.latestConf().cs.Voters
	var ok uint32
	for k, id := range voters {
		if nd := w.nodes[id-1]; nd.up && !nd.paused && w.now >= nd.stallUntil {
			ok |= 1 << k
		}
	}
	n := len(voters)
	for set := uint32(1); set < 1<<n; set++ {
		if set&ok != set || bits.OnesCount32(set) <= n/2 {
			continue
		}
		connected := true
		for a := range voters {
			for b := range voters {
				if a != b && set&(1<<a) != 0 && set&(1<<b) != 0 && w.net.isBlocked(int(voters[a])-1, int(voters[b])-1) {
					connected = false
				}
			}
		}
		if connected {
			return true
		}
	}
	return false
}

// finalMembers returns the nodes of leader l's configuration, or a description of why the
// liveness phase is not done with them.
func (w *World) finalMembers(l *simNode) ([]*simNode, string) {
	cs := l.rep.ConfState()
	var out []*simNode
	for _, id := range append(slices.Clone(cs.Voters), cs.Learners...) {
		if int(id) > len(w.nodes) {
			return nil, fmt.Sprintf("node %d of the configuration does not exist", id)
		}
		m := w.nodes[id-1]
		if m.retired {
			return nil, fmt.Sprintf("node %d was removed and wiped but is still in the configuration %v", id, cs)
		}
		if !m.up {
			return nil, fmt.Sprintf("node %d is down", m.id)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *simNode) int { return a.idx - b.idx })
	return out, ""
}

// livenessGapDynamic is livenessGap with membership changes: the operation under way must
// finish, and the members of the leader's final configuration (removed nodes, and fresh
// ones never added, excluded) must all have applied every acknowledged write.
func (w *World) livenessGapDynamic() string {
	if !w.operatorIdle() {
		return "membership operation still under way: " + w.oper.cur.desc
	}
	l := w.currentLeader()
	if l == nil {
		return "no leader"
	}
	members, msg := w.finalMembers(l)
	if msg != "" {
		return msg
	}
	acked := raft.Index(w.dir.maxIndex)
	for _, n := range members {
		if a := n.rep.Applied(); a < acked {
			return fmt.Sprintf("node %d applied %d < acknowledged index %d", n.id, a, acked)
		}
	}
	for _, c := range w.clients {
		if c.cur != nil {
			return fmt.Sprintf("client %d still waiting for op %d", c.idx, c.cur.op)
		}
	}
	for _, n := range members[1:] {
		if a, b := n.rep.Applied(), members[0].rep.Applied(); a != b {
			return fmt.Sprintf("node %d applied %d, node %d applied %d", n.id, a, members[0].id, b)
		}
	}
	return ""
}
