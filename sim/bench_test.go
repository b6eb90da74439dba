package sim

import "testing"

func benchRun(b *testing.B, flags Flags, opts Options) {
	simNs := 0.0
	for i := 0; i < b.N; i++ {
		s := Generate(GenParams{Seed: uint64(i + 1), Nodes: 5, Clients: 8, DurationMs: 60_000, Flags: flags})
		res, err := RunSchedule(s, opts)
		if err != nil {
			b.Fatal(err)
		}
		simNs += res.SimSeconds * 1e9
	}
	b.ReportMetric(simNs/float64(b.Elapsed().Nanoseconds()), "sim_s/wall_s")
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
