package main

import (
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/service/memnode"
	"github.com/raftchat/raftchat/statemachine"
)

// testAdminPassword is the password of the bootstrap admin ("admin") of serve's server.
const testAdminPassword = "admin-password"

// serve starts a one-node ChatService on 127.0.0.1 and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	return serveWith(t, nil)
}

// serveWith is serve with mod applied to the service configuration.
func serveWith(t *testing.T, mod func(*service.Config)) string {
	t.Helper()
	node, err := memnode.New(statemachine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.DefaultConfig()
	cfg.PasswordParams = auth.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}
	cfg.Bootstrap = true
	cfg.AdminPassword = testAdminPassword
	if mod != nil {
		mod(&cfg)
	}
	svc, err := service.New(node, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node.SetClientAddr(lis.Addr().String())
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func runChat(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// runChatInput is runChat with stdin as the command's standard input.
func runChatInput(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWithInput(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestBenchJSON(t *testing.T) {
	// In process, one bench user can post faster than the per-user rate limit (1000 requests
	// a second); this test is about the output, so the limit is lifted.
	addr := serveWith(t, func(c *service.Config) { c.RequestsPerSecond = 1e9 })
	out, errOut, code := runChat(t, "bench", "--addrs", addr, "--clients", "4", "--duration", "300ms", "--size", "64", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	for _, k := range []string{"clients", "messages", "messages_per_s", "p50_ms", "p99_ms", "errors"} {
		if _, ok := r[k]; !ok {
			t.Errorf("missing field %q in %s", k, out)
		}
	}
	if r["clients"].(float64) != 4 || r["messages"].(float64) < 1 || r["errors"].(float64) != 0 {
		t.Fatalf("unexpected result %s\n%s", out, errOut)
	}
	if r["p50_ms"].(float64) > r["p99_ms"].(float64) {
		t.Fatalf("p50 above p99: %s", out)
	}
}

func TestUserCommands(t *testing.T) {
	addr := serve(t)
	dir := t.TempDir()
	alice := []string{"--addrs", addr, "--session", filepath.Join(dir, "alice.json")}
	bob := []string{"--addrs", addr, "--session", filepath.Join(dir, "bob.json")}
	steps := []struct {
		args []string
		want string
	}{
		{append([]string{"signup", "alice", "--password", "alice-password"}, alice...), "logged in as alice"},
		{append([]string{"signup", "bob", "--password", "bob-password"}, bob...), "logged in as bob"},
		{append([]string{"send", "--to", "bob", "hello", "bob"}, alice...), "sent dm:alice:bob #1"},
		{append([]string{"groups", "create", "team", "bob"}, alice...), "created g:"},
		{append([]string{"groups"}, bob...), "team"},
		{append([]string{"status"}, bob...), "leader"},
		{append([]string{"login", "bob", "--password", "bob-password"}, bob...), "logged in as bob"},
		{append([]string{"users"}, bob...), "alice\t"},
		{append([]string{"search", "hello"}, bob...), "alice: hello bob"},
	}
	for _, s := range steps {
		out, errOut, code := runChat(t, s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("chat %v: exit %d, out %q, err %q; want %q", s.args, code, out, errOut, s.want)
		}
	}
	out, _, _ := runChat(t, append([]string{"groups"}, alice...)...)
	h, errOut, code := runChat(t, append([]string{"history", firstConv(out, "direct")}, bob...)...)
	if code != 0 || !strings.Contains(h, "alice: hello bob") {
		t.Fatalf("history: exit %d %q %q", code, h, errOut)
	}
	if out, errOut, code := runChat(t, append([]string{"logout"}, bob...)...); code != 0 || out != "logged out\n" {
		t.Fatalf("logout: exit %d %q %q", code, out, errOut)
	}
	if _, _, code := runChat(t, append([]string{"groups"}, bob...)...); code == 0 {
		t.Fatal("groups works after logout")
	}
}

// firstConv returns the id of the first listed conversation of kind.
func firstConv(groupsOut, kind string) string {
	for _, line := range strings.Split(groupsOut, "\n") {
		f := strings.Split(line, "\t")
		if len(f) > 1 && f[1] == kind {
			return f[0]
		}
	}
	return ""
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--clients", "0"},
		{"send", "hi"},
		{"no-such-command"},
		{"bench", "--no-such-flag"},
	} {
		if _, _, code := runChat(t, args...); code != exitUsage {
			t.Errorf("chat %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
