package service

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
)

// admin returns the caller if they are an admin now (the role was read from the state
// machine when the call was authenticated, not taken from the token).
func admin(ctx context.Context) (auth.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return p, err
	}
	if p.Role != "admin" {
		return p, status.Error(codes.PermissionDenied, "admins only")
	}
	return p, nil
}

func (h *handler) AdminListUsers(ctx context.Context, r *chatpb.ListUsersRequest) (*chatpb.ListUsersResponse, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	now := h.s.cfg.Now().UnixMilli()
	out := &chatpb.ListUsersResponse{}
	err := h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		for _, u := range m.Users(now) {
			pb := presencePB(&u)
			if info, err := m.LookupUser(u.Name); err == nil {
				pb.CreatedUnixMs = info.CreatedUnixMs
			}
			out.Users = append(out.Users, pb)
		}
		return nil
	})
	return out, err
}

func (h *handler) adminUserWrite(ctx context.Context, meta *chatpb.WriteMeta, name string, cmd *commandpb.Command) (*chatpb.User, error) {
	p, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := h.s.propose(ctx, p.Username, meta, cmd); err != nil {
		return nil, err
	}
	var out *chatpb.User
	now := h.s.cfg.Now().UnixMilli()
	err = h.s.read(ctx, true, func(m *statemachine.Machine) error {
		u, err := m.User(name, now)
		out = presencePB(&u)
		return err
	})
	return out, err
}

func (h *handler) AdminSetUserDisabled(ctx context.Context, r *chatpb.AdminSetUserDisabledRequest) (*chatpb.User, error) {
	return h.adminUserWrite(ctx, r.GetMeta(), r.GetUsername(), &commandpb.Command{Op: &commandpb.Command_DisableUser{
		DisableUser: &commandpb.DisableUser{Username: r.GetUsername(), Disabled: r.GetDisabled()}}})
}

func (h *handler) AdminSetRole(ctx context.Context, r *chatpb.AdminSetRoleRequest) (*chatpb.User, error) {
	return h.adminUserWrite(ctx, r.GetMeta(), r.GetUsername(), &commandpb.Command{Op: &commandpb.Command_SetRole{
		SetRole: &commandpb.SetRole{Username: r.GetUsername(), Role: commandpb.Role(r.GetRole())}}})
}

func (h *handler) AdminListGroups(ctx context.Context, r *chatpb.ListConversationsRequest) (*chatpb.ListConversationsResponse, error) {
	p, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	out := &chatpb.ListConversationsResponse{}
	err = h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		gs, err := m.Groups(p.Username, true)
		for i := range gs {
			g := &gs[i]
			c := &chatpb.Conversation{Id: g.ID, Kind: chatpb.ConversationKind_CONVERSATION_KIND_GROUP,
				Name: g.Name, LastSeq: g.LastSeq}
			for _, mb := range g.Members {
				c.Members = append(c.Members, mb.Name)
			}
			out.Conversations = append(out.Conversations, groupPB(c, g))
		}
		return err
	})
	return out, err
}

func (h *handler) ClusterStatus(ctx context.Context, _ *chatpb.ClusterStatusRequest) (*chatpb.ClusterStatusResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	st, err := h.s.b.Status(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &chatpb.ClusterStatusResponse{Id: uint64(st.ID), Role: st.Role, Term: st.Term,
		Leader: uint64(st.Leader), LeaderAddr: st.LeaderAddr, Commit: st.Commit, Applied: st.Applied, Quorum: st.Quorum,
		Removed: st.Removed}
	for _, p := range st.Peers {
		out.Nodes = append(out.Nodes, &chatpb.NodeStatus{Id: uint64(p.ID), ClientAddr: p.ClientAddr,
			PeerAddr: p.PeerAddr, Reachable: p.Reachable, Match: p.Match, Learner: p.Learner})
	}
	return out, nil
}

func (h *handler) Suggest(ctx context.Context, r *chatpb.SuggestRequest) (*chatpb.SuggestResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var recent []SuggestInput
	err = h.s.read(ctx, r.GetRead().GetStale(), func(m *statemachine.Machine) error {
		msgs, err := m.History(p.Username, r.GetConversationId(), statemachine.HistoryQuery{BeforeSeq: ^uint64(0), Limit: 10})
		for _, msg := range msgs {
			if !msg.Deleted {
				recent = append(recent, SuggestInput{Author: msg.Author, Text: msg.Text})
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	n := int(r.GetMax())
	if n == 0 {
		n = 3
	}
	var out []string
	source := suggesterName(h.s.cfg.Suggester)
	if fs, ok := h.s.cfg.Suggester.(interface {
		SuggestFrom(context.Context, string, []SuggestInput, int) ([]string, string, error)
	}); ok {
		out, source, err = fs.SuggestFrom(ctx, p.Username, recent, n)
	} else {
		out, err = h.s.cfg.Suggester.Suggest(ctx, p.Username, recent, n)
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "suggester: %v", err)
	}
	return &chatpb.SuggestResponse{Suggestions: out, Source: source}, nil
}
