package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
)

// addGroupSubcommands adds the membership and administration commands under groups.
func addGroupSubcommands(groups *cobra.Command, g *globalFlags, out io.Writer) {
	groups.AddCommand(
		&cobra.Command{
			Use:   "add CONVERSATION USER...",
			Short: "add members to a group (group admins only)",
			Args:  cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					for _, user := range args[1:] {
						cv, err := c.AddMember(ctx, args[0], user)
						if err != nil {
							return fmt.Errorf("add %s: %w", user, err)
						}
						_, _ = fmt.Fprintf(out, "added %s to %s (members %s)\n", user, cv.GetId(), strings.Join(cv.GetMembers(), ","))
					}
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "remove CONVERSATION USER",
			Short: "remove a member from a group (group admins only)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					cv, err := c.RemoveMember(ctx, args[0], args[1])
					if err != nil {
						return err
					}
					_, _ = fmt.Fprintf(out, "removed %s from %s (members %s)\n", args[1], cv.GetId(), strings.Join(cv.GetMembers(), ","))
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "leave CONVERSATION",
			Short: "leave a group",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					if err := c.LeaveGroup(ctx, args[0]); err != nil {
						return err
					}
					_, _ = fmt.Fprintf(out, "left %s\n", args[0])
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "rename CONVERSATION NAME",
			Short: "rename a group (group admins only)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					cv, err := c.RenameGroup(ctx, args[0], args[1])
					if err != nil {
						return err
					}
					_, _ = fmt.Fprintf(out, "renamed %s to %s\n", cv.GetId(), cv.GetName())
					return nil
				})
			},
		},
		newGroupAdminCmd(g, out),
	)
}

func newGroupAdminCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var revoke bool
	cmd := &cobra.Command{
		Use:   "admin CONVERSATION USER",
		Short: "make a member a group admin (--revoke takes the right away)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				cv, err := c.SetGroupAdmin(ctx, args[0], args[1], !revoke)
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "%s admins %s\n", cv.GetId(), strings.Join(cv.GetAdmins(), ","))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&revoke, "revoke", false, "revoke the admin right instead of granting it")
	return cmd
}
