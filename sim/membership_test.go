package sim

import (
	"strings"
	"testing"
)

var membershipFaults = Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02, Membership: true}

// TestMembershipSweep runs membership changes under every other fault class: every seed
// must pass, and the membership probes must fire (the sweep would otherwise prove little).
func TestMembershipSweep(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 4
	}
	probes := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		res := runQuick(t, GenParams{Seed: seed, Nodes: 5, Clients: 8, DurationMs: 20_000, Flags: membershipFaults})
		if !res.OK() {
			t.Errorf("seed %d failed: %v\nreplay: chatsim run --seed %d --duration 20s --partition --crash --skew --membership --drop 0.05 --dup 0.02",
				seed, res.Violations, seed)
		}
		for k, v := range res.Probes {
			probes[k] += v
		}
	}
	if testing.Short() {
		return
	}
	for _, p := range []string{ProbeMembershipApplied, ProbeLeaderRemoved, ProbeJoinerBySnapshot,
		ProbeConfRefusedPending, ProbeLearnerPromoted, ProbeMemberReplaced} {
		if probes[p] == 0 {
			t.Errorf("probe %s never fired in %d seeds", p, n)
		}
	}
}

// TestMembershipDeterminism: with membership changes too, one seed twice gives the same
// trace digest, and so does its schedule saved to JSON and replayed.
func TestMembershipDeterminism(t *testing.T) {
	p := GenParams{Seed: 7, Nodes: 5, Clients: 6, DurationMs: 20_000, Flags: membershipFaults}
	a, b := runQuick(t, p), runQuick(t, p)
	if a.TraceDigest != b.TraceDigest || a.Events != b.Events || a.OpsOK != b.OpsOK {
		t.Fatalf("same seed, different runs: %s/%d/%d vs %s/%d/%d",
			a.TraceDigest, a.Events, a.OpsOK, b.TraceDigest, b.Events, b.OpsOK)
	}
	if a.Probes[ProbeMembershipApplied] == 0 {
		t.Fatal("no membership change applied: pick another seed")
	}
	p.Flags.Membership = false
	if c := runQuick(t, p); c.TraceDigest == a.TraceDigest {
		t.Fatal("--membership did not change the run")
	}
	p.Flags.Membership = true
	replayFromFile(t, p, a.TraceDigest)
}

// TestMembershipFromScheduleJSON: a membership operation written into a schedule by hand
// (no --membership flag) runs too.
func TestMembershipFromScheduleJSON(t *testing.T) {
	s := Generate(GenParams{Seed: 3, Nodes: 3, Clients: 4, DurationMs: 10_000})
	s.Events = append(s.Events, FaultEvent{AtUs: 2_000_000, Kind: FaultReplace, Target: "leader", Members: true},
		FaultEvent{AtUs: 6_000_000, Kind: FaultAddLearner, Members: true})
	res, err := RunSchedule(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("violations: %v", res.Violations)
	}
	if res.Probes[ProbeMemberReplaced] != 1 || res.Probes[ProbeLeaderRemoved] != 1 || res.Probes[ProbeMembershipApplied] != 4 {
		t.Fatalf("probes %v: want one replacement of the leader and four changes", res.Probes)
	}
}

// TestMembershipCatchesPlantedBug: a leader that accepts a second change before the first is
// applied makes a configuration that undoes the first, which the configuration check
// reports (sim/bugs pins the same case).
func TestMembershipCatchesPlantedBug(t *testing.T) {
	p := GenParams{Seed: 3, Nodes: 5, Clients: 8, DurationMs: 20_000, Flags: membershipFaults,
		Bug: "AcceptConfChangeWhilePending"}
	res := runQuick(t, p)
	if res.OK() || res.InvariantsOK || !strings.Contains(strings.Join(res.Violations, "\n"), "configuration safety") {
		t.Fatalf("planted bug not caught by the configuration check: %v", res.Violations)
	}
}
