package shrink

import (
	"errors"
	"slices"
	"testing"
)

func contains(xs []int, want ...int) bool {
	for _, w := range want {
		if !slices.Contains(xs, w) {
			return false
		}
	}
	return true
}

func TestMinimizeFindsTheCulprits(t *testing.T) {
	cases := []struct {
		name  string
		n     int
		needs []int
	}{
		{"one culprit", 100, []int{37}},
		{"two far apart", 200, []int{3, 190}},
		{"three adjacent", 64, []int{20, 21, 22}},
		{"first and last", 10, []int{0, 9}},
		{"nothing needed", 50, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items := make([]int, tc.n)
			for i := range items {
				items[i] = i
			}
			calls := 0
			got, runs := Minimize(items, func(xs []int) bool { calls++; return contains(xs, tc.needs...) }, 0)
			if !slices.Equal(got, tc.needs) && (len(got) != 0 || len(tc.needs) != 0) {
				t.Fatalf("got %v, want %v", got, tc.needs)
			}
			if runs != calls || runs > 200 {
				t.Fatalf("runs %d, calls %d", runs, calls)
			}
		})
	}
}

func TestMinimizeIsOneMinimal(t *testing.T) {
	// Fails when the sum of kept items is at least 10: many minimal answers exist, and the
	// result must be one from which no single item can be removed.
	items := []int{1, 2, 3, 1, 4, 1, 5, 2, 6, 1}
	fails := func(xs []int) bool {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s >= 10
	}
	got, _ := Minimize(items, fails, 0)
	if !fails(got) {
		t.Fatalf("result %v does not fail", got)
	}
	for i := range got {
		if fails(slices.Delete(slices.Clone(got), i, i+1)) {
			t.Fatalf("result %v is not 1-minimal: item %d can go", got, i)
		}
	}
}

type fault struct{ at, kind int }

func TestShrinkScheduleBothLists(t *testing.T) {
	var s Schedule[fault, string]
	for i := 0; i < 30; i++ {
		s.Faults = append(s.Faults, fault{at: i * 10, kind: i % 4})
	}
	for i := 0; i < 80; i++ {
		s.Ops = append(s.Ops, string(rune('a'+i%26)))
	}
	// The failure needs a kind-3 fault after t=100 and a "q" operation.
	fails := func(s Schedule[fault, string]) bool {
		ok := false
		for _, f := range s.Faults {
			ok = ok || (f.kind == 3 && f.at > 100)
		}
		return ok && slices.Contains(s.Ops, "q")
	}
	got, rep, err := Shrink(s, fails, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Faults) != 1 || len(got.Ops) != 1 || got.Ops[0] != "q" || !fails(got) {
		t.Fatalf("got %+v", got)
	}
	if rep.FaultsBefore != 30 || rep.FaultsAfter != 1 || rep.OpsBefore != 80 || rep.OpsAfter != 1 || rep.Exhausted {
		t.Fatalf("report %+v", rep)
	}
	if rep.String() == "" {
		t.Fatal("empty report string")
	}
}

func TestShrinkBudgetAndNonFailing(t *testing.T) {
	s := Schedule[int, int]{Faults: []int{1, 2, 3, 4, 5, 6, 7, 8}, Ops: []int{1, 2, 3}}
	if _, _, err := Shrink(s, func(Schedule[int, int]) bool { return false }, Options{}); !errors.Is(err, ErrDoesNotFail) {
		t.Fatalf("err = %v, want ErrDoesNotFail", err)
	}
	calls := 0
	got, rep, err := Shrink(s, func(x Schedule[int, int]) bool { calls++; return contains(x.Faults, 8) }, Options{MaxRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || rep.Runs != 3 || !rep.Exhausted || !contains(got.Faults, 8) {
		t.Fatalf("calls %d, report %+v, got %+v", calls, rep, got)
	}
}
