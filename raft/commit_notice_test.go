package raft

import (
	"slices"
	"testing"
)

// With DeferCommitBroadcast a leader tells a new commit index at once only to the follower
// that forwarded the committed proposal; the others learn it from a later heartbeat. Without
// it every follower gets a commit-only append and applies at once.
func TestDeferCommitBroadcast(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		nw := newTestNet(t, 3, func(c *Config) { c.IdleHeartbeats, c.DeferCommitBroadcast = true, deferred })
		nw.campaign(1)
		nw.tickAll(2) // every node knows the no-op is committed

		commitOnly := 0
		nw.drop = func(m Message) bool {
			if m.Type == MsgApp && len(m.Entries) == 0 {
				commitOnly++
			}
			return false
		}
		if err := nw.propose(1, "a"); err != nil {
			t.Fatal(err)
		}
		want := map[NodeID][]string{1: {"a"}, 2: {"a"}, 3: {"a"}}
		wantCommitOnly := 2
		if deferred {
			want = map[NodeID][]string{1: {"a"}, 2: nil, 3: nil}
			wantCommitOnly = 0
		}
		checkApplied(t, nw, "leader's proposal", deferred, want)
		if commitOnly != wantCommitOnly {
			t.Fatalf("deferred=%v: leader's proposal sent %d commit-only appends, want %d", deferred, commitOnly, wantCommitOnly)
		}
		nw.tickAll(2) // at most two heartbeat rounds
		checkApplied(t, nw, "two heartbeat rounds later", deferred, map[NodeID][]string{1: {"a"}, 2: {"a"}, 3: {"a"}})

		// A proposal forwarded by follower 2: its clients wait for it to apply there.
		commitOnly = 0
		if err := nw.propose(2, "b"); err != nil {
			t.Fatal(err)
		}
		want = map[NodeID][]string{1: {"a", "b"}, 2: {"a", "b"}, 3: {"a", "b"}}
		wantCommitOnly = 2
		if deferred {
			want[3] = []string{"a"}
			wantCommitOnly = 1
		}
		checkApplied(t, nw, "follower's proposal", deferred, want)
		if commitOnly != wantCommitOnly {
			t.Fatalf("deferred=%v: follower's proposal sent %d commit-only appends, want %d", deferred, commitOnly, wantCommitOnly)
		}
		nw.tickAll(2)
		checkApplied(t, nw, "two heartbeat rounds later", deferred, map[NodeID][]string{1: {"a", "b"}, 2: {"a", "b"}, 3: {"a", "b"}})
	}
}

func checkApplied(t *testing.T, nw *testNet, when string, deferred bool, want map[NodeID][]string) {
	t.Helper()
	for _, id := range nw.ids {
		if got := nw.appliedData(id); !slices.Equal(got, want[id]) {
			t.Fatalf("deferred=%v, %s: node %d applied %q, want %q", deferred, when, id, got, want[id])
		}
	}
}
