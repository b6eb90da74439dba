package sim

import "testing"

// TestConvCounts: the directory's per-conversation op counts, which the op pickers read
// instead of asking the Recorder, agree with the Recorder's at the end of a run.
func TestConvCounts(t *testing.T) {
	w, err := NewWorld(Generate(GenParams{Seed: 5, Nodes: 3, Clients: 6, DurationMs: 20_000, Flags: allFaults}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := w.Run()
	calls, _, _ := res.Recorder.Counts()
	total := 0
	for id, ci := range w.dir.convs {
		if got := w.rec.OpsIn(id); ci.ops != got {
			t.Errorf("conversation %s: directory counts %d ops, recorder %d", id, ci.ops, got)
		}
		total += ci.ops
	}
	if total != calls || calls == 0 {
		t.Fatalf("directory counts %d ops in all, recorder %d", total, calls)
	}
}

// TestNoRetryWithoutCause: in a run without faults, once the cluster has a leader, no op
// needs a second attempt. A timer left over from a finished op must not retry the next one
// (attempt numbers used to restart with every op, so a stale timeout could match).
func TestNoRetryWithoutCause(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		res, err := RunSchedule(Generate(GenParams{Seed: seed, Nodes: 5, Clients: 8, DurationMs: 30_000}), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Violations) > 0 {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
		for i, o := range res.Ops {
			if o.CallNs > 3_000_000_000 && o.Attempts > 1 {
				t.Errorf("seed %d: op %d (%s by client %d at %s) took %d attempts in a healthy cluster",
					seed, i, o.Kind, o.Client, fmtTime(o.CallNs), o.Attempts)
			}
		}
	}
}
