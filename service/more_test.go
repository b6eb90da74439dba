package service_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

func do[Resp any](t *testing.T, c *client.Client, f func(context.Context, chatpb.ChatServiceClient) (Resp, error)) (Resp, error) {
	t.Helper()
	var out Resp
	err := c.Do(ctx(t), func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		out, err = f(ctx, rpc)
		return err
	})
	return out, err
}

func TestMessageLifecycleAndGroupAdmin(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	g, err := alice.CreateGroup(c, "team", "bob")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bob.Post(c, g.GetId(), "first draft", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ed, err := bob.Edit(c, g.GetId(), m.GetSeq(), "final text"); err != nil || ed.GetText() != "final text" || ed.GetEditedUnixMs() == 0 {
		t.Fatalf("edit: %v %v", ed, err)
	}
	_, err = alice.Edit(c, g.GetId(), m.GetSeq(), "not yours")
	wantCode(t, err, codes.PermissionDenied, "edit another's message")
	if r, err := alice.React(c, g.GetId(), m.GetSeq(), "👍", false); err != nil || len(r.GetReactions()) != 1 || r.GetReactions()[0].GetUsers()[0] != "alice" {
		t.Fatalf("react: %v %v", r, err)
	}
	if r, err := alice.React(c, g.GetId(), m.GetSeq(), "👍", true); err != nil || len(r.GetReactions()) != 0 {
		t.Fatalf("unreact: %v %v", r, err)
	}
	if err := alice.MarkRead(c, g.GetId(), m.GetSeq()); err != nil {
		t.Fatal(err)
	}
	if cv, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Conversation, error) {
		return rpc.GetConversation(ctx, &chatpb.GetConversationRequest{ConversationId: g.GetId()})
	}); err != nil || cv.GetUnread() != 0 || cv.GetLastSeq() != 1 {
		t.Fatalf("conversation after mark read: %v %v", cv, err)
	}
	if found, err := bob.Search(c, "FINAL", g.GetId(), 10); err != nil || len(found) != 1 {
		t.Fatalf("search: %v %v", found, err)
	}
	// A group admin deletes any message; renames; hands admin to bob and leaves.
	if d, err := alice.Delete(c, g.GetId(), m.GetSeq()); err != nil || !d.GetDeleted() {
		t.Fatalf("admin delete: %v %v", d, err)
	}
	if _, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Conversation, error) {
		return rpc.RenameGroup(ctx, &chatpb.RenameGroupRequest{Meta: alice.NewWriteMeta(), ConversationId: g.GetId(), Name: "crew"})
	}); err != nil {
		t.Fatal(err)
	}
	if cv, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Conversation, error) {
		return rpc.SetGroupAdmin(ctx, &chatpb.SetGroupAdminRequest{Meta: alice.NewWriteMeta(), ConversationId: g.GetId(), Username: "bob", Admin: true})
	}); err != nil || len(cv.GetAdmins()) != 2 || cv.GetName() != "crew" {
		t.Fatalf("set admin: %v %v", cv, err)
	}
	if _, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Empty, error) {
		return rpc.LeaveGroup(ctx, &chatpb.LeaveGroupRequest{Meta: alice.NewWriteMeta(), ConversationId: g.GetId()})
	}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.History(c, g.GetId(), 0, 0, 10, false)
	wantCode(t, err, codes.PermissionDenied, "history after leaving")
}

func TestAdminRoleAndGroupsAndPasswordChange(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	if _, err := alice.CreateGroup(c, "a-team"); err != nil {
		t.Fatal(err)
	}
	root := e.client("")
	if _, err := root.Login(c, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	if u, err := do(t, root, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.User, error) {
		return rpc.AdminSetRole(ctx, &chatpb.AdminSetRoleRequest{Meta: root.NewWriteMeta(), Username: "bob", Role: chatpb.Role_ROLE_ADMIN})
	}); err != nil || u.GetRole() != chatpb.Role_ROLE_ADMIN {
		t.Fatalf("set role: %v %v", u, err)
	}
	// bob's current role counts, not the one in his token.
	groups, err := do(t, bob, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.ListConversationsResponse, error) {
		return rpc.AdminListGroups(ctx, &chatpb.ListConversationsRequest{})
	})
	if err != nil || len(groups.GetConversations()) != 1 || groups.GetConversations()[0].GetName() != "a-team" {
		t.Fatalf("admin list groups as promoted bob: %v %v", groups, err)
	}
	// Changing the password invalidates tokens issued before it.
	access, _ := alice.Tokens()
	if _, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Empty, error) {
		return rpc.ChangePassword(ctx, &chatpb.ChangePasswordRequest{Meta: alice.NewWriteMeta(), OldPassword: "wrong-password", NewPassword: "new-password-1"})
	}); err == nil {
		t.Fatal("password changed with a wrong old password")
	}
	if _, err := do(t, alice, func(ctx context.Context, rpc chatpb.ChatServiceClient) (*chatpb.Empty, error) {
		return rpc.ChangePassword(ctx, &chatpb.ChangePasswordRequest{Meta: alice.NewWriteMeta(), OldPassword: "alice-password", NewPassword: "new-password-1"})
	}); err != nil {
		t.Fatal(err)
	}
	old := metadata.NewOutgoingContext(c, metadata.Pairs("authorization", "Bearer "+access))
	_, err = e.raw.ListConversations(old, &chatpb.ListConversationsRequest{})
	wantCode(t, err, codes.Unauthenticated, "token issued before the password change")
	if _, err := e.client("").Login(c, "alice", "new-password-1"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}
