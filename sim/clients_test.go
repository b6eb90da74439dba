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
