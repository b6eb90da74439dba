// Package bugs shows that the simulator catches every planted bug: for each bug it finds a
// seed in 1..200 whose run fails with the bug switched on and passes with it off.
//
// Table pins, per bug, the fault flags and the seed found last time, so the test normally
// costs two runs per bug. When a pinned seed stops failing (the harness or the workload
// changed), Find scans the seeds again and the test reports the seed to pin instead.
// `RAFTCHAT_BUGS_SEARCH=1 go test -tags invariants -run TestSearch ./sim/bugs/ -v` rescans every
// bug from seed 1 and prints a fresh table.
package bugs

import (
	"fmt"
	"strings"

	"github.com/raftchat/raftchat/sim"
)

// MaxSeed is the highest seed Find tries (the acceptance criterion: a seed in 1..200).
const MaxSeed = 200

// Case is one planted bug and how to catch it.
type Case struct {
	Bug string
	// Params are the run parameters (Seed and Bug are filled in per run).
	Params sim.GenParams
	// Seed is the pinned seed, 0 if none yet.
	Seed uint64
}

// Verdict is the outcome of trying one seed.
type Verdict struct {
	Seed uint64
	// On and Off are the runs with the bug switched on and off.
	On, Off *sim.Result
}

// Caught reports whether the seed exposes the bug: the run fails with it and passes without.
func (v Verdict) Caught() bool { return v.On != nil && v.Off != nil && !v.On.OK() && v.Off.OK() }

// Try runs c's parameters with seed, bug on and off. The bug-off run is skipped when the
// bug-on run passes (it cannot matter).
func Try(c Case, seed uint64) (Verdict, error) {
	v := Verdict{Seed: seed}
	p := c.Params
	p.Seed, p.Bug = seed, c.Bug
	on, err := sim.RunSchedule(sim.Generate(p), sim.Options{})
	if err != nil {
		return v, fmt.Errorf("run seed %d with bug %s: %w", seed, c.Bug, err)
	}
	v.On = on
	if on.OK() {
		return v, nil
	}
	p.Bug = ""
	off, err := sim.RunSchedule(sim.Generate(p), sim.Options{})
	if err != nil {
		return v, fmt.Errorf("run seed %d without bug: %w", seed, err)
	}
	v.Off = off
	return v, nil
}

// Find returns the first seed in from..MaxSeed that catches c's bug; ok is false if none does.
func Find(c Case, from uint64) (v Verdict, ok bool, err error) {
	for seed := max(from, 1); seed <= MaxSeed; seed++ {
		v, err := Try(c, seed)
		if err != nil {
			return v, false, err
		}
		if v.Caught() {
			return v, true, nil
		}
	}
	return Verdict{}, false, nil
}

// ReplayCommand is the chatsim command line that replays c's bug on seed.
func ReplayCommand(c Case, seed uint64) string {
	p := c.Params
	args := []string{"chatsim", "run", "--seed", fmt.Sprint(seed)}
	if p.Nodes > 0 {
		args = append(args, "--nodes", fmt.Sprint(p.Nodes))
	}
	if p.Clients > 0 {
		args = append(args, "--clients", fmt.Sprint(p.Clients))
	}
	if p.DurationMs > 0 {
		d := fmt.Sprintf("%dms", p.DurationMs)
		if p.DurationMs%1000 == 0 {
			d = fmt.Sprintf("%ds", p.DurationMs/1000)
		}
		args = append(args, "--duration", d)
	}
	if p.LivenessMs > 0 && p.LivenessMs != 20_000 {
		args = append(args, "--liveness", fmt.Sprintf("%dms", p.LivenessMs))
	}
	f := p.Flags
	for _, b := range []struct {
		on   bool
		flag string
	}{{f.Partition, "--partition"}, {f.Crash, "--crash"}, {f.Skew, "--skew"}, {f.Swarm, "--swarm"}, {f.Membership, "--membership"}} {
		if b.on {
			args = append(args, b.flag)
		}
	}
	if f.Drop > 0 {
		args = append(args, "--drop", fmt.Sprint(f.Drop))
	}
	if f.Dup > 0 {
		args = append(args, "--dup", fmt.Sprint(f.Dup))
	}
	args = append(args, "--bug", c.Bug)
	return strings.Join(args, " ")
}

// FirstViolation returns the first violation of r, or "" if none.
func FirstViolation(r *sim.Result) string {
	if r == nil || len(r.Violations) == 0 {
		return ""
	}
	return r.Violations[0]
}
