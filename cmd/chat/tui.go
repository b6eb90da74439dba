package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// tuiAPI is what the terminal UI needs of a *client.Client; tests may stand in for it.
type tuiAPI interface {
	Username() string
	Node() string
	ClusterStatus(ctx context.Context) (*chatpb.ClusterStatusResponse, error)
	Conversations(ctx context.Context, stale bool) ([]*chatpb.Conversation, error)
	Users(ctx context.Context, stale bool) ([]*chatpb.User, error)
	History(ctx context.Context, conv string, afterSeq, beforeSeq uint64, limit uint32, stale bool) (*chatpb.HistoryResponse, error)
	Post(ctx context.Context, conv, text string, replyTo uint64) (*chatpb.Message, error)
	SendDirect(ctx context.Context, to, text string) (*chatpb.Message, error)
	Edit(ctx context.Context, conv string, seq uint64, text string) (*chatpb.Message, error)
	Delete(ctx context.Context, conv string, seq uint64) (*chatpb.Message, error)
	React(ctx context.Context, conv string, seq uint64, emoji string, remove bool) (*chatpb.Message, error)
	MarkRead(ctx context.Context, conv string, seq uint64) error
	CreateGroup(ctx context.Context, name string, members ...string) (*chatpb.Conversation, error)
	Suggest(ctx context.Context, conv string, maxN uint32) (*chatpb.SuggestResponse, error)
	SetPresence(ctx context.Context, online bool) error
	Subscribe(ctx context.Context, from client.Position, fn func(*chatpb.Event) error) error
}

var _ tuiAPI = (*client.Client)(nil)

// errNoTerminal is chat ui's refusal to draw into a pipe or a file.
var errNoTerminal = errors.New("chat ui needs a terminal on standard output; for line-based chat use: chat open CONVERSATION")

func newUICmd(g *globalFlags, stdout io.Writer) *cobra.Command {
	var noMouse bool
	cmd := &cobra.Command{
		Use:     "ui [CONVERSATION]",
		Aliases: []string{"tui"},
		Short:   "full-screen chat: conversations, live messages, presence and an input line",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, ok := stdout.(*os.File)
			if !ok || !term.IsTerminal(out.Fd()) {
				return usageError{errNoTerminal}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				first := ""
				if len(args) > 0 {
					first = args[0]
				}
				return runTUI(ctx, c, out, first, !noMouse)
			})
		},
	}
	cmd.Flags().BoolVar(&noMouse, "no-mouse", false, "leave the mouse to the terminal (text selection) instead of scrolling with the wheel")
	return cmd
}

// runTUI runs the UI on the terminal out until the user quits, showing conversation first
// (or the most recent one when it is empty).
func runTUI(ctx context.Context, c tuiAPI, out *os.File, first string, mouse bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newTUIModel(ctx, c, first)
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithOutput(out), tea.WithContext(ctx)}
	if mouse {
		opts = append(opts, tea.WithMouseCellMotion())
	}
	_, err := tea.NewProgram(m, opts...).Run()
	cancel()
	if errors.Is(err, tea.ErrProgramKilled) {
		err = nil // a signal or the command's context ended it
	}
	if m.fatal != nil {
		return m.fatal
	}
	// Leaving says so to the others at once, instead of when the presence times out.
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer pcancel()
	_ = c.SetPresence(pctx, false)
	return err
}

// streamMsg carries what the event stream goroutine reports to the UI: an event, a
// failure (the stream is retried), or a resynchronisation after the position got too old.
type streamMsg struct {
	ev     *chatpb.Event
	err    error
	resync bool
}

// followEvents streams the user's events after from into ch until ctx ends. client.Subscribe
// already resumes on another node after a failover without losing or repeating events; this
// loop only restarts it after a refusal, from the last event seen, or from now (with a
// resync for the UI to reload) when that position is too old to resume.
func followEvents(ctx context.Context, api tuiAPI, from client.Position, ch chan<- tea.Msg) {
	send := func(msg streamMsg) bool {
		select {
		case ch <- msg:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		err := api.Subscribe(ctx, from, func(ev *chatpb.Event) error {
			if !send(streamMsg{ev: ev}) {
				return ctx.Err()
			}
			from = client.Position{Index: ev.GetIndex(), Ordinal: ev.GetOrdinal()}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.OutOfRange {
			from = client.Position{}
			if !send(streamMsg{resync: true}) {
				return
			}
			continue
		}
		if !send(streamMsg{err: err}) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
