package raft

import (
	"testing"
	"unsafe"
)

// TestMessageSize keeps Message at 128 bytes: a size class of its own, and msgSlabLen of them
// fill an 8 KiB slab exactly. A new field should reuse padding or revisit msgSlabLen.
func TestMessageSize(t *testing.T) {
	if got := unsafe.Sizeof(Message{}); got != 128 {
		t.Fatalf("Message is %d bytes, want 128", got)
	}
}

// TestReadyMessagesAreTheCallers checks the Ready contract for messages carved from a shared
// slab: a Ready's Messages have no spare capacity, and neither later messages (in the same
// slab or a new one) nor appends by the caller write over another Ready's messages.
func TestReadyMessagesAreTheCallers(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1})
	drain(t, rn, st)
	var kept [][]Message
	var want []Message
	// Enough Readys to cross several slabs.
	for i := 0; i < 3*msgSlabLen; i++ {
		stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1, Context: []byte{byte(i)}})
		rd := rn.Ready()
		if len(rd.Messages) != 1 || cap(rd.Messages) != 1 {
			t.Fatalf("Ready %d: %d messages, capacity %d; want 1 and 1", i, len(rd.Messages), cap(rd.Messages))
		}
		// The caller owns the slice: appending must not reach the next Ready's messages.
		_ = append(rd.Messages, Message{Type: MsgSnapStatus})
		kept = append(kept, rd.Messages)
		want = append(want, rd.Messages[0])
		rn.Advance(rd)
	}
	for i, ms := range kept {
		if m := ms[0]; m.Type != want[i].Type || m.To != want[i].To || len(m.Context) != 1 || m.Context[0] != byte(i) {
			t.Fatalf("Ready %d's message changed after handing out: %+v", i, m)
		}
	}
}

// TestFollowerAnswerAllocs bounds the allocations of a follower's answer to a heartbeat: its
// message comes from a shared slab, so on average far less than one allocation.
func TestFollowerAnswerAllocs(t *testing.T) {
	st := NewMemoryStorage()
	rn := newTestRawNode(t, 1, 3, st, nil)
	stepOK(t, rn, Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1})
	drain(t, rn, st)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = rn.Step(Message{From: 2, To: 1, Type: MsgHeartbeat, Term: 1})
		rd := rn.Ready()
		rn.Advance(rd)
	})
	if allocs > 0.1 {
		t.Fatalf("%.2f allocations per heartbeat answer, want < 0.1", allocs)
	}
}

// TestReadIndexAcksDistinct checks the read bookkeeping: a voter acknowledging twice counts
// once, and confirming a later request answers the earlier ones too, in order.
func TestReadIndexAcksDistinct(t *testing.T) {
	nw := electLeader(t, 5, nil)
	ld := nw.nodes[1]
	ld.rn.ReadIndex([]byte("r1"))
	ld.rn.ReadIndex([]byte("r2"))
	hb := msgsOf(drain(t, ld.rn, ld.st).msgs, MsgHeartbeat)
	if len(hb) != 8 {
		t.Fatalf("%d heartbeats, want 8", len(hb))
	}
	first, last := hb[0].Context, hb[len(hb)-1].Context
	term := ld.rn.raft.term
	ack := func(from NodeID, ctx []byte) []ReadState {
		stepOK(t, ld.rn, Message{From: from, To: 1, Type: MsgHeartbeatResp, Term: term, Context: ctx})
		return drain(t, ld.rn, ld.st).reads
	}
	if rs := ack(2, last); len(rs) != 0 {
		t.Fatalf("answered after one acknowledgement: %+v", rs)
	}
	if rs := ack(2, last); len(rs) != 0 {
		t.Fatalf("a repeated acknowledgement counted twice: %+v", rs)
	}
	if rs := ack(3, first); len(rs) != 0 {
		t.Fatalf("acknowledgements of different requests were added up: %+v", rs)
	}
	rs := ack(3, last)
	if len(rs) != 2 || string(rs[0].RequestCtx) != "r1" || string(rs[1].RequestCtx) != "r2" {
		t.Fatalf("read states %+v, want r1 then r2", rs)
	}
	if n := len(ld.rn.raft.readOnly.queue); n != 0 {
		t.Fatalf("%d requests still pending", n)
	}
	if rs := ack(4, first); len(rs) != 0 {
		t.Fatalf("an acknowledgement of an answered request answered again: %+v", rs)
	}
}
