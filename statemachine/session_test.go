package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

func withSession(t testing.TB, client string, req uint64, actor string, op proto.Message) *commandpb.Command {
	c := mustWrap(t, actor, op)
	c.ClientId, c.RequestId = client, req
	return c
}

func marshalResult(t *testing.T, r *commandpb.Result) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExactlyOnce(t *testing.T) {
	h := fixture(t)
	post := withSession(t, "c1", 1, "alice", &commandpb.PostMessage{ConversationId: "g:1", Text: "once"})
	first := h.applyCmd(proto.Clone(post).(*commandpb.Command))
	if first.GetCode() != CodeOK {
		t.Fatal(first)
	}
	after := h.snapshot()
	// A retry after a leader change: same ids, a later time, another log index.
	retry := proto.Clone(post).(*commandpb.Command)
	retry.TimeUnixMs = h.nowMs + 500
	second := h.applyCmd(retry)
	if !bytes.Equal(marshalResult(t, first), marshalResult(t, second)) {
		t.Fatalf("retry result %v, first %v", second, first)
	}
	h.assertNoop(after, h.m.AppliedIndex())
	if hist, _ := h.m.History("alice", "g:1", HistoryQuery{}); len(hist) != 2 {
		t.Fatalf("%d messages, want 2", len(hist))
	}
	// The same request id from another client is another request.
	other := withSession(t, "c2", 1, "alice", &commandpb.PostMessage{ConversationId: "g:1", Text: "once"})
	if r := h.applyCmd(other); r.GetMessage().GetSeq() != 3 {
		t.Fatal(r)
	}
	// Request id 0 is never deduplicated.
	for range 2 {
		h.applyCmd(withSession(t, "c1", 0, "", &commandpb.Heartbeat{Usernames: []string{"alice"}}))
	}
}

func TestRejectedNotRemembered(t *testing.T) {
	h := fixture(t)
	c := withSession(t, "c1", 7, "carol", &commandpb.PostMessage{ConversationId: "g:1", Text: "hi"})
	if r := h.applyCmd(proto.Clone(c).(*commandpb.Command)); r.GetCode() != CodeNotMember {
		t.Fatal(r)
	}
	h.ok("alice", &commandpb.AddMember{ConversationId: "g:1", Username: "carol"})
	// The rejected attempt changed nothing, so its retry is evaluated afresh.
	if r := h.applyCmd(c); r.GetCode() != CodeOK {
		t.Fatal(r)
	}
}

func TestSessionBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxResultsPerSession = 3
	cfg.MaxSessions = 2
	cfg.SessionTTLMs = 10_000
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	hb := func(client string, req uint64) *commandpb.Result {
		return h.applyCmd(withSession(t, client, req, "", &commandpb.CreateUser{
			Username: fmt.Sprintf("u%s%d", client, req), PasswordHash: hash}))
	}
	for req := uint64(1); req <= 5; req++ {
		if r := hb("a", req); r.GetCode() != CodeOK {
			t.Fatal(r)
		}
	}
	// Requests 1 and 2 were evicted: a retry must not apply again.
	if r := hb("a", 2); !errors.Is(ResultError(r), ErrSessionExpired) {
		t.Fatal(r)
	}
	if r := hb("a", 3); r.GetCode() != CodeOK || r.GetIndex() != 4 {
		t.Fatal("remembered result", r)
	}
	// A third client evicts the least recently active one ("a").
	hb("b", 1)
	hb("c", 1)
	if _, ok := h.m.st.sessions["a"]; ok || len(h.m.st.sessions) != 2 {
		t.Fatalf("sessions %v", sortedKeys(h.m.st.sessions))
	}
	// After its session expired a retry is applied anew (documented): here it fails because
	// the user exists, which shows it was evaluated again.
	h.nowMs += cfg.SessionTTLMs
	if r := hb("b", 1); r.GetCode() != CodeAlreadyExists {
		t.Fatal(r)
	}
	h.nowMs += cfg.SweepIntervalMs
	h.ok("", &commandpb.Heartbeat{})
	if len(h.m.st.sessions) != 0 {
		t.Fatalf("sessions not swept: %v", sortedKeys(h.m.st.sessions))
	}
}

func TestSweep(t *testing.T) {
	h := fixture(t)
	h.ok("alice", &commandpb.RevokeToken{TokenId: "t", Username: "alice", ExpiresUnixMs: h.nowMs + 10})
	begin(h)
	h.nowMs += DefaultConfig().UploadTTLMs
	h.ok("", &commandpb.Heartbeat{})
	if h.m.IsTokenRevoked("t") || len(h.m.st.files) != 0 || len(h.m.st.users["alice"].pending) != 0 {
		t.Fatal("expired state not swept")
	}
	// The pending slot is free again.
	begin(h)
}

func TestLogTimeMonotonic(t *testing.T) {
	h := fixture(t)
	late := mustWrap(t, "alice", &commandpb.PostMessage{ConversationId: "g:1", Text: "skewed"})
	late.TimeUnixMs = t0 - 100_000 // a proposer with a slow clock
	r := h.applyCmd(late)
	if r.GetMessage().GetTimeUnixMs() < h.nowMs-1 {
		t.Fatalf("message time %d went backwards (log time %d)", r.GetMessage().GetTimeUnixMs(), h.nowMs-1)
	}
}
