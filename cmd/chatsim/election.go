package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/sim/election"
)

// electionJSON is the `chatsim election --json` contract.
type electionJSON struct {
	Trials    int     `json:"trials"`
	MedianMs  float64 `json:"median_ms"`
	MeanMs    float64 `json:"mean_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	MinMs     float64 `json:"min_ms"`
	Capped    int     `json:"capped"`
	Elections float64 `json:"elections"`
}

func newElectionCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		cfg     election.Config
		timeout string
		asJSON  bool
		svg     string
	)
	c := &cobra.Command{
		Use:   "election",
		Short: "Repeat the Raft paper's §9.3 election experiment (time without a leader after a crash)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			lo, hi, err := election.ParseRange(timeout)
			if err != nil {
				return usage("--election-timeout: %v", err)
			}
			cfg.TimeoutMin, cfg.TimeoutMax = lo, hi
			start := time.Now()
			res, err := election.Run(cfg)
			if err != nil {
				return usage("%v", err)
			}
			if svg != "" {
				if err := writeElectionSVG(svg, timeout, res); err != nil {
					return failed("%v", err)
				}
				outf(stderr, "CDF plot written to %s\n", svg)
			}
			out := electionJSON{Trials: res.Trials, MedianMs: res.MedianMs, MeanMs: res.MeanMs, P99Ms: res.P99Ms,
				MaxMs: res.MaxMs, MinMs: res.MinMs, Capped: res.Capped, Elections: res.Elections}
			if asJSON {
				b, _ := json.Marshal(out)
				outln(stdout, string(b))
				return nil
			}
			outf(stdout, "%d trials, election timeout %s: time without leader median %.1f ms, mean %.1f ms, p99 %.1f ms, max %.1f ms (%.2f elections per trial, %.1fs wall)\n",
				res.Trials, timeout, res.MedianMs, res.MeanMs, res.P99Ms, res.MaxMs, res.Elections, time.Since(start).Seconds())
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&cfg.Trials, "trials", 1000, "number of trials")
	f.IntVar(&cfg.Nodes, "nodes", 5, "cluster size")
	f.Uint64Var(&cfg.Seed, "seed", 1, "root seed")
	f.StringVar(&timeout, "election-timeout", "150ms-300ms", "election timeout range, e.g. 150ms-300ms")
	f.BoolVar(&asJSON, "json", false, "print the distribution as one JSON object")
	f.StringVar(&svg, "svg", "", "also write the CDF as an SVG plot to this file")
	return c
}

func writeElectionSVG(path, label string, res election.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	plot := election.Plot{Series: []election.Series{{Label: label, Points: res.CDF}}, LogX: true}
	if err := election.WriteSVG(f, plot); err != nil {
		_ = f.Close() // the write error is the one worth reporting
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
