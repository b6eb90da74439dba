package statemachine

import "github.com/raftchat/raftchat/proto/commandpb"

// A successful command's result is a commandpb.Result, usually with a value: a reference to
// what the command made or changed, which protobuf represents as two more objects (the oneof
// wrapper and the reference message). Every replica builds one per applied command, so each
// constructor below allocates the three as one object and links them with interior pointers:
// one allocation instead of three. The result is the same value to every reader, and any
// pointer into the object keeps all of it alive.
//
// A handler sets x.res through one of these at most once, after validating; a command whose
// handler sets none gets a plain Result (applyCommand).

type messageResult struct {
	res commandpb.Result
	val commandpb.Result_Message
	ref commandpb.MessageRef
}

type conversationResult struct {
	res commandpb.Result
	val commandpb.Result_Conversation
	ref commandpb.ConversationRef
}

type fileResultBox struct {
	res commandpb.Result
	val commandpb.Result_File
	ref commandpb.FileRef
}

type userResultBox struct {
	res commandpb.Result
	val commandpb.Result_User
	ref commandpb.UserRef
}

// msgResult answers with a reference to message seq of c.
func msgResult(x *applyCtx, c *conversation, seq uint64) {
	b := &messageResult{}
	b.ref.ConversationId = c.id
	b.ref.Seq = seq
	b.ref.TimeUnixMs = c.msgs[seq-1].timeMs
	b.val.Message = &b.ref
	b.res.Value = &b.val
	x.setResult(&b.res)
}

// convResult answers with a reference to conversation id.
func convResult(x *applyCtx, id string) {
	b := &conversationResult{}
	b.ref.ConversationId = id
	b.val.Conversation = &b.ref
	b.res.Value = &b.val
	x.setResult(&b.res)
}

// fileResult answers with the upload state of f.
func fileResult(x *applyCtx, f *file) {
	b := &fileResultBox{}
	b.ref.FileId = f.id
	b.ref.ChunksReceived = int64(len(f.chunks))
	b.ref.Complete = f.complete
	b.val.File = &b.ref
	b.res.Value = &b.val
	x.setResult(&b.res)
}

// userResult answers with a reference to user name.
func userResult(x *applyCtx, name string) {
	b := &userResultBox{}
	b.ref.Username = name
	b.val.User = &b.ref
	b.res.Value = &b.val
	x.setResult(&b.res)
}

func (x *applyCtx) setResult(res *commandpb.Result) {
	res.Index = x.index
	x.res = res
}
