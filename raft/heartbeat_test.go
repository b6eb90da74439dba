package raft

import (
	"slices"
	"testing"
)

// heartbeatTargets ticks leader 1 once and returns, sorted, the followers it sent a
// heartbeat to. Everything queued before is discarded unsent.
func heartbeatTargets(nw *testNet) []NodeID {
	nw.queue = nil
	nw.nodes[1].rn.Tick()
	nw.process(1)
	var to []NodeID
	for _, m := range nw.queue {
		if m.Type == MsgHeartbeat {
			to = append(to, m.To)
		}
	}
	nw.queue = nil
	slices.Sort(to)
	return to
}

// With IdleHeartbeats a leader leaves out of a heartbeat round the followers it sent an
// append since the previous round, heartbeats them again once a round passes without one,
// and heartbeats everyone while a ReadIndex waits for confirmation. Without it, every round
// goes to everyone.
func TestIdleHeartbeats(t *testing.T) {
	for _, idle := range []bool{false, true} {
		nw := newTestNet(t, 3, func(c *Config) { c.IdleHeartbeats = idle })
		nw.campaign(1)
		all := []NodeID{2, 3}
		heartbeatTargets(nw) // the round after the election's appends
		if got := heartbeatTargets(nw); !slices.Equal(got, all) {
			t.Fatalf("idle=%v: quiet round heartbeats %v, want %v", idle, got, all)
		}
		if err := nw.nodes[1].rn.Propose([]byte("x")); err != nil {
			t.Fatal(err)
		}
		nw.process(1) // appends to 2 and 3 (discarded by heartbeatTargets)
		want := all
		if idle {
			want = nil
		}
		if got := heartbeatTargets(nw); !slices.Equal(got, want) {
			t.Fatalf("idle=%v: round after appends heartbeats %v, want %v", idle, got, want)
		}
		if got := heartbeatTargets(nw); !slices.Equal(got, all) {
			t.Fatalf("idle=%v: next quiet round heartbeats %v, want %v", idle, got, all)
		}
		// A pending read: its confirmation rides on every heartbeat round, appends or not.
		nw.nodes[1].rn.ReadIndex([]byte("r"))
		if err := nw.nodes[1].rn.Propose([]byte("y")); err != nil {
			t.Fatal(err)
		}
		nw.process(1)
		if got := heartbeatTargets(nw); !slices.Equal(got, all) {
			t.Fatalf("idle=%v: round with a pending read heartbeats %v, want %v", idle, got, all)
		}
	}
}
