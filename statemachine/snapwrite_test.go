package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"pgregory.net/rapid"
)

// TestWriteSnapshotEqualsSnapshot checks that the streamed encoding is Snapshot's, byte for
// byte, whatever the flush limit (1 flushes after every element) and the state.
func TestWriteSnapshotEqualsSnapshot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, _ := New(DefaultConfig())
		for i, e := range entries(t) {
			m.Apply(uint64(i+1), e)
		}
		want, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		limit := rapid.SampledFrom([]int{1, 7, 64, 4096, SnapshotBufferBytes}).Draw(t, "limit")
		var got bytes.Buffer
		n, err := m.writeSnapshot(&got, limit)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("limit %d: streamed %d bytes (counted %d), Snapshot gives %d; equal: %v",
				limit, got.Len(), n, len(want), bytes.Equal(got.Bytes(), want))
		}
	})
}

// TestWriteSnapshotLargeState streams a state of many messages, sessions and events through
// small pieces and checks the bytes and that a machine restores from them.
func TestWriteSnapshotLargeState(t *testing.T) {
	h := boot(t, "alice", "bob")
	g := h.group("alice", "room", "bob")
	for i := range 3000 {
		c := mustWrap(t, "bob", &commandpb.PostMessage{ConversationId: g, Text: fmt.Sprintf("message %d", i)})
		c.ClientId, c.RequestId = fmt.Sprintf("client-%d", i%7), uint64(i+1)
		if r := h.applyCmd(c); r.GetCode() != CodeOK {
			t.Fatal(r)
		}
	}
	want, _ := h.m.Snapshot()
	for _, limit := range []int{1, 1000, SnapshotBufferBytes} {
		var got bytes.Buffer
		if _, err := h.m.writeSnapshot(&got, limit); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("limit %d: streamed encoding differs from Snapshot (%d vs %d bytes)", limit, got.Len(), len(want))
		}
	}
	var got bytes.Buffer
	if _, err := h.m.WriteSnapshot(&got); err != nil {
		t.Fatal(err)
	}
	fresh, _ := New(DefaultConfig())
	if err := fresh.Restore(got.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// failingWriter accepts ok bytes, then fails every write.
type failingWriter struct {
	ok, written int
	failed      bool
	callsAfter  int // writes asked for after the first failure
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.failed {
		w.callsAfter++
	}
	if w.written+len(p) > w.ok {
		w.failed = true
		n := w.ok - w.written
		w.written = w.ok
		return n, errDiskFull
	}
	w.written += len(p)
	return len(p), nil
}

// TestWriteSnapshotWriterError: the writer's first error is returned, with the bytes it took,
// and nothing more is written after it.
func TestWriteSnapshotWriterError(t *testing.T) {
	h := boot(t, "alice", "bob")
	g := h.group("alice", "room", "bob")
	for i := range 500 {
		h.post("bob", g, fmt.Sprintf("message %d", i))
	}
	w := &failingWriter{ok: 2000}
	n, err := h.m.writeSnapshot(w, 100)
	if !errors.Is(err, errDiskFull) || n != 2000 {
		t.Fatalf("got %d bytes, error %v; want 2000 bytes and %v", n, err, errDiskFull)
	}
	if w.callsAfter != 0 {
		t.Fatalf("%d writes after the error", w.callsAfter)
	}
}
