package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftchat/raftchat/sim"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunJSONContract(t *testing.T) {
	code, out, errOut := runCLI("run", "--seed", "3", "--nodes", "3", "--clients", "3", "--duration", "5s",
		"--partition", "--crash", "--skew", "--drop", "0.05", "--dup", "0.01", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"seed", "nodes", "sim_seconds", "wall_seconds", "events", "ops_ok", "ops_failed",
		"ops_unknown", "acked_messages", "leader_changes", "crashes", "partitions", "linearizable",
		"invariants_ok", "liveness_ok", "violations", "trace_digest"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing JSON field %q", k)
		}
	}
	if m["seed"].(float64) != 3 || m["nodes"].(float64) != 3 || m["linearizable"] != true {
		t.Fatalf("unexpected result: %s", out)
	}
}

func TestRootCommandRunsOneScenario(t *testing.T) {
	code, out, errOut := runCLI("--seed", "2", "--partition", "--duration", "3s", "--clients", "2")
	if code != exitOK || !strings.HasPrefix(out, "PASS seed 2") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	if code, _, _ := runCLI("run", "--no-such-flag"); code != exitUsage {
		t.Fatalf("unknown flag: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCLI("run", "--bug", "NoSuchBug"); code != exitUsage {
		t.Fatalf("unknown bug: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCLI("sweep", "--seeds", "9-1"); code != exitUsage {
		t.Fatalf("bad seed range: exit %d, want %d", code, exitUsage)
	}
	code, _, errOut := runCLI("run", "--seed", "1", "--duration", "5s", "--bug", "ApplyBeforeCommit")
	if code != exitFail {
		t.Fatalf("planted bug: exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(errOut, "replay: chatsim run --seed 1 --duration 5s --bug ApplyBeforeCommit") {
		t.Fatalf("failure does not print its replay command:\n%s", errOut)
	}
}

func TestBugsListsKnobs(t *testing.T) {
	code, out, _ := runCLI("bugs")
	names := strings.Fields(out)
	if code != exitOK || len(names) < 10 {
		t.Fatalf("exit %d, %d bugs: %q", code, len(names), out)
	}
	for _, n := range names {
		if !sim.ValidBug(n) {
			t.Fatalf("listed bug %q is not accepted", n)
		}
	}
}

func TestSweepJSON(t *testing.T) {
	code, out, errOut := runCLI("sweep", "--seeds", "1-3", "--duration", "3s", "--clients", "2", "--crash", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m struct {
		Seeds           int      `json:"seeds"`
		FailedSeeds     []uint64 `json:"failed_seeds"`
		WallSeconds     *float64 `json:"wall_seconds"`
		SimSecondsTotal float64  `json:"sim_seconds_total"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if m.Seeds != 3 || m.FailedSeeds == nil || len(m.FailedSeeds) != 0 || m.WallSeconds == nil || m.SimSecondsTotal < 9 {
		t.Fatalf("unexpected sweep result %s", out)
	}
	if !strings.Contains(errOut, "sweep: 3/3 seeds") {
		t.Fatalf("no progress on stderr: %q", errOut)
	}
}

func TestFailureArtifactReplays(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "art")
	code, _, _ := runCLI("run", "--seed", "1", "--duration", "5s", "--bug", "ApplyBeforeCommit", "--out", dir)
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	for _, f := range []string{sim.ArtifactSchedule, sim.ArtifactTimeline, sim.ArtifactHTML} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := runCLI("replay", dir, "--json")
	if code != exitFail || !strings.Contains(out, `"invariants_ok":false`) {
		t.Fatalf("replay: exit %d, %s", code, out)
	}
}

func TestParseSeeds(t *testing.T) {
	got, err := parseSeeds("1-3,7,10-11")
	if err != nil || len(got) != 6 || got[3] != 7 || got[5] != 11 {
		t.Fatalf("parseSeeds = %v, %v", got, err)
	}
	for _, bad := range []string{"", "a", "5-2", "1-x"} {
		if _, err := parseSeeds(bad); err == nil {
			t.Errorf("parseSeeds(%q) accepted", bad)
		}
	}
}

func TestShrinkWritesReplayableSchedule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shrunk")
	code, out, errOut := runCLI("shrink", "--seed", "1", "--duration", "5s", "--clients", "3", "--crash",
		"--bug", "ApplyBeforeCommit", "--max-runs", "30", "--out", dir)
	if code != exitOK || !strings.Contains(out, "shrunk seed 1: faults") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if code, _, _ := runCLI("replay", dir); code != exitFail {
		t.Fatalf("replaying the shrunk schedule: exit %d, want %d", code, exitFail)
	}
}

func TestSweepMembership(t *testing.T) {
	code, out, errOut := runCLI("sweep", "--seeds", "1-3", "--duration", "15s", "--membership", "--crash", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sum sweepResult
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if sum.Probes[sim.ProbeMembershipApplied] == 0 {
		t.Fatalf("no membership change applied: %s", out)
	}
	s := scenario{nodes: 5, clients: 8, duration: 60e9, liveness: 20e9, member: true}
	if got := s.replayCommand(4); got != "chatsim run --seed 4 --membership" {
		t.Fatalf("replay command %q", got)
	}
}

// A sweep keeps only each run's summary: holding every run's schedule, timelines and history
// until the end made a 7,000-seed sweep run out of memory.
func TestSweepKeepsSummariesOnly(t *testing.T) {
	o := &sweepOpts{workers: 2}
	o.nodes, o.clients, o.duration, o.liveness = 3, 2, 2*time.Second, 10*time.Second
	out := o.runAll([]uint64{1, 2, 3}, io.Discard)
	for _, r := range out {
		if r.err != nil || r.res == nil {
			t.Fatalf("seed %d: %v", r.seed, r.err)
		}
		if r.res.Recorder != nil || r.res.Timelines != nil || r.res.Ops != nil || len(r.res.Schedule.Events) > 0 {
			t.Fatalf("seed %d: the sweep kept the whole run", r.seed)
		}
		if r.res.Events == 0 || r.res.SimSeconds < 2 {
			t.Fatalf("seed %d: summary lost: %+v", r.seed, r.res)
		}
	}
}
