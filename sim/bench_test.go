package sim

import "testing"

// BenchmarkRun measures one 60 s run of 5 nodes and 8 clients with every fault class; the
// reported sim_s/wall_s is the simulation speed-up over real time.
func BenchmarkRun(b *testing.B) {
	flags := Flags{Partition: true, Crash: true, Skew: true, Drop: 0.05, Dup: 0.02}
	simNs := 0.0
	for i := 0; i < b.N; i++ {
		s := Generate(GenParams{Seed: uint64(i + 1), Nodes: 5, Clients: 8, DurationMs: 60_000, Flags: flags})
		res, err := RunSchedule(s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		simNs += res.SimSeconds * 1e9
	}
	b.ReportMetric(simNs/float64(b.Elapsed().Nanoseconds()), "sim_s/wall_s")
}
