package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/sim/linearize"
	"github.com/raftchat/raftchat/statemachine"
)

var emojis = []string{"👍", "🎉", "❤️"}

// start resolves op against what the client knows and makes it the client's current op.
// It returns false when the op has no valid target yet (it is then skipped).
//
// It runs for every client op, so it avoids garbage: texts are built only for the ops that
// send one, without fmt; the inflight is allocated only once the op is known to start; and
// the commands clients send most are built in one allocation each (newPost and friends).
func (w *World) start(c *client, op ClientOp) bool {
	f := inflight{lin: -1, kind: op.Kind, ackedAtCall: w.dir.maxIndex}
	var in linearize.Input
	checked := false
	pick := int(op.Pick >> 1)
	c.seq++
	switch op.Kind {
	case OpSignUp:
		f.cmd = &commandpb.Command{Op: &commandpb.Command_CreateUser{CreateUser: &commandpb.CreateUser{
			Username: c.user, PasswordHash: "sim-hash", Role: commandpb.Role_ROLE_USER}}}
	case OpCreateGroup:
		members := []string{c.user}
		if u := w.dir.users; len(u) > 0 {
			members = append(members, w.clients[u[pick%len(u)]].user)
		}
		f.cmd = &commandpb.Command{Op: &commandpb.Command_CreateGroup{CreateGroup: &commandpb.CreateGroup{
			Name: c.text("group ", ""), Members: members}}}
	case OpAddMember:
		g, other := w.pickAddMember(c, pick)
		if g == nil {
			return false
		}
		f.cmd = &commandpb.Command{Op: &commandpb.Command_AddMember{AddMember: &commandpb.AddMember{
			ConversationId: g.conv, Username: w.clients[other].user}}}
	case OpLeaveGroup:
		g := w.pickGroup(c, pick, func(g *groupInfo) bool { return g.creator != c.idx })
		if g == nil {
			return false
		}
		f.cmd = &commandpb.Command{Op: &commandpb.Command_LeaveGroup{LeaveGroup: &commandpb.LeaveGroup{ConversationId: g.conv}}}
	case OpSendDirect:
		other := w.pickPeer(c, pick)
		if other < 0 {
			return false
		}
		conv := w.dir.direct[c.idx][other]
		if w.dir.directInfo[c.idx][other].ops >= maxOpsPerConv {
			return false
		}
		text := c.text("m", "")
		f.cmd = newSendDirect(w.clients[other].user, text)
		in, checked = linearize.Input{Kind: linearize.Post, Conv: conv, Author: c.user, Text: text}, true
	case OpPost:
		conv := w.pickConv(c, pick)
		if conv == "" {
			return false
		}
		text := c.text("m", "")
		f.cmd = newPost(conv, text)
		in, checked = linearize.Input{Kind: linearize.Post, Conv: conv, Author: c.user, Text: text}, true
	case OpEdit:
		if len(c.posted) == 0 {
			return false
		}
		m := c.posted[pick%len(c.posted)]
		if w.dir.conv(m.conv).ops >= maxOpsPerConv {
			return false
		}
		text := c.text("m", "*")
		f.cmd = newEdit(m.conv, m.seq, text)
		in, checked = linearize.Input{Kind: linearize.Edit, Conv: m.conv, Author: c.user, Text: text, Seq: m.seq}, true
	case OpReact, OpUnreact:
		m, ok := w.pickMessage(c, pick)
		if !ok {
			return false
		}
		emoji := emojis[int(op.Pick)%len(emojis)]
		if op.Kind == OpReact {
			f.cmd = newAddReaction(m.conv, m.seq, emoji)
		} else {
			f.cmd = &commandpb.Command{Op: &commandpb.Command_RemoveReaction{RemoveReaction: &commandpb.RemoveReaction{
				ConversationId: m.conv, Seq: m.seq, Emoji: emoji}}}
		}
		in, checked = linearize.Input{Kind: linearize.React, Conv: m.conv, Author: c.user, Seq: m.seq,
			Emoji: emoji, Remove: op.Kind == OpUnreact}, true
	case OpRead:
		conv := w.pickConv(c, pick)
		if c.lastConv != "" && op.Pick&1 == 0 && w.dir.conv(c.lastConv).ops < maxOpsPerConv {
			// People look at the conversation they just wrote to: read-your-writes is what
			// stale reads after a leader change break.
			conv = c.lastConv
		}
		if conv == "" {
			return false
		}
		f.readConv = conv
		in, checked = linearize.Input{Kind: linearize.Read, Conv: conv, Author: c.user}, true
	default:
		return false
	}
	if f.cmd != nil {
		c.nextReq++
		f.cmd.ClientId, f.cmd.RequestId, f.cmd.Actor = c.id, c.nextReq, c.user
		if op.Kind == OpSignUp {
			f.cmd.Actor = ""
		}
	}
	w.ops = append(w.ops, opRecord{Client: c.idx, Kind: op.Kind, Conv: in.Conv, CallNs: w.now, ReturnNs: -1})
	f.op = len(w.ops) - 1
	if checked {
		f.lin = w.rec.Call(c.idx, in, w.now)
		w.dir.conv(in.Conv).ops++ // as the Recorder counts it (OpsIn)
		if f.cmd != nil {
			c.lastConv = in.Conv
		}
	}
	c.cur = new(inflight)
	*c.cur = f
	return true
}

// text is the client's unique text for its current op: prefix, client index, ".", op
// number, suffix (what fmt.Sprintf("%s%d.%d%s") gives, in one allocation).
func (c *client) text(prefix, suffix string) string {
	var buf [48]byte
	b := append(buf[:0], prefix...)
	b = strconv.AppendInt(b, int64(c.idx), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(c.seq), 10)
	b = append(b, suffix...)
	return string(b)
}

// The commands clients send most, each built in one allocation rather than three (the
// Command, its oneof wrapper and the operation's message): the three are only ever reached
// through the Command pointer, so they can share a block.

func newPost(conv, text string) *commandpb.Command {
	b := new(struct {
		cmd commandpb.Command
		op  commandpb.Command_PostMessage
		msg commandpb.PostMessage
	})
	b.msg.ConversationId, b.msg.Text = conv, text
	b.op.PostMessage = &b.msg
	b.cmd.Op = &b.op
	return &b.cmd
}

func newSendDirect(to, text string) *commandpb.Command {
	b := new(struct {
		cmd commandpb.Command
		op  commandpb.Command_SendDirect
		msg commandpb.SendDirect
	})
	b.msg.To, b.msg.Text = to, text
	b.op.SendDirect = &b.msg
	b.cmd.Op = &b.op
	return &b.cmd
}

func newEdit(conv string, seq uint64, text string) *commandpb.Command {
	b := new(struct {
		cmd commandpb.Command
		op  commandpb.Command_EditMessage
		msg commandpb.EditMessage
	})
	b.msg.ConversationId, b.msg.Seq, b.msg.Text = conv, seq, text
	b.op.EditMessage = &b.msg
	b.cmd.Op = &b.op
	return &b.cmd
}

func newAddReaction(conv string, seq uint64, emoji string) *commandpb.Command {
	b := new(struct {
		cmd commandpb.Command
		op  commandpb.Command_AddReaction
		msg commandpb.AddReaction
	})
	b.msg.ConversationId, b.msg.Seq, b.msg.Emoji = conv, seq, emoji
	b.op.AddReaction = &b.msg
	b.cmd.Op = &b.op
	return &b.cmd
}

// The pickers below choose the k-th of the candidates that pass a test, counting them first
// and walking again to the chosen one instead of collecting them: they run for every client
// op, and the slices they used to build were a measurable share of the simulator's garbage.

// pickConv picks one of the conversations c believes it is in: its groups and its direct
// conversations with signed-up users, skipping full ones ("" if there is none).
func (w *World) pickConv(c *client, pick int) string {
	groupOK := func(g *groupInfo) bool { return g.members[c.idx] && g.info.ops < maxOpsPerConv }
	directOK := func(u int) bool {
		if u == c.idx {
			return false
		}
		n := w.dir.directInfo[c.idx][u].ops
		return n > 0 && n < maxOpsPerConv
	}
	groups, directs := 0, 0
	for _, g := range w.dir.groups {
		if groupOK(g) {
			groups++
		}
	}
	for _, u := range w.dir.users {
		if directOK(u) {
			directs++
		}
	}
	if groups+directs == 0 {
		return ""
	}
	k := pick % (groups + directs)
	if k < groups {
		return nthOf(w.dir.groups, groupOK, k).conv
	}
	return w.dir.direct[c.idx][nthOf(w.dir.users, directOK, k-groups)]
}

// countOf returns how many elements of xs pass ok.
func countOf[T any](xs []T, ok func(T) bool) int {
	n := 0
	for _, x := range xs {
		if ok(x) {
			n++
		}
	}
	return n
}

// nthOf returns the k-th (0-based) element of xs that passes ok; k must be below
// countOf(xs, ok).
func nthOf[T any](xs []T, ok func(T) bool, k int) T {
	for _, x := range xs {
		if ok(x) {
			if k == 0 {
				return x
			}
			k--
		}
	}
	panic("sim: nthOf past the last match")
}

func (w *World) pickGroup(c *client, pick int, ok func(*groupInfo) bool) *groupInfo {
	mine := func(g *groupInfo) bool { return g.members[c.idx] && ok(g) }
	n := countOf(w.dir.groups, mine)
	if n == 0 {
		return nil
	}
	return nthOf(w.dir.groups, mine, pick%n)
}

func (w *World) pickAddMember(c *client, pick int) (*groupInfo, int) {
	g := w.pickGroup(c, pick, func(g *groupInfo) bool { return g.creator == c.idx })
	if g == nil {
		return nil, -1
	}
	outside := func(u int) bool { return !g.members[u] }
	n := countOf(w.dir.users, outside)
	if n == 0 {
		return nil, -1
	}
	return g, nthOf(w.dir.users, outside, (pick/7)%n)
}

func (w *World) pickPeer(c *client, pick int) int {
	other := func(u int) bool { return u != c.idx }
	n := countOf(w.dir.users, other)
	if n == 0 {
		return -1
	}
	return nthOf(w.dir.users, other, pick%n)
}

// pickMessage picks an acknowledged message in a conversation c believes it is in.
func (w *World) pickMessage(c *client, pick int) (knownMsg, bool) {
	conv := w.pickConv(c, pick)
	if conv == "" {
		return knownMsg{}, false
	}
	msgs := w.dir.conv(conv).msgs
	if len(msgs) == 0 {
		return knownMsg{}, false
	}
	return msgs[(pick/5)%len(msgs)], true
}

// learn updates the shared directory from an acknowledged result.
func (w *World) learn(c *client, f *inflight, res *commandpb.Result) {
	if res.GetCode() != commandpb.ErrorCode_OK {
		if f.kind == opBootstrap && res.GetCode() == commandpb.ErrorCode_ALREADY_EXISTS {
			w.dir.bootstrapped = true
		}
		return
	}
	w.dir.maxIndex = max(w.dir.maxIndex, res.GetIndex())
	switch f.kind {
	case opBootstrap:
		w.dir.bootstrapped = true
	case OpSignUp:
		if !w.dir.signedUp[c.idx] {
			w.dir.signedUp[c.idx] = true
			w.dir.users = append(w.dir.users, c.idx)
		}
	case OpCreateGroup:
		conv := res.GetConversation().GetConversationId()
		g := &groupInfo{conv: conv, info: w.dir.conv(conv), creator: c.idx, members: make([]bool, len(w.clients))}
		for _, name := range f.cmd.GetCreateGroup().GetMembers() {
			if i := w.clientByUser(name); i >= 0 {
				g.members[i] = true
			}
		}
		w.dir.groups = append(w.dir.groups, g)
	case OpAddMember, OpLeaveGroup:
		w.learnMembership(c, f)
	case OpSendDirect, OpPost:
		m := knownMsg{conv: res.GetMessage().GetConversationId(), seq: res.GetMessage().GetSeq(), author: c.idx}
		ci := w.dir.conv(m.conv)
		ci.msgs = append(ci.msgs, m)
		w.dir.acked = append(w.dir.acked, m)
		c.posted = append(c.posted, m)
	default: // edits, reactions and reads teach the directory nothing
	}
}

func (w *World) learnMembership(c *client, f *inflight) {
	conv, user, in := "", c.user, true
	if a := f.cmd.GetAddMember(); a != nil {
		conv, user = a.GetConversationId(), a.GetUsername()
	} else {
		conv, in = f.cmd.GetLeaveGroup().GetConversationId(), false
	}
	for _, g := range w.dir.groups {
		if g.conv == conv {
			if i := w.clientByUser(user); i >= 0 {
				g.members[i] = in
			}
		}
	}
}

// clientByUser returns the index of the client whose user is name ("user<i>"), or -1.
func (w *World) clientByUser(name string) int {
	num, ok := strings.CutPrefix(name, "user")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || i >= w.sched.Clients {
		return -1
	}
	return i
}

// linOutput maps a command's result to the linearizability model's outcome.
func linOutput(kind OpKind, res *commandpb.Result) linearize.Output {
	switch res.GetCode() {
	case commandpb.ErrorCode_OK:
		return linearize.Output{Status: linearize.OK, Seq: res.GetMessage().GetSeq()}
	case commandpb.ErrorCode_NOT_FOUND:
		if kind == OpUnreact && strings.HasPrefix(res.GetError(), "no reaction") {
			return linearize.Output{Status: linearize.OK} // removing an absent reaction: no-op
		}
		if kind == OpEdit || kind == OpReact || kind == OpUnreact {
			return linearize.Output{Status: linearize.NotFound}
		}
	case commandpb.ErrorCode_ALREADY_EXISTS:
		if kind == OpReact {
			return linearize.Output{Status: linearize.OK} // adding a present reaction: no-op
		}
	case commandpb.ErrorCode_PERMISSION_DENIED:
		if kind == OpEdit {
			return linearize.Output{Status: linearize.Denied}
		}
	default: // every other rejection leaves the conversation unchanged
	}
	return linearize.Output{Status: linearize.Rejected}
}

// onReadDone serves a linearizable history read once ReadIndex confirmed the node is current.
func (w *World) onReadDone(c *client, attempt uint64, n *simNode, err error) {
	f := c.cur
	if f == nil || f.attempt != attempt {
		return
	}
	if err != nil {
		w.retryLater(c)
		return
	}
	rec := &w.ops[f.op]
	rec.ReturnNs, rec.Node = w.now, f.node
	w.probe(ProbeReadServed)
	if a := uint64(n.rep.Applied()); a < f.ackedAtCall {
		// The whole chat state is one linearizable object: a read must reflect every write
		// acknowledged before it began, whatever conversation that write touched.
		w.staleRead = fmt.Sprintf("t=%s stale read: node %d served client %d's read of %s at applied index %d, "+
			"but index %d was acknowledged before the read began", fmtTime(w.now), n.id, c.idx, f.readConv, a, f.ackedAtCall)
		w.logAll("VIOLATION %s", w.staleRead)
		w.done = true
	}
	msgs, qerr := n.rep.Machine().History(c.user, f.readConv, statemachine.HistoryQuery{})
	out := linearize.Output{Status: linearize.OK}
	if qerr != nil {
		out.Status = linearize.Rejected
		rec.Detail = qerr.Error()
	}
	// Exact-size slices (the Recorder keeps them): a read returns up to a whole
	// conversation, and growing by appends made this a large share of the simulator's garbage.
	if len(msgs) > 0 {
		out.Messages = make([]linearize.Message, 0, len(msgs))
	}
	for _, m := range msgs {
		lm := linearize.Message{Seq: m.Seq, Author: m.Author, Text: m.Text, Edited: m.EditedUnixMs != 0}
		reactions := 0
		for _, r := range m.Reactions {
			reactions += len(r.Users)
		}
		if reactions > 0 {
			lm.Reactions = make([]linearize.Reaction, 0, reactions)
		}
		for _, r := range m.Reactions {
			for _, u := range r.Users {
				lm.Reactions = append(lm.Reactions, linearize.Reaction{Emoji: r.Emoji, User: u})
			}
		}
		out.Messages = append(out.Messages, lm)
	}
	w.rec.Return(f.lin, out, w.now)
	w.finishOp(c)
}
