package statemachine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// TestEventEncodingCache: the encoding the event log keeps as events are pushed (and the ring
// wraps, and a snapshot is restored) is what encoding every held event afresh gives.
func TestEventEncodingCache(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecentEvents = 7
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: bytes.Repeat([]byte{7}, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	for _, u := range []string{"ann", "bob"} {
		h.ok("", &commandpb.CreateUser{Username: u, PasswordHash: hash})
	}
	g := h.group("ann", "g", "bob")
	fresh := func(l *eventLog) []byte {
		var b []byte
		for i := 0; i < l.len(); i++ {
			b = encodeEvent(b, l.at(i))
		}
		return b
	}
	for i := 0; i < 100; i++ {
		seq := h.post("ann", g, fmt.Sprintf("message %d", i))
		if i%3 == 0 {
			h.ok("bob", &commandpb.AddReaction{ConversationId: g, Seq: seq, Emoji: "+1"})
		}
		if got, want := h.m.st.events.encoded(), fresh(&h.m.st.events); !bytes.Equal(got, want) {
			t.Fatalf("after %d posts: kept encoding %x, fresh %x", i+1, got, want)
		}
		for k := 0; k < h.m.st.events.len(); k++ {
			ev := h.m.st.events.at(k)
			if bound, n := eventSizeBound(ev), len(encodeEvent(nil, ev)); bound < n {
				t.Fatalf("event %d: size bound %d, encoded %d bytes", ev.Index, bound, n)
			}
		}
		if i%25 == 24 {
			snap, err := h.m.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := h.m.Restore(snap); err != nil {
				t.Fatal(err)
			}
			if again, _ := h.m.Snapshot(); !bytes.Equal(again, snap) {
				t.Fatalf("after %d posts: snapshot of the restored machine differs", i+1)
			}
		}
	}
}
