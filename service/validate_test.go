package service

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// requestTypes are every request message a handler validates.
func requestTypes() []proto.Message {
	return []proto.Message{
		&chatpb.SignUpRequest{}, &chatpb.LoginRequest{}, &chatpb.RefreshRequest{}, &chatpb.LogoutRequest{},
		&chatpb.ChangePasswordRequest{}, &chatpb.CreateGroupRequest{}, &chatpb.RenameGroupRequest{},
		&chatpb.MemberRequest{}, &chatpb.LeaveGroupRequest{}, &chatpb.SetGroupAdminRequest{},
		&chatpb.GetConversationRequest{}, &chatpb.ListConversationsRequest{}, &chatpb.PostMessageRequest{},
		&chatpb.EditMessageRequest{}, &chatpb.DeleteMessageRequest{}, &chatpb.ReactRequest{},
		&chatpb.MarkReadRequest{}, &chatpb.HistoryRequest{}, &chatpb.SearchRequest{}, &chatpb.ListUsersRequest{},
		&chatpb.SetPresenceRequest{}, &chatpb.SubscribeRequest{}, &chatpb.StartUploadRequest{},
		&chatpb.UploadChunk{}, &chatpb.UploadStatusRequest{}, &chatpb.DownloadRequest{}, &chatpb.SuggestRequest{},
		&chatpb.ClusterStatusRequest{}, &chatpb.AdminSetUserDisabledRequest{}, &chatpb.AdminSetRoleRequest{},
		&chatpb.PostStreamRequest{},
	}
}

func TestValidateRequestTable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 10
	meta := &chatpb.WriteMeta{ClientId: "c", RequestId: 1}
	cases := []struct {
		name string
		req  any
		ok   bool
	}{
		{"post ok", &chatpb.PostMessageRequest{Meta: meta, ConversationId: "g:1", Text: "hi"}, true},
		{"direct ok", &chatpb.PostMessageRequest{Meta: meta, ToUser: "bob", Text: "hi"}, true},
		{"post both targets", &chatpb.PostMessageRequest{Meta: meta, ConversationId: "g:1", ToUser: "bob", Text: "hi"}, false},
		{"post no target", &chatpb.PostMessageRequest{Meta: meta, Text: "hi"}, false},
		{"post empty text", &chatpb.PostMessageRequest{Meta: meta, ConversationId: "g:1"}, false},
		{"post too long", &chatpb.PostMessageRequest{Meta: meta, ConversationId: "g:1", Text: strings.Repeat("x", 11)}, false},
		{"post no meta", &chatpb.PostMessageRequest{ConversationId: "g:1", Text: "hi"}, false},
		{"post zero request id", &chatpb.PostMessageRequest{Meta: &chatpb.WriteMeta{ClientId: "c"}, ConversationId: "g:1", Text: "hi"}, false},
		{"file share without caption", &chatpb.PostMessageRequest{Meta: meta, ConversationId: "g:1", FileId: 3}, true},
		{"signup short password", &chatpb.SignUpRequest{Meta: meta, Username: "alice", Password: "short"}, false},
		{"signup bad name", &chatpb.SignUpRequest{Meta: meta, Username: "Alice!", Password: "long enough"}, false},
		{"signup ok", &chatpb.SignUpRequest{Meta: meta, Username: "alice", Password: "long enough"}, true},
		{"react no emoji", &chatpb.ReactRequest{Meta: meta, ConversationId: "g:1", Seq: 1}, false},
		{"edit seq 0", &chatpb.EditMessageRequest{Meta: meta, ConversationId: "g:1", Text: "x"}, false},
		{"upload too big", &chatpb.StartUploadRequest{Meta: meta, ConversationId: "g:1", Name: "f", Size: 2 << 30, ChunkSize: 1, Sha256: make([]byte, 32)}, false},
		{"upload bad sha", &chatpb.StartUploadRequest{Meta: meta, ConversationId: "g:1", Name: "f", Size: 10, ChunkSize: 5, Sha256: make([]byte, 31)}, false},
		{"set role unspecified", &chatpb.AdminSetRoleRequest{Meta: meta, Username: "bob"}, false},
		{"nil", nil, false},
		{"foreign type", "a string", false},
	}
	for _, tc := range cases {
		err := validateRequest(tc.req, &cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: code %v, want InvalidArgument", tc.name, status.Code(err))
		}
	}
}

// FuzzValidateRequest decodes arbitrary bytes into every request type: validation must
// never panic, must refuse with InvalidArgument only, and whatever it accepts must respect
// the edge's invariants (a write carries a full WriteMeta; text fits the limit, is UTF-8).
func FuzzValidateRequest(f *testing.F) {
	types := requestTypes()
	for i, m := range []proto.Message{
		&chatpb.PostMessageRequest{Meta: &chatpb.WriteMeta{ClientId: "c", RequestId: 7}, ConversationId: "g:1", Text: "hello"},
		&chatpb.SignUpRequest{Meta: &chatpb.WriteMeta{ClientId: "c", RequestId: 1}, Username: "alice", Password: "password1"},
		&chatpb.StartUploadRequest{Meta: &chatpb.WriteMeta{ClientId: "c", RequestId: 1}, ConversationId: "d:a:b", Name: "x", Size: 9, ChunkSize: 4, Sha256: make([]byte, 32)},
	} {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), b)
	}
	cfg := DefaultConfig()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		req := proto.Clone(types[int(which)%len(types)])
		if proto.Unmarshal(data, req) != nil {
			return
		}
		err := validateRequest(req, &cfg)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%T: refused with %v", req, err)
			}
			return
		}
		checkAccepted(t, req.ProtoReflect(), &cfg)
	})
}

func checkAccepted(t *testing.T, m protoreflect.Message, cfg *Config) {
	fields := m.Descriptor().Fields()
	if post := fields.ByName("post"); post != nil {
		// A PostStreamRequest is accepted only with a post that passes as PostMessage.
		if !m.Has(post) {
			t.Fatalf("%s accepted without a post", m.Descriptor().Name())
		}
		checkAccepted(t, m.Get(post).Message(), cfg)
	}
	if meta := fields.ByName("meta"); meta != nil {
		wm, _ := m.Get(meta).Message().Interface().(*chatpb.WriteMeta)
		if wm == nil || wm.GetRequestId() == 0 || wm.GetClientId() == "" || len(wm.GetClientId()) > maxClientIDBytes {
			t.Fatalf("%s accepted with meta %v", m.Descriptor().Name(), wm)
		}
	}
	if text := fields.ByName("text"); text != nil {
		s := m.Get(text).String()
		if len(s) > cfg.MaxMessageBytes || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("%s accepted with text of %d bytes", m.Descriptor().Name(), len(s))
		}
	}
	if u := fields.ByName("username"); u != nil && m.Get(u).String() != "" {
		if err := checkUsername(m.Get(u).String()); err != nil {
			t.Fatalf("%s accepted with username %q", m.Descriptor().Name(), m.Get(u).String())
		}
	}
}

// The validation interceptor guards only the ChatService: the standard health service shares
// the server and its requests must reach their handler (grpcurl and load balancers call it).
func TestUnaryValidatePassesOtherServices(t *testing.T) {
	s := &Service{cfg: Config{}}
	called := false
	h := func(context.Context, any) (any, error) { called = true; return nil, nil }
	info := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}
	if _, err := s.unaryValidate(context.Background(), &healthpb.HealthCheckRequest{}, info, h); err != nil || !called {
		t.Fatalf("health check through validation: called=%v err=%v", called, err)
	}
	called = false
	info.FullMethod = "/" + chatpb.ChatService_ServiceDesc.ServiceName + "/PostMessage"
	if _, err := s.unaryValidate(context.Background(), &healthpb.HealthCheckRequest{}, info, h); status.Code(err) != codes.InvalidArgument || called {
		t.Fatalf("foreign request type on a ChatService method: called=%v err=%v", called, err)
	}
}
