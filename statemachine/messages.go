package statemachine

import (
	"slices"
	"strings"

	"github.com/raftchat/raftchat/proto/commandpb"
)

const maxEmojiBytes = 32

// post appends a message; callers validated everything. mb is the actor's membership of c.
func (m *Machine) post(x *applyCtx, c *conversation, mb *member, text string, replyTo, fileID uint64) {
	c.msgs = append(c.msgs, message{
		author:  x.actor.id,
		text:    c.texts.add([]byte(text)),
		timeMs:  x.nowMs,
		index:   x.index,
		replyTo: replyTo,
		fileID:  fileID,
	})
	seq := c.lastSeq()
	mb.readSeq = seq // posting marks the conversation read
	m.messageEvent(x, EventMessagePosted, c, seq, "")
	msgResult(x, c, seq)
}

func checkReply(c *conversation, replyTo uint64) *Error {
	if replyTo != 0 && c.msg(replyTo) == nil {
		return errorf(CodeNotFound, "no message %d in %q to reply to", replyTo, c.id)
	}
	return nil
}

func (m *Machine) sendDirect(x *applyCtx, op *commandpb.SendDirect) *Error {
	to := m.st.users[op.GetTo()]
	if to == nil {
		return errorf(CodeNotFound, "no user %q", op.GetTo())
	}
	if to == x.actor {
		return errorf(CodeInvalidArgument, "cannot message yourself")
	}
	if err := checkText("message", op.GetText(), m.cfg.MaxTextBytes, false); err != nil {
		return err
	}
	var idBuf [64]byte
	c := m.st.convs[string(appendDirectID(idBuf[:0], x.actor.name, to.name))]
	if to.disabled {
		return errorf(CodeFailedPrecondition, "user %q is disabled", to.name)
	}
	if c == nil {
		id := DirectID(x.actor.name, to.name)
		if op.GetReplyTo() != 0 {
			return errorf(CodeNotFound, "no message %d in %q to reply to", op.GetReplyTo(), id)
		}
		c = &conversation{id: id, kind: KindDirect, createdBy: x.actor.name, createdMs: x.nowMs,
			members: map[string]*member{}}
		m.st.addConv(c)
		mbs := &[2]member{{joinedIdx: x.index}, {joinedIdx: x.index}}
		joinAs(c, x.actor, &mbs[0])
		joinAs(c, to, &mbs[1])
	} else if err := checkReply(c, op.GetReplyTo()); err != nil {
		return err
	}
	m.post(x, c, c.members[x.actor.name], op.GetText(), op.GetReplyTo(), 0)
	return nil
}

func (m *Machine) postMessage(x *applyCtx, op *commandpb.PostMessage) *Error {
	c, mb, err := m.memberConv(x, op.GetConversationId())
	if err != nil {
		return err
	}
	if err := checkText("message", op.GetText(), m.cfg.MaxTextBytes, false); err != nil {
		return err
	}
	if err := checkReply(c, op.GetReplyTo()); err != nil {
		return err
	}
	m.post(x, c, mb, op.GetText(), op.GetReplyTo(), 0)
	return nil
}

// liveMsg finds a message that is not deleted in a conversation the actor belongs to.
func (m *Machine) liveMsg(x *applyCtx, id string, seq uint64) (*conversation, *member, *message, *Error) {
	c, mb, err := m.memberConv(x, id)
	if err != nil {
		return nil, nil, nil, err
	}
	msg := c.msg(seq)
	if msg == nil {
		return nil, nil, nil, errorf(CodeNotFound, "no message %d in %q", seq, id)
	}
	if msg.deleted {
		return nil, nil, nil, errorf(CodeFailedPrecondition, "message %d in %q is deleted", seq, id)
	}
	return c, mb, msg, nil
}

func (m *Machine) editMessage(x *applyCtx, op *commandpb.EditMessage) *Error {
	c, _, msg, err := m.liveMsg(x, op.GetConversationId(), op.GetSeq())
	if err != nil {
		return err
	}
	if msg.author != x.actor.id {
		return errorf(CodePermissionDenied, "only the author may edit a message")
	}
	if err := checkText("message", op.GetText(), m.cfg.MaxTextBytes, msg.fileID != 0); err != nil {
		return err
	}
	msg.text = c.texts.add([]byte(op.GetText()))
	msg.editedMs = x.nowMs
	m.messageEvent(x, EventMessageEdited, c, op.GetSeq(), "")
	msgResult(x, c, op.GetSeq())
	return nil
}

func (m *Machine) deleteMessage(x *applyCtx, op *commandpb.DeleteMessage) *Error {
	c, mb, msg, err := m.liveMsg(x, op.GetConversationId(), op.GetSeq())
	if err != nil {
		return err
	}
	groupAdmin := c.kind == KindGroup && mb.admin
	if msg.author != x.actor.id && !groupAdmin {
		return errorf(CodePermissionDenied, "only the author or a group admin may delete a message")
	}
	msg.deleted = true
	msg.text = textRef{}
	c.reactionBytes -= reactionBytes(c.reactionsOf(op.GetSeq()))
	c.setReactions(op.GetSeq(), nil)
	msg.editedMs = x.nowMs
	m.messageEvent(x, EventMessageDeleted, c, op.GetSeq(), "")
	msgResult(x, c, op.GetSeq())
	return nil
}

func checkEmoji(e string) *Error {
	if len(e) > maxEmojiBytes {
		return errorf(CodeTooLarge, "reaction of %d bytes, max %d", len(e), maxEmojiBytes)
	}
	if err := checkText("reaction", e, maxEmojiBytes, false); err != nil {
		return err
	}
	if strings.ContainsAny(e, " \t\n") {
		return errorf(CodeInvalidArgument, "reaction contains white space")
	}
	return nil
}

func cmpReaction(a, b reaction) int {
	if c := strings.Compare(a.emoji, b.emoji); c != 0 {
		return c
	}
	return strings.Compare(a.user, b.user)
}

// setReactions stores the reactions of message seq, dropping the entry when there are none.
// The caller accounts for the change in c.reactionBytes: rs may share its array with the
// reactions it replaces, which the caller may have changed in place already.
func (c *conversation) setReactions(seq uint64, rs []reaction) {
	c.msg(seq).reacted = len(rs) > 0
	if len(rs) == 0 {
		delete(c.reactions, seq)
		return
	}
	if c.reactions == nil {
		c.reactions = map[uint64][]reaction{}
	}
	c.reactions[seq] = rs
}

// reactionsOf returns the reactions of message seq of c, which exists.
func (c *conversation) reactionsOf(seq uint64) []reaction {
	if !c.msgs[seq-1].reacted {
		return nil
	}
	return c.reactions[seq]
}

// size is r's term of conversation.reactionBytes.
func (r reaction) size() int { return 2 + len(r.emoji) + len(r.user) }

// reactionBytes sums the sizes of rs.
func reactionBytes(rs []reaction) int {
	n := 0
	for _, r := range rs {
		n += r.size()
	}
	return n
}

func (m *Machine) addReaction(x *applyCtx, op *commandpb.AddReaction) *Error {
	c, _, _, err := m.liveMsg(x, op.GetConversationId(), op.GetSeq())
	if err != nil {
		return err
	}
	if err := checkEmoji(op.GetEmoji()); err != nil {
		return err
	}
	r := reaction{emoji: op.GetEmoji(), user: x.actor.name}
	rs := c.reactionsOf(op.GetSeq())
	pos, found := slices.BinarySearchFunc(rs, r, cmpReaction)
	if found {
		return errorf(CodeAlreadyExists, "reaction %q already added", r.emoji)
	}
	if len(rs) >= m.cfg.MaxReactionsPerMessage {
		return errorf(CodeResourceExhausted, "message has %d reactions, max %d",
			len(rs), m.cfg.MaxReactionsPerMessage)
	}
	c.setReactions(op.GetSeq(), slices.Insert(rs, pos, r))
	c.reactionBytes += r.size()
	m.messageEvent(x, EventReactionAdded, c, op.GetSeq(), r.emoji)
	msgResult(x, c, op.GetSeq())
	return nil
}

func (m *Machine) removeReaction(x *applyCtx, op *commandpb.RemoveReaction) *Error {
	c, _, _, err := m.liveMsg(x, op.GetConversationId(), op.GetSeq())
	if err != nil {
		return err
	}
	r := reaction{emoji: op.GetEmoji(), user: x.actor.name}
	rs := c.reactionsOf(op.GetSeq())
	pos, found := slices.BinarySearchFunc(rs, r, cmpReaction)
	if !found {
		return errorf(CodeNotFound, "no reaction %q by %q", r.emoji, r.user)
	}
	c.setReactions(op.GetSeq(), slices.Delete(rs, pos, pos+1))
	c.reactionBytes -= r.size()
	m.messageEvent(x, EventReactionRemoved, c, op.GetSeq(), r.emoji)
	msgResult(x, c, op.GetSeq())
	return nil
}

// markRead moves the read marker forward; seq beyond the last message means "all read", and a
// marker never moves back (a stale device cannot make read messages unread).
func (m *Machine) markRead(x *applyCtx, op *commandpb.MarkRead) *Error {
	c, mb, err := m.memberConv(x, op.GetConversationId())
	if err != nil {
		return err
	}
	seq := min(op.GetSeq(), c.lastSeq())
	if seq > mb.readSeq {
		mb.readSeq = seq
		m.event(x, Event{Kind: EventRead, ConversationID: c.id, Seq: seq})
	}
	convResult(x, c.id)
	return nil
}
