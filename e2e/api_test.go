package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// TestAnyNodeServesAndLogoutRevokesEverywhere writes through one node and reads it back
// linearizably through each of the others at once, then logs out through one node and
// checks every node refuses the token.
func TestAnyNodeServesAndLogoutRevokesEverywhere(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := c.newClient(0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "everywhere")
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]chatpb.ChatServiceClient, len(c.procs))
	for i, p := range c.procs {
		cc, err := grpc.NewClient(p.clientAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		raw[i] = chatpb.NewChatServiceClient(cc)
	}
	access, _ := alice.Tokens()
	authed := metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", "Bearer "+access))
	for i := range c.procs {
		m, err := raw[i].PostMessage(authed, &chatpb.PostMessageRequest{Meta: alice.NewWriteMeta(), ConversationId: g.GetId(), Text: "via node"})
		if err != nil {
			t.Fatalf("post through node %d: %v", i+1, err)
		}
		for j := range c.procs {
			h, err := raw[j].History(authed, &chatpb.HistoryRequest{ConversationId: g.GetId(), AfterSeq: m.GetSeq() - 1})
			if err != nil || len(h.GetMessages()) == 0 || h.GetMessages()[0].GetSeq() != m.GetSeq() {
				t.Fatalf("linearizable read on node %d right after a write through node %d: %v %v", j+1, i+1, h, err)
			}
		}
	}
	if err := alice.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range c.procs {
		waitFor(t, 10*time.Second, "the revocation to reach every node", func() (bool, string) {
			_, err := raw[i].ListConversations(authed, &chatpb.ListConversationsRequest{})
			return status.Code(err) == codes.Unauthenticated, "node still accepts: " + status.Code(err).String()
		})
	}
}
