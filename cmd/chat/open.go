package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

const openHelp = `type a line to send it; commands:
  /edit SEQ TEXT     replace the text of your message SEQ
  /delete SEQ        delete message SEQ
  /react SEQ EMOJI   react to message SEQ (/unreact SEQ EMOJI takes it back)
  /reply SEQ TEXT    answer message SEQ
  /suggest           suggest replies, then /1, /2, /3 sends one
  /history N         print the latest N messages
  /help              this text
  /quit              leave (so does end of input); //text sends "/text"
`

// lockedWriter serialises the writes of the input loop and of the live event stream so
// their lines do not interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newOpenCmd(g *globalFlags, stdout io.Writer) *cobra.Command {
	var last uint32
	cmd := &cobra.Command{
		Use:   "open CONVERSATION",
		Short: "chat in a conversation: its latest messages, then live events, sending what you type (line-based)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				s := &openSession{c: c, conv: args[0], out: &lockedWriter{w: stdout}}
				return s.run(ctx, cmd.InOrStdin(), last)
			})
		},
	}
	cmd.Flags().Uint32Var(&last, "last", 20, "messages to print on opening")
	return cmd
}

// openSession is one chat open: the conversation, the suggestions last offered and the
// newest message seen, for the read marker.
type openSession struct {
	c           *client.Client
	conv        string
	out         io.Writer
	suggestions []string

	mu         sync.Mutex
	maxSeen    uint64
	streamed   uint64 // log index of the newest event the stream delivered
	lastPosted uint64 // log index of the newest message posted from the input
}

// posted records a message sent from the input, whose event the session waits for
// before it ends.
func (s *openSession) posted(m *chatpb.Message) {
	s.mu.Lock()
	s.lastPosted = max(s.lastPosted, m.GetLogIndex())
	s.mu.Unlock()
}

// awaitEcho waits, a little at most, until the stream has shown the last message posted
// from the input: with input from a pipe, the end of input comes right after the last
// line, and the output should still show what was sent.
func (s *openSession) awaitEcho(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		s.mu.Lock()
		done := s.streamed >= s.lastPosted
		s.mu.Unlock()
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *openSession) seen(seq uint64) {
	s.mu.Lock()
	s.maxSeen = max(s.maxSeen, seq)
	s.mu.Unlock()
}

func (s *openSession) run(ctx context.Context, in io.Reader, last uint32) error {
	cv, err := s.c.GetConversation(ctx, s.conv, false)
	if err != nil {
		return err
	}
	readSeq := cv.GetLastSeq() - cv.GetUnread()
	_, _ = fmt.Fprintf(s.out, "%s %s (members %s); /help for commands\n", cv.GetId(), cv.GetName(), strings.Join(cv.GetMembers(), ","))
	from, err := s.printHistory(ctx, last)
	if err != nil {
		return err
	}

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.follow(sctx, from)
	}()
	inputErr := s.readInput(ctx, in)
	s.awaitEcho(sctx)
	cancel()
	<-done

	// What was on the screen has been read.
	s.mu.Lock()
	seen := s.maxSeen
	s.mu.Unlock()
	if seen > readSeq {
		if err := s.c.MarkRead(ctx, s.conv, seen); err != nil {
			return errors.Join(inputErr, fmt.Errorf("mark read: %w", err))
		}
	}
	return inputErr
}

// printHistory prints the latest n messages and returns the stream position to follow
// from: the log index the node had applied when it read them, so every change after the
// page is shown, once, including a message sent before the stream starts.
func (s *openSession) printHistory(ctx context.Context, n uint32) (client.Position, error) {
	resp, err := s.c.History(ctx, s.conv, 0, ^uint64(0), n, false)
	if err != nil {
		return client.Position{}, err
	}
	for _, m := range resp.GetMessages() {
		printMessage(s.out, m)
		s.seen(m.GetSeq())
	}
	return client.Position{Index: resp.GetAppliedIndex(), Ordinal: ^uint32(0)}, nil
}

// follow prints the conversation's live events until ctx ends.
func (s *openSession) follow(ctx context.Context, from client.Position) {
	show := func(ev *chatpb.Event) error {
		s.mu.Lock()
		s.streamed = max(s.streamed, ev.GetIndex())
		s.mu.Unlock()
		if eventConversation(ev) != s.conv {
			return nil
		}
		if m := ev.GetMessage(); m != nil {
			s.seen(m.GetSeq())
		}
		// One write per event, so a line printed by the input loop cannot split it.
		var b bytes.Buffer
		printEvent(&b, ev)
		_, _ = s.out.Write(b.Bytes())
		return nil
	}
	err := s.c.Subscribe(ctx, from, show)
	if status.Code(err) == codes.OutOfRange {
		// The newest message is older than the events a node keeps: follow from now.
		err = s.c.Subscribe(ctx, client.Position{}, show)
	}
	if err != nil && ctx.Err() == nil {
		_, _ = fmt.Fprintf(s.out, "live updates stopped: %s\n", describe(err))
	}
}

// eventConversation is the conversation an event belongs to, empty for presence.
func eventConversation(ev *chatpb.Event) string {
	switch k := ev.GetKind().(type) {
	case *chatpb.Event_Message:
		return k.Message.GetConversationId()
	case *chatpb.Event_Edited:
		return k.Edited.GetConversationId()
	case *chatpb.Event_Deleted:
		return k.Deleted.GetConversationId()
	case *chatpb.Event_Reaction:
		return k.Reaction.GetConversationId()
	case *chatpb.Event_Membership:
		return k.Membership.GetConversationId()
	case *chatpb.Event_Read:
		return k.Read.GetConversationId()
	default:
		return ""
	}
}

// readInput runs the lines of in until /quit or the end of input. A failed command is
// reported and the session goes on; only a failure to read ends it with an error.
func (s *openSession) readInput(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		quit, err := s.handle(ctx, line)
		if err != nil {
			_, _ = fmt.Fprintf(s.out, "error: %s\n", describe(err))
		}
		if quit {
			return nil
		}
	}
	return sc.Err()
}

func (s *openSession) post(ctx context.Context, text string, replyTo uint64) error {
	m, err := s.c.Post(ctx, s.conv, text, replyTo)
	if err == nil {
		s.posted(m)
	}
	return err
}

// handle runs one input line and reports whether the user asked to quit.
func (s *openSession) handle(ctx context.Context, line string) (bool, error) {
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		return false, s.post(ctx, strings.TrimPrefix(line, "/"), 0)
	}
	name, rest, _ := strings.Cut(line[1:], " ")
	rest = strings.TrimSpace(rest)
	if n, err := strconv.Atoi(name); err == nil {
		if n < 1 || n > len(s.suggestions) {
			return false, fmt.Errorf("no suggestion %d (run /suggest)", n)
		}
		return false, s.post(ctx, s.suggestions[n-1], 0)
	}
	// seqArg splits "SEQ REST" and checks SEQ; wantRest says REST must not be empty.
	seqArg := func(usage string, wantRest bool) (uint64, string, error) {
		a, b, _ := strings.Cut(rest, " ")
		b = strings.TrimSpace(b)
		seq, err := parseSeq(a)
		if err != nil || (wantRest && b == "") || (!wantRest && b != "") {
			return 0, "", fmt.Errorf("usage: %s", usage)
		}
		return seq, b, nil
	}
	switch name {
	case "quit", "exit":
		return true, nil
	case "help":
		_, _ = io.WriteString(s.out, openHelp)
	case "edit":
		seq, text, err := seqArg("/edit SEQ TEXT", true)
		if err == nil {
			_, err = s.c.Edit(ctx, s.conv, seq, text)
		}
		return false, err
	case "delete":
		seq, _, err := seqArg("/delete SEQ", false)
		if err == nil {
			_, err = s.c.Delete(ctx, s.conv, seq)
		}
		return false, err
	case "react", "unreact":
		seq, emoji, err := seqArg("/"+name+" SEQ EMOJI", true)
		if err == nil {
			_, err = s.c.React(ctx, s.conv, seq, emoji, name == "unreact")
		}
		return false, err
	case "reply":
		seq, text, err := seqArg("/reply SEQ TEXT", true)
		if err == nil {
			err = s.post(ctx, text, seq)
		}
		return false, err
	case "suggest":
		resp, err := s.c.Suggest(ctx, s.conv, 3)
		if err != nil {
			return false, err
		}
		s.suggestions = resp.GetSuggestions()
		if len(s.suggestions) == 0 {
			_, _ = fmt.Fprintln(s.out, "no suggestions")
		}
		for i, text := range s.suggestions {
			_, _ = fmt.Fprintf(s.out, "/%d %s\n", i+1, text)
		}
	case "history":
		n := uint64(20)
		if rest != "" {
			var err error
			if n, err = strconv.ParseUint(rest, 10, 32); err != nil || n == 0 {
				return false, errors.New("usage: /history N")
			}
		}
		_, err := s.printHistory(ctx, uint32(n))
		return false, err
	default:
		return false, fmt.Errorf("unknown command /%s (/help lists them)", name)
	}
	return false, nil
}
