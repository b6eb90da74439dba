package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftchat/raftchat/sim"
)

// runOpts are the flags of `chatsim run` (and of the root command).
type runOpts struct {
	scenario
	json bool
	out  string
}

func (o *runOpts) register(fs *pflag.FlagSet) {
	o.scenario.register(fs, true)
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.StringVar(&o.out, "out", "", "write an artifact folder here (schedule, timeline, Porcupine HTML)")
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &runOpts{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Run one seeded scenario and check it",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return o.run(stdout, stderr) },
	}
	o.register(c.Flags())
	return c
}

func (o *runOpts) run(stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	sched := sim.Generate(o.genParams(o.seed))
	return runAndReport(sched, o.options(), o.json, o.out, o.replayCommand(o.seed), stdout, stderr)
}

// runAndReport runs one schedule, prints its result and, on failure, how to replay it.
func runAndReport(sched sim.Schedule, opts sim.Options, asJSON bool, out, replay string, stdout, stderr io.Writer) error {
	start := time.Now()
	res, err := sim.RunSchedule(sched, opts)
	if err != nil {
		return usage("%v", err)
	}
	res.WallSeconds = time.Since(start).Seconds()
	if asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		outln(stdout, string(b))
	} else {
		printSummary(stdout, res)
	}
	if out != "" {
		if err := sim.WriteArtifact(out, res, replay); err != nil {
			return failed("%v", err)
		}
		outf(stderr, "artifact written to %s\n", out)
	}
	if !res.OK() {
		outf(stderr, "FAILED seed %d\nreplay: %s\n", res.Seed, replay)
		for _, v := range res.Violations {
			outf(stderr, "  %s\n", v)
		}
		return &exitError{code: exitFail}
	}
	return nil
}

func printSummary(w io.Writer, r *sim.Result) {
	status := "PASS"
	if !r.OK() {
		status = "FAIL"
	}
	outf(w, "%s seed %d: %d nodes, %.1f simulated s in %.2f wall s (%.0fx), %d events\n",
		status, r.Seed, r.Nodes, r.SimSeconds, r.WallSeconds, r.SimSeconds/max(r.WallSeconds, 1e-9), r.Events)
	outf(w, "  ops: %d ok, %d failed, %d unknown; %d acknowledged messages\n",
		r.OpsOK, r.OpsFailed, r.OpsUnknown, r.AckedMessages)
	s := r.Stats
	outf(w, "  faults: %d partitions, %d crashes, %d pauses, %d clock jumps; %d leader changes, %d snapshots installed\n",
		r.Partitions, r.Crashes, s.Pauses, s.ClockJumps, r.LeaderChanges, s.Snapshots)
	outf(w, "  network: %d sent, %d dropped, %d duplicated, %d cut by partitions\n",
		s.MsgsSent, s.MsgsDropped, s.MsgsDup, s.MsgsCut)
	outf(w, "  checks: invariants %v, linearizable %v, liveness %v\n", r.InvariantsOK, r.Linearizable, r.LivenessOK)
	outf(w, "  trace digest %s\n", r.TraceDigest)
}
