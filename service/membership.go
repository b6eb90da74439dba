package service

import (
	"context"
	"errors"
	"net"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/raft"
)

// Membership is the part of a Backend that changes the cluster's membership. It is optional:
// the admin membership calls answer Unimplemented on a backend without it. server.Node
// implements it.
//
// Each call returns once the change has applied on this node, or fails: with an error
// wrapping raft.ErrConfChangeRefused when the cluster refused it for good (for example the
// last voter), ErrInvalidMember for a request that names no valid node, a *LeaderError when
// this node cannot do the work and the leader can, or the context's error.
type Membership interface {
	// Members lists the configuration as this node last applied it.
	Members(ctx context.Context) (MemberList, error)
	// AddMember adds a node as a learner and, unless add.Learner, promotes it to voter once
	// it has caught up; progress is told of each step.
	AddMember(ctx context.Context, add MemberAdd, progress func(MemberProgress)) (MemberList, error)
	// RemoveMember removes a voter or learner.
	RemoveMember(ctx context.Context, id raft.NodeID) (MemberList, error)
}

// ErrInvalidMember marks a membership request that names no valid node or address.
var ErrInvalidMember = errors.New("invalid member")

// MemberAdd asks for a node to join.
type MemberAdd struct {
	ID raft.NodeID
	// PeerAddr is where its peer transport listens; ClientAddr its ChatService (optional).
	PeerAddr, ClientAddr string
	// Learner stops after adding it as a learner.
	Learner bool
}

// MemberList is the configuration as one node applied it.
type MemberList struct {
	// Self is the node answering, Leader the leader it knows (raft.None: none).
	Self, Leader raft.NodeID
	// LastIndex is the leader's last log index, when the answering node leads.
	LastIndex uint64
	Members   []MemberInfo
}

// MemberInfo is one voter or learner.
type MemberInfo struct {
	ID                   raft.NodeID
	PeerAddr, ClientAddr string
	Voter                bool
	// Role is "leader", "follower", "candidate", "pre-candidate" or "learner" when known.
	Role string
	// Match is the leader's replication progress for it (answering leader only).
	Match     uint64
	Reachable bool
}

// MemberProgress is one step of AddMember (see chatpb.ClusterMemberProgress).
type MemberProgress struct {
	Stage            string
	Match, LastIndex uint64
}

func (h *handler) membership() (Membership, error) {
	m, ok := h.s.b.(Membership)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node does not support membership changes")
	}
	return m, nil
}

func membersPB(l MemberList) *chatpb.ClusterMembersResponse {
	out := &chatpb.ClusterMembersResponse{Id: uint64(l.Self), Leader: uint64(l.Leader), LastIndex: l.LastIndex}
	for _, m := range l.Members {
		out.Members = append(out.Members, &chatpb.ClusterMember{Id: uint64(m.ID), PeerAddr: m.PeerAddr,
			ClientAddr: m.ClientAddr, Voter: m.Voter, Role: m.Role, Match: m.Match, Reachable: m.Reachable})
	}
	return out
}

func (h *handler) AdminClusterMembers(ctx context.Context, _ *chatpb.ClusterMembersRequest) (*chatpb.ClusterMembersResponse, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	mb, err := h.membership()
	if err != nil {
		return nil, err
	}
	l, err := mb.Members(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return membersPB(l), nil
}

func (h *handler) AdminRemoveClusterMember(ctx context.Context, r *chatpb.RemoveClusterMemberRequest) (*chatpb.ClusterMembersResponse, error) {
	p, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	mb, err := h.membership()
	if err != nil {
		return nil, err
	}
	h.s.log.Info("membership: remove requested", "by", p.Username, "member", r.GetId())
	l, err := mb.RemoveMember(ctx, raft.NodeID(r.GetId()))
	if err != nil {
		return nil, toStatus(err)
	}
	return membersPB(l), nil
}

func (h *handler) AdminAddClusterMember(r *chatpb.AddClusterMemberRequest, st chatpb.ChatService_AdminAddClusterMemberServer) error {
	ctx := st.Context()
	p, err := admin(ctx)
	if err != nil {
		return err
	}
	mb, err := h.membership()
	if err != nil {
		return err
	}
	h.s.log.Info("membership: add requested", "by", p.Username, "member", r.GetId(),
		"peer_addr", r.GetPeerAddr(), "learner", r.GetLearner())
	add := MemberAdd{ID: raft.NodeID(r.GetId()), PeerAddr: r.GetPeerAddr(), ClientAddr: r.GetClientAddr(), Learner: r.GetLearner()}
	var sendErr error
	l, err := mb.AddMember(ctx, add, func(pr MemberProgress) {
		if sendErr == nil {
			sendErr = st.Send(&chatpb.ClusterMemberProgress{Stage: pr.Stage, Match: pr.Match, LastIndex: pr.LastIndex})
		}
	})
	if err != nil {
		return toStatus(err)
	}
	if sendErr != nil {
		return sendErr
	}
	return st.Send(&chatpb.ClusterMemberProgress{Stage: "done", Members: membersPB(l)})
}

// validMember checks an add request's node id and addresses (host:port with a numeric port).
func validMember(r *chatpb.AddClusterMemberRequest) error {
	if r.GetId() == 0 {
		return status.Error(codes.InvalidArgument, "node id must be positive")
	}
	if err := validHostPort(r.GetPeerAddr()); err != nil {
		return status.Errorf(codes.InvalidArgument, "peer address %q: %v", r.GetPeerAddr(), err)
	}
	if r.GetClientAddr() != "" {
		if err := validHostPort(r.GetClientAddr()); err != nil {
			return status.Errorf(codes.InvalidArgument, "client address %q: %v", r.GetClientAddr(), err)
		}
	}
	return nil
}

// validHostPort accepts HOST:PORT with a non-empty host and a port in 1..65535.
func validHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("port must be 1-65535")
	}
	return nil
}
