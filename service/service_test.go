package service_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
)

func wantCode(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if got := status.Code(unwrapAll(err)); got != want {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

// unwrapAll finds the innermost gRPC status in err's chain.
func unwrapAll(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := status.FromError(e); ok {
			return e
		}
	}
	return err
}

func TestSignUpLoginPostHistory(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	m, err := alice.SendDirect(c, "bob", "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	if m.GetSeq() != 1 || m.GetAuthor() != "alice" || m.GetConversationId() == "" {
		t.Fatalf("unexpected message %v", m)
	}
	if _, err := bob.Post(c, m.GetConversationId(), "hi alice", 1); err != nil {
		t.Fatal(err)
	}
	h, err := alice.History(c, m.GetConversationId(), 0, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.GetMessages()) != 2 || h.GetMessages()[1].GetText() != "hi alice" || h.GetMessages()[1].GetReplyTo() != 1 {
		t.Fatalf("history %v", h.GetMessages())
	}
	convs, err := alice.Conversations(c, true)
	if err != nil || len(convs) != 1 || convs[0].GetName() != "bob" || convs[0].GetUnread() != 1 {
		t.Fatalf("conversations %v %v", convs, err)
	}
	// A fresh login works; a wrong password does not, and says nothing about which part.
	again := e.client("")
	if _, err := again.Login(c, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	_, err = again.Login(c, "alice", "wrong-password")
	wantCode(t, err, codes.Unauthenticated, "wrong password")
	_, err = again.Login(c, "nobody", "whatever-password")
	wantCode(t, err, codes.Unauthenticated, "unknown user")
}

func TestUnauthenticatedAndBadTokens(t *testing.T) {
	e := newEnv(t, nil)
	e.client("alice") // bootstraps the cluster
	_, err := e.raw.ListConversations(ctx(t), &chatpb.ListConversationsRequest{})
	wantCode(t, err, codes.Unauthenticated, "no token")
	md := metadata.Pairs("authorization", "Bearer not.a.token")
	_, err = e.raw.ListConversations(metadata.NewOutgoingContext(ctx(t), md), &chatpb.ListConversationsRequest{})
	wantCode(t, err, codes.Unauthenticated, "garbage token")
	// A refresh token is not an access token.
	c := e.client("bob")
	_, refresh := c.Tokens()
	md = metadata.Pairs("authorization", "Bearer "+refresh)
	_, err = e.raw.ListConversations(metadata.NewOutgoingContext(ctx(t), md), &chatpb.ListConversationsRequest{})
	wantCode(t, err, codes.Unauthenticated, "refresh token used as access token")
}

func TestMembersOnlyAndAdminsOnly(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob, eve := e.client("alice"), e.client("bob"), e.client("eve")
	c := ctx(t)
	g, err := alice.CreateGroup(c, "team", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.GetMembers()) != 2 || len(g.GetAdmins()) != 1 || g.GetAdmins()[0] != "alice" {
		t.Fatalf("group %v", g)
	}
	if list, err := bob.Conversations(c, false); err != nil || len(list) != 1 || !slices.Equal(list[0].GetAdmins(), []string{"alice"}) {
		t.Fatalf("bob's conversation list %v: %v (want the group with its admins)", list, err)
	}
	if _, err := bob.Post(c, g.GetId(), "hello team", 0); err != nil {
		t.Fatal(err)
	}
	_, err = eve.Post(c, g.GetId(), "let me in", 0)
	wantCode(t, err, codes.PermissionDenied, "non-member post")
	_, err = eve.History(c, g.GetId(), 0, 0, 10, false)
	wantCode(t, err, codes.PermissionDenied, "non-member history")
	_, err = bob.AddMember(c, g.GetId(), "eve")
	wantCode(t, err, codes.PermissionDenied, "non-admin adds a member")
	if _, err := alice.AddMember(c, g.GetId(), "eve"); err != nil {
		t.Fatal(err)
	}
	if _, err := eve.History(c, g.GetId(), 0, 0, 10, false); err != nil {
		t.Fatalf("history after being added: %v", err)
	}
	err = bob.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
		_, err := rpc.AdminListUsers(ctx, &chatpb.ListUsersRequest{})
		return err
	})
	wantCode(t, err, codes.PermissionDenied, "user calls admin API")
	root := e.client("")
	if _, err := root.Login(c, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	var users *chatpb.ListUsersResponse
	if err := root.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		users, err = rpc.AdminListUsers(ctx, &chatpb.ListUsersRequest{})
		return err
	}); err != nil || len(users.GetUsers()) != 4 {
		t.Fatalf("admin list users: %v %v", users, err)
	}
	// Disabling a user refuses their next call at once, though their token is valid.
	if err := root.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
		_, err := rpc.AdminSetUserDisabled(ctx, &chatpb.AdminSetUserDisabledRequest{Meta: root.NewWriteMeta(), Username: "eve", Disabled: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = eve.Conversations(c, false)
	wantCode(t, err, codes.PermissionDenied, "disabled user")
}

func TestLimitsAndValidation(t *testing.T) {
	e := newEnv(t, func(c *service.Config) { c.RequestsPerSecond, c.Burst = 0.001, 20 })
	alice := e.client("alice")
	e.client("bob")
	c := ctx(t)
	_, err := alice.SendDirect(c, "bob", strings.Repeat("x", 1025))
	wantCode(t, err, codes.InvalidArgument, "message over MaxMessageBytes")
	err = alice.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
		_, err := rpc.PostMessage(ctx, &chatpb.PostMessageRequest{ToUser: "bob", Text: "no meta"})
		return err
	})
	wantCode(t, err, codes.InvalidArgument, "write without meta")
	var last error
	for i := 0; i < 30 && last == nil; i++ {
		_, last = alice.Conversations(c, true)
	}
	wantCode(t, last, codes.ResourceExhausted, "rate limit")
}

func TestRetriedWriteAppliesOnce(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice")
	e.client("bob")
	c := ctx(t)
	req := &chatpb.PostMessageRequest{Meta: alice.NewWriteMeta(), ToUser: "bob", Text: "once"}
	var seqs []uint64
	for range 3 {
		if err := alice.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
			m, err := rpc.PostMessage(ctx, req)
			seqs = append(seqs, m.GetSeq())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if seqs[0] != 1 || seqs[1] != 1 || seqs[2] != 1 {
		t.Fatalf("retries got seqs %v, want 1 1 1", seqs)
	}
	convs, _ := alice.Conversations(c, false)
	if convs[0].GetLastSeq() != 1 {
		t.Fatalf("conversation holds %d messages, want 1", convs[0].GetLastSeq())
	}
}

func TestLogoutRevokesEverywhereAndRefreshRotates(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice")
	c := ctx(t)
	access, refresh := alice.Tokens()
	// Refresh gives a new pair and revokes the old refresh token.
	resp, err := e.raw.Refresh(c, &chatpb.RefreshRequest{Meta: alice.NewWriteMeta(), RefreshToken: refresh})
	if err != nil || resp.GetAccessToken() == "" || resp.GetAccessToken() == access {
		t.Fatalf("refresh: %v %v", resp, err)
	}
	_, err = e.raw.Refresh(c, &chatpb.RefreshRequest{Meta: alice.NewWriteMeta(), RefreshToken: refresh})
	wantCode(t, err, codes.Unauthenticated, "reused refresh token")
	if err := alice.Logout(c); err != nil {
		t.Fatal(err)
	}
	md := metadata.Pairs("authorization", "Bearer "+access)
	_, err = e.raw.ListConversations(metadata.NewOutgoingContext(c, md), &chatpb.ListConversationsRequest{})
	wantCode(t, err, codes.Unauthenticated, "logged-out access token")
}

func TestNoLeaderIsUnavailableNamingTheLeader(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice")
	e.client("bob")
	e.node.SetFailPropose(&service.LeaderError{Leader: 2, LeaderAddr: "127.0.0.1:7002", Err: raft.ErrNotLeader})
	_, err := e.raw.PostMessage(metadataFor(t, alice), &chatpb.PostMessageRequest{Meta: alice.NewWriteMeta(), ToUser: "bob", Text: "x"})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || len(st.Details()) != 1 {
		t.Fatalf("got %v details %v, want Unavailable with a LeaderHint", err, st.Details())
	}
	if h, ok := st.Details()[0].(*chatpb.LeaderHint); !ok || h.GetLeaderAddr() != "127.0.0.1:7002" || h.GetLeader() != 2 {
		t.Fatalf("hint %v", st.Details()[0])
	}
	e.node.SetFailPropose(fmt.Errorf("propose: %w", raft.ErrNoLeader))
	_, err = e.raw.PostMessage(metadataFor(t, alice), &chatpb.PostMessageRequest{Meta: alice.NewWriteMeta(), ToUser: "bob", Text: "x"})
	wantCode(t, err, codes.Unavailable, "no leader")
}

func metadataFor(t *testing.T, c *client.Client) context.Context {
	access, _ := c.Tokens()
	return metadata.NewOutgoingContext(ctx(t), metadata.Pairs("authorization", "Bearer "+access))
}

func TestSubscribeResumesWithoutGapOrDuplicate(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	first, err := alice.SendDirect(c, "bob", "m1")
	if err != nil {
		t.Fatal(err)
	}
	conv := first.GetConversationId()
	// Bob reads the events after his position at alice's first message, stopping after two.
	var got []string
	var pos client.Position
	errStop := errors.New("stop")
	go func() {
		for i := 2; i <= 5; i++ {
			_, _ = alice.Post(c, conv, fmt.Sprintf("m%d", i), 0)
		}
	}()
	start := client.Position{Index: first.GetLogIndex(), Ordinal: ^uint32(0)}
	err = bob.Subscribe(c, start, func(ev *chatpb.Event) error {
		got = append(got, ev.GetMessage().GetText())
		pos = client.Position{Index: ev.GetIndex(), Ordinal: ev.GetOrdinal()}
		if len(got) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	err = bob.Subscribe(c, pos, func(ev *chatpb.Event) error {
		got = append(got, ev.GetMessage().GetText())
		if len(got) == 4 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "m2,m3,m4,m5" {
		t.Fatalf("events %v, want m2..m5 once each in order", got)
	}
}

func TestUploadResumeAndDownload(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.client("alice")
	e.client("bob")
	c := ctx(t)
	m, err := alice.SendDirect(c, "bob", "file coming")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("0123456789abcdef", 10_000)) // 160000 bytes, 3 chunks of 64 KiB
	sum := sha256.Sum256(data)
	const chunk = 64 << 10
	var st *chatpb.UploadStatusResponse
	if err := alice.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		st, err = rpc.StartUpload(ctx, &chatpb.StartUploadRequest{Meta: alice.NewWriteMeta(), ConversationId: m.GetConversationId(),
			Name: "f.bin", Size: uint64(len(data)), Sha256: sum[:], ChunkSize: chunk})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if st.GetChunkCount() != 3 {
		t.Fatalf("chunk count %d", st.GetChunkCount())
	}
	upload := func(from, to int) *chatpb.UploadStatusResponse {
		stream, err := e.raw.Upload(metadataFor(t, alice))
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			part := data[i*chunk : min((i+1)*chunk, len(data))]
			h := sha256.Sum256(part)
			if err := stream.Send(&chatpb.UploadChunk{Meta: alice.NewWriteMeta(), FileId: st.GetFileId(), Index: uint32(i), Data: part, Sha256: h[:]}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if got := upload(0, 2); got.GetChunksReceived() != 2 || got.GetComplete() {
		t.Fatalf("after 2 chunks: %v", got)
	}
	if got := upload(1, 3); !got.GetComplete() { // chunk 1 resent: skipped
		t.Fatalf("after resume: %v", got)
	}
	download := func(off uint64) []byte {
		stream, err := e.raw.Download(metadataFor(t, alice), &chatpb.DownloadRequest{FileId: st.GetFileId(), Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for {
			part, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if part.GetOffset() != off+uint64(len(out)) {
				t.Fatalf("piece at %d, want %d", part.GetOffset(), off+uint64(len(out)))
			}
			out = append(out, part.GetData()...)
		}
	}
	if got := download(0); string(got) != string(data) {
		t.Fatalf("download: %d bytes, want %d identical", len(got), len(data))
	}
	if got := download(100_000); string(got) != string(data[100_000:]) {
		t.Fatalf("resumed download: %d bytes", len(got))
	}
	// A bad chunk hash is refused before it reaches the log.
	stream, _ := e.raw.Upload(metadataFor(t, alice))
	_ = stream.Send(&chatpb.UploadChunk{Meta: alice.NewWriteMeta(), FileId: st.GetFileId(), Index: 0, Data: []byte("x"), Sha256: sum[:]})
	_, err = stream.CloseAndRecv()
	wantCode(t, err, codes.InvalidArgument, "chunk hash mismatch")
	// A corrupt blob on this node is reported, never served.
	e.node.CorruptBlob(sha256.Sum256(data[:chunk]))
	dl, _ := e.raw.Download(metadataFor(t, alice), &chatpb.DownloadRequest{FileId: st.GetFileId()})
	_, err = dl.Recv()
	wantCode(t, err, codes.DataLoss, "corrupt blob")
}

func TestSuggestAndStatus(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	m, _ := alice.SendDirect(c, "bob", "thanks for the help!")
	s, err := bob.Suggest(c, m.GetConversationId(), 2)
	if err != nil || len(s.GetSuggestions()) != 2 || s.GetSuggestions()[0] != "You're welcome!" || s.GetSource() != "offline" {
		t.Fatalf("suggest: %v %v", s, err)
	}
	st, err := bob.ClusterStatus(c)
	if err != nil || st.GetRole() != "leader" || st.GetApplied() == 0 {
		t.Fatalf("status: %v %v", st, err)
	}
}

func TestSubscribeDeliversPresence(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.client("alice"), e.client("bob")
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	m, err := alice.SendDirect(c, "bob", "hi")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *chatpb.User, 100)
	go func() {
		_ = bob.Subscribe(c, client.Position{Index: m.GetLogIndex(), Ordinal: ^uint32(0)}, func(ev *chatpb.Event) error {
			if p := ev.GetPresence(); p != nil {
				seen <- p
			}
			return nil
		})
	}()
	// Presence is best effort (reported when the stream is waiting): keep saying so.
	for {
		err := alice.Do(c, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
			_, err := rpc.SetPresence(ctx, &chatpb.SetPresenceRequest{Meta: alice.NewWriteMeta(), Online: false})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-seen:
			// Sign-up's own heartbeats (online) may arrive too.
			if p.GetUsername() == "alice" && !p.GetOnline() {
				return
			}
		case <-time.After(20 * time.Millisecond):
		case <-c.Done():
			t.Fatal("no presence event")
		}
	}
}

func TestWithoutBootstrapCallsAreUnavailable(t *testing.T) {
	e := newEnv(t, func(c *service.Config) { c.Bootstrap = false })
	_, err := e.raw.SignUp(ctx(t), &chatpb.SignUpRequest{Meta: &chatpb.WriteMeta{ClientId: "c", RequestId: 1},
		Username: "alice", Password: "alice-password"})
	wantCode(t, err, codes.Unavailable, "sign-up before the cluster is bootstrapped")
}

// A shared file is named, with its size, wherever its message appears: the post's answer,
// history, the conversation list and the live event stream.
func TestSharedFileLabelled(t *testing.T) {
	e := newEnv(t, func(c *service.Config) { c.MaxChunkBytes = client.DefaultChunkBytes })
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	first, err := alice.SendDirect(c, "bob", "report attached")
	if err != nil {
		t.Fatal(err)
	}
	conv := first.GetConversationId()
	data := []byte("quarterly numbers\n")
	ref, err := alice.UploadFile(c, conv, "q3.txt", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	shared, err := alice.ShareFile(c, conv, ref.GetFileId(), "Q3")
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, f *chatpb.FileRef) {
		t.Helper()
		if f.GetFileId() != ref.GetFileId() || f.GetName() != "q3.txt" || f.GetSize() != uint64(len(data)) {
			t.Fatalf("%s: file %v, want id %d q3.txt %d bytes", where, f, ref.GetFileId(), len(data))
		}
	}
	check("post answer", shared.GetFile())
	h, err := bob.History(c, conv, 0, ^uint64(0), 10, false)
	if err != nil || len(h.GetMessages()) != 2 {
		t.Fatalf("history: %v %v", h, err)
	}
	check("history", h.GetMessages()[1].GetFile())
	if h.GetAppliedIndex() < shared.GetLogIndex() {
		t.Fatalf("history read at applied index %d, before the message it shows (index %d)", h.GetAppliedIndex(), shared.GetLogIndex())
	}
	convs, err := bob.Conversations(c, false)
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations: %v %v", convs, err)
	}
	check("conversation list", convs[0].GetLastMessage().GetFile())
	errStop := errors.New("stop")
	var streamed *chatpb.FileRef
	err = bob.Subscribe(c, client.Position{Index: first.GetLogIndex(), Ordinal: ^uint32(0)}, func(ev *chatpb.Event) error {
		if f := ev.GetMessage().GetFile(); f != nil {
			streamed = f
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	check("event stream", streamed)
}
