package statemachine

import (
	"bytes"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

// harness drives a Machine through encoded entries and checks, for every rejected command,
// that the state is exactly what a no-op entry would have left plus the command's session
// record (see rejectedState).
type harness struct {
	t      testing.TB
	m      *Machine
	nowMs  int64
	verify bool // compare snapshots around rejected commands
}

const (
	t0   = int64(1_700_000_000_000)
	hash = "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"
)

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, m: m, nowMs: t0, verify: true}
}

// boot bootstraps with admin "admin" and creates the given users.
func boot(t testing.TB, users ...string) *harness {
	t.Helper()
	h := newHarness(t, DefaultConfig())
	h.ok("", &commandpb.Bootstrap{SigningKey: bytes.Repeat([]byte{7}, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	for _, u := range users {
		h.ok("", &commandpb.CreateUser{Username: u, PasswordHash: hash})
	}
	return h
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func mustWrap(t fataler, actor string, op proto.Message) *commandpb.Command {
	t.Helper()
	c, err := commandpb.Wrap(op)
	if err != nil {
		t.Fatal(err)
	}
	c.Actor = actor
	return c
}

func encode(t testing.TB, c *commandpb.Command) []byte {
	t.Helper()
	b, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) snapshot() []byte {
	h.t.Helper()
	b, err := h.m.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// applyCmd applies c as the next entry, one millisecond after the previous one.
func (h *harness) applyCmd(c *commandpb.Command) *commandpb.Result {
	h.t.Helper()
	h.nowMs++
	if c.TimeUnixMs == 0 {
		c.TimeUnixMs = h.nowMs
	}
	data := encode(h.t, c)
	idx := h.m.AppliedIndex() + 1
	var before []byte
	if h.verify {
		before = h.snapshot()
	}
	res := h.m.Apply(idx, data)
	if res.GetIndex() != idx && res.GetCode() == CodeOK && c.GetRequestId() == 0 {
		h.t.Fatalf("result index %d, want %d", res.GetIndex(), idx)
	}
	if h.verify && res.GetCode() != CodeOK {
		if got := h.snapshot(); !bytes.Equal(got, rejectedState(h.t, h.m.cfg, before, idx, c, res)) {
			h.t.Fatalf("rejected command at %d (%v) changed more than its session record", idx, res)
		}
	}
	return res
}

// rejectedState returns the snapshot that a rejected command cmd, applied as entry idx to the
// state before, must leave: before plus a no-op entry at idx and, when cmd was evaluated (not
// answered from its session), plus res recorded as the first result of cmd's session key.
// Comparing whole snapshots, a rejection that touches any chat state, the log time or another
// session's results is caught; so is one that records a different result or none.
func rejectedState(t fataler, cfg Config, before []byte, idx uint64, cmd *commandpb.Command, res *commandpb.Result) []byte {
	t.Helper()
	ref, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Restore(before); err != nil {
		t.Fatal(err)
	}
	nowMs := max(ref.st.clockMs, cmd.GetTimeUnixMs())
	if s, r, e := ref.lookupSession(cmd, nowMs); r == nil && e == nil {
		ref.recordSession(s, cmd, res, nowMs)
	}
	ref.Apply(idx, nil)
	want, err := ref.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// assertNoop checks that the machine equals the state before plus a no-op entry at idx: what
// undecodable data and a duplicate answered from its session leave.
func (h *harness) assertNoop(before []byte, idx uint64) {
	h.t.Helper()
	ref, err := New(h.m.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := ref.Restore(before); err != nil {
		h.t.Fatal(err)
	}
	ref.Apply(idx, nil)
	want, _ := ref.Snapshot()
	if got := h.snapshot(); !bytes.Equal(got, want) {
		h.t.Fatalf("entry %d changed more than the applied index", idx)
	}
}

func (h *harness) do(actor string, op proto.Message) *commandpb.Result {
	h.t.Helper()
	return h.applyCmd(mustWrap(h.t, actor, op))
}

func (h *harness) ok(actor string, op proto.Message) *commandpb.Result {
	h.t.Helper()
	res := h.do(actor, op)
	if res.GetCode() != CodeOK {
		h.t.Fatalf("%s by %q: %v: %s", op.ProtoReflect().Descriptor().Name(), actor, res.GetCode(), res.GetError())
	}
	return res
}

func (h *harness) fail(actor string, op proto.Message, want Code) *commandpb.Result {
	h.t.Helper()
	res := h.do(actor, op)
	if res.GetCode() != want {
		h.t.Fatalf("%s by %q: got %v (%s), want %v", op.ProtoReflect().Descriptor().Name(), actor,
			res.GetCode(), res.GetError(), want)
	}
	return res
}

// group creates a group owned by owner with members and returns its id.
func (h *harness) group(owner, name string, members ...string) string {
	h.t.Helper()
	return h.ok(owner, &commandpb.CreateGroup{Name: name, Members: members}).GetConversation().GetConversationId()
}

// post posts text and returns the seq.
func (h *harness) post(actor, conv, text string) uint64 {
	h.t.Helper()
	return h.ok(actor, &commandpb.PostMessage{ConversationId: conv, Text: text}).GetMessage().GetSeq()
}

func (h *harness) dm(from, to, text string) (string, uint64) {
	h.t.Helper()
	r := h.ok(from, &commandpb.SendDirect{To: to, Text: text}).GetMessage()
	return r.GetConversationId(), r.GetSeq()
}
