package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TestRejectedRemembered is the simulator's seed 911 in miniature: a client's retry put two
// entries of one PostMessage in the log. The first applies before the direct conversation
// exists and is rejected (the client is told so); the conversation is created; the duplicate
// must get the same rejection, byte for byte, and must not post, also after a restore.
func TestRejectedRemembered(t *testing.T) {
	for _, restore := range []bool{false, true} {
		t.Run(fmt.Sprintf("restore=%v", restore), func(t *testing.T) {
			h := boot(t, "user1", "user7")
			dm := DirectID("user1", "user7")
			post := withSession(t, "c7", 3, "user7", &commandpb.PostMessage{ConversationId: dm, Text: "hi"})
			first := h.applyCmd(proto.Clone(post).(*commandpb.Command))
			if first.GetCode() != CodeNotFound {
				t.Fatal(first)
			}
			h.dm("user1", "user7", "hello")
			if restore {
				snap := h.snapshot()
				h.m, _ = New(DefaultConfig())
				if err := h.m.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
			dup := proto.Clone(post).(*commandpb.Command)
			dup.TimeUnixMs = h.nowMs + 1000 // proposed again later, through another node
			before, idx := h.snapshot(), h.m.AppliedIndex()+1
			second := h.applyCmd(dup)
			if !bytes.Equal(marshalResult(t, first), marshalResult(t, second)) {
				t.Fatalf("duplicate got %v, first %v", second, first)
			}
			h.assertNoop(before, idx)
			if hist, _ := h.m.History("user1", dm, HistoryQuery{}); len(hist) != 1 || hist[0].Author != "user1" {
				t.Fatalf("history %v: the rejected post took effect", hist)
			}
			// Another request id is another request: it is evaluated, and now it succeeds.
			if r := h.applyCmd(withSession(t, "c7", 4, "user7", &commandpb.PostMessage{ConversationId: dm, Text: "hi"})); r.GetCode() != CodeOK {
				t.Fatal(r)
			}
		})
	}
}

// TestRejectionsInSessionBounds: rejections take result slots like successes, are evicted the
// same way (then SESSION_EXPIRED, which is not recorded itself), expire with the session, and
// a request without a session is never remembered.
func TestRejectionsInSessionBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxResultsPerSession = 2
	cfg.SessionTTLMs = 10_000
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	mk := func(client string, req uint64, user string) *commandpb.Command {
		return withSession(t, client, req, "", &commandpb.CreateUser{Username: user, PasswordHash: hash})
	}
	if r := h.applyCmd(mk("a", 1, "admin")); r.GetCode() != CodeAlreadyExists {
		t.Fatal(r)
	}
	h.ok("", &commandpb.CreateUser{Username: "bob", PasswordHash: hash})
	if r := h.applyCmd(mk("a", 2, "bob")); r.GetCode() != CodeAlreadyExists {
		t.Fatal(r)
	}
	if r := h.applyCmd(mk("a", 3, "carol")); r.GetCode() != CodeOK {
		t.Fatal(r)
	}
	// Request 1 (a rejection) was evicted by the bound: its retry is refused, not evaluated.
	for range 2 {
		if r := h.applyCmd(mk("a", 1, "dave")); r.GetCode() != CodeSessionExpired {
			t.Fatal(r)
		}
	}
	if s := h.m.st.sessions["a"]; !slices.Equal(s.ids, []uint64{2, 3}) || s.floor != 2 {
		t.Fatalf("session ids %v floor %d", s.ids, s.floor)
	}
	// Request 2's rejection is still remembered: a duplicate (here with a body that would
	// succeed, to show it is not evaluated) gets the stored answer, index included.
	if r := h.applyCmd(mk("a", 2, "frank")); r.GetCode() != CodeAlreadyExists || r.GetIndex() != 4 {
		t.Fatal("remembered rejection", r)
	}
	// After the session expired, a duplicate is evaluated again (documented).
	h.nowMs += cfg.SessionTTLMs
	if r := h.applyCmd(mk("a", 2, "erin")); r.GetCode() != CodeOK {
		t.Fatal(r)
	}
	// Without client id or request id nothing is recorded.
	n := len(h.m.st.sessions)
	h.fail("", &commandpb.CreateUser{Username: "erin", PasswordHash: hash}, CodeAlreadyExists)
	h.applyCmd(withSession(t, "b", 0, "", &commandpb.CreateUser{Username: "erin", PasswordHash: hash}))
	if len(h.m.st.sessions) != n {
		t.Fatalf("%d sessions, want %d", len(h.m.st.sessions), n)
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

// A session keeps its results in one buffer that it compacts as results are evicted: with
// request ids recorded out of order and evicted many times over, and results short and long,
// every remembered result is still the first result of its request, byte for byte, also
// across a snapshot.
func TestSessionResultBufferCompaction(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxResultsPerSession = 5
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	first := map[uint64][]byte{}
	for i := uint64(0); i < 200; i++ {
		req := 10 + 2*i
		if i%3 == 1 {
			req = 10 + 2*i - 3 // recorded after a higher id, below it
		}
		// Alternate short and long results: successes and rejections with long messages.
		user := fmt.Sprintf("user-%d", i/2)
		if i%4 == 3 {
			user = strings.Repeat("u", 40) + user
		}
		if i%8 == 7 { // a result of over 127 bytes: a length of two varint bytes
			user = strings.Repeat("v", 150) + user
		}
		res := h.applyCmd(withSession(t, "c", req, "", &commandpb.CreateUser{Username: user, PasswordHash: hash}))
		first[req] = marshalResult(t, res)
		s := h.m.st.sessions["c"]
		for k, id := range s.ids {
			if !bytes.Equal(s.result(k), first[id]) {
				t.Fatalf("after %d: request %d remembers %x, first result %x", i, id, s.result(k), first[id])
			}
		}
		if i%50 == 49 {
			snap := h.snapshot()
			if err := h.m.Restore(snap); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(h.snapshot(), snap) {
				t.Fatal("snapshot of the restored machine differs")
			}
		}
	}
	for k, id := range h.m.st.sessions["c"].ids {
		if r := h.applyCmd(withSession(t, "c", id, "", &commandpb.CreateUser{Username: "x", PasswordHash: hash})); !bytes.Equal(marshalResult(t, r), first[id]) {
			t.Fatalf("retry of request %d (#%d) answered %v", id, k, r)
		}
	}
}

// uvarintLen (sessions' encoding sizes, invariant-checked) is the length AppendUvarint gives.
func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}
