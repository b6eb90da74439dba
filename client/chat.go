package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// invoke runs one unary call through Do. A write request must already carry its WriteMeta.
func invoke[Req, Resp any](ctx context.Context, c *Client, req Req, fn func(chatpb.ChatServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var resp Resp
	err := c.Do(ctx, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		resp, err = fn(rpc, ctx, req)
		return err
	})
	return resp, err
}

// Post posts text to an existing conversation.
func (c *Client) Post(ctx context.Context, conv, text string, replyTo uint64) (*chatpb.Message, error) {
	req := &chatpb.PostMessageRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Text: text, ReplyTo: replyTo}
	if c.cfg.PostStream && !c.noPostStream.Load() {
		return c.post(ctx, req)
	}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.PostMessage)
}

// SendDirect posts text to the direct conversation with user to (created on first use).
func (c *Client) SendDirect(ctx context.Context, to, text string) (*chatpb.Message, error) {
	req := &chatpb.PostMessageRequest{Meta: c.NewWriteMeta(), ToUser: to, Text: text}
	if c.cfg.PostStream && !c.noPostStream.Load() {
		return c.post(ctx, req)
	}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.PostMessage)
}

// Edit replaces the text of one of the caller's messages.
func (c *Client) Edit(ctx context.Context, conv string, seq uint64, text string) (*chatpb.Message, error) {
	req := &chatpb.EditMessageRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Seq: seq, Text: text}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.EditMessage)
}

// Delete deletes a message.
func (c *Client) Delete(ctx context.Context, conv string, seq uint64) (*chatpb.Message, error) {
	req := &chatpb.DeleteMessageRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Seq: seq}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.DeleteMessage)
}

// React adds (or with remove, takes back) the caller's emoji on a message.
func (c *Client) React(ctx context.Context, conv string, seq uint64, emoji string, remove bool) (*chatpb.Message, error) {
	req := &chatpb.ReactRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Seq: seq, Emoji: emoji, Remove: remove}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.React)
}

// MarkRead moves the caller's read marker of conv to seq.
func (c *Client) MarkRead(ctx context.Context, conv string, seq uint64) error {
	req := &chatpb.MarkReadRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Seq: seq}
	_, err := invoke(ctx, c, req, chatpb.ChatServiceClient.MarkRead)
	return err
}

// CreateGroup creates a group with the caller and members in it.
func (c *Client) CreateGroup(ctx context.Context, name string, members ...string) (*chatpb.Conversation, error) {
	req := &chatpb.CreateGroupRequest{Meta: c.NewWriteMeta(), Name: name, Members: members}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.CreateGroup)
}

// AddMember adds user to a group.
func (c *Client) AddMember(ctx context.Context, conv, user string) (*chatpb.Conversation, error) {
	req := &chatpb.MemberRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Username: user}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.AddMember)
}

// RemoveMember removes user from a group.
func (c *Client) RemoveMember(ctx context.Context, conv, user string) (*chatpb.Conversation, error) {
	req := &chatpb.MemberRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Username: user}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.RemoveMember)
}

// LeaveGroup takes the caller out of a group.
func (c *Client) LeaveGroup(ctx context.Context, conv string) error {
	req := &chatpb.LeaveGroupRequest{Meta: c.NewWriteMeta(), ConversationId: conv}
	_, err := invoke(ctx, c, req, chatpb.ChatServiceClient.LeaveGroup)
	return err
}

// RenameGroup renames a group (group admins only).
func (c *Client) RenameGroup(ctx context.Context, conv, name string) (*chatpb.Conversation, error) {
	req := &chatpb.RenameGroupRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Name: name}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.RenameGroup)
}

// SetGroupAdmin grants (admin true) or revokes a member's admin right in a group.
func (c *Client) SetGroupAdmin(ctx context.Context, conv, user string, admin bool) (*chatpb.Conversation, error) {
	req := &chatpb.SetGroupAdminRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Username: user, Admin: admin}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.SetGroupAdmin)
}

// SetPresence reports the caller online or offline.
func (c *Client) SetPresence(ctx context.Context, online bool) error {
	req := &chatpb.SetPresenceRequest{Meta: c.NewWriteMeta(), Online: online}
	_, err := invoke(ctx, c, req, chatpb.ChatServiceClient.SetPresence)
	return err
}

// History returns a page of conv (see HistoryRequest for the paging rules).
func (c *Client) History(ctx context.Context, conv string, afterSeq, beforeSeq uint64, limit uint32, stale bool) (*chatpb.HistoryResponse, error) {
	req := &chatpb.HistoryRequest{Read: &chatpb.ReadMeta{Stale: stale}, ConversationId: conv,
		AfterSeq: afterSeq, BeforeSeq: beforeSeq, Limit: limit}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.History)
}

// Conversations lists the caller's conversations with unread counts.
func (c *Client) Conversations(ctx context.Context, stale bool) ([]*chatpb.Conversation, error) {
	req := &chatpb.ListConversationsRequest{Read: &chatpb.ReadMeta{Stale: stale}}
	resp, err := invoke(ctx, c, req, chatpb.ChatServiceClient.ListConversations)
	return resp.GetConversations(), err
}

// Users lists users with presence.
func (c *Client) Users(ctx context.Context, stale bool) ([]*chatpb.User, error) {
	req := &chatpb.ListUsersRequest{Read: &chatpb.ReadMeta{Stale: stale}}
	resp, err := invoke(ctx, c, req, chatpb.ChatServiceClient.ListUsers)
	return resp.GetUsers(), err
}

// Search finds messages the caller may see containing query.
func (c *Client) Search(ctx context.Context, query, conv string, limit uint32) ([]*chatpb.Message, error) {
	req := &chatpb.SearchRequest{Query: query, ConversationId: conv, Limit: limit}
	resp, err := invoke(ctx, c, req, chatpb.ChatServiceClient.Search)
	return resp.GetMessages(), err
}

// Suggest asks for reply suggestions in conv.
func (c *Client) Suggest(ctx context.Context, conv string, maxN uint32) (*chatpb.SuggestResponse, error) {
	req := &chatpb.SuggestRequest{ConversationId: conv, Max: maxN}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.Suggest)
}

// ClusterStatus asks the current node for its view of the cluster.
func (c *Client) ClusterStatus(ctx context.Context) (*chatpb.ClusterStatusResponse, error) {
	return invoke(ctx, c, &chatpb.ClusterStatusRequest{}, chatpb.ChatServiceClient.ClusterStatus)
}

// ClusterStatusOf asks one node (by address index) without failover.
func (c *Client) ClusterStatusOf(ctx context.Context, node int) (*chatpb.ClusterStatusResponse, error) {
	return c.rpcs[node].ClusterStatus(c.withToken(ctx), &chatpb.ClusterStatusRequest{})
}

// HistoryOf reads a page of conv from one node (by address index) without failover; with
// stale it is that node's local state (the end-to-end tests compare nodes this way).
func (c *Client) HistoryOf(ctx context.Context, node int, conv string, afterSeq uint64, limit uint32, stale bool) (*chatpb.HistoryResponse, error) {
	req := &chatpb.HistoryRequest{Read: &chatpb.ReadMeta{Stale: stale}, ConversationId: conv, AfterSeq: afterSeq, Limit: limit}
	return c.rpcs[node].History(c.withToken(ctx), req)
}

// GetConversation returns one conversation the caller is a member of, with its last
// sequence number and unread count.
func (c *Client) GetConversation(ctx context.Context, conv string, stale bool) (*chatpb.Conversation, error) {
	req := &chatpb.GetConversationRequest{Read: &chatpb.ReadMeta{Stale: stale}, ConversationId: conv}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.GetConversation)
}
