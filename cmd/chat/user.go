package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// savedSession is the session file: who is logged in, their tokens, and the client addresses
// of the cluster's members as last learned from it (see learnAddrs).
type savedSession struct {
	Username string `json:"username"`
	Access   string `json:"access_token"`
	Refresh  string `json:"refresh_token"`
	// Addrs replace the default --addrs when the flag is not given; LearnedUnix is when they
	// were last learned.
	Addrs       []string `json:"addrs,omitempty"`
	LearnedUnix int64    `json:"addrs_learned_unix,omitempty"`
}

func defaultSessionPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ".raftchat-session.json"
	}
	return filepath.Join(dir, "raftchat", "session.json")
}

// saveSession writes c's session to g.session, with the member addresses refreshed when due
// (learnAddrs).
func saveSession(ctx context.Context, g *globalFlags, c *client.Client) error {
	path := g.session
	access, refresh := c.Tokens()
	s := savedSession{Username: c.Username(), Access: access, Refresh: refresh,
		Addrs: g.saved.Addrs, LearnedUnix: g.saved.LearnedUnix}
	learnAddrs(ctx, g, c, &s)
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// connect returns a client for the cluster (nodeAddrs), logged in from the session file when
// authed.
func connect(g *globalFlags, authed bool) (*client.Client, error) {
	b, readErr := os.ReadFile(g.session)
	g.saved = savedSession{}
	if readErr == nil {
		if err := json.Unmarshal(b, &g.saved); err != nil {
			if authed {
				return nil, fmt.Errorf("read session %s: %w", g.session, err)
			}
			g.saved = savedSession{} // signup and login write a new one
		}
	}
	addrs, err := g.nodeAddrs()
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Config{Addrs: addrs})
	if err != nil {
		return nil, err
	}
	if !authed {
		return c, nil
	}
	if readErr != nil {
		_ = c.Close()
		return nil, fmt.Errorf("not logged in (run chat login): %w", readErr)
	}
	c.SetTokens(g.saved.Username, g.saved.Access, g.saved.Refresh)
	return c, nil
}

// withClient runs fn with a connected client and saves refreshed tokens afterwards.
func withClient(cmd *cobra.Command, g *globalFlags, authed bool, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := connect(g, authed)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := fn(ctx, c); err != nil {
		return err
	}
	if authed {
		if a, _ := c.Tokens(); a != "" {
			return saveSession(ctx, g, c)
		}
	}
	return nil
}

func addUserCommands(root *cobra.Command, g *globalFlags, out io.Writer) {
	root.AddCommand(
		newAuthCmd("signup", "create an account and log in", g, out),
		newAuthCmd("login", "log in", g, out),
		newSendCmd(g, out), newHistoryCmd(g, out), newGroupsCmd(g, out),
		newTailCmd(g, out), newStatusCmd(g, out), newUsersCmd(g, out), newSearchCmd(g, out),
		newSuggestCmd(g, out), newLogoutCmd(g, out),
	)
}

// promptPassword reads one line from stdin (the password is not flag-visible in ps).
func promptPassword(cmd *cobra.Command) (string, error) {
	return promptLine(cmd, bufio.NewReader(cmd.InOrStdin()), "password", "--password, $RAFTCHAT_PASSWORD or stdin")
}

// promptLine asks for label on stderr and reads one line of in; hint says where else the
// value may come from. Commands that ask several questions share one reader, which may
// have buffered the later answers.
func promptLine(cmd *cobra.Command, in *bufio.Reader, label, hint string) (string, error) {
	_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "%s: ", label)
	line, err := in.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read %s: %w", label, err)
		}
		return "", usageError{fmt.Errorf("no %s given (%s)", label, hint)}
	}
	return line, nil
}

func newUsersCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "users",
		Short: "list users with presence",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				users, err := c.Users(ctx, true)
				if err != nil {
					return err
				}
				for _, u := range users {
					state := "offline"
					if u.GetOnline() {
						state = "online"
					}
					_, _ = fmt.Fprintf(out, "%s\t%s\t%s\n", u.GetUsername(), state,
						strings.TrimPrefix(strings.ToLower(u.GetRole().String()), "role_"))
				}
				return nil
			})
		},
	}
}

func newSearchCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var conv string
	cmd := &cobra.Command{
		Use:   "search TEXT",
		Short: "search the messages you can see",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				msgs, err := c.Search(ctx, strings.Join(args, " "), conv, 50)
				if err != nil {
					return err
				}
				for _, m := range msgs {
					printMessage(out, m)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&conv, "conv", "", "only this conversation")
	return cmd
}

func newSuggestCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "suggest CONVERSATION",
		Short: "suggest replies to the latest messages of a conversation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				s, err := c.Suggest(ctx, args[0], 3)
				if err != nil {
					return err
				}
				for _, line := range s.GetSuggestions() {
					_, _ = fmt.Fprintln(out, line)
				}
				return nil
			})
		},
	}
}

func newLogoutCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "revoke this session's tokens on every node and forget them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(g, true)
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if err := c.Logout(ctx); err != nil {
				return err
			}
			if err := os.Remove(g.session); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove session: %w", err)
			}
			_, _ = fmt.Fprintln(out, "logged out")
			return nil
		},
	}
}

func newAuthCmd(name, short string, g *globalFlags, out io.Writer) *cobra.Command {
	var password string
	cmd := &cobra.Command{
		Use:   name + " USERNAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if password == "" {
				var err error
				if password, err = promptPassword(cmd); err != nil {
					return err
				}
			}
			return withClient(cmd, g, false, func(ctx context.Context, c *client.Client) error {
				var err error
				if name == "signup" {
					_, err = c.SignUp(ctx, args[0], password)
				} else {
					_, err = c.Login(ctx, args[0], password)
				}
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "logged in as %s\n", args[0])
				return saveSession(ctx, g, c)
			})
		},
	}
	cmd.Flags().StringVar(&password, "password", os.Getenv("RAFTCHAT_PASSWORD"), "password (default $RAFTCHAT_PASSWORD)")
	return cmd
}

func newSendCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var to, group string
	var replyTo uint64
	cmd := &cobra.Command{
		Use:   "send TEXT...",
		Short: "post a message to a user (--to) or a conversation (--conv)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (to == "") == (group == "") {
				return usageError{errors.New("give exactly one of --to and --conv")}
			}
			text := strings.Join(args, " ")
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				var m *chatpb.Message
				var err error
				if to != "" {
					m, err = c.SendDirect(ctx, to, text)
				} else {
					m, err = c.Post(ctx, group, text, replyTo)
				}
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "sent %s #%d\n", m.GetConversationId(), m.GetSeq())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "recipient user (direct message)")
	cmd.Flags().StringVar(&group, "conv", "", "conversation id")
	cmd.Flags().Uint64Var(&replyTo, "reply-to", 0, "sequence number of the message answered")
	return cmd
}

// printMessage prints one message on one line: its place, time, author and text, then
// what happened to it since (edited, deleted), what it answers, its file and its reactions.
func printMessage(w io.Writer, m *chatpb.Message) {
	var b strings.Builder
	ts := time.UnixMilli(m.GetSentUnixMs()).Format("2006-01-02 15:04:05")
	fmt.Fprintf(&b, "%s #%d %s %s: ", m.GetConversationId(), m.GetSeq(), ts, m.GetAuthor())
	if m.GetReplyTo() != 0 {
		fmt.Fprintf(&b, "(reply to #%d) ", m.GetReplyTo())
	}
	switch {
	case m.GetDeleted():
		b.WriteString("(deleted)")
	default:
		b.WriteString(m.GetText())
		if f := m.GetFile(); f != nil {
			if m.GetText() != "" {
				b.WriteByte(' ')
			}
			if f.GetName() != "" {
				fmt.Fprintf(&b, "[file %d: %s, %d bytes]", f.GetFileId(), f.GetName(), f.GetSize())
			} else {
				fmt.Fprintf(&b, "[file %d]", f.GetFileId())
			}
		}
		if m.GetEditedUnixMs() != 0 {
			b.WriteString(" (edited)")
		}
	}
	for _, r := range m.GetReactions() {
		fmt.Fprintf(&b, " [%s %s]", r.GetEmoji(), strings.Join(r.GetUsers(), ","))
	}
	_, _ = fmt.Fprintln(w, b.String())
}

func newHistoryCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var limit uint32
	var stale bool
	cmd := &cobra.Command{
		Use:   "history CONVERSATION",
		Short: "print the latest messages of a conversation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				resp, err := c.History(ctx, args[0], 0, ^uint64(0), limit, stale)
				if err != nil {
					return err
				}
				for _, m := range resp.GetMessages() {
					printMessage(out, m)
				}
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "limit", 50, "messages to print")
	cmd.Flags().BoolVar(&stale, "stale", false, "allow a possibly stale local read")
	return cmd
}

func newGroupsCmd(g *globalFlags, out io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "list your conversations (id, kind, name, unread count, members); manage groups with the subcommands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				convs, err := c.Conversations(ctx, false)
				if err != nil {
					return err
				}
				for _, cv := range convs {
					_, _ = fmt.Fprintf(out, "%s\t%s\t%s\tunread %d\tmembers %s\n", cv.GetId(),
						strings.TrimPrefix(strings.ToLower(cv.GetKind().String()), "conversation_kind_"),
						cv.GetName(), cv.GetUnread(), strings.Join(cv.GetMembers(), ","))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME [MEMBER...]",
		Short: "create a group",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				cv, err := c.CreateGroup(ctx, args[0], args[1:]...)
				if err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "created %s %s\n", cv.GetId(), cv.GetName())
				return nil
			})
		},
	})
	addGroupSubcommands(cmd, g, out)
	return cmd
}

func newTailCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "tail",
		Short: "print live events (messages, edits, reactions, presence, membership) until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				return c.Subscribe(ctx, client.Position{}, func(ev *chatpb.Event) error {
					printEvent(out, ev)
					return nil
				})
			})
		},
	}
}

func printEvent(w io.Writer, ev *chatpb.Event) {
	switch k := ev.GetKind().(type) {
	case *chatpb.Event_Message:
		printMessage(w, k.Message)
	case *chatpb.Event_Edited:
		_, _ = fmt.Fprint(w, "edited: ")
		printMessage(w, k.Edited)
	case *chatpb.Event_Deleted:
		_, _ = fmt.Fprintf(w, "deleted: %s #%d\n", k.Deleted.GetConversationId(), k.Deleted.GetSeq())
	case *chatpb.Event_Reaction:
		_, _ = fmt.Fprint(w, "reacted: ")
		printMessage(w, k.Reaction)
	case *chatpb.Event_Presence:
		_, _ = fmt.Fprintf(w, "presence: %s online=%v\n", k.Presence.GetUsername(), k.Presence.GetOnline())
	case *chatpb.Event_Membership:
		mb := k.Membership
		_, _ = fmt.Fprintf(w, "%s %s: %s %s\n", mb.GetConversationId(), mb.GetChange(), mb.GetActor(), mb.GetTarget())
	case *chatpb.Event_Read:
		_, _ = fmt.Fprintf(w, "read %s up to #%d\n", k.Read.GetConversationId(), k.Read.GetSeq())
	}
}

func newStatusCmd(g *globalFlags, out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "print every node's view of the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				addrs, _ := g.nodeAddrs()
				for i, a := range addrs {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					st, err := c.ClusterStatusOf(cctx, i)
					cancel()
					if err != nil {
						_, _ = fmt.Fprintf(out, "%s\tunreachable: %v\n", a, err)
						continue
					}
					_, _ = fmt.Fprintf(out, "%s\tnode %d %s term %d leader %d commit %d applied %d quorum %v\n",
						a, st.GetId(), st.GetRole(), st.GetTerm(), st.GetLeader(), st.GetCommit(), st.GetApplied(), st.GetQuorum())
					var voters, learners []string
					for _, n := range st.GetNodes() {
						if n.GetLearner() {
							learners = append(learners, fmt.Sprint(n.GetId()))
						} else {
							voters = append(voters, fmt.Sprint(n.GetId()))
						}
					}
					_, _ = fmt.Fprintf(out, "\t  voters %s learners %s\n", listOrNone(voters), listOrNone(learners))
					if st.GetRemoved() {
						_, _ = fmt.Fprintf(out, "\t  node %d was removed from the cluster\n", st.GetId())
					}
					if st.GetRole() == "leader" {
						// Only the leader knows how far each member's log matches its own.
						for _, n := range st.GetNodes() {
							kind := ""
							if n.GetLearner() {
								kind = " (learner)"
							}
							_, _ = fmt.Fprintf(out, "\t  node %d%s match %d reachable %v\n", n.GetId(), kind, n.GetMatch(), n.GetReachable())
						}
					}
				}
				return nil
			})
		},
	}
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ",")
}
