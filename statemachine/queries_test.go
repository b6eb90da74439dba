package statemachine

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

func seqs(msgs []Message) []uint64 {
	out := []uint64{}
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return out
}

func TestHistoryPaging(t *testing.T) {
	h := fixture(t)
	for i := 2; i <= 10; i++ {
		h.post("alice", "g:1", fmt.Sprintf("m%d", i))
	}
	cases := []struct {
		q    HistoryQuery
		want string
	}{
		{HistoryQuery{}, "[1 2 3 4 5 6 7 8 9 10]"},
		{HistoryQuery{Limit: 3}, "[1 2 3]"},
		{HistoryQuery{AfterSeq: 8}, "[9 10]"},
		{HistoryQuery{AfterSeq: 10}, "[]"},
		{HistoryQuery{AfterSeq: 99}, "[]"},
		{HistoryQuery{AfterSeq: 4, Limit: 2}, "[5 6]"},
		{HistoryQuery{BeforeSeq: math.MaxUint64, Limit: 3}, "[8 9 10]"},
		{HistoryQuery{BeforeSeq: 4}, "[1 2 3]"},
		{HistoryQuery{BeforeSeq: 4, Limit: 2}, "[2 3]"},
		{HistoryQuery{BeforeSeq: 1}, "[]"},
	}
	for _, tc := range cases {
		got, err := h.m.History("bob", "g:1", tc.q)
		if err != nil || fmt.Sprint(seqs(got)) != tc.want {
			t.Errorf("%+v: got %v %v, want %s", tc.q, seqs(got), err, tc.want)
		}
	}
	for _, v := range []struct {
		viewer, conv string
		want         error
	}{{"carol", "g:1", ErrNotMember}, {"bob", "g:9", ErrNotFound}, {"zed", "g:1", ErrUnauthenticated}, {"dave", "g:1", ErrPermissionDenied}} {
		if _, err := h.m.History(v.viewer, v.conv, HistoryQuery{}); !errors.Is(err, v.want) {
			t.Errorf("%s %s: %v, want %v", v.viewer, v.conv, err, v.want)
		}
	}
	if _, err := h.m.Message("bob", "g:1", 11); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
}

func TestConversationsList(t *testing.T) {
	h := fixture(t)
	h.group("carol", "later", "bob")
	h.dm("alice", "bob", "newest")
	list, err := h.m.Conversations("bob")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, fmt.Sprintf("%s:%s:%d/%d", s.ID, s.Name, s.Unread, s.LastSeq))
	}
	if want := "[dm:alice:bob:alice:2/2 g:2:later:0/0 g:1:team:0/1]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	if list[0].Last == nil || list[0].Last.Text != "newest" || list[1].Last != nil {
		t.Fatal(list[0].Last, list[1].Last)
	}
	if _, err := h.m.Conversations("zed"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	if _, err := h.m.Conversation("carol", dmAB); !errors.Is(err, ErrNotMember) {
		t.Fatal(err)
	}
}

func TestGroupsAndUsers(t *testing.T) {
	h := fixture(t)
	h.group("carol", "solo")
	gs, err := h.m.Groups("bob", false)
	if err != nil || len(gs) != 1 || gs[0].ID != "g:1" {
		t.Fatal(gs, err)
	}
	if _, err := h.m.Groups("bob", true); !errors.Is(err, ErrPermissionDenied) {
		t.Fatal(err)
	}
	for i := 0; i < 9; i++ {
		h.group("carol", "more")
	}
	all, err := h.m.Groups("admin", true)
	if err != nil || len(all) != 11 || all[1].ID != "g:2" || all[10].ID != "g:11" {
		t.Fatal(len(all), err)
	}
	if _, err := h.m.Group("carol", "g:1"); !errors.Is(err, ErrNotMember) {
		t.Fatal(err)
	}
	if _, err := h.m.Group("admin", "g:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Group("admin", dmAB); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	users := h.m.Users(h.nowMs)
	if len(users) != 5 || users[0].Name != "admin" || !users[4].Disabled || users[4].Name != "dave" {
		t.Fatal(users)
	}
	if _, err := h.m.User("zed", 0); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := h.m.LookupUser("zed"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := h.m.File("alice", 4); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestSearch(t *testing.T) {
	h := fixture(t)
	h.post("alice", "g:1", "Lunch at NOON?")
	h.dm("bob", "alice", "noon works")
	h.dm("carol", "bob", "secret noon plan")
	s := h.post("alice", "g:1", "noon deleted")
	h.ok("alice", &commandpb.DeleteMessage{ConversationId: "g:1", Seq: s})
	got, err := h.m.Search("alice", "nOOn", 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.ConversationID+"/"+m.Text)
	}
	if want := "[dm:alice:bob/noon works g:1/Lunch at NOON?]"; fmt.Sprint(texts) != want {
		t.Fatalf("got %v, want %s", texts, want)
	}
	if got, _ := h.m.Search("alice", "noon", 1); len(got) != 1 {
		t.Fatal(got)
	}
	if _, err := h.m.Search("alice", "", 1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := h.m.Search("zed", "x", 1); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
}

func TestRecentEvents(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecentEvents = 8
	h := newHarness(t, cfg)
	h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
	for _, u := range []string{"alice", "bob", "carol"} {
		h.ok("", &commandpb.CreateUser{Username: u, PasswordHash: hash})
	}
	g := h.group("alice", "team", "bob")                                         // idx 5
	h.post("alice", g, "one")                                                    // 6
	h.ok("bob", &commandpb.MarkRead{ConversationId: g, Seq: 1})                  // 7: only bob sees it
	h.ok("alice", &commandpb.AddMember{ConversationId: g, Username: "carol"})    // 8
	h.post("bob", g, "two")                                                      // 9
	h.ok("alice", &commandpb.RemoveMember{ConversationId: g, Username: "carol"}) // 10

	kinds := func(viewer string, after uint64) string {
		evs, err := h.m.RecentEvents(viewer, after, 0)
		if err != nil {
			return err.Error()
		}
		s := ""
		for _, e := range evs {
			s += fmt.Sprintf("%d:%s ", e.Index, e.Kind)
		}
		return s
	}
	if got, want := kinds("bob", 0), "5:group_created 6:posted 7:read 8:member_added 9:posted 10:member_removed "; got != want {
		t.Fatalf("bob: %q, want %q", got, want)
	}
	// Once removed, carol only sees her own membership events.
	if got, want := kinds("carol", 0), "8:member_added 10:member_removed "; got != want {
		t.Fatalf("carol: %q, want %q", got, want)
	}
	if got, want := kinds("alice", 8), "9:posted 10:member_removed "; got != want {
		t.Fatalf("alice after 8: %q, want %q", got, want)
	}
	evs, _ := h.m.RecentEvents("alice", 5, 1)
	if len(evs) != 1 || evs[0].Message == nil || evs[0].Message.Text != "one" {
		t.Fatal(evs)
	}
	for i := range 10 {
		h.post("alice", g, fmt.Sprint(i))
	}
	if _, err := h.m.RecentEvents("bob", 9, 0); !errors.Is(err, ErrOutOfRange) {
		t.Fatal("dropped events not reported", err)
	}
	if evs, err := h.m.RecentEvents("bob", h.m.AppliedIndex()-8, 0); err != nil || len(evs) != 8 {
		t.Fatal(len(evs), err)
	}
	if _, err := h.m.RecentEvents("zed", 0, 0); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	// Events survive a snapshot, also into a machine with a smaller feed.
	snap := h.snapshot()
	cfg.MaxRecentEvents = 4
	m2, _ := New(cfg)
	if err := m2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	evs, err := m2.RecentEvents("bob", h.m.AppliedIndex()-4, 0)
	if err != nil || len(evs) != 4 {
		t.Fatal(len(evs), err)
	}
	if _, err := m2.RecentEvents("bob", h.m.AppliedIndex()-5, 0); !errors.Is(err, ErrOutOfRange) {
		t.Fatal(err)
	}
	for k := EventKind(0); k <= EventRead+1; k++ {
		if k.String() == "" {
			t.Fatal(k)
		}
	}
	if KindDirect.String() != "direct" || KindGroup.String() != "group" || ConversationKind(9).String() != "unknown" {
		t.Fatal("kind names")
	}
}

func TestStats(t *testing.T) {
	h := fixture(t)
	got := h.m.Stats()
	want := Stats{AppliedIndex: 9, Users: 5, Conversations: 2, Messages: 2, RecentEvents: 3}
	if got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	if h.m.LogTimeUnixMs() != h.nowMs {
		t.Fatal(h.m.LogTimeUnixMs(), h.nowMs)
	}
}

// History and events export a message's reactions grouped by emoji with one backing array
// for all the users: the groups must still be independent slices, and the texts of a page
// (copied out together) must be each message's own.
func TestExportedReactionsAndTextsAreIndependent(t *testing.T) {
	h := boot(t, "alice", "bob", "carol")
	g := h.group("alice", "team", "bob", "carol")
	first := h.post("alice", g, "first")
	second := h.post("bob", g, "second")
	h.ok("bob", &commandpb.DeleteMessage{ConversationId: g, Seq: second}) // an empty text
	h.post("carol", g, "third, longer text")
	for _, r := range []struct{ who, emoji string }{{"bob", "a"}, {"carol", "a"}, {"alice", "b"}, {"carol", "c"}} {
		h.ok(r.who, &commandpb.AddReaction{ConversationId: g, Seq: first, Emoji: r.emoji})
	}
	msgs, err := h.m.History("alice", g, HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, msg := range msgs {
		texts = append(texts, msg.Text)
	}
	if want := []string{"first", "third, longer text"}; len(texts) != 3 || texts[0] != want[0] || texts[1] != "" || texts[2] != want[1] {
		t.Fatalf("texts %q", texts)
	}
	rs := msgs[0].Reactions
	want := []Reaction{{"a", []string{"bob", "carol"}}, {"b", []string{"alice"}}, {"c", []string{"carol"}}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("reactions %v, want %v", rs, want)
	}
	_ = append(rs[0].Users, "mallory")
	_ = append(rs[1].Users, "mallory")
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("appending to one group changed another: %v", rs)
	}
}
