package service_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/service/memnode"
	"github.com/raftchat/raftchat/statemachine"
)

// cheapParams keep password hashing fast in tests.
var cheapParams = auth.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}

const adminPassword = "admin-password"

type env struct {
	t    testing.TB
	node *memnode.Node
	lis  *bufconn.Listener
	raw  chatpb.ChatServiceClient // no token, no failover
}

func testConfig() service.Config {
	cfg := service.DefaultConfig()
	cfg.PasswordParams = cheapParams
	cfg.AdminPassword = adminPassword
	cfg.Bootstrap = true
	cfg.MaxMessageBytes = 1024
	cfg.MaxChunkBytes = 64 << 10
	cfg.MaxFileBytes = 1 << 20
	return cfg
}

// newEnv starts the ChatService over an in-memory listener on a memnode backend.
func newEnv(t testing.TB, mutate func(*service.Config)) *env {
	t.Helper()
	node, err := memnode.New(statemachine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := service.New(node, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	e := &env{t: t, node: node, lis: lis}
	cc, err := grpc.NewClient("passthrough:///bufnet", e.dialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	e.raw = chatpb.NewChatServiceClient(cc)
	return e
}

func (e *env) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return e.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
}

// client returns a library client for the env; user, when set, is signed up.
func (e *env) client(user string) *client.Client {
	e.t.Helper()
	c, err := client.New(client.Config{Addrs: []string{"passthrough:///bufnet"}, DialOptions: e.dialOptions(),
		Backoff: time.Millisecond, MaxAttempts: 3})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	if user != "" {
		if _, err := c.SignUp(ctx(e.t), user, user+"-password"); err != nil {
			e.t.Fatalf("sign up %s: %v", user, err)
		}
	}
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
