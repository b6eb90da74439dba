package statemachine

import (
	"errors"
	"fmt"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// Code classifies an Error. It is the wire enum carried in commandpb.Result, so a result read
// back from the log and an error returned by a query use the same codes.
type Code = commandpb.ErrorCode

// The codes the state machine produces. The service maps each to exactly one gRPC status code.
const (
	CodeOK                 = commandpb.ErrorCode_OK
	CodeInvalidArgument    = commandpb.ErrorCode_INVALID_ARGUMENT
	CodeNotFound           = commandpb.ErrorCode_NOT_FOUND
	CodeAlreadyExists      = commandpb.ErrorCode_ALREADY_EXISTS
	CodePermissionDenied   = commandpb.ErrorCode_PERMISSION_DENIED
	CodeNotMember          = commandpb.ErrorCode_NOT_MEMBER
	CodeTooLarge           = commandpb.ErrorCode_TOO_LARGE
	CodeFailedPrecondition = commandpb.ErrorCode_FAILED_PRECONDITION
	CodeResourceExhausted  = commandpb.ErrorCode_RESOURCE_EXHAUSTED
	CodeUnauthenticated    = commandpb.ErrorCode_UNAUTHENTICATED
	CodeSessionExpired     = commandpb.ErrorCode_SESSION_EXPIRED
	CodeMalformed          = commandpb.ErrorCode_MALFORMED
	CodeOutOfRange         = commandpb.ErrorCode_OUT_OF_RANGE
)

// Error is a rejected command or query. Compare with errors.Is against the Err* sentinels,
// which match on Code alone.
type Error struct {
	Code Code
	Msg  string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code.String()
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrNotMember) holds for every not-a-member error whatever its message.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Sentinels for errors.Is; their messages are empty.
var (
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrNotFound           = &Error{Code: CodeNotFound}
	ErrAlreadyExists      = &Error{Code: CodeAlreadyExists}
	ErrPermissionDenied   = &Error{Code: CodePermissionDenied}
	ErrNotMember          = &Error{Code: CodeNotMember}
	ErrTooLarge           = &Error{Code: CodeTooLarge}
	ErrFailedPrecondition = &Error{Code: CodeFailedPrecondition}
	ErrResourceExhausted  = &Error{Code: CodeResourceExhausted}
	ErrUnauthenticated    = &Error{Code: CodeUnauthenticated}
	ErrSessionExpired     = &Error{Code: CodeSessionExpired}
	ErrMalformed          = &Error{Code: CodeMalformed}
	ErrOutOfRange         = &Error{Code: CodeOutOfRange}
)

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ResultError returns nil when res reports success and the equivalent *Error otherwise.
// A nil res is reported as a malformed result.
func ResultError(res *commandpb.Result) error {
	if res == nil {
		return &Error{Code: CodeMalformed, Msg: "nil result"}
	}
	if res.GetCode() == CodeOK {
		return nil
	}
	return &Error{Code: res.GetCode(), Msg: res.GetError()}
}
