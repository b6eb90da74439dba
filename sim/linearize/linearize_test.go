package linearize

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// op is one line of a test history: a call and (unless pending) a return.
type op struct {
	client   int
	in       Input
	out      Output
	call, rt int64
	pending  bool
}

func post(c int, conv, author, text string, seq uint64, call, rt int64) op {
	return op{client: c, in: Input{Kind: Post, Conv: conv, Author: author, Text: text}, out: Output{Seq: seq}, call: call, rt: rt}
}

func read(c int, conv string, msgs []Message, call, rt int64) op {
	return op{client: c, in: Input{Kind: Read, Conv: conv}, out: Output{Messages: msgs}, call: call, rt: rt}
}

func msg(seq uint64, author, text string) Message {
	return Message{Seq: seq, Author: author, Text: text}
}

func record(ops []op) *Recorder {
	r := NewRecorder()
	ids := make([]int, len(ops))
	for i, o := range ops {
		ids[i] = r.Call(o.client, o.in, o.call)
	}
	for i, o := range ops {
		if !o.pending {
			r.Return(ids[i], o.out, o.rt)
		}
	}
	return r
}

func TestHistories(t *testing.T) {
	lost := post(1, "c", "bob", "lost?", 0, 15, 0)
	lost.pending = true
	cases := []struct {
		name string
		ops  []op
		ok   bool
	}{
		{"concurrent posts, edit, react and reads", []op{
			post(0, "c", "ann", "hi", 2, 0, 10),
			post(1, "c", "bob", "yo", 1, 1, 9),
			read(2, "c", []Message{msg(1, "bob", "yo")}, 2, 3),
			{client: 0, in: Input{Kind: Edit, Conv: "c", Author: "ann", Seq: 2, Text: "hello"}, call: 11, rt: 12},
			{client: 1, in: Input{Kind: React, Conv: "c", Author: "bob", Seq: 2, Emoji: "+1"}, call: 11, rt: 14},
			{client: 1, in: Input{Kind: Edit, Conv: "c", Author: "bob", Seq: 2, Text: "mine"}, out: Output{Status: Denied}, call: 15, rt: 16},
			{client: 1, in: Input{Kind: React, Conv: "c", Author: "bob", Seq: 9, Emoji: "+1"}, out: Output{Status: NotFound}, call: 15, rt: 16},
			read(2, "c", []Message{msg(1, "bob", "yo"), {Seq: 2, Author: "ann", Text: "hello", Edited: true,
				Reactions: []Reaction{{Emoji: "+1", User: "bob"}}}}, 20, 21),
			{client: 2, in: Input{Kind: Read, Conv: "c", Limit: 1}, out: Output{Messages: []Message{{Seq: 2, Author: "ann", Text: "hello", Edited: true,
				Reactions: []Reaction{{Emoji: "+1", User: "bob"}}}}}, call: 22, rt: 23},
		}, true},
		{"pending post seen by a later read", []op{
			post(0, "c", "ann", "a", 1, 0, 10), lost,
			read(2, "c", []Message{msg(1, "ann", "a"), msg(2, "bob", "lost?")}, 30, 31),
		}, true},
		{"pending post never seen", []op{
			post(0, "c", "ann", "a", 1, 0, 10), lost,
			read(2, "c", []Message{msg(1, "ann", "a")}, 30, 31),
			post(0, "c", "ann", "b", 2, 40, 41),
		}, true},
		{"partitions are independent", []op{
			post(0, "c1", "ann", "a", 1, 0, 10),
			post(1, "c2", "bob", "b", 1, 0, 10),
			read(2, "c2", []Message{msg(1, "bob", "b")}, 11, 12),
		}, true},
		{"stale read", []op{
			post(0, "c", "ann", "a", 1, 0, 10),
			post(0, "c", "ann", "b", 2, 11, 20),
			read(2, "c", []Message{msg(1, "ann", "a")}, 21, 22),
		}, false},
		{"lost acknowledged post", []op{
			post(0, "c", "ann", "a", 1, 0, 10),
			post(1, "c", "bob", "b", 2, 0, 10),
			read(2, "c", []Message{msg(1, "ann", "a"), msg(2, "bob", "b")}, 30, 31),
			post(1, "c", "bob", "c", 3, 32, 33),
			read(2, "c", []Message{msg(1, "ann", "a"), msg(2, "bob", "b")}, 34, 35),
		}, false},
		{"duplicated post", []op{
			post(0, "c", "ann", "a", 1, 0, 10),
			read(2, "c", []Message{msg(1, "ann", "a"), msg(2, "ann", "a")}, 11, 12),
		}, false},
		{"reordered sequence numbers", []op{
			post(0, "c", "ann", "a", 2, 0, 10),
			post(0, "c", "ann", "b", 1, 11, 20),
		}, false},
		{"edit lost after ack", []op{
			post(0, "c", "ann", "a", 1, 0, 10),
			{client: 0, in: Input{Kind: Edit, Conv: "c", Author: "ann", Seq: 1, Text: "A"}, call: 11, rt: 12},
			read(2, "c", []Message{msg(1, "ann", "a")}, 13, 14),
		}, false},
		{"not found for an existing message", []op{
			post(0, "c", "ann", "a", 1, 0, 10),
			{client: 1, in: Input{Kind: React, Conv: "c", Author: "bob", Seq: 1, Emoji: "x"}, out: Output{Status: NotFound}, call: 11, rt: 12},
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := record(tc.ops).Check(Options{})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.OK != tc.ok {
				t.Fatalf("OK = %v (%s), want %v", res.OK, res.Outcome, tc.ok)
			}
			if !tc.ok && res.Outcome != porcupine.Illegal {
				t.Fatalf("outcome %s, want Illegal", res.Outcome)
			}
		})
	}
}

func TestPartitionBound(t *testing.T) {
	var ops []op
	for i := 0; i < 5; i++ {
		ops = append(ops, post(0, "c", "ann", "x", uint64(i+1), int64(10*i), int64(10*i+1)))
	}
	r := record(ops)
	if got := r.OpsIn("c"); got != 5 {
		t.Fatalf("OpsIn = %d, want 5", got)
	}
	res := r.Check(Options{MaxOpsPerConv: 4})
	if res.OK || res.Err == nil || res.Outcome != porcupine.Ok {
		t.Fatalf("want a bound error over an Ok history, got %+v", res)
	}
	if !r.Check(Options{MaxOpsPerConv: 5}).OK {
		t.Fatal("history within the bound should pass")
	}
}

func TestVisualizeWithAnnotations(t *testing.T) {
	r := record([]op{
		post(0, "c", "ann", "a", 1, 0, 10),
		read(1, "c", nil, 11, 12),
	})
	r.Annotate(Annotation{Tag: "faults", StartNs: 2, EndNs: 8, Description: "partition {1}|{2,3}"})
	r.Annotate(Annotation{Tag: "leader", StartNs: 5, Description: "leader 2 term 3"})
	if r.Check(Options{}).OK {
		t.Fatal("stale read passed")
	}
	path := filepath.Join(t.TempDir(), "lin.html")
	if err := r.Visualize(path, Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"partition {1}|{2,3}", "leader 2 term 3", "post(ann"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
}

func TestCountsAndReturnPanics(t *testing.T) {
	r := NewRecorder()
	a := r.Call(0, Input{Kind: Post, Conv: "c"}, 0)
	r.Call(1, Input{Kind: Post, Conv: "c"}, 0)
	r.Return(a, Output{Seq: 1}, 5)
	if calls, ret, pend := r.Counts(); calls != 2 || ret != 1 || pend != 1 {
		t.Fatalf("counts %d %d %d", calls, ret, pend)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("second Return did not panic")
		}
	}()
	r.Return(a, Output{Seq: 1}, 6)
}

// TestStateHashIsFNVOfTheText pins newState's hash to its documented definition.
func TestStateHashIsFNVOfTheText(t *testing.T) {
	msgs := []Message{
		{Seq: 1, Author: "ann", Text: "hi", Reactions: []Reaction{{Emoji: "+1", User: "bob"}}},
		{Seq: 12, Author: "bob", Text: "yo\x00", Edited: true},
	}
	h := fnv.New64a()
	for _, m := range msgs {
		_, _ = fmt.Fprintf(h, "%d\x00%s\x00%s\x00%t\x00", m.Seq, m.Author, m.Text, m.Edited)
		for _, r := range m.Reactions {
			_, _ = fmt.Fprintf(h, "%s\x00%s\x00", r.Emoji, r.User)
		}
		_, _ = h.Write([]byte{0xff})
	}
	if got, want := newState(msgs).hash, h.Sum64(); got != want {
		t.Fatalf("hash %x, want %x", got, want)
	}
	if got, want := newState(nil).hash, fnv.New64a().Sum64(); got != want {
		t.Fatalf("empty hash %x, want %x", got, want)
	}
}

// TestPostContinuesTheHash: a post's state carries the hash newState gives its messages.
func TestPostContinuesTheHash(t *testing.T) {
	s := newState([]Message{{Seq: 1, Author: "a", Text: "x", Edited: true, Reactions: []Reaction{{"+1", "b"}}}})
	for i, text := range []string{"hello", "", "third"} {
		ok, next := stepPost(s, &Input{Kind: Post, Author: "c", Text: text}, &Output{Status: OK, Seq: uint64(i + 2)})
		if !ok {
			t.Fatalf("post %d refused", i)
		}
		if got, want := next.hash, newState(next.msgs).hash; got != want {
			t.Fatalf("post %d: hash %x, newState gives %x", i, got, want)
		}
		s = next
	}
}
