package statemachine

import (
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

func TestLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxGroupMembers = 3
	cfg.MaxReactionsPerMessage = 2
	cfg.MaxRevokedTokens = 1
	cfg.MaxHeartbeatUsers = 2
	cfg.SignupRequiresAdmin = true
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	h.fail("", &commandpb.CreateUser{Username: "alice", PasswordHash: hash}, CodePermissionDenied)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		h.ok("admin", &commandpb.CreateUser{Username: u, PasswordHash: hash})
	}
	h.fail("alice", &commandpb.CreateGroup{Name: "big", Members: []string{"bob", "carol", "dave"}}, CodeTooLarge)
	g := h.group("alice", "team", "bob", "carol")
	h.fail("alice", &commandpb.AddMember{ConversationId: g, Username: "dave"}, CodeTooLarge)
	s := h.post("alice", g, "react to me")
	h.ok("alice", &commandpb.AddReaction{ConversationId: g, Seq: s, Emoji: "a"})
	h.ok("bob", &commandpb.AddReaction{ConversationId: g, Seq: s, Emoji: "a"})
	h.fail("carol", &commandpb.AddReaction{ConversationId: g, Seq: s, Emoji: "a"}, CodeResourceExhausted)
	h.ok("alice", &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: h.nowMs + 1000})
	h.ok("alice", &commandpb.RevokeToken{TokenId: "t1", Username: "alice", ExpiresUnixMs: h.nowMs + 2000}) // extends
	h.fail("alice", &commandpb.RevokeToken{TokenId: "t2", Username: "alice", ExpiresUnixMs: h.nowMs + 1000}, CodeResourceExhausted)
	h.fail("alice", &commandpb.RevokeToken{TokenId: string(make([]byte, 129)), Username: "alice", ExpiresUnixMs: h.nowMs + 1000}, CodeInvalidArgument)
	h.fail("", &commandpb.Heartbeat{Usernames: []string{"alice", "bob", "carol"}}, CodeTooLarge)
	h.fail("", &commandpb.ChangePassword{Username: "alice", PasswordHash: hash}, CodeUnauthenticated)
	h.fail("admin", &commandpb.CreateUser{Username: "erin", PasswordHash: hash, Role: 9}, CodeInvalidArgument)
	h.fail("admin", &commandpb.SetRole{Username: "alice", Role: 9}, CodeInvalidArgument)
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"MaxTextBytes", "MaxSessions", "SessionTTLMs", "OnlineWindowMs"} {
		cfg := DefaultConfig()
		switch field {
		case "MaxTextBytes":
			cfg.MaxTextBytes = 0
		case "MaxSessions":
			cfg.MaxSessions = -1
		case "SessionTTLMs":
			cfg.SessionTTLMs = 0
		case "OnlineWindowMs":
			cfg.OnlineWindowMs = 0
		}
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", field)
		} else if want := fmt.Sprintf("statemachine config: %s must be positive", field); len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestUsernameRule(t *testing.T) {
	for name, ok := range map[string]bool{
		"bob": true, "a.b-c_9": true, "ab": false, "Bob": false, "9ab": false, "_ab": false,
		"abc def": false, "ab:c": false, "aé": false, "abcdefghijklmnopqrstuvwxyz012345": true,
		"abcdefghijklmnopqrstuvwxyz0123456": false,
	} {
		if ValidUsername(name) != ok {
			t.Errorf("ValidUsername(%q) = %v", name, !ok)
		}
	}
}
