package statemachine

import (
	"fmt"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

// Machine is the chat state machine. It is not safe for concurrent use: the node serialises
// Apply and Restore with everything else; queries and Snapshot never modify the machine, so
// they may run concurrently with each other under a read lock.
type Machine struct {
	cfg Config
	st  state
}

// New returns an empty machine at applied index 0.
func New(cfg Config) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Machine{cfg: cfg, st: newState()}, nil
}

// AppliedIndex returns the index of the last applied entry (or of the restored snapshot).
func (m *Machine) AppliedIndex() uint64 { return m.st.applied }

// applyCtx is what a command handler sees. Handlers validate everything before they modify
// anything, so a rejected command leaves the chat state as it was (only its session record,
// written by applyCommand, is new).
type applyCtx struct {
	index uint64
	nowMs int64 // log time of this command: max(previous log time, command time)
	actor *user // nil for system commands
	cmd   *commandpb.Command
	res   *commandpb.Result // set by a handler that answers with a value (results.go), else nil
}

// Apply applies the entry with the given index and proto-encoded Command data and returns the
// command's result. It never panics. Empty data (a leader's no-op entry) only advances the
// applied index; so does undecodable data. A rejected command advances the applied index and
// records its rejection in its client session (if it has one), nothing else. A command whose
// (client_id, request_id) was evaluated before returns the first result again, success or
// rejection, byte for byte, without being evaluated (see session.go for the bounds).
func (m *Machine) Apply(index uint64, data []byte) *commandpb.Result {
	if index <= m.st.applied {
		return errResult(index, errorf(CodeFailedPrecondition,
			"entry %d already applied (applied index %d)", index, m.st.applied))
	}
	m.st.applied = index
	if len(data) == 0 {
		return &commandpb.Result{Index: index}
	}
	cmd := &commandpb.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return errResult(index, errorf(CodeMalformed, "decode command: %v", err))
	}
	return m.applyCommand(index, cmd)
}

// ApplyCommand is Apply for a decoded command (the simulator and tests use it).
func (m *Machine) ApplyCommand(index uint64, cmd *commandpb.Command) *commandpb.Result {
	if index <= m.st.applied {
		return errResult(index, errorf(CodeFailedPrecondition,
			"entry %d already applied (applied index %d)", index, m.st.applied))
	}
	m.st.applied = index
	if cmd == nil {
		return &commandpb.Result{Index: index}
	}
	return m.applyCommand(index, cmd)
}

func (m *Machine) applyCommand(index uint64, cmd *commandpb.Command) *commandpb.Result {
	nowMs := max(m.st.clockMs, cmd.GetTimeUnixMs())
	sess, res, err := m.lookupSession(cmd, nowMs)
	if res != nil || err != nil {
		if err != nil {
			return errResult(index, err) // not recorded: see session.go
		}
		return res
	}
	x := &applyCtx{
		index: index,
		nowMs: nowMs,
		cmd:   cmd,
	}
	if err := m.evaluate(x); err != nil {
		// The rejection is the request's first result: a later duplicate entry of it must get
		// the same answer, not a fresh evaluation (session.go). The log time stays put.
		res := errResult(index, err)
		m.recordSession(sess, cmd, res, nowMs)
		m.checkInvariants()
		return res
	}
	m.st.clockMs = nowMs
	res = x.res
	if res == nil { // the handler answered with no value
		res = &commandpb.Result{Index: index}
	}
	m.recordSession(sess, cmd, res, nowMs)
	m.maybeSweep()
	m.checkInvariants()
	return res
}

// evaluate checks and executes x.cmd. On error nothing has been modified.
func (m *Machine) evaluate(x *applyCtx) *Error {
	if err := m.resolveActor(x); err != nil {
		return err
	}
	return m.dispatch(x)
}

func errResult(index uint64, err *Error) *commandpb.Result {
	return &commandpb.Result{Code: err.Code, Error: err.Msg, Index: index}
}

// resolveActor finds the acting user: unknown users are unauthenticated, disabled ones denied.
func (m *Machine) resolveActor(x *applyCtx) *Error {
	name := x.cmd.GetActor()
	if name == "" {
		return nil
	}
	u := m.st.users[name]
	if u == nil {
		return errorf(CodeUnauthenticated, "unknown actor %q", name)
	}
	if u.disabled {
		return errorf(CodePermissionDenied, "user %q is disabled", name)
	}
	x.actor = u
	return nil
}

// requireActor rejects system (actor-less) commands that need a user.
func requireActor(x *applyCtx) *Error {
	if x.actor == nil {
		return errorf(CodeUnauthenticated, "command needs an actor")
	}
	return nil
}

func (m *Machine) dispatch(x *applyCtx) *Error {
	if _, ok := x.cmd.GetOp().(*commandpb.Command_Bootstrap); !ok && !m.st.bootstrapped {
		if x.cmd.GetOp() == nil {
			return errorf(CodeMalformed, "command has no operation")
		}
		return errorf(CodeFailedPrecondition, "cluster not bootstrapped")
	}
	switch op := x.cmd.GetOp().(type) {
	case *commandpb.Command_Bootstrap:
		return m.bootstrap(x, op.Bootstrap)
	case *commandpb.Command_CreateUser:
		return m.createUser(x, op.CreateUser)
	case *commandpb.Command_ChangePassword:
		return m.changePassword(x, op.ChangePassword)
	case *commandpb.Command_SetRole:
		return m.setRole(x, op.SetRole)
	case *commandpb.Command_DisableUser:
		return m.disableUser(x, op.DisableUser)
	case *commandpb.Command_RevokeToken:
		return m.revokeToken(x, op.RevokeToken)
	case *commandpb.Command_Heartbeat:
		return m.heartbeat(x, op.Heartbeat)
	default:
		return m.dispatchChat(x)
	}
}

func (m *Machine) dispatchChat(x *applyCtx) *Error {
	if err := requireActor(x); err != nil {
		return err
	}
	switch op := x.cmd.GetOp().(type) {
	case *commandpb.Command_SendDirect:
		return m.sendDirect(x, op.SendDirect)
	case *commandpb.Command_CreateGroup:
		return m.createGroup(x, op.CreateGroup)
	case *commandpb.Command_RenameGroup:
		return m.renameGroup(x, op.RenameGroup)
	case *commandpb.Command_AddMember:
		return m.addMember(x, op.AddMember)
	case *commandpb.Command_RemoveMember:
		return m.removeMember(x, op.RemoveMember)
	case *commandpb.Command_SetGroupAdmin:
		return m.setGroupAdmin(x, op.SetGroupAdmin)
	case *commandpb.Command_LeaveGroup:
		return m.leaveGroup(x, op.LeaveGroup)
	case *commandpb.Command_PostMessage:
		return m.postMessage(x, op.PostMessage)
	case *commandpb.Command_EditMessage:
		return m.editMessage(x, op.EditMessage)
	case *commandpb.Command_DeleteMessage:
		return m.deleteMessage(x, op.DeleteMessage)
	case *commandpb.Command_AddReaction:
		return m.addReaction(x, op.AddReaction)
	case *commandpb.Command_RemoveReaction:
		return m.removeReaction(x, op.RemoveReaction)
	case *commandpb.Command_MarkRead:
		return m.markRead(x, op.MarkRead)
	case *commandpb.Command_BeginUpload:
		return m.beginUpload(x, op.BeginUpload)
	case *commandpb.Command_UploadChunk:
		return m.uploadChunk(x, op.UploadChunk)
	case *commandpb.Command_CompleteUpload:
		return m.completeUpload(x, op.CompleteUpload)
	case *commandpb.Command_ShareFile:
		return m.shareFile(x, op.ShareFile)
	case nil:
		return errorf(CodeMalformed, "command has no operation")
	default:
		return errorf(CodeMalformed, "unknown operation %T", op)
	}
}

// mustf panics with context: only for programmer errors (broken invariants).
func mustf(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("statemachine: "+format, args...))
	}
}
