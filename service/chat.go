package service

import (
	"context"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
)

// write proposes op as the caller and returns the caller's name with the result.
func (h *handler) write(ctx context.Context, meta *chatpb.WriteMeta, cmd *commandpb.Command) (string, *commandpb.Result, error) {
	p, err := caller(ctx)
	if err != nil {
		return "", nil, err
	}
	res, err := h.s.propose(ctx, p.Username, meta, cmd)
	return p.Username, res, err
}

// conversation reads the caller's view of conversation id (after a write: the local
// replica has applied it, so a stale read sees it).
func (h *handler) conversation(ctx context.Context, user, id string, stale bool) (*chatpb.Conversation, error) {
	var out *chatpb.Conversation
	err := h.s.read(ctx, stale, func(m *statemachine.Machine) error {
		c, err := m.Conversation(user, id)
		if err != nil {
			return err
		}
		out = summaryPB(&c)
		labelFiles(m, out.GetLastMessage())
		if c.Kind == statemachine.KindGroup {
			if g, err := m.Group(user, id); err == nil {
				groupPB(out, &g)
			}
		}
		return nil
	})
	return out, err
}

func (h *handler) groupWrite(ctx context.Context, meta *chatpb.WriteMeta, cmd *commandpb.Command) (*chatpb.Conversation, error) {
	user, res, err := h.write(ctx, meta, cmd)
	if err != nil {
		return nil, err
	}
	id := res.GetConversation().GetConversationId()
	c, err := h.conversation(ctx, user, id, true)
	if status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.NotFound {
		// The caller removed themself (or was removed concurrently): report only the id.
		return &chatpb.Conversation{Id: id, Kind: chatpb.ConversationKind_CONVERSATION_KIND_GROUP}, nil
	}
	return c, err
}

func (h *handler) CreateGroup(ctx context.Context, r *chatpb.CreateGroupRequest) (*chatpb.Conversation, error) {
	return h.groupWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_CreateGroup{
		CreateGroup: &commandpb.CreateGroup{Name: r.GetName(), Members: r.GetMembers()}}})
}

func (h *handler) RenameGroup(ctx context.Context, r *chatpb.RenameGroupRequest) (*chatpb.Conversation, error) {
	return h.groupWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_RenameGroup{
		RenameGroup: &commandpb.RenameGroup{ConversationId: r.GetConversationId(), Name: r.GetName()}}})
}

func (h *handler) AddMember(ctx context.Context, r *chatpb.MemberRequest) (*chatpb.Conversation, error) {
	return h.groupWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_AddMember{
		AddMember: &commandpb.AddMember{ConversationId: r.GetConversationId(), Username: r.GetUsername()}}})
}

func (h *handler) RemoveMember(ctx context.Context, r *chatpb.MemberRequest) (*chatpb.Conversation, error) {
	return h.groupWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_RemoveMember{
		RemoveMember: &commandpb.RemoveMember{ConversationId: r.GetConversationId(), Username: r.GetUsername()}}})
}

func (h *handler) SetGroupAdmin(ctx context.Context, r *chatpb.SetGroupAdminRequest) (*chatpb.Conversation, error) {
	return h.groupWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_SetGroupAdmin{
		SetGroupAdmin: &commandpb.SetGroupAdmin{ConversationId: r.GetConversationId(), Username: r.GetUsername(), Admin: r.GetAdmin()}}})
}

func (h *handler) LeaveGroup(ctx context.Context, r *chatpb.LeaveGroupRequest) (*chatpb.Empty, error) {
	_, _, err := h.write(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_LeaveGroup{
		LeaveGroup: &commandpb.LeaveGroup{ConversationId: r.GetConversationId()}}})
	if err != nil {
		return nil, err
	}
	return &chatpb.Empty{}, nil
}

func (h *handler) GetConversation(ctx context.Context, r *chatpb.GetConversationRequest) (*chatpb.Conversation, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return h.conversation(ctx, p.Username, r.GetConversationId(), r.GetRead().GetStale())
}

func (h *handler) ListConversations(ctx context.Context, r *chatpb.ListConversationsRequest) (*chatpb.ListConversationsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	out := &chatpb.ListConversationsResponse{}
	err = h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		cs, err := m.Conversations(p.Username)
		for i := range cs {
			view := summaryPB(&cs[i])
			labelFiles(m, view.GetLastMessage())
			if cs[i].Kind == statemachine.KindGroup {
				if g, err := m.Group(p.Username, cs[i].ID); err == nil {
					groupPB(view, &g)
				}
			}
			out.Conversations = append(out.Conversations, view)
		}
		return err
	})
	return out, err
}

// PostMessage posts to a conversation, a direct conversation (to_user) or shares a file.
func (h *handler) PostMessage(ctx context.Context, r *chatpb.PostMessageRequest) (*chatpb.Message, error) {
	cmd := &commandpb.Command{}
	switch {
	case r.GetFileId() != 0:
		cmd.Op = &commandpb.Command_ShareFile{ShareFile: &commandpb.ShareFile{FileId: r.GetFileId(), Text: r.GetText()}}
	case r.GetToUser() != "":
		cmd.Op = &commandpb.Command_SendDirect{SendDirect: &commandpb.SendDirect{
			To: r.GetToUser(), Text: r.GetText(), ReplyTo: r.GetReplyTo()}}
	default:
		cmd.Op = &commandpb.Command_PostMessage{PostMessage: &commandpb.PostMessage{
			ConversationId: r.GetConversationId(), Text: r.GetText(), ReplyTo: r.GetReplyTo()}}
	}
	user, res, err := h.write(ctx, r.GetMeta(), cmd)
	if err != nil {
		return nil, err
	}
	ref := res.GetMessage()
	// Built from the request and the result rather than read back: posting is the hot
	// path, and the message cannot have changed since it was applied.
	out := &chatpb.Message{ConversationId: ref.GetConversationId(), Seq: ref.GetSeq(), Author: user,
		Text: r.GetText(), ReplyTo: r.GetReplyTo(), SentUnixMs: ref.GetTimeUnixMs(), LogIndex: res.GetIndex()}
	if r.GetFileId() != 0 {
		// Sharing a file is rare: read its name and size back.
		out.File = &chatpb.FileRef{FileId: r.GetFileId()}
		_ = h.s.read(ctx, true, func(m *statemachine.Machine) error {
			labelFiles(m, out)
			return nil
		})
	}
	return out, nil
}

// messageWrite proposes cmd and returns the message it changed as the local replica now
// holds it.
func (h *handler) messageWrite(ctx context.Context, meta *chatpb.WriteMeta, cmd *commandpb.Command) (*chatpb.Message, error) {
	user, res, err := h.write(ctx, meta, cmd)
	if err != nil {
		return nil, err
	}
	ref := res.GetMessage()
	var out *chatpb.Message
	err = h.s.read(ctx, true, func(m *statemachine.Machine) error {
		msg, err := m.Message(user, ref.GetConversationId(), ref.GetSeq())
		out = messagePB(&msg)
		labelFiles(m, out)
		return err
	})
	return out, err
}

func (h *handler) EditMessage(ctx context.Context, r *chatpb.EditMessageRequest) (*chatpb.Message, error) {
	return h.messageWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_EditMessage{
		EditMessage: &commandpb.EditMessage{ConversationId: r.GetConversationId(), Seq: r.GetSeq(), Text: r.GetText()}}})
}

func (h *handler) DeleteMessage(ctx context.Context, r *chatpb.DeleteMessageRequest) (*chatpb.Message, error) {
	return h.messageWrite(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_DeleteMessage{
		DeleteMessage: &commandpb.DeleteMessage{ConversationId: r.GetConversationId(), Seq: r.GetSeq()}}})
}

func (h *handler) React(ctx context.Context, r *chatpb.ReactRequest) (*chatpb.Message, error) {
	cmd := &commandpb.Command{Op: &commandpb.Command_AddReaction{AddReaction: &commandpb.AddReaction{
		ConversationId: r.GetConversationId(), Seq: r.GetSeq(), Emoji: r.GetEmoji()}}}
	if r.GetRemove() {
		cmd.Op = &commandpb.Command_RemoveReaction{RemoveReaction: &commandpb.RemoveReaction{
			ConversationId: r.GetConversationId(), Seq: r.GetSeq(), Emoji: r.GetEmoji()}}
	}
	return h.messageWrite(ctx, r.GetMeta(), cmd)
}

func (h *handler) MarkRead(ctx context.Context, r *chatpb.MarkReadRequest) (*chatpb.Empty, error) {
	_, _, err := h.write(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_MarkRead{
		MarkRead: &commandpb.MarkRead{ConversationId: r.GetConversationId(), Seq: r.GetSeq()}}})
	if err != nil {
		return nil, err
	}
	return &chatpb.Empty{}, nil
}

func (h *handler) pageSize(limit uint32) int {
	if limit == 0 || int(limit) > h.s.cfg.MaxPageSize {
		return h.s.cfg.MaxPageSize
	}
	return int(limit)
}

func (h *handler) History(ctx context.Context, r *chatpb.HistoryRequest) (*chatpb.HistoryResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := h.pageSize(r.GetLimit())
	out := &chatpb.HistoryResponse{}
	err = h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		q := statemachine.HistoryQuery{AfterSeq: r.GetAfterSeq(), BeforeSeq: r.GetBeforeSeq(), Limit: limit}
		msgs, err := m.History(p.Username, r.GetConversationId(), q)
		if err != nil {
			return err
		}
		out.Messages = messagesPB(msgs)
		out.AppliedIndex = m.AppliedIndex()
		labelFiles(m, out.Messages...)
		if len(msgs) == limit {
			if r.GetBeforeSeq() != 0 {
				out.More = msgs[0].Seq > 1
			} else {
				c, err := m.Conversation(p.Username, r.GetConversationId())
				out.More = err == nil && c.LastSeq > msgs[len(msgs)-1].Seq
			}
		}
		return nil
	})
	return out, err
}

func (h *handler) Search(ctx context.Context, r *chatpb.SearchRequest) (*chatpb.SearchResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := h.pageSize(r.GetLimit())
	out := &chatpb.SearchResponse{}
	err = h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		// One conversation: filter the user-wide search (bounded by MaxPageSize per call).
		ask := limit
		if r.GetConversationId() != "" {
			ask = math.MaxInt
		}
		msgs, err := m.Search(p.Username, r.GetQuery(), ask)
		for i := range msgs {
			if len(out.Messages) == limit {
				break
			}
			if id := r.GetConversationId(); id == "" || msgs[i].ConversationID == id {
				out.Messages = append(out.Messages, messagePB(&msgs[i]))
				labelFiles(m, out.Messages[len(out.Messages)-1])
			}
		}
		return err
	})
	return out, err
}

func (h *handler) ListUsers(ctx context.Context, r *chatpb.ListUsersRequest) (*chatpb.ListUsersResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	now := h.s.cfg.Now().UnixMilli()
	out := &chatpb.ListUsersResponse{}
	err := h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		for _, u := range m.Users(now) {
			if !u.Disabled {
				out.Users = append(out.Users, presencePB(&u))
			}
		}
		return nil
	})
	return out, err
}

func (h *handler) SetPresence(ctx context.Context, r *chatpb.SetPresenceRequest) (*chatpb.Empty, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	cmd := &commandpb.Command{Op: &commandpb.Command_Heartbeat{Heartbeat: &commandpb.Heartbeat{
		Usernames: []string{p.Username}, Offline: !r.GetOnline()}}}
	if _, err := h.s.propose(ctx, p.Username, r.GetMeta(), cmd); err != nil {
		return nil, err
	}
	return &chatpb.Empty{}, nil
}
