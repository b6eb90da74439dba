package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/sim/linearize"
	"github.com/raftchat/raftchat/statemachine"
)

// Client timing.
const (
	clientTimeoutNs  = 1_000_000_000 // give up on an attempt, retry elsewhere with the same id
	refusedDelayNs   = 10_000_000    // a crashed node refuses the connection quickly
	backoffMinNs     = 5_000_000
	backoffSpreadNs  = 60_000_000
	maxOpsPerConv    = 240 // keeps each linearizability partition small
	bootstrapWaitNs  = 50_000_000
	systemClientName = "sim-bootstrap"
)

// client is one simulated user running its script one op at a time.
type client struct {
	idx     int
	id      string // the client id of its session (exactly-once)
	user    string
	script  []int // indexes into the schedule's Ops
	pos     int
	system  bool // the bootstrap client
	rng     *rand.Rand
	nextReq uint64
	cur     *inflight
	posted  []knownMsg // own acknowledged posts (edit targets)
	seq     int        // ops started, for unique texts
	// lastConv is the conversation of the client's latest write.
	lastConv string
	// attempts numbers the client's attempts across all its ops. Timer events carry the
	// number of the attempt they belong to, so one left over from an earlier op (numbered
	// per op, it could match) never retries the current one.
	attempts uint64
}

// nextAttempt returns a fresh attempt number.
func (c *client) nextAttempt() uint64 {
	c.attempts++
	return c.attempts
}

// inflight is the op a client is waiting on.
type inflight struct {
	op       int // index into World.ops
	lin      int // linearize op id, -1 if not checked
	kind     OpKind
	cmd      *commandpb.Command // nil for reads
	readConv string
	// ackedAtCall is the highest acknowledged write index when the op was called.
	ackedAtCall uint64
	attempt     uint64
	node        int
	cancel      func()
}

// opRecord is one client operation as the run's statistics and artifacts see it.
type opRecord struct {
	Client   int
	Kind     OpKind
	Conv     string
	CallNs   int64
	ReturnNs int64 // -1 when the outcome stayed unknown
	Code     commandpb.ErrorCode
	Index    uint64
	Node     int
	Attempts int
	Detail   string
}

type knownMsg struct {
	conv   string
	seq    uint64
	author int
}

type groupInfo struct {
	conv    string
	info    *convInfo
	creator int
	members []bool // believed membership, by client index
}

// convInfo is what the clients know about one conversation. There is one per conversation
// (directory.conv), reached from its groupInfo and the direct table, so that the op pickers,
// which weigh every candidate conversation on every op, need no map lookup per candidate.
type convInfo struct {
	// ops is the number of checked operations called in it: linearize.Recorder.OpsIn,
	// counted here too (start counts every Call).
	ops int
	// msgs are its acknowledged posts and direct messages, in the order acknowledged.
	msgs []knownMsg
}

// directory is what clients collectively learned from acknowledged results. Maps are used
// only for lookups, never iterated.
type directory struct {
	bootstrapped bool
	users        []int // signed-up clients in the order their sign-up was acknowledged
	signedUp     []bool
	groups       []*groupInfo
	acked        []knownMsg // acknowledged posts and direct messages, for the liveness check
	maxIndex     uint64     // highest log index of an acknowledged write
	// direct[a][b] is the id of the direct conversation of clients a and b, and
	// directInfo[a][b] its convInfo, computed once (the op picker asks for them on every op).
	direct     [][]string
	directInfo [][]*convInfo
	convs      map[string]*convInfo
}

// conv returns the convInfo of conversation id, creating it on first use.
func (d *directory) conv(id string) *convInfo {
	ci := d.convs[id]
	if ci == nil {
		ci = &convInfo{}
		d.convs[id] = ci
	}
	return ci
}

func (w *World) initClients() {
	n := w.sched.Clients
	w.dir.signedUp = make([]bool, n)
	w.rec = linearize.NewRecorder()
	// A client starts at most one op per scripted op (plus the bootstrap): room for all of
	// them at once instead of growing the records by doubling.
	w.rec.Grow(len(w.sched.Ops))
	w.ops = make([]opRecord, 0, len(w.sched.Ops)+1)
	for i := 0; i < n; i++ {
		w.clients = append(w.clients, &client{
			idx: i, id: fmt.Sprintf("client-%d", i), user: fmt.Sprintf("user%d", i),
			rng: newStream(w.sched.Seed, fmt.Sprintf("client-%d", i)),
		})
	}
	w.dir.convs = map[string]*convInfo{}
	w.dir.direct = make([][]string, n)
	w.dir.directInfo = make([][]*convInfo, n)
	for a := range w.dir.direct {
		w.dir.direct[a] = make([]string, n)
		w.dir.directInfo[a] = make([]*convInfo, n)
		for b := range w.dir.direct[a] {
			w.dir.direct[a][b] = statemachine.DirectID(w.clients[a].user, w.clients[b].user)
			w.dir.directInfo[a][b] = w.dir.conv(w.dir.direct[a][b])
		}
	}
	for i, op := range w.sched.Ops {
		if op.Client >= 0 && op.Client < n {
			w.clients[op.Client].script = append(w.clients[op.Client].script, i)
		}
	}
	sys := &client{idx: n, id: systemClientName, user: "admin", system: true,
		rng: newStream(w.sched.Seed, "client-system")}
	w.clients = append(w.clients, sys)
	w.q.push(event{at: 0, kind: evClient, arg: int32(sys.idx), node: -1})
	for _, c := range w.clients[:n] {
		if len(c.script) > 0 {
			w.wakeAfterThink(c)
		}
	}
}

func (w *World) wakeAfterThink(c *client) {
	think := int64(0)
	if c.pos < len(c.script) {
		think = w.sched.Ops[c.script[c.pos]].ThinkMs * 1_000_000
	}
	w.q.push(event{at: w.now + think, kind: evClient, arg: int32(c.idx), node: -1})
}

func (w *World) onClientWake(e *event) int {
	c := w.clients[e.arg]
	if c.cur != nil {
		if e.gen == c.cur.attempt {
			return w.attempt(c)
		}
		return untouched
	}
	if c.system {
		if !w.dir.bootstrapped {
			w.startBootstrap(c)
			return w.attempt(c)
		}
		return untouched
	}
	if !w.dir.bootstrapped {
		w.q.push(event{at: w.now + bootstrapWaitNs, kind: evClient, arg: e.arg, node: -1})
		return untouched
	}
	for c.pos < len(c.script) && !w.liveness {
		op := w.sched.Ops[c.script[c.pos]]
		c.pos++
		if w.start(c, op) {
			return w.attempt(c)
		}
	}
	return untouched
}

func (w *World) startBootstrap(c *client) {
	c.nextReq++
	cmd := &commandpb.Command{ClientId: c.id, RequestId: c.nextReq,
		Op: &commandpb.Command_Bootstrap{Bootstrap: &commandpb.Bootstrap{
			SigningKey: []byte("sim-signing-key-0123456789abcdef"), AdminUsername: "admin",
			AdminPasswordHash: "sim-hash"}}}
	w.ops = append(w.ops, opRecord{Client: c.idx, Kind: opBootstrap, CallNs: w.now, ReturnNs: -1})
	c.cur = &inflight{op: len(w.ops) - 1, lin: -1, kind: opBootstrap, cmd: cmd}
}

// attempt sends the current op to a random node. Retries reuse the request id, so the
// state machine's sessions make the command take effect at most once.
func (w *World) attempt(c *client) int {
	f := c.cur
	f.attempt = c.nextAttempt()
	w.ops[f.op].Attempts++
	f.node = c.rng.IntN(len(w.nodes))
	n := w.nodes[f.node]
	attempt := f.attempt
	if !n.up {
		w.q.push(event{at: w.now + refusedDelayNs, kind: evClient, arg: int32(c.idx), gen: attempt, node: -1})
		return untouched
	}
	w.q.pushLate(event{at: w.now + clientTimeoutNs, kind: evTimeout, arg: int32(c.idx), gen: attempt, node: -1})
	if n.paused {
		// The request waits in the socket; the process reads it when it resumes, if the
		// client has not given up on this attempt by then.
		n.calls = append(n.calls, func() {
			if c.cur == f && f.attempt == attempt {
				w.submit(c, f, n)
			}
		})
		return untouched
	}
	w.catchUp(n)
	w.submit(c, f, n)
	w.process(n)
	return n.idx
}

// submit hands the client's current attempt to node n.
func (w *World) submit(c *client, f *inflight, n *simNode) {
	attempt := f.attempt
	if f.cmd != nil {
		f.cmd.TimeUnixMs = w.wallMs(n)
		f.cancel = n.rep.Propose(f.cmd, func(res *commandpb.Result, err error) {
			w.onProposeDone(c, attempt, res, err)
		})
	} else {
		f.cancel = n.rep.ReadIndex(func(err error) { w.onReadDone(c, attempt, n, err) })
	}
}

func (w *World) onClientTimeout(e *event) int {
	c := w.clients[e.arg]
	if c.cur == nil || c.cur.attempt != e.gen {
		return untouched
	}
	if c.cur.cancel != nil {
		c.cur.cancel()
		c.cur.cancel = nil
	}
	return w.attempt(c)
}

// retryLater schedules another attempt after a randomized backoff.
func (w *World) retryLater(c *client) {
	if c.cur.cancel != nil {
		c.cur.cancel()
		c.cur.cancel = nil
	}
	c.cur.attempt = c.nextAttempt() // invalidates the pending timeout
	d := backoffMinNs + c.rng.Int64N(backoffSpreadNs)
	w.q.push(event{at: w.now + d, kind: evClient, arg: int32(c.idx), gen: c.cur.attempt, node: -1})
}

func (w *World) onProposeDone(c *client, attempt uint64, res *commandpb.Result, err error) {
	f := c.cur
	if f == nil || f.attempt != attempt {
		return
	}
	if err != nil {
		w.probe(ProbeNoLeaderRejected)
		w.retryLater(c)
		return
	}
	rec := &w.ops[f.op]
	if rec.Attempts > 1 {
		w.probe(ProbeRetryAnswered)
	}
	if res.GetCode() == commandpb.ErrorCode_OK {
		w.hitCrashPoint(w.nodes[f.node], PointAfterAck)
	}
	rec.ReturnNs, rec.Code, rec.Index, rec.Node = w.now, res.GetCode(), res.GetIndex(), f.node
	if res.GetCode() != commandpb.ErrorCode_OK {
		rec.Detail = res.GetError()
	}
	w.learn(c, f, res)
	if f.lin >= 0 {
		w.rec.Return(f.lin, linOutput(f.kind, res), w.now)
	}
	w.finishOp(c)
}

func (w *World) finishOp(c *client) {
	c.cur = nil
	if c.system {
		return
	}
	w.wakeAfterThink(c)
}
