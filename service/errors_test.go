package service

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

func TestEveryStateMachineCodeHasOneGRPCCode(t *testing.T) {
	for v, name := range commandpb.ErrorCode_name {
		c, ok := codeOf[commandpb.ErrorCode(v)]
		if !ok {
			t.Errorf("no gRPC code for %s", name)
			continue
		}
		if (c == codes.OK) != (commandpb.ErrorCode(v) == commandpb.ErrorCode_OK) {
			t.Errorf("%s maps to %v", name, c)
		}
		if c == codes.Unavailable || c == codes.Aborted {
			t.Errorf("%s maps to retryable %v: the client would retry a rejected command", name, c)
		}
	}
}

func TestToStatus(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{&statemachine.Error{Code: statemachine.CodeNotMember, Msg: "x"}, codes.PermissionDenied},
		{fmt.Errorf("read: %w", statemachine.ErrNotFound), codes.NotFound},
		{fmt.Errorf("propose: %w", raft.ErrProposalDropped), codes.Unavailable},
		{&LeaderError{Err: raft.ErrNoLeader}, codes.Unavailable},
		{fmt.Errorf("stop: %w", ErrStopped), codes.Unavailable},
		{fmt.Errorf("sub: %w", ErrEventsCompacted), codes.OutOfRange},
		{fmt.Errorf("sub: %w", ErrSubscriberTooSlow), codes.Unavailable},
		{fmt.Errorf("blob: %w", ErrBlobNotFound), codes.Unavailable},
		{fmt.Errorf("add: %w", raft.ErrConfChangeRefused), codes.FailedPrecondition},
		{fmt.Errorf("add: %w", ErrInvalidMember), codes.InvalidArgument},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{status.Error(codes.AlreadyExists, "kept"), codes.AlreadyExists},
		{errors.New("surprise"), codes.Internal},
	}
	for _, tc := range cases {
		if got := status.Code(toStatus(tc.err)); got != tc.want {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	st := status.Convert(toStatus(&LeaderError{Leader: 3, LeaderAddr: "h:1", Err: raft.ErrNotLeader}))
	if len(st.Details()) != 1 || st.Details()[0].(*chatpb.LeaderHint).GetLeaderAddr() != "h:1" {
		t.Fatalf("leader error details %v", st.Details())
	}
}
