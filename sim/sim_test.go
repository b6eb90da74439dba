package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var allFaults = Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02}

func runQuick(t *testing.T, p GenParams) *Result {
	t.Helper()
	res, err := RunSchedule(Generate(p), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunNoFaults(t *testing.T) {
	res := runQuick(t, GenParams{Seed: 1, Nodes: 3, Clients: 4, DurationMs: 10_000})
	if !res.OK() {
		t.Fatalf("violations: %v", res.Violations)
	}
	if res.OpsOK < 50 || res.AckedMessages < 10 {
		t.Fatalf("too little work done: %d ok ops, %d messages", res.OpsOK, res.AckedMessages)
	}
	if res.OpsUnknown != 0 {
		t.Fatalf("%d ops with unknown outcome in a fault-free run", res.OpsUnknown)
	}
}

// TestDeterminism: one seed twice gives the same trace digest; another seed does not; a
// schedule saved to JSON and replayed gives the same digest again.
func TestDeterminism(t *testing.T) {
	p := GenParams{Seed: 42, Nodes: 5, Clients: 6, DurationMs: 15_000, Flags: allFaults}
	a, b := runQuick(t, p), runQuick(t, p)
	if a.TraceDigest != b.TraceDigest || a.Events != b.Events || a.OpsOK != b.OpsOK {
		t.Fatalf("same seed, different runs: %s/%d/%d vs %s/%d/%d",
			a.TraceDigest, a.Events, a.OpsOK, b.TraceDigest, b.Events, b.OpsOK)
	}
	p.Seed = 43
	if c := runQuick(t, p); c.TraceDigest == a.TraceDigest {
		t.Fatalf("seeds 42 and 43 gave the same digest %s", a.TraceDigest)
	}
	p.Seed = 42
	replayFromFile(t, p, a.TraceDigest)
}

// replayFromFile writes the schedule p generates to a file, loads it back, runs it and
// requires the given trace digest: a saved schedule replays bit for bit.
func replayFromFile(t *testing.T, p GenParams, digest string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "schedule.json")
	if err := WriteSchedule(path, Generate(p)); err != nil {
		t.Fatal(err)
	}
	s, err := LoadArtifact(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunSchedule(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.TraceDigest != digest {
		t.Fatalf("replayed schedule digest %s, original %s", r.TraceDigest, digest)
	}
}

// TestShortSweep runs a few hundred seeds with every fault class in swarm mode (about half a
// minute); every one must pass all checks. CHATSIM_SWEEP_SEEDS changes the count; `make
// sim-soak` runs the long sweep through chatsim itself.
func TestShortSweep(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 4
	}
	if v := os.Getenv("CHATSIM_SWEEP_SEEDS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			t.Fatalf("CHATSIM_SWEEP_SEEDS=%q: %v", v, err)
		}
	}
	flags := allFaults
	flags.Swarm = true
	var faults, leaderChanges int
	for seed := uint64(1); seed <= uint64(n); seed++ {
		res := runQuick(t, GenParams{Seed: seed, Nodes: 5, Clients: 8, DurationMs: 20_000, Flags: flags})
		if !res.OK() {
			t.Errorf("seed %d failed: %v\nreplay: chatsim run --seed %d --duration 20s --partition --crash --skew --drop 0.05 --dup 0.02 --swarm",
				seed, res.Violations, seed)
		}
		faults += res.Crashes + res.Partitions + res.Stats.Pauses + res.Stats.ClockJumps
		leaderChanges += res.LeaderChanges
	}
	if faults < n || leaderChanges <= n {
		t.Fatalf("the sweep injected too few faults (%d) or leader changes (%d) to mean anything", faults, leaderChanges)
	}
}

func TestArtifact(t *testing.T) {
	res := runQuick(t, GenParams{Seed: 5, Nodes: 3, Clients: 3, DurationMs: 5_000, Flags: allFaults})
	dir := t.TempDir()
	if err := WriteArtifact(dir, res, "chatsim run --seed 5"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ArtifactSchedule, ArtifactResult, ArtifactTimeline, ArtifactOps, ArtifactHTML, ArtifactReadme} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("artifact file %s missing or empty: %v", f, err)
		}
	}
	s, err := LoadArtifact(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := RunSchedule(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.TraceDigest != res.TraceDigest {
		t.Fatalf("artifact replay digest %s, original %s", again.TraceDigest, res.TraceDigest)
	}
}
