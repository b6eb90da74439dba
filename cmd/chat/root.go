package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// exitUsage is the exit status for bad usage, exitFail for a failed command.
const (
	exitFail  = 1
	exitUsage = 2
)

type usageError struct{ error }

// run executes the chat command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		_, _ = fmt.Fprintln(stderr, "chat:", err)
		var ue usageError
		if errors.As(err, &ue) || strings.Contains(err.Error(), "unknown flag") ||
			strings.Contains(err.Error(), "unknown command") {
			return exitUsage
		}
		return exitFail
	}
	return 0
}

// globalFlags are shared by every subcommand that talks to a cluster.
type globalFlags struct {
	addrs   string
	session string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "chat",
		Short:         "raftchat command-line client",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.addrs, "addrs", "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
		"comma-separated client addresses of the nodes")
	root.PersistentFlags().StringVar(&g.session, "session", defaultSessionPath(),
		"file holding the logged-in session (tokens)")
	root.AddCommand(newBenchCmd(g, stdout, stderr))
	addUserCommands(root, g, stdout)
	return root
}

func splitAddrs(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, usageError{errors.New("--addrs names no node")}
	}
	return out, nil
}
