// Command chatsim runs raftchat's deterministic simulation: seeded clusters with partitions,
// crashes and clock faults, checked for Raft safety, linearizability and liveness.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The simulator allocates many short-lived objects and keeps little: trading memory
		// for fewer collections makes runs about a quarter faster.
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
