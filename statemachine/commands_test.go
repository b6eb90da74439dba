package statemachine

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

// fixture: admin (cluster admin), alice, bob, carol, dave (disabled); group g:1 "team" of alice
// (group admin) and bob with bob's message 1; direct conversation alice-bob with alice's
// message 1.
func fixture(t testing.TB) *harness {
	h := boot(t, "alice", "bob", "carol", "dave")
	h.group("alice", "team", "bob")
	h.post("bob", "g:1", "hello team")
	h.dm("alice", "bob", "hi bob")
	h.ok("admin", &commandpb.DisableUser{Username: "dave", Disabled: true})
	return h
}

const dmAB = "dm:alice:bob"

type cmdCase struct {
	name  string
	setup func(h *harness)
	actor string
	op    proto.Message
	want  Code
	check func(t *testing.T, h *harness, res *commandpb.Result)
}

func runCases(t *testing.T, cases []cmdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := fixture(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			res := h.fail(tc.actor, tc.op, tc.want)
			if tc.check != nil {
				tc.check(t, h, res)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	key := make([]byte, 32)
	cases := []struct {
		name  string
		actor string
		op    *commandpb.Bootstrap
		want  Code
	}{
		{"ok", "", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "root", AdminPasswordHash: hash}, CodeOK},
		{"short key", "", &commandpb.Bootstrap{SigningKey: key[:31], AdminUsername: "root", AdminPasswordHash: hash}, CodeInvalidArgument},
		{"bad admin name", "", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "Root", AdminPasswordHash: hash}, CodeInvalidArgument},
		{"no hash", "", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "root"}, CodeInvalidArgument},
		{"unknown actor", "root", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "root", AdminPasswordHash: hash}, CodeUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, DefaultConfig())
			h.fail(tc.actor, tc.op, tc.want)
			if got := h.m.Bootstrapped(); got != (tc.want == CodeOK) {
				t.Fatalf("bootstrapped %v", got)
			}
		})
	}
	t.Run("before bootstrap", func(t *testing.T) {
		h := newHarness(t, DefaultConfig())
		h.fail("", &commandpb.CreateUser{Username: "alice", PasswordHash: hash}, CodeFailedPrecondition)
		if h.m.SigningKey() != nil {
			t.Fatal("signing key before bootstrap")
		}
	})
	t.Run("twice", func(t *testing.T) {
		h := boot(t)
		h.fail("", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "root", AdminPasswordHash: hash}, CodeFailedPrecondition)
		h.fail("admin", &commandpb.Bootstrap{SigningKey: key, AdminUsername: "root", AdminPasswordHash: hash}, CodeFailedPrecondition)
		if k := h.m.SigningKey(); len(k) != 32 || k[0] != 7 {
			t.Fatalf("signing key %x", k)
		}
		u, err := h.m.LookupUser("admin")
		if err != nil || u.Role != RoleAdmin || u.PasswordHash != hash {
			t.Fatal(u, err)
		}
	})
}

func TestUserCommands(t *testing.T) {
	admin := commandpb.Role_ROLE_ADMIN
	runCases(t, []cmdCase{
		{name: "signup", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				u, err := h.m.LookupUser("erin")
				if err != nil || u.Role != RoleUser || u.Disabled || u.CreatedUnixMs != h.nowMs {
					t.Fatal(u, err)
				}
			}},
		{name: "signup taken", op: &commandpb.CreateUser{Username: "alice", PasswordHash: hash}, want: CodeAlreadyExists},
		{name: "signup uppercase", op: &commandpb.CreateUser{Username: "Erin", PasswordHash: hash}, want: CodeInvalidArgument},
		{name: "signup short", op: &commandpb.CreateUser{Username: "er", PasswordHash: hash}, want: CodeInvalidArgument},
		{name: "signup digit first", op: &commandpb.CreateUser{Username: "1erin", PasswordHash: hash}, want: CodeInvalidArgument},
		{name: "signup space", op: &commandpb.CreateUser{Username: "er in", PasswordHash: hash}, want: CodeInvalidArgument},
		{name: "signup long", op: &commandpb.CreateUser{Username: strings.Repeat("e", 33), PasswordHash: hash}, want: CodeInvalidArgument},
		{name: "signup no hash", op: &commandpb.CreateUser{Username: "erin"}, want: CodeInvalidArgument},
		{name: "signup huge hash", op: &commandpb.CreateUser{Username: "erin", PasswordHash: strings.Repeat("h", 513)}, want: CodeTooLarge},
		{name: "signup bad role", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash, Role: 7}, want: CodeInvalidArgument},
		{name: "admin by anonymous", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash, Role: admin}, want: CodePermissionDenied},
		{name: "admin by user", actor: "alice", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash, Role: admin}, want: CodePermissionDenied},
		{name: "admin by admin", actor: "admin", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash, Role: admin}, want: CodeOK},
		{name: "unknown actor", actor: "zed", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash}, want: CodeUnauthenticated},
		{name: "disabled actor", actor: "dave", op: &commandpb.CreateUser{Username: "erin", PasswordHash: hash}, want: CodePermissionDenied},

		{name: "password own", actor: "alice", op: &commandpb.ChangePassword{Username: "alice", PasswordHash: "new"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				u, _ := h.m.LookupUser("alice")
				if u.PasswordHash != "new" || u.TokensNotBeforeUnixMs != h.nowMs {
					t.Fatal(u)
				}
			}},
		{name: "password other", actor: "bob", op: &commandpb.ChangePassword{Username: "alice", PasswordHash: "new"}, want: CodePermissionDenied},
		{name: "password by admin", actor: "admin", op: &commandpb.ChangePassword{Username: "alice", PasswordHash: "new"}, want: CodeOK},
		{name: "password unknown", actor: "admin", op: &commandpb.ChangePassword{Username: "zed", PasswordHash: "new"}, want: CodeNotFound},
		{name: "password empty", actor: "alice", op: &commandpb.ChangePassword{Username: "alice"}, want: CodeInvalidArgument},
		{name: "password anonymous", op: &commandpb.ChangePassword{Username: "alice", PasswordHash: "new"}, want: CodeUnauthenticated},

		{name: "role by user", actor: "alice", op: &commandpb.SetRole{Username: "alice", Role: admin}, want: CodePermissionDenied},
		{name: "role anonymous", op: &commandpb.SetRole{Username: "alice", Role: admin}, want: CodeUnauthenticated},
		{name: "role promote", actor: "admin", op: &commandpb.SetRole{Username: "alice", Role: admin}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.ok("alice", &commandpb.SetRole{Username: "admin", Role: RoleUser}) // no longer the last
				h.fail("alice", &commandpb.SetRole{Username: "alice", Role: RoleUser}, CodeFailedPrecondition)
			}},
		{name: "role unknown user", actor: "admin", op: &commandpb.SetRole{Username: "zed", Role: admin}, want: CodeNotFound},
		{name: "role unspecified", actor: "admin", op: &commandpb.SetRole{Username: "alice"}, want: CodeInvalidArgument},
		{name: "role demote last admin", actor: "admin", op: &commandpb.SetRole{Username: "admin", Role: RoleUser}, want: CodeFailedPrecondition},

		{name: "disable by user", actor: "alice", op: &commandpb.DisableUser{Username: "bob", Disabled: true}, want: CodePermissionDenied},
		{name: "disable anonymous", op: &commandpb.DisableUser{Username: "bob", Disabled: true}, want: CodeUnauthenticated},
		{name: "disable", actor: "admin", op: &commandpb.DisableUser{Username: "bob", Disabled: true}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.fail("bob", &commandpb.PostMessage{ConversationId: "g:1", Text: "x"}, CodePermissionDenied)
				if _, err := h.m.History("bob", "g:1", HistoryQuery{}); !errors.Is(err, ErrPermissionDenied) {
					t.Fatal(err)
				}
				u, _ := h.m.LookupUser("bob")
				if !u.Disabled || u.TokensNotBeforeUnixMs != h.nowMs-1 {
					t.Fatal(u)
				}
			}},
		{name: "disable last admin", actor: "admin", op: &commandpb.DisableUser{Username: "admin", Disabled: true}, want: CodeFailedPrecondition},
		{name: "enable", actor: "admin", op: &commandpb.DisableUser{Username: "dave"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.ok("dave", &commandpb.SendDirect{To: "alice", Text: "back"})
			}},
		{name: "disable unknown", actor: "admin", op: &commandpb.DisableUser{Username: "zed", Disabled: true}, want: CodeNotFound},

		{name: "revoke own", actor: "alice", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 + 3_600_000}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if !h.m.IsTokenRevoked("t1") || h.m.IsTokenRevoked("t2") {
					t.Fatal("revocation not recorded")
				}
			}},
		{name: "revoke other", actor: "bob", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 + 1000}, want: CodePermissionDenied},
		{name: "revoke by admin", actor: "admin", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 + 1000}, want: CodeOK},
		{name: "revoke anonymous", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 + 1000}, want: CodeUnauthenticated},
		{name: "revoke empty id", actor: "alice", op: &commandpb.RevokeToken{Username: "alice", ExpiresUnixMs: t0 + 1000}, want: CodeInvalidArgument},
		{name: "revoke far expiry", actor: "alice", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 + 8*24*3_600_000}, want: CodeInvalidArgument},
		{name: "revoke expired", actor: "alice", op: &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: t0 - 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if h.m.IsTokenRevoked("t1") {
					t.Fatal("expired token remembered")
				}
			}},

		{name: "heartbeat system", op: &commandpb.Heartbeat{Usernames: []string{"alice", "bob"}}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				p, _ := h.m.User("alice", h.nowMs+1000)
				if !p.Online || p.LastSeenUnixMs != h.nowMs {
					t.Fatal(p)
				}
				if p, _ := h.m.User("alice", h.nowMs+DefaultConfig().OnlineWindowMs); p.Online {
					t.Fatal("online after the window", p)
				}
				h.ok("", &commandpb.Heartbeat{Usernames: []string{"alice"}, Offline: true})
				if p, _ := h.m.User("alice", h.nowMs); p.Online {
					t.Fatal("online after going offline")
				}
			}},
		{name: "heartbeat self", actor: "alice", op: &commandpb.Heartbeat{Usernames: []string{"alice"}}, want: CodeOK},
		{name: "heartbeat other", actor: "alice", op: &commandpb.Heartbeat{Usernames: []string{"bob"}}, want: CodePermissionDenied},
		{name: "heartbeat by admin", actor: "admin", op: &commandpb.Heartbeat{Usernames: []string{"bob"}}, want: CodeOK},
		{name: "heartbeat unknown", op: &commandpb.Heartbeat{Usernames: []string{"alice", "zed"}}, want: CodeNotFound},
	})
}

func TestGroupCommands(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "create", actor: "carol", op: &commandpb.CreateGroup{Name: "book club", Members: []string{"alice", "carol", "alice"}}, want: CodeOK,
			check: func(t *testing.T, h *harness, res *commandpb.Result) {
				g, err := h.m.Group("alice", res.GetConversation().GetConversationId())
				if err != nil || g.ID != "g:2" || g.Name != "book club" || len(g.Members) != 2 ||
					g.Members[0] != (Member{Name: "alice"}) || g.Members[1] != (Member{Name: "carol", Admin: true}) {
					t.Fatal(g, err)
				}
			}},
		{name: "create unknown member", actor: "carol", op: &commandpb.CreateGroup{Name: "x", Members: []string{"zed"}}, want: CodeNotFound},
		{name: "create disabled member", actor: "carol", op: &commandpb.CreateGroup{Name: "x", Members: []string{"dave"}}, want: CodeFailedPrecondition},
		{name: "create empty name", actor: "carol", op: &commandpb.CreateGroup{Name: "  "}, want: CodeInvalidArgument},
		{name: "create long name", actor: "carol", op: &commandpb.CreateGroup{Name: strings.Repeat("n", 65)}, want: CodeTooLarge},
		{name: "create control char", actor: "carol", op: &commandpb.CreateGroup{Name: "a\x07b"}, want: CodeInvalidArgument},
		{name: "create anonymous", op: &commandpb.CreateGroup{Name: "x"}, want: CodeUnauthenticated},

		{name: "rename", actor: "alice", op: &commandpb.RenameGroup{ConversationId: "g:1", Name: "crew"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if g, _ := h.m.Group("bob", "g:1"); g.Name != "crew" {
					t.Fatal(g)
				}
			}},
		{name: "rename by member", actor: "bob", op: &commandpb.RenameGroup{ConversationId: "g:1", Name: "crew"}, want: CodePermissionDenied},
		{name: "rename by outsider", actor: "carol", op: &commandpb.RenameGroup{ConversationId: "g:1", Name: "crew"}, want: CodeNotMember},
		{name: "rename by cluster admin", actor: "admin", op: &commandpb.RenameGroup{ConversationId: "g:1", Name: "crew"}, want: CodeOK},
		{name: "rename unknown", actor: "alice", op: &commandpb.RenameGroup{ConversationId: "g:9", Name: "crew"}, want: CodeNotFound},
		{name: "rename direct", actor: "alice", op: &commandpb.RenameGroup{ConversationId: dmAB, Name: "crew"}, want: CodeNotFound},
		{name: "rename empty", actor: "alice", op: &commandpb.RenameGroup{ConversationId: "g:1"}, want: CodeInvalidArgument},

		{name: "add", actor: "alice", op: &commandpb.AddMember{ConversationId: "g:1", Username: "carol"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				s, err := h.m.Conversation("carol", "g:1")
				if err != nil || s.Unread != 0 || s.LastSeq != 1 {
					t.Fatal(s, err)
				}
				if hist, _ := h.m.History("carol", "g:1", HistoryQuery{}); len(hist) != 1 {
					t.Fatal("new member cannot read history", hist)
				}
			}},
		{name: "add member twice", actor: "alice", op: &commandpb.AddMember{ConversationId: "g:1", Username: "bob"}, want: CodeAlreadyExists},
		{name: "add unknown", actor: "alice", op: &commandpb.AddMember{ConversationId: "g:1", Username: "zed"}, want: CodeNotFound},
		{name: "add disabled", actor: "alice", op: &commandpb.AddMember{ConversationId: "g:1", Username: "dave"}, want: CodeFailedPrecondition},
		{name: "add by member", actor: "bob", op: &commandpb.AddMember{ConversationId: "g:1", Username: "carol"}, want: CodePermissionDenied},
		{name: "add by outsider", actor: "carol", op: &commandpb.AddMember{ConversationId: "g:1", Username: "carol"}, want: CodeNotMember},

		{name: "remove", actor: "alice", op: &commandpb.RemoveMember{ConversationId: "g:1", Username: "bob"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.fail("bob", &commandpb.PostMessage{ConversationId: "g:1", Text: "x"}, CodeNotMember)
				if _, err := h.m.History("bob", "g:1", HistoryQuery{}); !errors.Is(err, ErrNotMember) {
					t.Fatal(err)
				}
			}},
		{name: "remove non-member", actor: "alice", op: &commandpb.RemoveMember{ConversationId: "g:1", Username: "carol"}, want: CodeNotFound},
		{name: "remove by member", actor: "bob", op: &commandpb.RemoveMember{ConversationId: "g:1", Username: "alice"}, want: CodePermissionDenied},
		{name: "remove last admin promotes", actor: "admin", op: &commandpb.RemoveMember{ConversationId: "g:1", Username: "alice"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if g, _ := h.m.Group("bob", "g:1"); len(g.Members) != 1 || !g.Members[0].Admin {
					t.Fatal(g)
				}
			}},

		{name: "grant admin", actor: "alice", op: &commandpb.SetGroupAdmin{ConversationId: "g:1", Username: "bob", Admin: true}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.ok("bob", &commandpb.SetGroupAdmin{ConversationId: "g:1", Username: "alice"})
				h.fail("alice", &commandpb.RenameGroup{ConversationId: "g:1", Name: "x"}, CodePermissionDenied)
			}},
		{name: "grant non-member", actor: "alice", op: &commandpb.SetGroupAdmin{ConversationId: "g:1", Username: "carol", Admin: true}, want: CodeNotFound},
		{name: "revoke last admin", actor: "alice", op: &commandpb.SetGroupAdmin{ConversationId: "g:1", Username: "alice"}, want: CodeFailedPrecondition},
		{name: "grant by member", actor: "bob", op: &commandpb.SetGroupAdmin{ConversationId: "g:1", Username: "bob", Admin: true}, want: CodePermissionDenied},

		{name: "leave", actor: "bob", op: &commandpb.LeaveGroup{ConversationId: "g:1"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if gs, _ := h.m.Groups("bob", false); len(gs) != 0 {
					t.Fatal(gs)
				}
			}},
		{name: "leave last admin promotes", actor: "alice", op: &commandpb.LeaveGroup{ConversationId: "g:1"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.ok("bob", &commandpb.RenameGroup{ConversationId: "g:1", Name: "mine"})
				h.ok("bob", &commandpb.LeaveGroup{ConversationId: "g:1"})
				h.ok("admin", &commandpb.AddMember{ConversationId: "g:1", Username: "carol"})
				h.ok("carol", &commandpb.RenameGroup{ConversationId: "g:1", Name: "carol's"})
			}},
		{name: "leave not member", actor: "carol", op: &commandpb.LeaveGroup{ConversationId: "g:1"}, want: CodeNotMember},
		{name: "leave direct", actor: "alice", op: &commandpb.LeaveGroup{ConversationId: dmAB}, want: CodeFailedPrecondition},
		{name: "leave unknown", actor: "alice", op: &commandpb.LeaveGroup{ConversationId: "g:7"}, want: CodeNotFound},
	})
}

func TestMessageCommands(t *testing.T) {
	runCases(t, []cmdCase{
		{name: "direct new", actor: "carol", op: &commandpb.SendDirect{To: "alice", Text: "yo"}, want: CodeOK,
			check: func(t *testing.T, h *harness, res *commandpb.Result) {
				ref := res.GetMessage()
				if ref.GetConversationId() != "dm:alice:carol" || ref.GetSeq() != 1 || ref.GetTimeUnixMs() != h.nowMs {
					t.Fatal(ref)
				}
				s, err := h.m.Conversation("alice", ref.GetConversationId())
				if err != nil || s.Name != "carol" || s.Unread != 1 || s.Kind != KindDirect {
					t.Fatal(s, err)
				}
			}},
		{name: "direct existing reply", actor: "bob", op: &commandpb.SendDirect{To: "alice", Text: "yo", ReplyTo: 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, res *commandpb.Result) {
				if res.GetMessage().GetSeq() != 2 {
					t.Fatal(res)
				}
			}},
		{name: "direct bad reply", actor: "bob", op: &commandpb.SendDirect{To: "alice", Text: "yo", ReplyTo: 5}, want: CodeNotFound},
		{name: "direct new reply", actor: "carol", op: &commandpb.SendDirect{To: "alice", Text: "yo", ReplyTo: 1}, want: CodeNotFound},
		{name: "direct self", actor: "alice", op: &commandpb.SendDirect{To: "alice", Text: "yo"}, want: CodeInvalidArgument},
		{name: "direct unknown", actor: "alice", op: &commandpb.SendDirect{To: "zed", Text: "yo"}, want: CodeNotFound},
		{name: "direct disabled", actor: "alice", op: &commandpb.SendDirect{To: "dave", Text: "yo"}, want: CodeFailedPrecondition},
		{name: "direct empty", actor: "alice", op: &commandpb.SendDirect{To: "carol", Text: " \n"}, want: CodeInvalidArgument},
		{name: "direct long", actor: "alice", op: &commandpb.SendDirect{To: "carol", Text: strings.Repeat("x", 4097)}, want: CodeTooLarge},
		{name: "direct anonymous", op: &commandpb.SendDirect{To: "carol", Text: "x"}, want: CodeUnauthenticated},

		{name: "post", actor: "alice", op: &commandpb.PostMessage{ConversationId: "g:1", Text: "line1\n\tline2", ReplyTo: 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				msg, err := h.m.Message("bob", "g:1", 2)
				if err != nil || msg.Author != "alice" || msg.ReplyTo != 1 || msg.Text != "line1\n\tline2" {
					t.Fatal(msg, err)
				}
			}},
		{name: "post exactly max", actor: "alice", op: &commandpb.PostMessage{ConversationId: "g:1", Text: strings.Repeat("é", 2048)}, want: CodeOK},
		{name: "post outsider", actor: "carol", op: &commandpb.PostMessage{ConversationId: "g:1", Text: "x"}, want: CodeNotMember},
		{name: "post outsider direct", actor: "carol", op: &commandpb.PostMessage{ConversationId: dmAB, Text: "x"}, want: CodeNotMember},
		{name: "post unknown", actor: "alice", op: &commandpb.PostMessage{ConversationId: "g:5", Text: "x"}, want: CodeNotFound},
		{name: "post long", actor: "alice", op: &commandpb.PostMessage{ConversationId: "g:1", Text: strings.Repeat("x", 4097)}, want: CodeTooLarge},
		{name: "post bad reply", actor: "alice", op: &commandpb.PostMessage{ConversationId: "g:1", Text: "x", ReplyTo: 2}, want: CodeNotFound},

		{name: "edit", actor: "bob", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 1, Text: "hello all"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				msg, _ := h.m.Message("alice", "g:1", 1)
				if msg.Text != "hello all" || msg.EditedUnixMs != h.nowMs {
					t.Fatal(msg)
				}
			}},
		{name: "edit other's", actor: "alice", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 1, Text: "x"}, want: CodePermissionDenied},
		{name: "edit missing", actor: "bob", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 2, Text: "x"}, want: CodeNotFound},
		{name: "edit empty", actor: "bob", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 1}, want: CodeInvalidArgument},
		{name: "edit outsider", actor: "carol", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 1, Text: "x"}, want: CodeNotMember},
		{name: "edit deleted", setup: func(h *harness) { h.ok("bob", &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 1}) },
			actor: "bob", op: &commandpb.EditMessage{ConversationId: "g:1", Seq: 1, Text: "x"}, want: CodeFailedPrecondition},

		{name: "delete own", actor: "bob", op: &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				msg, _ := h.m.Message("alice", "g:1", 1)
				if !msg.Deleted || msg.Text != "" {
					t.Fatal(msg)
				}
			}},
		{name: "delete by group admin", actor: "alice", op: &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 1}, want: CodeOK},
		{name: "delete by member", setup: func(h *harness) { h.post("alice", "g:1", "mine") },
			actor: "bob", op: &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 2}, want: CodePermissionDenied},
		{name: "delete other's direct", actor: "bob", op: &commandpb.DeleteMessage{ConversationId: dmAB, Seq: 1}, want: CodePermissionDenied},
		{name: "delete twice", setup: func(h *harness) { h.ok("bob", &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 1}) },
			actor: "bob", op: &commandpb.DeleteMessage{ConversationId: "g:1", Seq: 1}, want: CodeFailedPrecondition},
		{name: "delete seq 0", actor: "bob", op: &commandpb.DeleteMessage{ConversationId: "g:1"}, want: CodeNotFound},

		{name: "react", actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "👍"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				h.ok("bob", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "👍"})
				h.ok("bob", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "+1"})
				msg, _ := h.m.Message("alice", "g:1", 1)
				if len(msg.Reactions) != 2 || msg.Reactions[0].Emoji != "+1" ||
					strings.Join(msg.Reactions[1].Users, ",") != "alice,bob" {
					t.Fatal(msg.Reactions)
				}
			}},
		{name: "react twice", setup: func(h *harness) { h.ok("alice", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}) },
			actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}, want: CodeAlreadyExists},
		{name: "react long", actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: strings.Repeat("x", 33)}, want: CodeTooLarge},
		{name: "react space", actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "a b"}, want: CodeInvalidArgument},
		{name: "react empty", actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1}, want: CodeInvalidArgument},
		{name: "react outsider", actor: "carol", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}, want: CodeNotMember},
		{name: "react missing", actor: "alice", op: &commandpb.AddReaction{ConversationId: "g:1", Seq: 3, Emoji: "x"}, want: CodeNotFound},
		{name: "unreact", setup: func(h *harness) { h.ok("alice", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}) },
			actor: "alice", op: &commandpb.RemoveReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if msg, _ := h.m.Message("alice", "g:1", 1); len(msg.Reactions) != 0 {
					t.Fatal(msg.Reactions)
				}
			}},
		{name: "unreact other's", setup: func(h *harness) { h.ok("alice", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}) },
			actor: "bob", op: &commandpb.RemoveReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}, want: CodeNotFound},
		{name: "unreact outsider", actor: "carol", op: &commandpb.RemoveReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"}, want: CodeNotMember},

		{name: "mark read", actor: "bob", op: &commandpb.MarkRead{ConversationId: dmAB, Seq: 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if s, _ := h.m.Conversation("bob", dmAB); s.Unread != 0 || s.ReadSeq != 1 {
					t.Fatal(s)
				}
			}},
		{name: "mark read beyond", setup: func(h *harness) { h.dm("alice", "bob", "again") },
			actor: "bob", op: &commandpb.MarkRead{ConversationId: dmAB, Seq: 99}, want: CodeOK,
			check: func(t *testing.T, h *harness, _ *commandpb.Result) {
				if s, _ := h.m.Conversation("bob", dmAB); s.Unread != 0 || s.ReadSeq != 2 {
					t.Fatal(s)
				}
				h.ok("bob", &commandpb.MarkRead{ConversationId: dmAB, Seq: 1}) // never backwards
				if s, _ := h.m.Conversation("bob", dmAB); s.ReadSeq != 2 {
					t.Fatal(s)
				}
			}},
		{name: "mark read outsider", actor: "carol", op: &commandpb.MarkRead{ConversationId: dmAB, Seq: 1}, want: CodeNotMember},
	})
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// fileOf returns a file's bytes split into chunks of size n.
func chunksOf(data []byte, n int) [][]byte {
	var out [][]byte
	for len(data) > n {
		out = append(out, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

var fileData = []byte("0123456789abcdefghijklmnopqrstuvwxyz") // 36 bytes: chunks of 10, 10, 10, 6

func begin(h *harness) uint64 {
	h.t.Helper()
	return h.ok("alice", &commandpb.BeginUpload{ConversationId: "g:1", Name: "notes.txt", Size: 36,
		Sha256: sum(fileData), ChunkSize: 10}).GetFile().GetFileId()
}

func uploadAll(h *harness, id uint64) {
	for i, c := range chunksOf(fileData, 10) {
		h.ok("alice", &commandpb.UploadChunk{FileId: id, Index: int64(i), Data: c, Sha256: sum(c)})
	}
}

func chunk(id uint64, i int) *commandpb.UploadChunk {
	c := chunksOf(fileData, 10)[i]
	return &commandpb.UploadChunk{FileId: id, Index: int64(i), Data: c, Sha256: sum(c)}
}

func TestFileCommands(t *testing.T) {
	upl := func(op *commandpb.BeginUpload) *commandpb.BeginUpload {
		base := &commandpb.BeginUpload{ConversationId: "g:1", Name: "notes.txt", Size: 36, Sha256: sum(fileData), ChunkSize: 10}
		proto.Merge(base, op)
		return base
	}
	runCases(t, []cmdCase{
		{name: "begin", actor: "alice", op: upl(&commandpb.BeginUpload{}), want: CodeOK,
			check: func(t *testing.T, h *harness, res *commandpb.Result) {
				f, err := h.m.File("bob", res.GetFile().GetFileId())
				if err != nil || f.Complete || f.Chunks() != 4 || f.Uploader != "alice" || f.ConversationID != "g:1" {
					t.Fatal(f, err)
				}
				if _, err := h.m.File("carol", f.ID); !errors.Is(err, ErrNotMember) {
					t.Fatal(err)
				}
			}},
		{name: "begin empty file", actor: "alice", op: upl(&commandpb.BeginUpload{Size: -1}), want: CodeInvalidArgument},
		{name: "begin outsider", actor: "carol", op: upl(&commandpb.BeginUpload{}), want: CodeNotMember},
		{name: "begin bad name", actor: "alice", op: upl(&commandpb.BeginUpload{Name: "../etc/passwd"}), want: CodeInvalidArgument},
		{name: "begin too big", actor: "alice", op: upl(&commandpb.BeginUpload{Size: 1<<30 + 1}), want: CodeTooLarge},
		{name: "begin chunk too big", actor: "alice", op: upl(&commandpb.BeginUpload{ChunkSize: 256<<10 + 1}), want: CodeTooLarge},
		{name: "begin bad sha", actor: "alice", op: upl(&commandpb.BeginUpload{Sha256: []byte{1, 2}}), want: CodeInvalidArgument},
		{name: "begin too many", setup: func(h *harness) {
			for range 16 {
				begin(h)
			}
		}, actor: "alice", op: upl(&commandpb.BeginUpload{}), want: CodeResourceExhausted},

		{name: "chunks and complete", setup: func(h *harness) { uploadAll(h, begin(h)) },
			actor: "alice", op: &commandpb.CompleteUpload{FileId: 1}, want: CodeOK,
			check: func(t *testing.T, h *harness, res *commandpb.Result) {
				if !res.GetFile().GetComplete() || res.GetFile().GetChunksReceived() != 4 {
					t.Fatal(res)
				}
				f, _ := h.m.File("alice", 1)
				if !f.Complete || len(f.ChunkHashes) != 4 || string(f.ChunkHashes[3]) != string(sum(fileData[30:])) {
					t.Fatal(f)
				}
				h.ok("alice", &commandpb.CompleteUpload{FileId: 1}) // idempotent
				h.ok("alice", chunk(1, 2))                          // a late retry is harmless
				r := h.ok("bob", &commandpb.ShareFile{FileId: 1, Text: "read this"})
				msg, _ := h.m.Message("alice", "g:1", r.GetMessage().GetSeq())
				if msg.FileID != 1 || msg.Text != "read this" {
					t.Fatal(msg)
				}
			}},
		{name: "chunk out of order", setup: func(h *harness) { begin(h) }, actor: "alice", op: chunk(1, 1), want: CodeFailedPrecondition},
		{name: "chunk bad hash", setup: func(h *harness) { begin(h) }, actor: "alice",
			op: &commandpb.UploadChunk{FileId: 1, Data: fileData[:10], Sha256: sum(fileData[:9])}, want: CodeInvalidArgument},
		{name: "chunk wrong length", setup: func(h *harness) { begin(h) }, actor: "alice",
			op: &commandpb.UploadChunk{FileId: 1, Data: fileData[:9], Sha256: sum(fileData[:9])}, want: CodeInvalidArgument},
		{name: "chunk beyond", setup: func(h *harness) { begin(h) }, actor: "alice",
			op: &commandpb.UploadChunk{FileId: 1, Index: 4, Data: fileData[:6], Sha256: sum(fileData[:6])}, want: CodeOutOfRange},
		{name: "chunk other user", setup: func(h *harness) { begin(h) }, actor: "bob", op: chunk(1, 0), want: CodePermissionDenied},
		{name: "chunk unknown file", actor: "alice", op: chunk(9, 0), want: CodeNotFound},
		{name: "chunk conflicting retry", setup: func(h *harness) { h.ok("alice", chunk(begin(h), 0)) }, actor: "alice",
			op: &commandpb.UploadChunk{FileId: 1, Data: fileData[10:20], Sha256: sum(fileData[10:20])}, want: CodeAlreadyExists},
		{name: "chunk expired upload", setup: func(h *harness) { begin(h); h.nowMs += DefaultConfig().UploadTTLMs },
			actor: "alice", op: chunk(1, 0), want: CodeNotFound},
		{name: "complete missing chunks", setup: func(h *harness) { h.ok("alice", chunk(begin(h), 0)) },
			actor: "alice", op: &commandpb.CompleteUpload{FileId: 1}, want: CodeFailedPrecondition},
		{name: "complete wrong whole hash", setup: func(h *harness) {
			h.ok("alice", &commandpb.BeginUpload{ConversationId: "g:1", Name: "x", Size: 36, Sha256: sum([]byte("other")), ChunkSize: 10})
			uploadAll(h, 1)
		}, actor: "alice", op: &commandpb.CompleteUpload{FileId: 1}, want: CodeFailedPrecondition},
		{name: "complete empty file", setup: func(h *harness) {
			h.ok("alice", &commandpb.BeginUpload{ConversationId: "g:1", Name: "empty", Size: 0, Sha256: sum(nil), ChunkSize: 10})
		}, actor: "alice", op: &commandpb.CompleteUpload{FileId: 1}, want: CodeOK},
		{name: "share incomplete", setup: func(h *harness) { begin(h) }, actor: "alice", op: &commandpb.ShareFile{FileId: 1}, want: CodeFailedPrecondition},
		{name: "share unknown", actor: "alice", op: &commandpb.ShareFile{FileId: 1}, want: CodeNotFound},
		{name: "share outsider", setup: func(h *harness) {
			id := begin(h)
			uploadAll(h, id)
			h.ok("alice", &commandpb.CompleteUpload{FileId: id})
		},
			actor: "carol", op: &commandpb.ShareFile{FileId: 1}, want: CodeNotMember},
	})
}

func TestMalformedAndOrdering(t *testing.T) {
	h := fixture(t)
	idx := h.m.AppliedIndex()
	before := h.snapshot()
	if r := h.m.Apply(idx+1, []byte{0xff, 0xff, 0xff}); r.GetCode() != CodeMalformed {
		t.Fatal(r)
	}
	h.assertNoop(before, idx+1)
	if r := h.m.Apply(idx+1, nil); r.GetCode() != CodeFailedPrecondition {
		t.Fatal("re-applied index accepted", r)
	}
	if r := h.applyCmd(&commandpb.Command{Actor: "alice"}); r.GetCode() != CodeMalformed {
		t.Fatal(r)
	}
	if r := h.m.Apply(h.m.AppliedIndex()+5, nil); r.GetCode() != CodeOK || h.m.AppliedIndex() != idx+7 {
		t.Fatal(r, h.m.AppliedIndex())
	}
	if r := h.m.ApplyCommand(h.m.AppliedIndex()+1, mustWrap(t, "alice", &commandpb.PostMessage{ConversationId: "g:1", Text: "direct"})); r.GetCode() != CodeOK {
		t.Fatal(r)
	}
	// Proto decoding already refuses invalid UTF-8; decoded commands are checked again.
	bad := mustWrap(t, "alice", &commandpb.SendDirect{To: "carol", Text: "a\xffb"})
	if r := h.m.ApplyCommand(h.m.AppliedIndex()+1, bad); r.GetCode() != CodeInvalidArgument {
		t.Fatal(r)
	}
	if r := h.m.ApplyCommand(h.m.AppliedIndex(), nil); r.GetCode() != CodeFailedPrecondition {
		t.Fatal(r)
	}
}

func TestErrors(t *testing.T) {
	err := error(errorf(CodeNotMember, "x is not a member"))
	if !errors.Is(err, ErrNotMember) || errors.Is(err, ErrNotFound) {
		t.Fatal("errors.Is by code")
	}
	if err.Error() != "NOT_MEMBER: x is not a member" || ErrNotFound.Error() != "NOT_FOUND" {
		t.Fatal(err.Error())
	}
	if ResultError(&commandpb.Result{}) != nil || !errors.Is(ResultError(nil), ErrMalformed) ||
		!errors.Is(ResultError(&commandpb.Result{Code: CodeTooLarge}), ErrTooLarge) {
		t.Fatal("ResultError")
	}
	cfg := DefaultConfig()
	cfg.MaxPageSize = 0
	if _, err := New(cfg); err == nil {
		t.Fatal("zero limit accepted")
	}
}
