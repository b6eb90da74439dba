package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// exitUsage is the exit status for bad usage, exitFail for a failed command.
const (
	exitFail  = 1
	exitUsage = 2
)

type usageError struct{ error }

// run executes the chat command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runWithInput(args, nil, stdout, stderr)
}

// runWithInput is run reading stdin instead of the process's standard input when it is
// not nil.
func runWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	if stdin != nil {
		root.SetIn(stdin)
	}
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		_, _ = fmt.Fprintln(stderr, "chat:", describe(err))
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
	// addrsGiven is set when --addrs was on the command line; saved is the session file as
	// read by connect.
	addrsGiven bool
	saved      savedSession
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
		"comma-separated client addresses of the nodes (default: the members' addresses last learned into the session file, else these)")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.addrsGiven = cmd.Flags().Changed("addrs")
	}
	root.PersistentFlags().StringVar(&g.session, "session", defaultSessionPath(),
		"file holding the logged-in session (tokens)")
	root.AddCommand(newBenchCmd(g, stdout, stderr))
	root.AddCommand(newUICmd(g, stdout))
	addUserCommands(root, g, stdout)
	addMessageCommands(root, g, stdout)
	addFileCommands(root, g, stdout)
	addAccountCommands(root, g, stdout)
	root.AddCommand(newClusterCmd(g, stdout))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	markArgErrorsUsage(root)
	return root
}

// markArgErrorsUsage makes a wrong number of arguments a usage error (exit 2), as a bad
// flag is, in cmd and its subcommands.
func markArgErrorsUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markArgErrorsUsage(sub)
	}
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

// describe renders err on one line, with a gRPC status shown as "code: message" instead of
// grpc-go's "rpc error: code = ... desc = ...", so a refusal reads like any other error.
func describe(err error) string {
	msg := err.Error()
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if st := se.GRPCStatus(); st.Code() != codes.OK {
			msg = strings.Replace(msg, st.Err().Error(), codeText(st.Code())+": "+st.Message(), 1)
		}
	}
	return strings.ReplaceAll(msg, "\n", "; ")
}

// codeText spells a status code the way people say it: PermissionDenied is "permission denied".
func codeText(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}
