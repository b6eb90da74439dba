package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
)

func addMessageCommands(root *cobra.Command, g *globalFlags, out io.Writer) {
	root.AddCommand(newEditCmd(g, out), newDeleteCmd(g, out), newReactCmd(g, out), newReadCmd(g, out),
		newOpenCmd(g, out))
}

// parseSeq parses a message sequence number given on the command line; sequence numbers
// start at 1, so 0 is as wrong as "abc".
func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usageError{fmt.Errorf("SEQ must be a message number (1, 2, ...), not %q", s)}
	}
	return n, nil
}

func newEditCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "edit CONVERSATION SEQ TEXT...",
		Short: "replace the text of one of your messages",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[1])
			if err != nil {
				return err
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				m, err := c.Edit(ctx, args[0], seq, strings.Join(args[2:], " "))
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "edited %s #%d\n", m.GetConversationId(), m.GetSeq())
				return nil
			})
		},
	}
}

func newDeleteCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CONVERSATION SEQ",
		Short: "delete a message (yours, or any as a group admin)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[1])
			if err != nil {
				return err
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				m, err := c.Delete(ctx, args[0], seq)
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "deleted %s #%d\n", m.GetConversationId(), m.GetSeq())
				return nil
			})
		},
	}
}

func newReactCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "react CONVERSATION SEQ EMOJI",
		Short: "react to a message with an emoji (--remove takes it back)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[1])
			if err != nil {
				return err
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				m, err := c.React(ctx, args[0], seq, args[2], remove)
				if err != nil {
					return err
				}
				printMessage(out, m)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "take your reaction back")
	return cmd
}

func newReadCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "read CONVERSATION [SEQ]",
		Short: "mark a conversation read up to SEQ (default: its latest message)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var seq uint64
			if len(args) == 2 {
				var err error
				if seq, err = parseSeq(args[1]); err != nil {
					return err
				}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				if seq == 0 {
					cv, err := c.GetConversation(ctx, args[0], false)
					if err != nil {
						return err
					}
					if seq = cv.GetLastSeq(); seq == 0 {
						_, _ = fmt.Fprintf(out, "%s has no messages\n", args[0])
						return nil
					}
				}
				if err := c.MarkRead(ctx, args[0], seq); err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "read %s up to #%d\n", args[0], seq)
				return nil
			})
		},
	}
}
