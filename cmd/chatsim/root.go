package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftchat/raftchat/sim"
)

// Exit codes of the command-line contract.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// exitError carries an exit code out of a cobra command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func failed(format string, args ...any) error {
	return &exitError{code: exitFail, msg: fmt.Sprintf(format, args...)}
}

func usage(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			outln(stderr, "chatsim:", ee.msg)
		}
		return ee.code
	}
	outln(stderr, "chatsim:", err)
	return exitUsage // cobra's own errors are flag and argument mistakes
}

// scenario holds the flags shared by run, the root command and sweep.
type scenario struct {
	seed      uint64
	nodes     int
	clients   int
	duration  time.Duration
	liveness  time.Duration
	partition bool
	crash     bool
	skew      bool
	drop      float64
	dup       float64
	swarm     bool
	member    bool
	bug       string
}

func (s *scenario) register(fs *pflag.FlagSet, withSeed bool) {
	if withSeed {
		fs.Uint64Var(&s.seed, "seed", 1, "root seed of the run")
	}
	fs.IntVar(&s.nodes, "nodes", 5, "cluster size (swarm mode picks 3, 5 or 7)")
	fs.IntVar(&s.clients, "clients", 8, "simulated chat clients")
	fs.DurationVar(&s.duration, "duration", 60*time.Second, "simulated time of the fault phase")
	fs.DurationVar(&s.liveness, "liveness", 20*time.Second, "bound on the liveness phase after faults heal")
	fs.BoolVar(&s.partition, "partition", false, "network partitions (halves, isolate, ring, bridge; some asymmetric)")
	fs.BoolVar(&s.crash, "crash", false, "process crashes (losing unsynced writes) and pauses")
	fs.BoolVar(&s.skew, "skew", false, "clock skew, drift and jumps")
	fs.Float64Var(&s.drop, "drop", 0, "message drop probability")
	fs.Float64Var(&s.dup, "dup", 0, "message duplication probability")
	fs.BoolVar(&s.swarm, "swarm", false, "draw fault intensities and cluster size per seed")
	fs.BoolVar(&s.member, "membership", false, "membership changes: replace voters by fresh nodes, add and remove learners")
	fs.StringVar(&s.bug, "bug", "", "switch on a planted bug (see `chatsim bugs`)")
}

func (s *scenario) validate() error {
	switch {
	case s.nodes < 1 || s.nodes > 9:
		return usage("--nodes %d: want 1 to 9", s.nodes)
	case s.clients < 0 || s.clients > 1000:
		return usage("--clients %d: want 0 to 1000", s.clients)
	case s.duration <= 0 || s.liveness <= 0:
		return usage("--duration and --liveness must be positive")
	case s.drop < 0 || s.drop >= 1 || s.dup < 0 || s.dup >= 1:
		return usage("--drop and --dup are probabilities in [0, 1)")
	case s.bug != "" && !sim.ValidBug(s.bug):
		return usage("unknown --bug %q (see `chatsim bugs`)", s.bug)
	}
	return nil
}

func (s *scenario) genParams(seed uint64) sim.GenParams {
	return sim.GenParams{
		Seed: seed, Nodes: s.nodes, Clients: s.clients, DurationMs: s.duration.Milliseconds(),
		LivenessMs: s.liveness.Milliseconds(), Bug: s.bug,
		Flags: sim.Flags{Partition: s.partition, Crash: s.crash, Skew: s.skew, Drop: s.drop, Dup: s.dup, Swarm: s.swarm,
			Membership: s.member},
	}
}

func (s *scenario) options() sim.Options { return sim.Options{} }

// flagString renders the scenario's non-default flags, for replay commands.
func (s *scenario) flagString() string {
	var b []string
	if s.nodes != 5 {
		b = append(b, "--nodes "+strconv.Itoa(s.nodes))
	}
	if s.clients != 8 {
		b = append(b, "--clients "+strconv.Itoa(s.clients))
	}
	if s.duration != 60*time.Second {
		b = append(b, "--duration "+s.duration.String())
	}
	if s.liveness != 20*time.Second {
		b = append(b, "--liveness "+s.liveness.String())
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{s.partition, "--partition"}, {s.crash, "--crash"}, {s.skew, "--skew"}, {s.swarm, "--swarm"}, {s.member, "--membership"}} {
		if f.on {
			b = append(b, f.name)
		}
	}
	if s.drop > 0 {
		b = append(b, "--drop "+strconv.FormatFloat(s.drop, 'g', -1, 64))
	}
	if s.dup > 0 {
		b = append(b, "--dup "+strconv.FormatFloat(s.dup, 'g', -1, 64))
	}
	if s.bug != "" {
		b = append(b, "--bug "+s.bug)
	}
	return strings.Join(b, " ")
}

func (s *scenario) replayCommand(seed uint64) string {
	cmd := fmt.Sprintf("chatsim run --seed %d", seed)
	if f := s.flagString(); f != "" {
		cmd += " " + f
	}
	return cmd
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	ro := &runOpts{}
	root := &cobra.Command{
		Use:   "chatsim",
		Short: "Deterministic simulation testing of raftchat",
		Long: "chatsim runs the real Raft core and chat state machine in a seeded, single-threaded\n" +
			"simulated world with network, disk, clock and process faults, and checks Raft safety,\n" +
			"linearizability (Porcupine) and liveness. Without a subcommand it runs one scenario.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(*cobra.Command, []string) error { return ro.run(stdout, stderr) },
	}
	ro.register(root.Flags())
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage("%v", err) })
	root.AddCommand(newRunCmd(stdout, stderr), newSweepCmd(stdout, stderr), newBugsCmd(stdout),
		newReplayCmd(stdout, stderr), newShrinkCmd(stdout, stderr), newElectionCmd(stdout, stderr))
	return root
}

func newBugsCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "bugs",
		Short: "List the planted bugs that --bug accepts, one a line",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, b := range sim.BugNames() {
				outln(stdout, b)
			}
			return nil
		},
	}
}

// outf and outln write command output. A failed write to stdout or stderr has nowhere to be
// reported, so its error is deliberately dropped.
func outf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }

func outln(w io.Writer, args ...any) { _, _ = fmt.Fprintln(w, args...) }
