package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

func newClusterCmd(g *globalFlags, out io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "change and list the cluster's members (admins only)",
		Long: "Membership changes go through the Raft log one at a time. To replace a dead node 3 by a new node 4:\n" +
			"  chat cluster remove 3\n" +
			"  chatd run --id 4 --join --peer-addr 127.0.0.1:7104 --client-addr 127.0.0.1:7004 --data-dir DIR \\\n" +
			"      --cluster 1=127.0.0.1:7101,2=127.0.0.1:7102\n" +
			"  chat cluster add 4 127.0.0.1:7104 --client-addr 127.0.0.1:7004",
	}
	cmd.AddCommand(newClusterAddCmd(g, out), newClusterRemoveCmd(g, out), newClusterMembersCmd(g, out))
	return cmd
}

// parseNodeID parses a node id argument: a positive integer.
func parseNodeID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageError{fmt.Errorf("bad node id %q: want a positive integer", s)}
	}
	return id, nil
}

// checkHostPort rejects an address that is not HOST:PORT.
func checkHostPort(what, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "" {
		err = errors.New("missing host")
	}
	if n, perr := strconv.ParseUint(port, 10, 16); err == nil && (perr != nil || n == 0) {
		err = errors.New("port must be 1-65535")
	}
	if err != nil {
		return usageError{fmt.Errorf("bad %s %q: %w (want HOST:PORT)", what, addr, err)}
	}
	return nil
}

func newClusterAddCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var learner bool
	var clientAddr string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "add ID PEER_ADDR",
		Short: "add a node (started with chatd run --join) as a learner, then promote it to voter once it has caught up",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNodeID(args[0])
			if err != nil {
				return err
			}
			if err := checkHostPort("peer address", args[1]); err != nil {
				return err
			}
			if clientAddr != "" {
				if err := checkHostPort("--client-addr", clientAddr); err != nil {
					return err
				}
			}
			if timeout <= 0 {
				return usageError{errors.New("--timeout must be positive")}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				var last *chatpb.ClusterMemberProgress
				members, err := c.AddClusterMember(ctx, id, args[1], clientAddr, learner, func(p *chatpb.ClusterMemberProgress) {
					last = p
					switch p.GetStage() {
					case "learner":
						_, _ = fmt.Fprintf(out, "node %d added as a learner\n", id)
					case "catching-up":
						_, _ = fmt.Fprintf(out, "node %d catching up: match %d of %d\n", id, p.GetMatch(), p.GetLastIndex())
					case "caught-up":
						_, _ = fmt.Fprintf(out, "node %d caught up: match %d of %d\n", id, p.GetMatch(), p.GetLastIndex())
					case "voter":
						_, _ = fmt.Fprintf(out, "node %d promoted to voter\n", id)
					}
				})
				if err != nil && ctx.Err() != nil && last != nil {
					return fmt.Errorf("add node %d: not done within --timeout %v: it is a learner, last seen at match %d of %d "+
						"(is chatd run --join serving peers at %s?); run the same add again to finish, or chat cluster remove %d: %w",
						id, timeout, last.GetMatch(), last.GetLastIndex(), args[1], id, err)
				}
				if err != nil {
					return fmt.Errorf("add node %d: %w", id, err)
				}
				printMembers(out, members)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&learner, "learner", false, "add it as a learner only (it receives the log but does not vote)")
	f.StringVar(&clientAddr, "client-addr", "", "its client address (HOST:PORT), so clients can be pointed at it")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long (the catch-up copies the whole log)")
	return cmd
}

func newClusterRemoveCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "remove a node (voter or learner) from the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNodeID(args[0])
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return usageError{errors.New("--timeout must be positive")}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				members, err := c.RemoveClusterMember(ctx, id)
				if err != nil {
					return fmt.Errorf("remove node %d: %w", id, err)
				}
				_, _ = fmt.Fprintf(out, "node %d removed\n", id)
				printMembers(out, members)
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

func newClusterMembersCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "list the voters and learners, their addresses and roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				members, err := c.ClusterMembers(ctx)
				if err != nil {
					return err
				}
				printMembers(out, members)
				return nil
			})
		},
	}
}

// printMembers writes one line per member: id, voter or learner, role, addresses.
func printMembers(out io.Writer, m *chatpb.ClusterMembersResponse) {
	_, _ = fmt.Fprintf(out, "members as applied on node %d (leader %d):\n", m.GetId(), m.GetLeader())
	for _, mb := range m.GetMembers() {
		kind := "learner"
		if mb.GetVoter() {
			kind = "voter"
		}
		role := mb.GetRole()
		if role == "" {
			role = "-"
		}
		line := fmt.Sprintf("%d\t%s\t%s\tpeer %s\tclient %s", mb.GetId(), kind, role,
			orDash(mb.GetPeerAddr()), orDash(mb.GetClientAddr()))
		if m.GetLastIndex() > 0 {
			line += fmt.Sprintf("\tmatch %d/%d", mb.GetMatch(), m.GetLastIndex())
		}
		_, _ = fmt.Fprintln(out, strings.TrimRight(line, "\t"))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
