package statemachine

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// TestEventEncodingCache: the encoding the event log keeps as events are pushed (and the ring
// wraps, and a snapshot is restored) is what encoding every held event afresh gives, with
// its message exported from the conversation as it was right after the event.
func TestEventEncodingCache(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecentEvents = 7
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: bytes.Repeat([]byte{7}, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	for _, u := range []string{"ann", "bob"} {
		h.ok("", &commandpb.CreateUser{Username: u, PasswordHash: hash})
	}
	g := h.group("ann", "g", "bob")
	// want mirrors the log: every event, a message event with its message exported right
	// after the command. (The events so far, of the group's creation, carry no message.)
	var want []Event
	for k := 0; k < h.m.st.events.len(); k++ {
		want = append(want, *h.m.st.events.at(k))
	}
	note := func() { // after a command that made one message event
		t.Helper()
		l := &h.m.st.events
		ev := *l.at(l.len() - 1)
		msg := h.m.exportMessage(h.m.st.convs[ev.ConversationID], ev.Seq)
		ev.Message = &msg
		if bound, n := eventSizeBound(&ev), len(encodeEvent(nil, &ev)); bound < n {
			t.Fatalf("event %d: size bound %d, encoded %d bytes", ev.Index, bound, n)
		}
		want = append(want, ev)
		if len(want) > cfg.MaxRecentEvents {
			want = want[1:]
		}
	}
	emojis := []string{"+1", "ok", "+1", "zz"}
	for i := 0; i < 100; i++ {
		seq := h.post("ann", g, fmt.Sprintf("message %d", i))
		note()
		if i%3 == 0 {
			// Two users' reactions with one emoji, and one with another, before or after it.
			h.ok("bob", &commandpb.AddReaction{ConversationId: g, Seq: seq, Emoji: emojis[i%4]})
			note()
			h.ok("ann", &commandpb.AddReaction{ConversationId: g, Seq: seq, Emoji: emojis[i%4]})
			note()
			h.ok("ann", &commandpb.AddReaction{ConversationId: g, Seq: seq, Emoji: emojis[(i+1)%4]})
			note()
		}
		if i%5 == 0 {
			h.ok("ann", &commandpb.EditMessage{ConversationId: g, Seq: seq, Text: "edited"})
			note()
		}
		if i%7 == 0 {
			h.ok("ann", &commandpb.DeleteMessage{ConversationId: g, Seq: seq})
			note()
		}
		var fresh []byte
		for k := range want {
			fresh = encodeEvent(fresh, &want[k])
		}
		l := &h.m.st.events
		if got := l.encoded(); !bytes.Equal(got, fresh) {
			t.Fatalf("after %d posts: kept encoding %x, fresh %x", i+1, got, fresh)
		}
		for k := 0; k < l.len(); k++ {
			if got := l.decode(k); !reflect.DeepEqual(got, want[k]) {
				t.Fatalf("after %d posts: event %d decodes to %+v, want %+v", i+1, k, got, want[k])
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
