package statemachine

import (
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

func TestSmoke(t *testing.T) {
	m, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	apply := func(c *commandpb.Command) *commandpb.Result {
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return m.Apply(m.AppliedIndex()+1, b)
	}
	r := apply(&commandpb.Command{TimeUnixMs: 1, Op: &commandpb.Command_Bootstrap{Bootstrap: &commandpb.Bootstrap{
		SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: "h"}}})
	if r.Code != CodeOK {
		t.Fatal(r)
	}
	r = apply(&commandpb.Command{TimeUnixMs: 2, Op: &commandpb.Command_CreateUser{CreateUser: &commandpb.CreateUser{
		Username: "bob", PasswordHash: "h"}}})
	if r.Code != CodeOK {
		t.Fatal(r)
	}
	r = apply(&commandpb.Command{TimeUnixMs: 3, Actor: "admin", Op: &commandpb.Command_SendDirect{SendDirect: &commandpb.SendDirect{To: "bob", Text: "hi"}}})
	if r.Code != CodeOK {
		t.Fatal(r)
	}
	h, err := m.History("bob", DirectID("bob", "admin"), HistoryQuery{})
	if err != nil || len(h) != 1 || h[0].Text != "hi" {
		t.Fatal(h, err)
	}
	snap, _ := m.Snapshot()
	m2, _ := New(DefaultConfig())
	if err := m2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	snap2, _ := m2.Snapshot()
	if string(snap) != string(snap2) {
		t.Fatal("snapshot mismatch")
	}
}
