package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

func addAccountCommands(root *cobra.Command, g *globalFlags, out io.Writer) {
	root.AddCommand(newPasswdCmd(g, out), newAdminCmd(g, out))
}

func newPasswdCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var oldPW, newPW string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "change your password (asks on stdin for what the flags do not give)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := bufio.NewReader(cmd.InOrStdin())
			var err error
			if oldPW == "" {
				if oldPW, err = promptLine(cmd, in, "current password", "--password, $RAFTCHAT_PASSWORD or stdin"); err != nil {
					return err
				}
			}
			if newPW == "" {
				if newPW, err = promptLine(cmd, in, "new password", "--new-password, $RAFTCHAT_NEW_PASSWORD or stdin"); err != nil {
					return err
				}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				if err := c.ChangePassword(ctx, oldPW, newPW); err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "password changed for %s; other sessions are logged out\n", c.Username())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&oldPW, "password", os.Getenv("RAFTCHAT_PASSWORD"), "current password (default $RAFTCHAT_PASSWORD)")
	cmd.Flags().StringVar(&newPW, "new-password", os.Getenv("RAFTCHAT_NEW_PASSWORD"), "new password (default $RAFTCHAT_NEW_PASSWORD)")
	return cmd
}

func roleName(r chatpb.Role) string {
	return strings.TrimPrefix(strings.ToLower(r.String()), "role_")
}

func newAdminCmd(g *globalFlags, out io.Writer) *cobra.Command {
	admin := &cobra.Command{
		Use:   "admin",
		Short: "administer users and groups (admins only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var enable bool
	disable := &cobra.Command{
		Use:   "disable USER",
		Short: "disable an account so it cannot log in (--enable allows it again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				u, err := c.AdminSetUserDisabled(ctx, args[0], !enable)
				if err != nil {
					return fmt.Errorf("admin disable %s: %w", args[0], err)
				}
				state := "enabled"
				if u.GetDisabled() {
					state = "disabled"
				}
				_, _ = fmt.Fprintf(out, "%s %s\n", state, u.GetUsername())
				return nil
			})
		},
	}
	disable.Flags().BoolVar(&enable, "enable", false, "enable the account instead")
	admin.AddCommand(
		&cobra.Command{
			Use:   "users",
			Short: "list every account: name, role, state, presence, creation time",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					users, err := c.AdminUsers(ctx, false)
					if err != nil {
						return fmt.Errorf("admin users: %w", err)
					}
					for _, u := range users {
						state, presence := "enabled", "offline"
						if u.GetDisabled() {
							state = "disabled"
						}
						if u.GetOnline() {
							presence = "online"
						}
						created := time.UnixMilli(u.GetCreatedUnixMs()).Format("2006-01-02 15:04:05")
						_, _ = fmt.Fprintf(out, "%s\t%s\t%s\t%s\tcreated %s\n", u.GetUsername(), roleName(u.GetRole()), state, presence, created)
					}
					return nil
				})
			},
		},
		disable,
		&cobra.Command{
			Use:   "role USER admin|user",
			Short: "make an account an admin or a plain user",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				var role chatpb.Role
				switch args[1] {
				case "admin":
					role = chatpb.Role_ROLE_ADMIN
				case "user":
					role = chatpb.Role_ROLE_USER
				default:
					return usageError{fmt.Errorf("role must be admin or user, not %q", args[1])}
				}
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					u, err := c.AdminSetRole(ctx, args[0], role)
					if err != nil {
						return fmt.Errorf("admin role %s: %w", args[0], err)
					}
					_, _ = fmt.Fprintf(out, "%s is now %s\n", u.GetUsername(), roleName(u.GetRole()))
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "groups",
			Short: "list every group: id, name, message count, members, admins",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
					groups, err := c.AdminGroups(ctx, false)
					if err != nil {
						return fmt.Errorf("admin groups: %w", err)
					}
					for _, cv := range groups {
						_, _ = fmt.Fprintf(out, "%s\t%s\tmessages %d\tmembers %s\tadmins %s\n", cv.GetId(), cv.GetName(),
							cv.GetLastSeq(), strings.Join(cv.GetMembers(), ","), strings.Join(cv.GetAdmins(), ","))
					}
					return nil
				})
			},
		},
	)
	return admin
}
