// Package shrink minimizes a failing simulation: it drops fault events and client operations
// while the failure persists, delta-debugging style (Zeller's ddmin, complement removal), and
// reports the sizes before and after.
//
// It knows nothing of the simulator. A failing run is a Schedule of two lists (faults and
// client operations, of whatever types the simulator uses) and a predicate that replays a
// schedule and says whether it still fails:
//
//	small, rep, err := shrink.Shrink(shrink.Schedule[sim.Fault, sim.ClientOp]{Faults: f, Ops: o},
//		func(s shrink.Schedule[sim.Fault, sim.ClientOp]) bool { return !runWith(seed, s).OK },
//		shrink.Options{MaxRuns: 300})
//	fmt.Println(rep)   // faults 14 -> 2, ops 380 -> 11 (97 runs)
//
// The predicate must be deterministic (same schedule, same verdict) and should treat a
// different failure as a failure too (or check for the same violation, if that matters).
// Order within each list is kept; the simulator must accept any subsequence of its lists.
package shrink

import (
	"errors"
	"fmt"
)

// Schedule is a failing run as data: timed fault events and client operations.
type Schedule[F, O any] struct {
	Faults []F
	Ops    []O
}

// Options bound the search. Zero fields take the defaults.
type Options struct {
	// MaxRuns caps how many times the predicate is called. Default 500.
	MaxRuns int
}

// Report says what shrinking achieved.
type Report struct {
	FaultsBefore, FaultsAfter int
	OpsBefore, OpsAfter       int
	// Runs is the number of predicate calls, including the first check of the input.
	Runs int
	// Exhausted is true when MaxRuns stopped the search before it reached a fixed point.
	Exhausted bool
}

func (r Report) String() string {
	s := fmt.Sprintf("faults %d -> %d, ops %d -> %d (%d runs)", r.FaultsBefore, r.FaultsAfter, r.OpsBefore, r.OpsAfter, r.Runs)
	if r.Exhausted {
		s += ", run budget exhausted"
	}
	return s
}

// ErrDoesNotFail is returned when the input schedule does not fail to begin with.
var ErrDoesNotFail = errors.New("shrink: the schedule does not fail")

// Shrink returns a smaller schedule on which fails still holds. It alternates between
// minimizing the faults and the operations until neither shrinks further or the run
// budget is spent.
func Shrink[F, O any](s Schedule[F, O], fails func(Schedule[F, O]) bool, opts Options) (Schedule[F, O], Report, error) {
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = 500
	}
	rep := Report{FaultsBefore: len(s.Faults), OpsBefore: len(s.Ops)}
	b := &budget{left: opts.MaxRuns}
	if !b.try(func() bool { return fails(s) }) {
		rep.Runs = b.used
		return s, rep, ErrDoesNotFail
	}
	for {
		nf, no := len(s.Faults), len(s.Ops)
		s.Faults = minimize(s.Faults, func(f []F) bool { return fails(Schedule[F, O]{Faults: f, Ops: s.Ops}) }, b)
		s.Ops = minimize(s.Ops, func(o []O) bool { return fails(Schedule[F, O]{Faults: s.Faults, Ops: o}) }, b)
		if b.out || (len(s.Faults) == nf && len(s.Ops) == no) {
			break
		}
	}
	rep.FaultsAfter, rep.OpsAfter, rep.Runs, rep.Exhausted = len(s.Faults), len(s.Ops), b.used, b.out
	return s, rep, nil
}

// Minimize returns a subsequence of items on which fails still holds, trying at most
// maxRuns predicate calls (0 means 500). fails(items) is assumed true and is not re-checked.
// With enough budget the result is 1-minimal: removing any single item makes it pass.
func Minimize[T any](items []T, fails func([]T) bool, maxRuns int) (out []T, runs int) {
	if maxRuns <= 0 {
		maxRuns = 500
	}
	b := &budget{left: maxRuns}
	return minimize(items, fails, b), b.used
}

// budget counts predicate calls across the whole search.
type budget struct {
	left, used int
	out        bool
}

func (b *budget) try(f func() bool) bool {
	if b.left == 0 {
		b.out = true
		return false
	}
	b.left--
	b.used++
	return f()
}

// minimize is ddmin with complement removal: split into n chunks, and keep the first
// complement (items minus one chunk) that still fails; on no progress, split finer.
func minimize[T any](items []T, fails func([]T) bool, b *budget) []T {
	n := 2
	for len(items) > 0 && !b.out {
		if len(items) == 1 {
			// Drop the last one if the failure does not need it.
			if b.try(func() bool { return fails(nil) }) {
				return nil
			}
			return items
		}
		n = min(n, len(items))
		reduced := false
		for k := 0; k < n && !b.out; k++ {
			lo, hi := k*len(items)/n, (k+1)*len(items)/n
			rest := make([]T, 0, len(items)-(hi-lo))
			rest = append(append(rest, items[:lo]...), items[hi:]...)
			if b.try(func() bool { return fails(rest) }) {
				items, reduced = rest, true
				n = max(n-1, 2)
				break
			}
		}
		if reduced {
			continue
		}
		if n >= len(items) {
			break
		}
		n = min(2*n, len(items))
	}
	return items
}
