package election

import (
	"errors"
	"fmt"
	"time"
)

// Run runs cfg.Trials trials and summarises the time without a leader.
func Run(cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	outages := make([]time.Duration, 0, cfg.Trials)
	elections, capped, unstable := 0, 0, 0
	for k := 0; k < cfg.Trials; k++ {
		w, err := newWorld(cfg, trialSeed(cfg.Seed, k))
		if err != nil {
			return Result{}, err
		}
		d, n, err := w.run()
		if errors.Is(err, errUnstable) {
			// Counted as a capped outage: the cluster never had a leader to lose.
			unstable++
			d, err = cfg.MaxOutage, nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("trial %d: %w", k, err)
		}
		if d >= cfg.MaxOutage {
			capped++
		}
		outages = append(outages, d)
		elections += n
	}
	res := summarize(outages, elections)
	res.Capped, res.Unstable = capped, unstable
	return res, nil
}

// trialSeed derives trial k's seed from the root seed (SplitMix64 finalizer).
func trialSeed(root uint64, k int) uint64 {
	x := root ^ (uint64(k)+1)*0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Figure16 lists the election timeout ranges of the paper's Figure 16 (top graph) that
// `chatsim election` and the long test run.
var Figure16 = []struct{ Min, Max time.Duration }{
	{150 * time.Millisecond, 150 * time.Millisecond},
	{150 * time.Millisecond, 151 * time.Millisecond},
	{150 * time.Millisecond, 155 * time.Millisecond},
	{150 * time.Millisecond, 175 * time.Millisecond},
	{150 * time.Millisecond, 200 * time.Millisecond},
	{150 * time.Millisecond, 300 * time.Millisecond},
}
