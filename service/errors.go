package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

// codeOf maps each state machine error code to its one gRPC status code. This is the only
// place the two vocabularies meet.
var codeOf = map[commandpb.ErrorCode]codes.Code{
	commandpb.ErrorCode_OK:                  codes.OK,
	commandpb.ErrorCode_INVALID_ARGUMENT:    codes.InvalidArgument,
	commandpb.ErrorCode_NOT_FOUND:           codes.NotFound,
	commandpb.ErrorCode_ALREADY_EXISTS:      codes.AlreadyExists,
	commandpb.ErrorCode_PERMISSION_DENIED:   codes.PermissionDenied,
	commandpb.ErrorCode_NOT_MEMBER:          codes.PermissionDenied,
	commandpb.ErrorCode_TOO_LARGE:           codes.InvalidArgument,
	commandpb.ErrorCode_FAILED_PRECONDITION: codes.FailedPrecondition,
	commandpb.ErrorCode_RESOURCE_EXHAUSTED:  codes.ResourceExhausted,
	commandpb.ErrorCode_UNAUTHENTICATED:     codes.Unauthenticated,
	// The session that would have deduplicated a retry is gone: the first attempt may or
	// may not have applied, and retrying again cannot tell. Not retryable.
	commandpb.ErrorCode_SESSION_EXPIRED: codes.FailedPrecondition,
	commandpb.ErrorCode_MALFORMED:       codes.InvalidArgument,
	commandpb.ErrorCode_OUT_OF_RANGE:    codes.OutOfRange,
}

// resultError returns the gRPC status of a rejected command, nil for success.
func resultError(res *commandpb.Result) error {
	if res == nil {
		return status.Error(codes.Internal, "no result")
	}
	if res.GetCode() == commandpb.ErrorCode_OK {
		return nil
	}
	return smStatus(res.GetCode(), res.GetError())
}

func smStatus(code commandpb.ErrorCode, msg string) error {
	c, ok := codeOf[code]
	if !ok {
		c = codes.Internal
	}
	if msg == "" {
		msg = code.String()
	}
	return status.Error(c, msg)
}

// toStatus converts any error from the backend or the state machine to a gRPC status.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var smErr *statemachine.Error
	var leaderErr *LeaderError
	switch {
	case errors.As(err, &smErr):
		return smStatus(smErr.Code, smErr.Msg)
	case errors.As(err, &leaderErr):
		return leaderStatus(leaderErr)
	case errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrNotLeader),
		errors.Is(err, raft.ErrProposalDropped), errors.Is(err, ErrStopped):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, raft.ErrConfChangeRefused):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrInvalidMember):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrBlobNotFound):
		// Another node that applied the upload holds the bytes.
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrEventsCompacted):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, ErrSubscriberTooSlow):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// leaderStatus is Unavailable naming the leader, with a LeaderHint detail the client
// library follows.
func leaderStatus(e *LeaderError) error {
	st := status.New(codes.Unavailable, e.Error())
	if e.Leader == raft.None {
		return st.Err()
	}
	withHint, err := st.WithDetails(&chatpb.LeaderHint{Leader: uint64(e.Leader), LeaderAddr: e.LeaderAddr})
	if err != nil {
		return st.Err()
	}
	return withHint.Err()
}
