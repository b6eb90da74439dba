package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
)

type benchOpts struct {
	clients       int
	duration      time.Duration
	size          int
	conversations int
	conns         int
	postStream    bool
	json          bool
	cpuProfile    string
}

// benchResult is what `chat bench --json` prints.
type benchResult struct {
	Clients       int     `json:"clients"`
	Conns         int     `json:"conns"`
	PostStream    bool    `json:"post_stream"`
	Messages      int     `json:"messages"`
	MessagesPerS  float64 `json:"messages_per_s"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	Errors        int     `json:"errors"`
	Conversations int     `json:"conversations"`
	Size          int     `json:"size"`
	DurationS     float64 `json:"duration_s"`
}

func newBenchCmd(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	o := &benchOpts{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "load test: concurrent clients post messages and count acknowledged ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addrs, err := splitAddrs(g.addrs)
			if err != nil {
				return err
			}
			if o.clients <= 0 || o.size <= 0 || o.duration <= 0 {
				return usageError{errors.New("--clients, --size and --duration must be positive")}
			}
			if o.conns < 0 {
				return usageError{errors.New("--conns must not be negative")}
			}
			res, err := runBench(cmd.Context(), addrs, *o, stderr)
			if err != nil {
				return err
			}
			return printBench(stdout, res, o.json)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.clients, "clients", 64, "concurrent clients, each its own user and write session")
	f.IntVar(&o.conns, "conns", 1, "connections per node shared by the clients (0: each client dials its own)")
	f.BoolVar(&o.postStream, "post-stream", true, "post over each client's PostStream (false: one unary PostMessage call per message)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to post")
	f.IntVar(&o.size, "size", 256, "message size in bytes")
	f.IntVar(&o.conversations, "conversations", 0, "group conversations to post into (default clients/2, at least 1)")
	f.BoolVar(&o.json, "json", false, "print one JSON object")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	return cmd
}

func printBench(w io.Writer, r benchResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	path := "PostStream"
	if !r.PostStream {
		path = "unary PostMessage"
	}
	_, err := fmt.Fprintf(w, "clients %d  conns %d  conversations %d  size %dB  duration %.1fs  via %s\n"+
		"messages %d  (%.0f msg/s)  p50 %.2f ms  p99 %.2f ms  errors %d\n",
		r.Clients, r.Conns, r.Conversations, r.Size, r.DurationS, path, r.Messages, r.MessagesPerS, r.P50Ms, r.P99Ms, r.Errors)
	return err
}

// benchWorker is one simulated user.
type benchWorker struct {
	c     *client.Client
	name  string
	conv  string
	lats  []time.Duration
	errs  int
	first error
}

func runBench(ctx context.Context, addrs []string, o benchOpts, log io.Writer) (benchResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	nconv := o.conversations
	if nconv <= 0 {
		nconv = max(1, o.clients/2)
	}
	nconv = min(nconv, o.clients)
	var shared []*client.Conns
	for range o.conns {
		cs, err := client.Dial(addrs)
		if err != nil {
			return benchResult{}, err
		}
		defer func() { _ = cs.Close() }()
		shared = append(shared, cs)
	}
	workers, err := benchSetup(ctx, addrs, shared, o.clients, nconv, o.postStream, log)
	defer func() {
		for _, w := range workers {
			_ = w.c.Close()
		}
	}()
	if err != nil {
		return benchResult{}, err
	}
	payload := strings.Repeat("x", o.size)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return benchResult{}, fmt.Errorf("bench: %w", err)
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return benchResult{}, fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.post(ctx, payload, deadline)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return summarize(workers, o, nconv, elapsed, log), nil
}

func (w *benchWorker) post(ctx context.Context, payload string, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t0 := time.Now()
		// The per-call deadline lets a post retried across a failover finish after the run
		// ends; it still counts only if acknowledged.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := w.c.Post(cctx, w.conv, payload, 0)
		cancel()
		if err != nil {
			w.errs++
			if w.first == nil {
				w.first = err
			}
			continue
		}
		w.lats = append(w.lats, time.Since(t0))
	}
}

func summarize(workers []*benchWorker, o benchOpts, nconv int, elapsed time.Duration, log io.Writer) benchResult {
	var all []time.Duration
	errs := 0
	for _, w := range workers {
		all = append(all, w.lats...)
		errs += w.errs
		if w.first != nil {
			_, _ = fmt.Fprintf(log, "bench: %s: %d errors, first: %v\n", w.name, w.errs, w.first)
		}
	}
	slices.Sort(all)
	return benchResult{
		Clients:       o.clients,
		Conns:         o.conns,
		PostStream:    o.postStream,
		Messages:      len(all),
		MessagesPerS:  float64(len(all)) / elapsed.Seconds(),
		P50Ms:         percentileMs(all, 0.50),
		P99Ms:         percentileMs(all, 0.99),
		Errors:        errs,
		Conversations: nconv,
		Size:          o.size,
		DurationS:     elapsed.Seconds(),
	}
}

// percentileMs returns the q-quantile (nearest rank) of sorted, in milliseconds.
func percentileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// benchSetup signs up one user per client (in parallel) and creates nconv groups; client i
// posts into group i mod nconv. Clients use the shared connections round-robin, or dial their
// own when there are none.
func benchSetup(ctx context.Context, addrs []string, shared []*client.Conns, clients, nconv int, postStream bool, log io.Writer) ([]*benchWorker, error) {
	var run [6]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, fmt.Errorf("bench: run id: %w", err)
	}
	prefix := "bench" + hex.EncodeToString(run[:])
	workers := make([]*benchWorker, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // password hashing is CPU-bound on the nodes
	for i := range workers {
		cfg := client.Config{Addrs: addrs, FirstNode: i, PostStream: postStream}
		if len(shared) > 0 {
			cfg.Conns = shared[i%len(shared)]
		}
		c, err := client.New(cfg)
		if err != nil {
			return workers[:i], err
		}
		workers[i] = &benchWorker{c: c, name: fmt.Sprintf("%s-%d", prefix, i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = c.SignUp(ctx, workers[i].name, prefix+"-password")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return workers, fmt.Errorf("bench: sign up: %w", err)
	}
	for g := range nconv {
		var members []string
		for i := g + nconv; i < clients; i += nconv {
			members = append(members, workers[i].name)
		}
		conv, err := workers[g].c.CreateGroup(ctx, fmt.Sprintf("%s-g%d", prefix, g), members...)
		if err != nil {
			return workers, fmt.Errorf("bench: create group %d: %w", g, err)
		}
		for i := g; i < clients; i += nconv {
			workers[i].conv = conv.GetId()
		}
	}
	_, _ = fmt.Fprintf(log, "bench: %d users, %d groups ready\n", clients, nconv)
	return workers, nil
}
