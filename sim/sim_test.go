package sim

import (
	"testing"
)

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
	t.Logf("%+v", *res)
	if !res.OK() {
		t.Fatalf("violations: %v", res.Violations)
	}
	if res.OpsOK < 50 || res.AckedMessages < 10 {
		t.Fatalf("too little work done: %d ok ops, %d messages", res.OpsOK, res.AckedMessages)
	}
}
