package client

import (
	"context"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// AdminUsers lists every user, disabled ones included (admins only).
func (c *Client) AdminUsers(ctx context.Context, stale bool) ([]*chatpb.User, error) {
	req := &chatpb.ListUsersRequest{Read: &chatpb.ReadMeta{Stale: stale}}
	resp, err := invoke(ctx, c, req, chatpb.ChatServiceClient.AdminListUsers)
	return resp.GetUsers(), err
}

// AdminSetUserDisabled disables (or with disabled false, enables) an account (admins only).
func (c *Client) AdminSetUserDisabled(ctx context.Context, user string, disabled bool) (*chatpb.User, error) {
	req := &chatpb.AdminSetUserDisabledRequest{Meta: c.NewWriteMeta(), Username: user, Disabled: disabled}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.AdminSetUserDisabled)
}

// AdminSetRole makes a user an admin or a plain user (admins only).
func (c *Client) AdminSetRole(ctx context.Context, user string, role chatpb.Role) (*chatpb.User, error) {
	req := &chatpb.AdminSetRoleRequest{Meta: c.NewWriteMeta(), Username: user, Role: role}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.AdminSetRole)
}

// AdminGroups lists every group in the cluster (admins only).
func (c *Client) AdminGroups(ctx context.Context, stale bool) ([]*chatpb.Conversation, error) {
	req := &chatpb.ListConversationsRequest{Read: &chatpb.ReadMeta{Stale: stale}}
	resp, err := invoke(ctx, c, req, chatpb.ChatServiceClient.AdminListGroups)
	return resp.GetConversations(), err
}
