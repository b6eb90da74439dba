package server

import (
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func msgs(from, n int) []raft.Message {
	out := make([]raft.Message, n)
	for i := range out {
		out[i] = raft.Message{From: raft.NodeID(from), Index: raft.Index(i)}
	}
	return out
}

func TestInboundQueueKeepsFramesWhole(t *testing.T) {
	q := newInboundQueue(5)
	if d := q.add(msgs(1, 3)); d != 0 {
		t.Fatalf("dropped %d of a frame that fits", d)
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("no wake-up after the first frame")
	}
	// A frame that does not fit is dropped whole, not cut.
	if d := q.add(msgs(2, 3)); d != 3 {
		t.Fatalf("dropped %d, want the whole frame of 3", d)
	}
	if d := q.add(msgs(3, 2)); d != 0 {
		t.Fatalf("dropped %d of a frame that fits", d)
	}
	// take respects its bound and leaves a wake-up for the rest.
	got := q.take(4)
	if len(got) != 4 || got[0].From != 1 || got[3].From != 3 {
		t.Fatalf("take(4) = %v", got)
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("no wake-up for the message left behind")
	}
	if got := q.take(4); len(got) != 1 || got[0].From != 3 || got[0].Index != 1 {
		t.Fatalf("second take = %v", got)
	}
	if got := q.take(4); len(got) != 0 {
		t.Fatalf("empty queue gave %v", got)
	}
}
