package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// signUpRaw signs user up through the raw stub and returns the access token.
func (e *env) signUpRaw(user string) string { return e.signUpRawAuth(user).GetAccessToken() }

func (e *env) signUpRawAuth(user string) *chatpb.AuthResponse {
	e.t.Helper()
	resp, err := e.raw.SignUp(ctx(e.t), &chatpb.SignUpRequest{Meta: &chatpb.WriteMeta{ClientId: user, RequestId: 1},
		Username: user, Password: user + "-password"})
	if err != nil {
		e.t.Fatalf("sign up %s: %v", user, err)
	}
	return resp
}

func (e *env) openPostStream(c context.Context, token string) chatpb.ChatService_PostStreamClient {
	e.t.Helper()
	st, err := e.raw.PostStream(metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+token))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// Each post on the stream is answered under its tag like PostMessage would answer it; a
// refused post does not end the stream, and a retried WriteMeta gets the first result.
func TestPostStreamAnswersEachPost(t *testing.T) {
	e := newEnv(t, nil)
	e.signUpRaw("bob")
	st := e.openPostStream(ctx(t), e.signUpRaw("alice"))
	meta := &chatpb.WriteMeta{ClientId: "s", RequestId: 7}
	reqs := []*chatpb.PostStreamRequest{
		{Tag: 10, Post: &chatpb.PostMessageRequest{Meta: meta, ToUser: "bob", Text: "hi"}},
		{Tag: 11, Post: &chatpb.PostMessageRequest{Meta: &chatpb.WriteMeta{ClientId: "s", RequestId: 8}, Text: "no target"}},
		{Tag: 12},
	}
	got := map[uint64]*chatpb.PostStreamResponse{}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got[resp.GetTag()] = resp
	}
	if r := got[10]; r.GetCode() != 0 || r.GetMessage().GetText() != "hi" || r.GetMessage().GetAuthor() != "alice" {
		t.Fatalf("tag 10: %v", r)
	}
	for _, tag := range []uint64{11, 12} {
		if codes.Code(got[tag].GetCode()) != codes.InvalidArgument || got[tag].GetError() == "" {
			t.Fatalf("tag %d: %v, want InvalidArgument with a reason", tag, got[tag])
		}
	}
	// The same write key again: the first result, not a second message.
	if err := st.Send(&chatpb.PostStreamRequest{Tag: 13, Post: &chatpb.PostMessageRequest{Meta: meta, ToUser: "bob", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	again, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if again.GetTag() != 13 || again.GetMessage().GetSeq() != got[10].GetMessage().GetSeq() {
		t.Fatalf("retried post: %v, first: %v", again, got[10])
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == nil {
		t.Fatal("stream still open after CloseSend")
	}
}

// A stream needs a token to open, and ends with Unauthenticated once its token is revoked.
func TestPostStreamChecksTheTokenPerPost(t *testing.T) {
	e := newEnv(t, nil)
	st, err := e.raw.PostStream(ctx(t))
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("stream without a token: %v, want Unauthenticated", err)
	}

	e.signUpRaw("bob")
	alice := e.signUpRawAuth("alice")
	tok := alice.GetAccessToken()
	st = e.openPostStream(ctx(t), tok)
	post := func(tag uint64) *chatpb.PostStreamResponse {
		t.Helper()
		if err := st.Send(&chatpb.PostStreamRequest{Tag: tag, Post: &chatpb.PostMessageRequest{
			Meta: &chatpb.WriteMeta{ClientId: "s", RequestId: tag}, ToUser: "bob", Text: "x"}}); err != nil {
			t.Fatal(err)
		}
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := post(1); r.GetCode() != 0 {
		t.Fatalf("post before logout: %v", r)
	}
	if _, err := e.raw.Logout(metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer "+tok),
		&chatpb.LogoutRequest{Meta: &chatpb.WriteMeta{ClientId: "alice", RequestId: 2}, RefreshToken: alice.GetRefreshToken()}); err != nil {
		t.Fatal(err)
	}
	if r := post(2); codes.Code(r.GetCode()) != codes.Unauthenticated {
		t.Fatalf("post after logout: %v, want Unauthenticated", r)
	}
	// The next request finds the stream ended.
	if err := st.Send(&chatpb.PostStreamRequest{Tag: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("stream after a revoked token: %v, want it ended with Unauthenticated", err)
	}
}

// The client library's PostStream mode: concurrent posts share one stream, each gets its own
// message, and direct messages work the same way.
func TestClientPostStream(t *testing.T) {
	e := newEnv(t, nil)
	e.client("bob")
	c, err := client.New(client.Config{Addrs: []string{"passthrough:///bufnet"}, DialOptions: e.dialOptions(),
		PostStream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.SignUp(ctx(t), "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	first, err := c.SendDirect(ctx(t), "bob", "hello")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, 20)
	errs := make([]error, 20)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.Post(ctx(t), first.GetConversationId(), fmt.Sprint("message ", i), 0)
			seqs[i], errs[i] = m.GetSeq(), err
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{first.GetSeq(): true}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if seen[seqs[i]] {
			t.Fatalf("sequence number %d given twice", seqs[i])
		}
		seen[seqs[i]] = true
	}
	if _, err := c.Post(ctx(t), first.GetConversationId(), "", 0); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty post: %v, want InvalidArgument", err)
	}
}
