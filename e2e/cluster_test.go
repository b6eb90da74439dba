package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

const adminPassword = "e2e-admin-password"

var (
	buildOnce sync.Once
	chatdBin  string
	chatBin   string
	buildErr  error
	buildDir  string
)

// TestMain removes the chatd binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// chatd builds cmd/chatd once per test binary, or skips the test when it cannot be built.
func chatd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: starts real processes; skipped in -short mode")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "raftchat-e2e-bin-")
		if buildErr != nil {
			return
		}
		chatdBin, chatBin = filepath.Join(buildDir, "chatd"), filepath.Join(buildDir, "chat")
		out, err := exec.Command("go", "build", "-o", buildDir+"/",
			"github.com/raftchat/raftchat/cmd/chatd", "github.com/raftchat/raftchat/cmd/chat").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%w: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("e2e: cannot build cmd/chatd and cmd/chat: %v", buildErr)
	}
	return chatdBin
}

// proc is one chatd process of a cluster.
type proc struct {
	id         int
	clientAddr string
	peerAddr   string
	dataDir    string
	logPath    string
	cmd        *exec.Cmd
	done       chan struct{}
}

// cluster is three chatd processes on loopback.
type cluster struct {
	t     *testing.T
	bin   string
	procs []*proc
	extra []string // extra flags for every node
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return addrs
}

func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: chatd(t), extra: extra}
	ports := freePorts(t, 2*n)
	root := t.TempDir()
	for i := range n {
		c.procs = append(c.procs, &proc{id: i + 1, clientAddr: ports[i], peerAddr: ports[n+i],
			dataDir: filepath.Join(root, fmt.Sprintf("node%d", i+1)), logPath: filepath.Join(root, fmt.Sprintf("node%d.log", i+1))})
	}
	t.Cleanup(c.stopAll)
	for _, p := range c.procs {
		c.start(p)
	}
	for _, p := range c.procs {
		waitFor(t, 30*time.Second, fmt.Sprintf("node %d to accept connections", p.id), func() (bool, string) {
			conn, err := net.DialTimeout("tcp", p.clientAddr, time.Second)
			if err != nil {
				return false, err.Error()
			}
			_ = conn.Close()
			return true, ""
		})
	}
	return c
}

func (c *cluster) clusterFlags() (peers, clients string) {
	var ps, cs []string
	for _, p := range c.procs {
		ps = append(ps, fmt.Sprintf("%d=%s", p.id, p.peerAddr))
		cs = append(cs, fmt.Sprintf("%d=%s", p.id, p.clientAddr))
	}
	return strings.Join(ps, ","), strings.Join(cs, ",")
}

// logLevel is the nodes' log level: RAFTCHAT_E2E_LOG_LEVEL, default warn.
func logLevel() string {
	if l := os.Getenv("RAFTCHAT_E2E_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}

func (c *cluster) start(p *proc) {
	c.t.Helper()
	peers, clients := c.clusterFlags()
	c.startArgs(p, append([]string{"run", "--id", fmt.Sprint(p.id), "--data-dir", p.dataDir,
		"--client-addr", p.clientAddr, "--peer-addr", p.peerAddr, "--cluster", peers,
		"--cluster-clients", clients, "--admin-password", adminPassword, "--log-level", logLevel()}, c.extra...))
}

// startArgs starts p as chatd with these arguments, logging to p.logPath.
func (c *cluster) startArgs(p *proc, args []string) {
	c.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = fmt.Fprintf(logf, "=== start %s\n", strings.Join(args, " "))
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("start node %d: %v", p.id, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}(p.done)
}

// kill sends SIGKILL to p and waits for it to exit.
func (c *cluster) kill(p *proc) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func (c *cluster) stopAll() {
	for _, p := range c.procs {
		c.kill(p)
	}
	if c.t.Failed() {
		for _, p := range c.procs {
			if b, err := os.ReadFile(p.logPath); err == nil {
				c.t.Logf("--- node %d log (last 3000 bytes):\n%s", p.id, tail(b, 3000))
			}
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (c *cluster) addrs() []string {
	var out []string
	for _, p := range c.procs {
		out = append(out, p.clientAddr)
	}
	return out
}

// newClient returns a library client over every node, preferring node first.
func (c *cluster) newClient(first int) *client.Client {
	return c.newClientStaying(first, false)
}

// newClientStaying is newClient; with stay the client keeps writing through its node
// (failing over only on errors) instead of moving to the leader.
func (c *cluster) newClientStaying(first int, stay bool) *client.Client {
	c.t.Helper()
	return c.newClientWith(first, stay, false)
}

// newClientWith is newClientStaying; with postStream the client posts over a PostStream.
func (c *cluster) newClientWith(first int, stay, postStream bool) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Addrs: c.addrs(), FirstNode: first, AttemptTimeout: 3 * time.Second,
		MaxAttempts: 40, Backoff: 50 * time.Millisecond, StayOnNode: stay, PostStream: postStream})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// admin logs in as the bootstrap admin (bootstrapping the cluster on first use).
func (c *cluster) admin(ctx context.Context) *client.Client {
	c.t.Helper()
	cl := c.newClient(0)
	if _, err := cl.Login(ctx, "admin", adminPassword); err != nil {
		c.t.Fatalf("admin login: %v", err)
	}
	return cl
}

// leader asks every live node and returns the index (into procs) of the leader a majority
// of answering nodes agree on, or -1.
func (c *cluster) leader(ctx context.Context, cl *client.Client) int {
	votes := map[uint64]int{}
	for i, p := range c.procs {
		if p.cmd == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cl.ClusterStatusOf(sctx, i)
		cancel()
		if err == nil && st.GetLeader() != 0 {
			votes[st.GetLeader()]++
		}
	}
	for id, n := range votes {
		if n*2 > len(c.procs)-1 || n >= 2 {
			return int(id) - 1
		}
	}
	return -1
}

// waitFor polls cond every 50ms until it holds or the deadline passes; why says what was
// still wrong at the last poll.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", d, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// historyOf reads the whole of conv from node i's local state (stale read).
func historyOf(ctx context.Context, cl *client.Client, node int, conv string) ([]*chatpb.Message, error) {
	var out []*chatpb.Message
	after := uint64(0)
	for {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		h, err := cl.HistoryOf(sctx, node, conv, after, 500, true)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, h.GetMessages()...)
		if len(h.GetMessages()) == 0 || !h.GetMore() {
			return out, nil
		}
		after = h.GetMessages()[len(h.GetMessages())-1].GetSeq()
	}
}

func texts(ms []*chatpb.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.GetText()
	}
	return out
}

// converged waits until every node's local copy of each conversation equals every other's
// and returns node 0's copy.
func (c *cluster) converged(ctx context.Context, cl *client.Client, convs []string) map[string][]string {
	c.t.Helper()
	out := map[string][]string{}
	waitFor(c.t, 30*time.Second, "all nodes to hold identical histories", func() (bool, string) {
		for _, conv := range convs {
			var ref []string
			for i := range c.procs {
				ms, err := historyOf(ctx, cl, i, conv)
				if err != nil {
					return false, fmt.Sprintf("node %d: %v", i+1, err)
				}
				got := texts(ms)
				if i == 0 {
					ref = got
					continue
				}
				if strings.Join(got, "\x00") != strings.Join(ref, "\x00") {
					return false, fmt.Sprintf("%s: node 1 has %d messages, node %d has %d", conv, len(ref), i+1, len(got))
				}
			}
			out[conv] = ref
		}
		return true, ""
	})
	return out
}
