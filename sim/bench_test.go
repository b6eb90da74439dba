package sim

import (
	"os"
	"runtime/debug"
	"syscall"
	"testing"
)

// cpuNs is the process's user and system CPU time so far: under a shared machine it drifts
// less than wall time.
func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchRun(b *testing.B, flags Flags, opts Options) {
	// Measure the engine as chatsim runs it (cmd/chatsim sets the same GC percent); run with
	// GOGC set to measure another setting.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	}
	simNs := 0.0
	cpu0 := cpuNs()
	for i := 0; i < b.N; i++ {
		s := Generate(GenParams{Seed: uint64(i + 1), Nodes: 5, Clients: 8, DurationMs: 60_000, Flags: flags})
		res, err := RunSchedule(s, opts)
		if err != nil {
			b.Fatal(err)
		}
		simNs += res.SimSeconds * 1e9
	}
	b.ReportMetric(simNs/float64(b.Elapsed().Nanoseconds()), "sim_s/wall_s")
	b.ReportMetric(simNs/float64(cpuNs()-cpu0), "sim_s/cpu_s")
}

// BenchmarkRun5x8 measures one 60 s run of 5 nodes and 8 clients without faults; the
// sim_s/wall_s metric is the speed-up over real time.
func BenchmarkRun5x8(b *testing.B) { benchRun(b, Flags{}, Options{}) }

// BenchmarkRun5x8Faults is the same with every fault class on.
func BenchmarkRun5x8Faults(b *testing.B) {
	benchRun(b, Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02}, Options{})
}

// BenchmarkRun5x8NoChecks leaves out the per-event Raft checks, to show their cost.
func BenchmarkRun5x8NoChecks(b *testing.B) { benchRun(b, Flags{}, Options{NoChecks: true}) }
