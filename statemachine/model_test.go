package statemachine

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

// The model is a deliberately naive second implementation of the chat rules: plain maps and
// slices, no indexes, files keep their bytes and hash them whole. Every query of the machine is
// compared with the model after every command.

type mUser struct {
	role            Role
	disabled        bool
	hash            string
	created, notBef int64
	lastSeen        int64
	offline         bool
}

type mMember struct {
	admin  bool
	read   uint64
	joined uint64
}

type mMsg struct {
	author, text    string
	time, edited    int64
	index           uint64
	replyTo, fileID uint64
	deleted         bool
	reactions       [][2]string // (emoji, user) in insertion order
}

type mConv struct {
	kind    ConversationKind
	by      string
	name    string
	created int64
	members map[string]*mMember
	msgs    []mMsg
}

type mFile struct {
	conv, uploader string
	size, chunk    int64
	sha            []byte
	content        []byte // the intended bytes (the generator uploads these)
	received       []byte // bytes received so far
	chunks         int
	created        int64
	complete       bool
}

type mEvent struct {
	index          uint64
	kind           EventKind
	conv, actor, t string
}

type model struct {
	cfg       Config
	users     map[string]*mUser
	convs     map[string]*mConv
	files     map[uint64]*mFile
	revoked   map[string]int64 // token id -> expiry
	now       int64            // time of the command being generated
	nextGroup int
	nextFile  uint64
	events    []mEvent
	sessions  map[string]*mSession // by client id
	replayed  bool                 // the last apply was answered from a session
}

// mSession is a client session of the model: the first result of every request, success or
// rejection, and the time of the last recorded one for expiry. The model has no per-session or
// session-count bound: the tests stay far below DefaultConfig's.
type mSession struct {
	last    int64
	results map[uint64]*commandpb.Result
}

func newModel(cfg Config, now int64) *model {
	return &model{cfg: cfg, nextGroup: 1, nextFile: 1,
		users:    map[string]*mUser{"admin": {role: RoleAdmin, hash: hash, created: now}},
		convs:    map[string]*mConv{},
		files:    map[uint64]*mFile{},
		revoked:  map[string]int64{},
		sessions: map[string]*mSession{},
	}
}

var errOK = CodeOK

// step is the command being applied to the model.
type step struct {
	m     *model
	index uint64
	now   int64
	actor string
	res   *commandpb.Result
}

func (s *step) admin() bool { u := s.m.users[s.actor]; return u != nil && u.role == RoleAdmin }

func (s *step) event(kind EventKind, conv, target string) {
	s.m.events = append(s.m.events, mEvent{s.index, kind, conv, s.actor, target})
}

func textCode(text string, max int, allowEmpty bool) Code {
	switch {
	case len(text) > max:
		return CodeTooLarge
	case !allowEmpty && strings.TrimSpace(text) == "":
		return CodeInvalidArgument
	}
	return errOK
}

// apply applies cmd at time now (callers pass non-decreasing times, so now is the log time).
func (m *model) apply(index uint64, now int64, cmd *commandpb.Command) *commandpb.Result {
	client, req := cmd.GetClientId(), cmd.GetRequestId()
	keyed := client != "" && req != 0
	m.replayed = false
	if keyed {
		if ss := m.sessions[client]; ss != nil && now-ss.last >= m.cfg.SessionTTLMs {
			delete(m.sessions, client) // expired: the request is evaluated again
		}
		if ss := m.sessions[client]; ss != nil && ss.results[req] != nil {
			m.replayed = true
			return ss.results[req]
		}
	}
	s := &step{m: m, index: index, now: now, actor: cmd.GetActor(), res: &commandpb.Result{Index: index}}
	res := s.res
	if code := s.run(cmd); code != CodeOK {
		res = &commandpb.Result{Code: code, Index: index}
	}
	if keyed {
		ss := m.sessions[client]
		if ss == nil {
			ss = &mSession{results: map[uint64]*commandpb.Result{}}
			m.sessions[client] = ss
		}
		ss.last = max(ss.last, now)
		ss.results[req] = res
	}
	return res
}

func (s *step) run(cmd *commandpb.Command) Code {
	if s.actor != "" {
		u := s.m.users[s.actor]
		if u == nil {
			return CodeUnauthenticated
		}
		if u.disabled {
			return CodePermissionDenied
		}
	}
	switch op := cmd.OpMessage().(type) {
	case *commandpb.CreateUser:
		return s.createUser(op)
	case *commandpb.SetRole:
		return s.setRole(op)
	case *commandpb.DisableUser:
		return s.disable(op)
	case *commandpb.Heartbeat:
		return s.heartbeat(op)
	case *commandpb.RevokeToken:
		return s.revoke(op)
	case *commandpb.ChangePassword:
		return s.changePassword(op)
	}
	if s.actor == "" {
		return CodeUnauthenticated
	}
	return s.chat(cmd)
}

func (s *step) userRef(name string) Code {
	s.res.Value = &commandpb.Result_User{User: &commandpb.UserRef{Username: name}}
	return errOK
}

func (s *step) createUser(op *commandpb.CreateUser) Code {
	role := cmp.Or(op.GetRole(), RoleUser)
	if role == RoleAdmin && !s.admin() {
		return CodePermissionDenied
	}
	if !ValidUsername(op.GetUsername()) {
		return CodeInvalidArgument
	}
	if s.m.users[op.GetUsername()] != nil {
		return CodeAlreadyExists
	}
	s.m.users[op.GetUsername()] = &mUser{role: role, hash: op.GetPasswordHash(), created: s.now}
	return s.userRef(op.GetUsername())
}

func (m *model) enabledAdmins() int {
	n := 0
	for _, u := range m.users {
		if u.role == RoleAdmin && !u.disabled {
			n++
		}
	}
	return n
}

func (s *step) setRole(op *commandpb.SetRole) Code {
	switch t := s.m.users[op.GetUsername()]; {
	case s.actor == "":
		return CodeUnauthenticated
	case !s.admin():
		return CodePermissionDenied
	case t == nil:
		return CodeNotFound
	case t.role == RoleAdmin && op.GetRole() != RoleAdmin && !t.disabled && s.m.enabledAdmins() == 1:
		return CodeFailedPrecondition
	default:
		t.role = op.GetRole()
		return s.userRef(op.GetUsername())
	}
}

func (s *step) disable(op *commandpb.DisableUser) Code {
	switch t := s.m.users[op.GetUsername()]; {
	case s.actor == "":
		return CodeUnauthenticated
	case !s.admin():
		return CodePermissionDenied
	case t == nil:
		return CodeNotFound
	case op.GetDisabled() && t.role == RoleAdmin && !t.disabled && s.m.enabledAdmins() == 1:
		return CodeFailedPrecondition
	default:
		if op.GetDisabled() && !t.disabled {
			t.notBef = s.now
		}
		t.disabled = op.GetDisabled()
		return s.userRef(op.GetUsername())
	}
}

func (s *step) revoke(op *commandpb.RevokeToken) Code {
	switch exp := op.GetExpiresUnixMs(); {
	case s.actor == "":
		return CodeUnauthenticated
	case op.GetUsername() != s.actor && !s.admin():
		return CodePermissionDenied
	case exp > s.now+s.m.cfg.MaxTokenTTLMs:
		return CodeInvalidArgument
	case exp > s.now:
		s.m.revoked[op.GetTokenId()] = max(exp, s.m.revoked[op.GetTokenId()])
	}
	return errOK
}

func (s *step) changePassword(op *commandpb.ChangePassword) Code {
	switch t := s.m.users[op.GetUsername()]; {
	case s.actor == "":
		return CodeUnauthenticated
	case t == nil:
		return CodeNotFound
	case op.GetUsername() != s.actor && !s.admin():
		return CodePermissionDenied
	default:
		t.hash, t.notBef = op.GetPasswordHash(), s.now
		return s.userRef(op.GetUsername())
	}
}

func (s *step) heartbeat(op *commandpb.Heartbeat) Code {
	for _, n := range op.GetUsernames() {
		if s.m.users[n] == nil {
			return CodeNotFound
		}
		if s.actor != "" && n != s.actor && !s.admin() {
			return CodePermissionDenied
		}
	}
	for _, n := range op.GetUsernames() {
		s.m.users[n].lastSeen, s.m.users[n].offline = s.now, op.GetOffline()
	}
	return errOK
}

func (s *step) chat(cmd *commandpb.Command) Code {
	switch op := cmd.OpMessage().(type) {
	case *commandpb.SendDirect:
		return s.sendDirect(op)
	case *commandpb.CreateGroup:
		return s.createGroup(op)
	case *commandpb.RenameGroup, *commandpb.AddMember, *commandpb.RemoveMember, *commandpb.SetGroupAdmin:
		return s.manage(cmd.OpMessage())
	case *commandpb.LeaveGroup:
		c, code := s.memberConv(op.GetConversationId())
		if code != errOK {
			return code
		}
		if c.kind != KindGroup {
			return CodeFailedPrecondition
		}
		s.leave(c, s.actor)
		s.event(EventMemberRemoved, op.GetConversationId(), s.actor)
		return s.convRef(op.GetConversationId())
	case *commandpb.PostMessage:
		c, code := s.memberConv(op.GetConversationId())
		if code == errOK {
			code = textCode(op.GetText(), s.m.cfg.MaxTextBytes, false)
		}
		if code == errOK && op.GetReplyTo() > uint64(len(c.msgs)) {
			code = CodeNotFound
		}
		if code != errOK {
			return code
		}
		return s.post(op.GetConversationId(), c, op.GetText(), op.GetReplyTo(), 0)
	case *commandpb.EditMessage, *commandpb.DeleteMessage, *commandpb.AddReaction, *commandpb.RemoveReaction:
		return s.msgOp(cmd.OpMessage())
	case *commandpb.MarkRead:
		c, code := s.memberConv(op.GetConversationId())
		if code != errOK {
			return code
		}
		mb := c.members[s.actor]
		if seq := min(op.GetSeq(), uint64(len(c.msgs))); seq > mb.read {
			mb.read = seq
			s.event(EventRead, op.GetConversationId(), "")
		}
		return s.convRef(op.GetConversationId())
	default:
		return s.fileOp(cmd.OpMessage())
	}
}

func (s *step) convRef(id string) Code {
	s.res.Value = &commandpb.Result_Conversation{Conversation: &commandpb.ConversationRef{ConversationId: id}}
	return errOK
}

func (s *step) memberConv(id string) (*mConv, Code) {
	c := s.m.convs[id]
	if c == nil {
		return nil, CodeNotFound
	}
	if c.members[s.actor] == nil {
		return nil, CodeNotMember
	}
	return c, errOK
}

func (s *step) post(id string, c *mConv, text string, reply, file uint64) Code {
	c.msgs = append(c.msgs, mMsg{author: s.actor, text: text, time: s.now, index: s.index, replyTo: reply, fileID: file})
	seq := uint64(len(c.msgs))
	c.members[s.actor].read = seq
	s.event(EventMessagePosted, id, "")
	s.res.Value = &commandpb.Result_Message{Message: &commandpb.MessageRef{ConversationId: id, Seq: seq, TimeUnixMs: s.now}}
	return errOK
}

func (s *step) sendDirect(op *commandpb.SendDirect) Code {
	to := s.m.users[op.GetTo()]
	switch {
	case to == nil:
		return CodeNotFound
	case op.GetTo() == s.actor:
		return CodeInvalidArgument
	}
	if code := textCode(op.GetText(), s.m.cfg.MaxTextBytes, false); code != errOK {
		return code
	}
	if to.disabled {
		return CodeFailedPrecondition
	}
	id := DirectID(s.actor, op.GetTo())
	c := s.m.convs[id]
	if op.GetReplyTo() != 0 && (c == nil || op.GetReplyTo() > uint64(len(c.msgs))) {
		return CodeNotFound
	}
	if c == nil {
		c = &mConv{kind: KindDirect, created: s.now, members: map[string]*mMember{
			s.actor: {joined: s.index}, op.GetTo(): {joined: s.index}}}
		s.m.convs[id] = c
	}
	return s.post(id, c, op.GetText(), op.GetReplyTo(), 0)
}

func (s *step) createGroup(op *commandpb.CreateGroup) Code {
	if code := textCode(op.GetName(), s.m.cfg.MaxGroupNameBytes, false); code != errOK {
		return code
	}
	names := append([]string{s.actor}, op.GetMembers()...)
	slices.Sort(names)
	for _, n := range names {
		switch u := s.m.users[n]; {
		case u == nil:
			return CodeNotFound
		case u.disabled:
			return CodeFailedPrecondition
		}
	}
	id := fmt.Sprintf("g:%d", s.m.nextGroup)
	s.m.nextGroup++
	c := &mConv{kind: KindGroup, name: op.GetName(), by: s.actor, created: s.now, members: map[string]*mMember{}}
	for _, n := range names {
		c.members[n] = &mMember{admin: n == s.actor, joined: s.index}
	}
	s.m.convs[id] = c
	s.event(EventGroupCreated, id, "")
	return s.convRef(id)
}

func (s *step) manage(op proto.Message) Code {
	id := op.ProtoReflect().Get(op.ProtoReflect().Descriptor().Fields().ByName("conversation_id")).String()
	c := s.m.convs[id]
	if c == nil || c.kind != KindGroup {
		return CodeNotFound
	}
	if mb := c.members[s.actor]; (mb == nil || !mb.admin) && !s.admin() {
		if mb == nil {
			return CodeNotMember
		}
		return CodePermissionDenied
	}
	admins := 0
	for _, mb := range c.members {
		if mb.admin {
			admins++
		}
	}
	switch op := op.(type) {
	case *commandpb.RenameGroup:
		if code := textCode(op.GetName(), s.m.cfg.MaxGroupNameBytes, false); code != errOK {
			return code
		}
		c.name = op.GetName()
		s.event(EventGroupRenamed, id, op.GetName())
	case *commandpb.AddMember:
		switch u := s.m.users[op.GetUsername()]; {
		case u == nil:
			return CodeNotFound
		case u.disabled:
			return CodeFailedPrecondition
		case c.members[op.GetUsername()] != nil:
			return CodeAlreadyExists
		}
		c.members[op.GetUsername()] = &mMember{admin: len(c.members) == 0, read: uint64(len(c.msgs)), joined: s.index}
		s.event(EventMemberAdded, id, op.GetUsername())
	case *commandpb.RemoveMember:
		if c.members[op.GetUsername()] == nil {
			return CodeNotFound
		}
		s.leave(c, op.GetUsername())
		s.event(EventMemberRemoved, id, op.GetUsername())
	case *commandpb.SetGroupAdmin:
		mb := c.members[op.GetUsername()]
		if mb == nil {
			return CodeNotFound
		}
		if mb.admin && !op.GetAdmin() && admins == 1 {
			return CodeFailedPrecondition
		}
		mb.admin = op.GetAdmin()
		s.event(EventAdminChanged, id, op.GetUsername())
	}
	return s.convRef(id)
}

func (s *step) leave(c *mConv, name string) {
	delete(c.members, name)
	var heir string
	for n, mb := range c.members {
		if mb.admin {
			return
		}
		if h := c.members[heir]; h == nil || mb.joined < h.joined || (mb.joined == h.joined && n < heir) {
			heir = n
		}
	}
	if heir != "" {
		c.members[heir].admin = true
	}
}

func (s *step) msgOp(op proto.Message) Code {
	r := op.ProtoReflect()
	id := r.Get(r.Descriptor().Fields().ByName("conversation_id")).String()
	seq := r.Get(r.Descriptor().Fields().ByName("seq")).Uint()
	c, code := s.memberConv(id)
	if code != errOK {
		return code
	}
	if seq == 0 || seq > uint64(len(c.msgs)) {
		return CodeNotFound
	}
	msg := &c.msgs[seq-1]
	if msg.deleted {
		return CodeFailedPrecondition
	}
	var kind EventKind
	var target string
	switch op := op.(type) {
	case *commandpb.EditMessage:
		if msg.author != s.actor {
			return CodePermissionDenied
		}
		if code := textCode(op.GetText(), s.m.cfg.MaxTextBytes, msg.fileID != 0); code != errOK {
			return code
		}
		msg.text, msg.edited, kind = op.GetText(), s.now, EventMessageEdited
	case *commandpb.DeleteMessage:
		groupAdmin := c.kind == KindGroup && c.members[s.actor].admin
		if msg.author != s.actor && !groupAdmin {
			return CodePermissionDenied
		}
		msg.deleted, msg.text, msg.reactions, msg.edited, kind = true, "", nil, s.now, EventMessageDeleted
	case *commandpb.AddReaction:
		e := op.GetEmoji()
		if len(e) > maxEmojiBytes {
			return CodeTooLarge
		}
		if strings.TrimSpace(e) == "" || strings.ContainsAny(e, " \t\n") {
			return CodeInvalidArgument
		}
		if slices.Contains(msg.reactions, [2]string{e, s.actor}) {
			return CodeAlreadyExists
		}
		msg.reactions = append(msg.reactions, [2]string{e, s.actor})
		kind, target = EventReactionAdded, e
	case *commandpb.RemoveReaction:
		i := slices.Index(msg.reactions, [2]string{op.GetEmoji(), s.actor})
		if i < 0 {
			return CodeNotFound
		}
		msg.reactions = slices.Delete(msg.reactions, i, i+1)
		kind, target = EventReactionRemoved, op.GetEmoji()
	}
	s.event(kind, id, target)
	s.res.Value = &commandpb.Result_Message{Message: &commandpb.MessageRef{ConversationId: id, Seq: seq, TimeUnixMs: msg.time}}
	return errOK
}

func (s *step) fileRef(id uint64, f *mFile) Code {
	s.res.Value = &commandpb.Result_File{File: &commandpb.FileRef{FileId: id, ChunksReceived: int64(f.chunks), Complete: f.complete}}
	return errOK
}

func (s *step) fileOp(op proto.Message) Code {
	switch op := op.(type) {
	case *commandpb.BeginUpload:
		if _, code := s.memberConv(op.GetConversationId()); code != errOK {
			return code
		}
		pending := 0
		for _, f := range s.m.files {
			if f.uploader == s.actor && !f.complete && s.now-f.created < s.m.cfg.UploadTTLMs {
				pending++
			}
		}
		if pending >= s.m.cfg.MaxPendingUploadsPerUser {
			return CodeResourceExhausted
		}
		id := s.m.nextFile
		s.m.nextFile++
		s.m.files[id] = &mFile{conv: op.GetConversationId(), uploader: s.actor, size: op.GetSize(),
			chunk: op.GetChunkSize(), sha: op.GetSha256(), content: contentFor(op.GetName(), op.GetSize()), created: s.now}
		return s.fileRef(id, s.m.files[id])
	case *commandpb.ShareFile:
		f := s.m.files[op.GetFileId()]
		if f == nil || (!f.complete && s.now-f.created >= s.m.cfg.UploadTTLMs) {
			return CodeNotFound
		}
		c, code := s.memberConv(f.conv)
		if code != errOK {
			return code
		}
		if !f.complete {
			return CodeFailedPrecondition
		}
		return s.post(f.conv, c, op.GetText(), 0, op.GetFileId())
	}
	r := op.ProtoReflect()
	id := r.Get(r.Descriptor().Fields().ByName("file_id")).Uint()
	f := s.m.files[id]
	if f == nil || (!f.complete && s.now-f.created >= s.m.cfg.UploadTTLMs) {
		return CodeNotFound
	}
	if f.uploader != s.actor {
		return CodePermissionDenied
	}
	n := int((f.size + f.chunk - 1) / f.chunk)
	switch op := op.(type) {
	case *commandpb.UploadChunk:
		i := int(op.GetIndex())
		if i < 0 || i >= n {
			return CodeOutOfRange
		}
		sum := sha256.Sum256(op.GetData())
		if !bytes.Equal(sum[:], op.GetSha256()) {
			return CodeInvalidArgument
		}
		lo, hi := int64(i)*f.chunk, min(int64(i+1)*f.chunk, f.size)
		if i < f.chunks {
			if !bytes.Equal(f.received[lo:hi], op.GetData()) {
				return CodeAlreadyExists
			}
			return s.fileRef(id, f)
		}
		if i > f.chunks {
			return CodeFailedPrecondition
		}
		if int64(len(op.GetData())) != hi-lo {
			return CodeInvalidArgument
		}
		f.received = append(f.received, op.GetData()...)
		f.chunks++
	case *commandpb.CompleteUpload:
		if !f.complete {
			sum := sha256.Sum256(f.received)
			if f.chunks != n || !bytes.Equal(sum[:], f.sha) {
				return CodeFailedPrecondition
			}
			f.complete = true
		}
	}
	return s.fileRef(id, f)
}

// contentFor derives a file's bytes from its name, so the generator and the model agree.
func contentFor(name string, size int64) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = name[i%len(name)] + byte(i)
	}
	return b
}
