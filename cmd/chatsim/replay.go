package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/sim"
	"github.com/raftchat/raftchat/sim/shrink"
)

func newReplayCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		asJSON   bool
		out      string
		liveness = sim.Options{}
	)
	c := &cobra.Command{
		Use:   "replay ARTIFACT",
		Short: "Replay a saved failure (artifact folder) or a shrunk schedule file",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sched, err := sim.LoadArtifact(args[0])
			if err != nil {
				return usage("%v", err)
			}
			return runAndReport(sched, liveness, asJSON, out, "chatsim replay "+args[0], stdout, stderr)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	c.Flags().StringVar(&out, "out", "", "write an artifact folder of the replay")
	return c
}

func newShrinkCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &scenario{}
	var (
		out     string
		maxRuns int
	)
	c := &cobra.Command{
		Use:   "shrink",
		Short: "Find a minimal fault schedule and workload that still fail",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runShrink(o, out, maxRuns, stdout, stderr)
		},
	}
	o.register(c.Flags(), true)
	c.Flags().StringVar(&out, "out", "", "folder for the shrunk artifact (default chatsim-shrunk-SEED)")
	c.Flags().IntVar(&maxRuns, "max-runs", 300, "bound on the simulations the search may run")
	return c
}

func runShrink(o *scenario, out string, maxRuns int, stdout, stderr io.Writer) error {
	full := sim.Generate(o.genParams(o.seed))
	fails := func(s shrink.Schedule[sim.FaultEvent, sim.ClientOp]) bool {
		sched := full
		sched.Events, sched.Ops = s.Faults, s.Ops
		res, err := sim.RunSchedule(sched, o.options())
		return err == nil && !res.OK()
	}
	small, rep, err := shrink.Shrink(shrink.Schedule[sim.FaultEvent, sim.ClientOp]{Faults: full.Events, Ops: full.Ops},
		fails, shrink.Options{MaxRuns: maxRuns})
	if err != nil {
		return failed("seed %d: %v", o.seed, err)
	}
	sched := full
	sched.Events, sched.Ops = small.Faults, small.Ops
	res, err := sim.RunSchedule(sched, o.options())
	if err != nil {
		return failed("%v", err)
	}
	if out == "" {
		out = fmt.Sprintf("chatsim-shrunk-%d", o.seed)
	}
	replay := "chatsim replay " + out
	if err := sim.WriteArtifact(out, res, replay); err != nil {
		return failed("%v", err)
	}
	outf(stdout, "shrunk seed %d: %s\n", o.seed, rep)
	outf(stdout, "schedule: %s\nreplay: %s\n", filepath.Join(out, sim.ArtifactSchedule), replay)
	for _, v := range res.Violations {
		outf(stdout, "  %s\n", v)
	}
	return nil
}
