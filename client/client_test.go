package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/service/memnode"
	"github.com/raftchat/raftchat/statemachine"
)

// lossyBackend applies proposals but, while lose > 0, reports them as failed: the ack of a
// write that did commit is lost, as when a leader dies right after applying.
type lossyBackend struct {
	service.Backend
	lose       atomic.Int32
	leaderAddr atomic.Value // string
	// loseAny makes lose apply to every write, not only to posts.
	loseAny atomic.Bool
}

// Status reports this node as a follower of the leader at leaderAddr, when set.
func (b *lossyBackend) Status(ctx context.Context) (service.ClusterStatus, error) {
	st, err := b.Backend.Status(ctx)
	if a, _ := b.leaderAddr.Load().(string); a != "" {
		st.ID, st.Leader, st.LeaderAddr, st.Role = 1, 2, a, "follower"
	}
	return st, err
}

func (b *lossyBackend) Propose(ctx context.Context, cmd *commandpb.Command) (*commandpb.Result, error) {
	res, err := b.Backend.Propose(ctx, cmd)
	if (cmd.GetPostMessage() != nil || b.loseAny.Load()) && b.lose.Add(-1) >= 0 {
		return nil, fmt.Errorf("ack lost: %w", raft.ErrNoLeader)
	}
	return res, err
}

// twoNodes serves one state machine through two ChatService "nodes" on in-memory
// listeners, so a client can fail over between them.
type twoNodes struct {
	servers []*grpc.Server
	lis     []*bufconn.Listener
	backend *lossyBackend
}

func newTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	return newTwoNodesWith(t)
}

// newTwoNodesWith is newTwoNodes with extra options for both servers.
func newTwoNodesWith(t *testing.T, extra ...grpc.ServerOption) *twoNodes {
	t.Helper()
	node, err := memnode.New(statemachine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tn := &twoNodes{backend: &lossyBackend{Backend: node}}
	cfg := service.DefaultConfig()
	cfg.PasswordParams = auth.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}
	cfg.AccessTokenTTL = time.Hour
	cfg.Bootstrap = true
	cfg.AdminPassword = adminPassword
	for range 2 {
		svc, err := service.New(tn.backend, cfg)
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(append(svc.ServerOptions(), extra...)...)
		svc.Register(gs)
		lis := bufconn.Listen(1 << 20)
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(gs.Stop)
		tn.servers, tn.lis = append(tn.servers, gs), append(tn.lis, lis)
	}
	return tn
}

func (tn *twoNodes) client(t *testing.T, first int) *client.Client {
	t.Helper()
	return tn.clientWith(t, first, nil)
}

// clientWith is client with mod applied to the Config.
func (tn *twoNodes) clientWith(t *testing.T, first int, mod func(*client.Config)) *client.Client {
	t.Helper()
	dial := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		if addr == "node0" {
			return tn.lis[0].DialContext(ctx)
		}
		return tn.lis[1].DialContext(ctx)
	})
	cfg := client.Config{Addrs: []string{"passthrough:///node0", "passthrough:///node1"}, FirstNode: first,
		DialOptions: []grpc.DialOption{dial, grpc.WithTransportCredentials(insecure.NewCredentials())},
		Backoff:     time.Millisecond, AttemptTimeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRetryAfterLostAckDoesNotDuplicate(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob := tn.client(t, 0), tn.client(t, 1)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SignUp(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	tn.backend.lose.Store(2) // the first two attempts apply but report Unavailable
	m, err := alice.SendDirect(ctx, "bob", "exactly once")
	if err != nil {
		t.Fatal(err)
	}
	if m.GetSeq() != 1 {
		t.Fatalf("seq %d, want 1", m.GetSeq())
	}
	h, err := bob.History(ctx, m.GetConversationId(), 0, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.GetMessages()) != 1 {
		t.Fatalf("history holds %d messages after retries, want 1", len(h.GetMessages()))
	}
}

func TestFailoverWhenANodeDies(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := tn.client(t, 0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "solo")
	if err != nil {
		t.Fatal(err)
	}
	zero, err := alice.Post(ctx, g.GetId(), "zero", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Alice streams events (after "zero") through node 0, which then dies; the stream
	// resumes on node 1 after the last event it delivered.
	got := make(chan string, 10)
	subErr := make(chan error, 1)
	go func() {
		from := client.Position{Index: zero.GetLogIndex(), Ordinal: ^uint32(0)}
		subErr <- alice.Subscribe(ctx, from, func(ev *chatpb.Event) error {
			if m := ev.GetMessage(); m != nil {
				got <- m.GetText()
			}
			return nil
		})
	}()
	post := func(text string) {
		t.Helper()
		if _, err := alice.Post(ctx, g.GetId(), text, 0); err != nil {
			t.Fatalf("post %s: %v", text, err)
		}
	}
	post("before")
	select {
	case s := <-got:
		if s != "before" {
			t.Fatalf("got %q, want %q", s, "before")
		}
	case err := <-subErr:
		t.Fatalf("subscribe ended: %v", err)
	case <-ctx.Done():
		t.Fatal("stream delivered nothing")
	}
	tn.servers[0].Stop()
	post("after") // fails over to node 1
	if alice.Node() != "passthrough:///node1" {
		t.Fatalf("client still on %s", alice.Node())
	}
	select {
	case s := <-got:
		if s != "after" {
			t.Fatalf("resumed stream delivered %q, want %q", s, "after")
		}
	case err := <-subErr:
		t.Fatalf("subscribe ended: %v", err)
	case <-ctx.Done():
		t.Fatal("resumed stream delivered nothing")
	}
	select {
	case s := <-got:
		t.Fatalf("duplicate or extra event %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-subErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe returned %v, want context.Canceled", err)
	}
}

func TestTokenRefreshedWhenExpired(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := tn.client(t, 0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	_, refresh := alice.Tokens()
	alice.SetTokens("alice", "expired.or.garbage", refresh)
	if _, err := alice.Conversations(ctx, false); err != nil {
		t.Fatalf("call with a bad access token and a good refresh token: %v", err)
	}
	if a, _ := alice.Tokens(); a == "expired.or.garbage" {
		t.Fatal("access token not replaced")
	}
}

func TestUploadAndDownloadFile(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := tn.client(t, 0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("raftchat file bytes "), 40_000) // 800000 bytes: 4 chunks
	f, err := alice.UploadFile(ctx, g.GetId(), "big.txt", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); f.GetSize() != uint64(len(data)) || !bytes.Equal(f.GetSha256(), sum[:]) {
		t.Fatalf("file ref %v", f)
	}
	var out bytes.Buffer
	n, err := alice.DownloadFile(ctx, f.GetFileId(), 300_000, &out)
	if err != nil || n != uint64(len(data)-300_000) || !bytes.Equal(out.Bytes(), data[300_000:]) {
		t.Fatalf("download from 300000: %d bytes, %v", n, err)
	}
}

func TestWritesMoveToTheLeaderANodeNames(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := tn.client(t, 0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // the service caches its leader view for 100ms
	tn.backend.leaderAddr.Store("passthrough:///node1")
	if alice.Node() != "passthrough:///node0" {
		t.Fatalf("client on %s before any write", alice.Node())
	}
	if _, err := alice.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if alice.Node() != "passthrough:///node1" {
		t.Fatalf("client on %s after a write answered by a follower, want the leader", alice.Node())
	}
}

// TestClientsShareConnections runs two users over one set of connections: each keeps its own
// session and its own node preference, and closing one client leaves the shared connections
// to the other.
func TestClientsShareConnections(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		if addr == "node0" {
			return tn.lis[0].DialContext(ctx)
		}
		return tn.lis[1].DialContext(ctx)
	})
	conns, err := client.Dial([]string{"passthrough:///node0", "passthrough:///node1"},
		dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conns.Close() }()
	alice, err := client.New(client.Config{Conns: conns, FirstNode: 0})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.New(client.Config{Conns: conns, FirstNode: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SignUp(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	if alice.ClientID() == bob.ClientID() {
		t.Fatal("two clients on shared connections got one write session")
	}
	time.Sleep(150 * time.Millisecond) // the service caches its leader view for 100ms
	tn.backend.leaderAddr.Store("passthrough:///node1")
	if _, err := alice.SendDirect(ctx, "bob", "hi bob"); err != nil {
		t.Fatal(err)
	}
	if alice.Node() != "passthrough:///node1" || bob.Node() != "passthrough:///node0" {
		t.Fatalf("after alice's write: alice on %s, bob on %s; want alice alone to move to the leader", alice.Node(), bob.Node())
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := bob.History(ctx, "dm:alice:bob", 0, 0, 10, false)
	if err != nil {
		t.Fatalf("bob's read after alice closed her client: %v", err)
	}
	if len(h.GetMessages()) != 1 || h.GetMessages()[0].GetAuthor() != "alice" {
		t.Fatalf("bob sees %v", h.GetMessages())
	}
}

func postStreaming(c *client.Config) { c.PostStream = true }

// streamingPair signs up alice, who posts over a PostStream from node 0, and bob on node 1,
// and returns them with the direct conversation alice opened by posting "first".
func streamingPair(ctx context.Context, t *testing.T, tn *twoNodes) (alice, bob *client.Client, conv string) {
	t.Helper()
	alice, bob = tn.clientWith(t, 0, postStreaming), tn.client(t, 1)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SignUp(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	m, err := alice.SendDirect(ctx, "bob", "first")
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob, m.GetConversationId()
}

// historyLen is how many messages bob's history of conv holds.
func historyLen(ctx context.Context, t *testing.T, bob *client.Client, conv string) int {
	t.Helper()
	h, err := bob.History(ctx, conv, 0, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	return len(h.GetMessages())
}

// Over a PostStream, a post whose acknowledgement was lost is retried (on the other node,
// over a new stream) with the same write key and applied once.
func TestPostStreamRetryAfterLostAckDoesNotDuplicate(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob, conv := streamingPair(ctx, t, tn)
	tn.backend.lose.Store(2) // the next two attempts apply but report Unavailable
	m, err := alice.Post(ctx, conv, "exactly once", 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.GetSeq() != 2 {
		t.Fatalf("seq %d, want 2", m.GetSeq())
	}
	if n := historyLen(ctx, t, bob, conv); n != 2 {
		t.Fatalf("history holds %d messages after retries, want 2", n)
	}
}

// When the node under a PostStream goes away, posts continue through the other node.
func TestPostStreamFailsOverWhenItsNodeStops(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob, conv := streamingPair(ctx, t, tn)
	tn.servers[0].Stop()
	for i := range 3 {
		if _, err := alice.Post(ctx, conv, fmt.Sprint("after ", i), 0); err != nil {
			t.Fatalf("post %d after node 0 stopped: %v", i, err)
		}
	}
	if n := historyLen(ctx, t, bob, conv); n != 4 {
		t.Fatalf("history holds %d messages, want 4", n)
	}
}

// A PostStream client whose access token went bad opens its next stream, is refused,
// refreshes the token and posts.
func TestPostStreamRefreshesABadToken(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob, conv := streamingPair(ctx, t, tn)
	_, refresh := alice.Tokens()
	alice.SetTokens("alice", "expired.or.garbage", refresh)
	if _, err := alice.Post(ctx, conv, "second", 0); err != nil {
		t.Fatalf("post with a bad access token and a good refresh token: %v", err)
	}
	if a, _ := alice.Tokens(); a == "expired.or.garbage" {
		t.Fatal("access token not replaced")
	}
	if n := historyLen(ctx, t, bob, conv); n != 2 {
		t.Fatalf("history holds %d messages, want 2", n)
	}
}

// Against nodes without PostStream (an older version), a PostStream client posts with the
// unary call instead, once and from then on.
func TestPostStreamFallsBackToUnary(t *testing.T) {
	var streams atomic.Int32
	old := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if strings.HasSuffix(info.FullMethod, "/PostStream") {
			streams.Add(1)
			return status.Error(codes.Unimplemented, "unknown method PostStream")
		}
		return h(srv, ss)
	})
	tn := newTwoNodesWith(t, old)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob, conv := streamingPair(ctx, t, tn)
	for i := range 3 {
		if _, err := alice.Post(ctx, conv, fmt.Sprint("unary ", i), 0); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if n := historyLen(ctx, t, bob, conv); n != 4 {
		t.Fatalf("history holds %d messages, want 4", n)
	}
	if n := streams.Load(); n != 1 {
		t.Fatalf("%d PostStream attempts, want 1 before falling back", n)
	}
}

// TestGroupWritesRetriedAfterLostAckApplyOnce: adding a member or leaving twice is refused,
// so a retry that reached the state machine again (a new request id) would fail the call.
func TestGroupWritesRetriedAfterLostAckApplyOnce(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, bob := tn.client(t, 0), tn.client(t, 1)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SignUp(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	tn.backend.loseAny.Store(true)
	tn.backend.lose.Store(2)
	if cv, err := alice.AddMember(ctx, g.GetId(), "bob"); err != nil || len(cv.GetMembers()) != 2 {
		t.Fatalf("add member after lost acks: %v %v", cv, err)
	}
	tn.backend.lose.Store(2)
	if cv, err := alice.SetGroupAdmin(ctx, g.GetId(), "bob", true); err != nil || len(cv.GetAdmins()) != 2 {
		t.Fatalf("set group admin after lost acks: %v %v", cv, err)
	}
	tn.backend.lose.Store(2)
	if cv, err := bob.RenameGroup(ctx, g.GetId(), "crew"); err != nil || cv.GetName() != "crew" {
		t.Fatalf("rename after lost acks: %v %v", cv, err)
	}
	tn.backend.lose.Store(2)
	if err := bob.LeaveGroup(ctx, g.GetId()); err != nil {
		t.Fatalf("leave after lost acks: %v", err)
	}
	tn.backend.loseAny.Store(false)
	if err := bob.LeaveGroup(ctx, g.GetId()); err == nil {
		t.Fatal("leaving twice succeeded: the retries above prove nothing")
	}
	cv, err := alice.GetConversation(ctx, g.GetId(), false)
	if err != nil || cv.GetName() != "crew" || len(cv.GetMembers()) != 1 || cv.GetMembers()[0] != "alice" {
		t.Fatalf("group after the writes: %v %v", cv, err)
	}
	if _, err := bob.GetConversation(ctx, g.GetId(), false); status.Code(err) == codes.OK {
		t.Fatal("bob still sees the group he left")
	}
	if err := bob.SetPresence(ctx, false); err != nil {
		t.Fatal(err)
	}
}

func TestChangePasswordLogsInAgain(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := tn.client(t, 0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	oldAccess, _ := alice.Tokens()
	if err := alice.ChangePassword(ctx, "wrong-password", "new-password-1"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("change with a wrong old password: %v", err)
	}
	if err := alice.ChangePassword(ctx, "alice-password", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if a, _ := alice.Tokens(); a == oldAccess {
		t.Fatal("still holding the token issued before the change")
	}
	if _, err := alice.Conversations(ctx, false); err != nil {
		t.Fatalf("call after the change: %v", err)
	}
	other := tn.client(t, 1)
	if _, err := other.Login(ctx, "alice", "alice-password"); status.Code(err) == codes.OK {
		t.Fatal("the old password still logs in")
	}
	if _, err := other.Login(ctx, "alice", "new-password-1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// The acknowledgement of an applied change is lost: the retry is refused (its token was
	// revoked and the old password no longer matches), yet the call reports the change.
	tn.backend.loseAny.Store(true)
	tn.backend.lose.Store(1)
	if err := alice.ChangePassword(ctx, "new-password-1", "new-password-2"); err != nil {
		t.Fatalf("change whose acknowledgement was lost: %v", err)
	}
	if _, err := other.Login(ctx, "alice", "new-password-2"); err != nil {
		t.Fatalf("the password after the lost acknowledgement: %v", err)
	}
	if _, err := alice.Conversations(ctx, false); err != nil {
		t.Fatalf("call after the lost acknowledgement: %v", err)
	}
}

// adminPassword is the bootstrap admin's password on the test nodes.
const adminPassword = "admin-password"

func TestAdminCalls(t *testing.T) {
	tn := newTwoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, admin := tn.client(t, 0), tn.client(t, 1)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateGroup(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AdminUsers(ctx, false); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin call by a plain user: %v", err)
	}
	if _, err := admin.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	users, err := admin.AdminUsers(ctx, false)
	if err != nil || len(users) != 2 {
		t.Fatalf("admin users: %v %v", users, err)
	}
	groups, err := admin.AdminGroups(ctx, false)
	if err != nil || len(groups) != 1 || groups[0].GetName() != "team" {
		t.Fatalf("admin groups: %v %v", groups, err)
	}
	if u, err := admin.AdminSetRole(ctx, "alice", chatpb.Role_ROLE_ADMIN); err != nil || u.GetRole() != chatpb.Role_ROLE_ADMIN {
		t.Fatalf("set role: %v %v", u, err)
	}
	if _, err := alice.AdminUsers(ctx, false); err != nil {
		t.Fatalf("admin call by a new admin: %v", err)
	}
	if u, err := alice.AdminSetUserDisabled(ctx, "admin", true); err != nil || !u.GetDisabled() {
		t.Fatalf("disable: %v %v", u, err)
	}
	if _, err := tn.client(t, 0).Login(ctx, "admin", adminPassword); status.Code(err) == codes.OK {
		t.Fatal("a disabled user logs in")
	}
}
