package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// cycles returns the number of leader kills: RAFTCHAT_E2E_CYCLES, default 2.
func cycles(t *testing.T) int {
	if s := os.Getenv("RAFTCHAT_E2E_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("RAFTCHAT_E2E_CYCLES=%q: want a positive integer", s)
		}
		return n
	}
	return 2
}

// writer posts numbered messages into one conversation through its own client until
// stopped, recording which were acknowledged and which failed (outcome unknown).
type writer struct {
	cl      *client.Client
	name    string
	conv    string
	acked   []string
	unknown []string
	ackedAt []time.Time // when each acknowledgement arrived, for the failover figure
}

func (w *writer) run(ctx context.Context, stop <-chan struct{}) {
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		text := fmt.Sprintf("%s-%d", w.name, k)
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, err := w.cl.Post(cctx, w.conv, text, 0)
		cancel()
		if err != nil {
			w.unknown = append(w.unknown, text)
			continue
		}
		w.acked = append(w.acked, text)
		w.ackedAt = append(w.ackedAt, time.Now())
	}
}

// TestLeaderKilledRepeatedly posts concurrently through every node while the leader is
// SIGKILLed and restarted; afterwards every node holds every acknowledged message exactly
// once, in the same order, and nothing else but messages whose outcome was unknown.
func TestLeaderKilledRepeatedly(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin := c.admin(ctx)
	writers := setupWriters(ctx, t, c, 6)
	sub := subscribe(ctx, c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, stop) }()
	}
	n := cycles(t)
	for cycle := 1; cycle <= n; cycle++ {
		time.Sleep(time.Second) // let traffic flow under this leader
		var lead int
		waitFor(t, 20*time.Second, "a leader", func() (bool, string) {
			lead = c.leader(ctx, admin)
			return lead >= 0, "no majority names a leader"
		})
		t.Logf("cycle %d/%d: SIGKILL leader node %d", cycle, n, lead+1)
		c.kill(c.procs[lead])
		time.Sleep(700 * time.Millisecond) // posts fail over while it is down
		c.start(c.procs[lead])
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	var convs []string
	for _, w := range writers {
		convs = append(convs, w.conv)
	}
	got := c.converged(ctx, admin, convs)
	total := 0
	for _, w := range writers {
		checkWriter(t, w, got[w.conv])
		total += len(w.acked)
	}
	t.Logf("%d cycles: %d acknowledged messages from %d writers, all present once in order on 3 nodes", n, total, len(writers))
	t.Logf("longest stretches without any acknowledgement (about one per leader kill): %v", longestGaps(writers, n))
	if total == 0 {
		t.Fatal("no message was acknowledged")
	}
	sub.check(t, got)
}

// streamed collects the message events one client's Subscribe stream delivers while it
// fails over between nodes.
type streamed struct {
	mu     sync.Mutex
	byConv map[string][]string
	err    error
}

// subscribe starts the admin's event stream (the admin is in every writer's group) from
// the start of the log, through a client of its own.
func subscribe(ctx context.Context, c *cluster) *streamed {
	s := &streamed{byConv: map[string][]string{}}
	cl := c.newClient(2)
	if _, err := cl.Login(ctx, "admin", adminPassword); err != nil {
		c.t.Fatalf("subscriber login: %v", err)
	}
	go func() {
		err := cl.Subscribe(ctx, client.Position{Index: 1, Ordinal: 0}, func(ev *chatpb.Event) error {
			if m := ev.GetMessage(); m != nil {
				s.mu.Lock()
				s.byConv[m.GetConversationId()] = append(s.byConv[m.GetConversationId()], m.GetText())
				s.mu.Unlock()
			}
			return nil
		})
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s
}

// check waits until the stream caught up and compares it with the stored histories: no
// gap, no duplicate, same order.
func (s *streamed) check(t *testing.T, histories map[string][]string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the event stream to deliver every message", func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil && !errors.Is(s.err, context.Canceled) {
			t.Fatalf("subscribe failed: %v", s.err)
		}
		for conv, h := range histories {
			if len(s.byConv[conv]) < len(h) {
				return false, fmt.Sprintf("%s: streamed %d of %d", conv, len(s.byConv[conv]), len(h))
			}
		}
		return true, ""
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for conv, h := range histories {
		if got := strings.Join(s.byConv[conv], ","); got != strings.Join(h, ",") {
			t.Errorf("%s: streamed events differ from the history (%d vs %d messages)", conv, len(s.byConv[conv]), len(h))
		}
	}
}

// setupWriters signs up n users, each with a group of its own, spread over the nodes:
// even-numbered writers keep writing through their node (followers forward to the
// leader), odd ones move to the leader their node names; writers 2, 3, 6, 7, ... post over
// a PostStream, the others with one unary call per message.
func setupWriters(ctx context.Context, t *testing.T, c *cluster, n int) []*writer {
	t.Helper()
	var out []*writer
	for i := range n {
		cl := c.newClientWith(i%len(c.procs), i%2 == 0, i%4 >= 2)
		name := fmt.Sprintf("writer%d", i)
		if _, err := cl.SignUp(ctx, name, name+"-password"); err != nil {
			t.Fatalf("sign up %s: %v", name, err)
		}
		g, err := cl.CreateGroup(ctx, "g-"+name, "admin")
		if err != nil {
			t.Fatalf("create group: %v", err)
		}
		out = append(out, &writer{cl: cl, name: name, conv: g.GetId()})
	}
	return out
}

// checkWriter checks one writer's conversation: messages appear at most once; every
// acknowledged one appears; they appear in the order the writer sent them (one writer
// posts sequentially, so log order must follow); nothing unexpected appears.
func checkWriter(t *testing.T, w *writer, history []string) {
	t.Helper()
	seen := map[string]int{}
	for _, text := range history {
		seen[text]++
		if seen[text] > 1 {
			t.Errorf("%s: %q appears %d times", w.conv, text, seen[text])
		}
	}
	sent := map[string]bool{}
	for _, s := range w.acked {
		sent[s] = true
		if seen[s] != 1 {
			t.Errorf("%s: acknowledged %q appears %d times", w.conv, s, seen[s])
		}
	}
	for _, s := range w.unknown {
		sent[s] = true
	}
	order := map[string]int{}
	k := 0
	for _, text := range history {
		if !sent[text] {
			t.Errorf("%s: unexpected message %q", w.conv, text)
		}
		order[text] = k
		k++
	}
	for i := 1; i < len(w.acked); i++ {
		if order[w.acked[i-1]] >= order[w.acked[i]] {
			t.Errorf("%s: %q acknowledged before %q but stored after it", w.conv, w.acked[i-1], w.acked[i])
		}
	}
}

// longestGaps returns the n longest intervals between consecutive acknowledgements of any
// writer, longest first: with a leader killed n times, about how long writes stalled each
// time (a figure to read, not a check: it depends on the machine).
func longestGaps(writers []*writer, n int) []time.Duration {
	var at []time.Time
	for _, w := range writers {
		at = append(at, w.ackedAt...)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]).Round(time.Millisecond))
	}
	slices.SortFunc(gaps, func(a, b time.Duration) int { return int(b - a) })
	return gaps[:min(n, len(gaps))]
}
