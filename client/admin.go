package client

import (
	"context"
	"errors"
	"io"
	"time"

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

// ClusterMembers lists the cluster's voters and learners as the answering node applied them
// (admins only).
func (c *Client) ClusterMembers(ctx context.Context) (*chatpb.ClusterMembersResponse, error) {
	return invoke(ctx, c, &chatpb.ClusterMembersRequest{}, chatpb.ChatServiceClient.AdminClusterMembers)
}

// RemoveClusterMember removes node id from the cluster and returns the members once the
// change has applied on the answering node (admins only). Asking again after it applied
// changes nothing.
func (c *Client) RemoveClusterMember(ctx context.Context, id uint64) (*chatpb.ClusterMembersResponse, error) {
	req := &chatpb.RemoveClusterMemberRequest{Id: id}
	var resp *chatpb.ClusterMembersResponse
	err := c.doWithin(ctx, true, longAttempt(ctx), func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		resp, err = rpc.AdminRemoveClusterMember(ctx, req)
		return err
	})
	return resp, err
}

// AddClusterMember adds node id, whose peer transport listens at peerAddr, as a learner and,
// unless learner is set, promotes it to voter once it has caught up. progress (may be nil)
// sees each step; the members are returned once the last step applied on the answering node
// (admins only). The call is safe to repeat: steps already done are skipped.
func (c *Client) AddClusterMember(ctx context.Context, id uint64, peerAddr, clientAddr string, learner bool,
	progress func(*chatpb.ClusterMemberProgress)) (*chatpb.ClusterMembersResponse, error) {
	req := &chatpb.AddClusterMemberRequest{Id: id, PeerAddr: peerAddr, ClientAddr: clientAddr, Learner: learner}
	var members *chatpb.ClusterMembersResponse
	err := c.doWithin(ctx, true, longAttempt(ctx), func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
		st, err := rpc.AdminAddClusterMember(ctx, req)
		if err != nil {
			return err
		}
		for {
			p, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return errors.New("add cluster member: stream ended before the change was done")
			}
			if err != nil {
				return err
			}
			if p.GetStage() == "done" {
				members = p.GetMembers()
				return nil
			}
			if progress != nil {
				progress(p)
			}
		}
	})
	return members, err
}

// longAttempt bounds one attempt of a membership call: the caller's whole deadline when it
// has one (a change waits for the cluster to apply it), else a minute.
func longAttempt(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Second)
	}
	return time.Minute
}
