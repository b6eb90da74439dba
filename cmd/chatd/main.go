// Command chatd runs a raftchat node (chatd run) or a whole local cluster (chatd dev).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// Requests allocate many short-lived objects while the state machine's live data is
		// mostly pointer-free: fewer collections raised 64-client write throughput by about
		// a tenth (chat bench against chatd dev). GOGC in the environment overrides this.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
