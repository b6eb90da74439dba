// Command chatsim runs raftchat's deterministic simulation: seeded clusters with partitions,
// crashes and clock faults, checked for Raft safety, linearizability and liveness.
package main

import (
	"os"
	"runtime/debug"

	"github.com/raftchat/raftchat/sim"
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(sim.GCPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
