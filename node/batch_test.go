package node

import (
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

func batching(c *Config) { c.BatchProposals, c.CoalesceMessages = true, true }

// Commands proposed between two Process calls travel in one append per follower, and each
// still gets its own result.
func TestBatchedProposalsShareOneAppend(t *testing.T) {
	c := newClusterWith(t, 3, 1000, batching)
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	results := map[uint64]*commandpb.Result{}
	for req := uint64(2); req <= 6; req++ {
		c.reps[1].Propose(userCmd(req), func(res *commandpb.Result, err error) {
			if err != nil {
				t.Errorf("request %d: %v", req, err)
			}
			results[req] = res
		})
	}
	if len(c.queue) != 0 {
		t.Fatalf("proposals left before Process: %v", c.queue)
	}
	c.process(1)
	apps := 0
	for _, m := range c.queue {
		if m.Type == raft.MsgApp {
			apps++
			if len(m.Entries) != 5 {
				t.Fatalf("append to %d carries %d entries, want the batch of 5", m.To, len(m.Entries))
			}
		}
	}
	if apps != 2 {
		t.Fatalf("%d appends for one batch, want one per follower: %v", apps, c.queue)
	}
	c.settle()
	for req := uint64(2); req <= 6; req++ {
		if results[req].GetCode() != commandpb.ErrorCode_OK {
			t.Fatalf("request %d: result %v", req, results[req])
		}
	}
	for _, id := range c.ids {
		if _, err := c.reps[id].Machine().LookupUser("user6"); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}
}

// A command cancelled while it waits for the batch is never proposed, and its callback never
// runs; the rest of the batch is unaffected.
func TestBatchedProposalWithdrawn(t *testing.T) {
	c := newClusterWith(t, 3, 1000, batching)
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	cancel := c.reps[1].Propose(userCmd(2), func(*commandpb.Result, error) {
		t.Error("withdrawn proposal completed")
	})
	cancel()
	if res := c.propose(1, userCmd(3)); res.GetCode() != commandpb.ErrorCode_OK {
		t.Fatalf("request 3: %v", res)
	}
	for _, id := range c.ids {
		if _, err := c.reps[id].Machine().LookupUser("user2"); err == nil {
			t.Fatalf("node %d applied the withdrawn command", id)
		}
	}
}

// A batch Raft refuses fails as a whole, each command with Raft's error.
func TestBatchedProposalsFailTogether(t *testing.T) {
	c := newClusterWith(t, 3, 1000, batching)
	var errs []error
	for req := uint64(1); req <= 3; req++ {
		c.reps[1].Propose(userCmd(req), func(_ *commandpb.Result, err error) { errs = append(errs, err) })
	}
	c.process(1)
	if len(errs) != 3 {
		t.Fatalf("%d callbacks, want 3", len(errs))
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a proposal with no leader succeeded")
		}
	}
}

// With SnapshotLogRatio a snapshot also waits until the entries since the last one hold that
// fraction of its size in bytes, so a large state is not re-encoded every few entries.
func TestSnapshotWaitsForLogRatio(t *testing.T) {
	snapIndex := func(c *cluster) raft.Index {
		_, snap, _, _ := c.logs[1].Load()
		return snap.Metadata.Index
	}
	run := func(ratio float64) (first, last raft.Index) {
		c := newClusterWith(t, 3, 5, func(cfg *Config) { cfg.SnapshotLogRatio = ratio })
		c.elect(1)
		c.propose(1, bootstrapCmd(1))
		for i := uint64(2); i < 8; i++ {
			c.propose(1, userCmd(i))
		}
		first = snapIndex(c)
		for i := uint64(8); i < 40; i++ {
			c.propose(1, userCmd(i))
		}
		return first, snapIndex(c)
	}
	// Ratio 0: every 5 entries. The first snapshot comes at the count either way (nothing
	// to weigh it against yet).
	first0, last0 := run(0)
	firstR, lastR := run(100)
	if first0 == 0 || firstR == 0 {
		t.Fatalf("no first snapshot: ratio 0 at %d, ratio 100 at %d", first0, firstR)
	}
	if last0 <= first0 {
		t.Fatalf("ratio 0: no snapshot after %d in 32 more entries (last %d)", first0, last0)
	}
	// Ratio 100: 32 small entries are far less than 100 times the first snapshot's size.
	if lastR != firstR {
		t.Fatalf("ratio 100: snapshot moved from %d to %d although the log stayed small", firstR, lastR)
	}
}

// With ApplyBudgetBytes a Process call stops once it applied that many bytes of entries and
// Pending reports the rest; further calls apply it all, in order.
func TestApplyBudget(t *testing.T) {
	// One entry per Ready, so the budget has something to divide.
	c := newClusterWith(t, 3, 1000, func(cfg *Config) { cfg.MaxCommittedBytesPerReady = 1 })
	c.elect(1)
	c.propose(1, bootstrapCmd(1))
	// Node 3 replicates the next proposals but applies none, then catches up in one burst.
	lagging := c.reps[3]
	lagging.rn.PauseApply(true)
	for i := uint64(2); i < 40; i++ {
		c.propose(1, userCmd(i))
	}
	lagging.rn.PauseApply(false)
	lagging.cfg.ApplyBudgetBytes = 1 // at most one Ready's worth per call
	calls := 0
	for {
		before := lagging.Applied()
		if err := lagging.Process(); err != nil {
			t.Fatal(err)
		}
		if got := lagging.Applied() - before; got > 1 {
			t.Fatalf("one Process call applied %d entries with a one-byte budget", got)
		}
		calls++
		if got, want := lagging.PendingAfterProcess(), lagging.Pending(); got != want {
			t.Fatalf("after Process call %d: PendingAfterProcess %v, Pending %v", calls, got, want)
		}
		if !lagging.Pending() {
			break
		}
		if calls > 1000 {
			t.Fatal("Process never finished the backlog")
		}
	}
	if _, err := lagging.Machine().LookupUser("user39"); err != nil {
		t.Fatalf("after the backlog: %v", err)
	}
	if calls < 38 {
		t.Fatalf("38 entries took %d call(s) with a one-byte budget", calls)
	}
}
