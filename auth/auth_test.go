package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var cheap = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", cheap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", h)
	}
	if err := VerifyPassword("correct horse", h); err != nil {
		t.Fatalf("verify right password: %v", err)
	}
	if err := VerifyPassword("correct horsE", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("verify wrong password: got %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse", cheap, nil)
	if h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5",
	} {
		err := VerifyPassword("x", enc)
		if err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("VerifyPassword(%q) = %v, want a decode error", enc, err)
		}
	}
}

func TestTokens(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_700_000_000, 0)
	tok, err := Issue(key, Access, "alice", "user", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(key, tok.Raw, Access, now.Add(30*time.Second))
	if err != nil || c.Username() != "alice" || c.ID != tok.ID || c.Role != "user" {
		t.Fatalf("parse: %v %+v", err, c)
	}
	cases := []struct {
		name string
		key  []byte
		raw  string
		kind Kind
		at   time.Time
	}{
		{"expired", key, tok.Raw, Access, now.Add(2 * time.Minute)},
		{"wrong kind", key, tok.Raw, Refresh, now},
		{"wrong key", []byte(strings.Repeat("x", 32)), tok.Raw, Access, now},
		{"tampered", key, tok.Raw[:len(tok.Raw)-2] + "AA", Access, now},
		{"garbage", key, "a.b.c", Access, now},
	}
	for _, tc := range cases {
		if _, err := Parse(tc.key, tc.raw, tc.kind, tc.at); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: got %v, want ErrInvalidToken", tc.name, err)
		}
	}
	if _, err := Issue(key[:10], Access, "a", "user", now, time.Minute); err == nil {
		t.Error("short key accepted")
	}
}

type fakeAuth map[string]Principal

func (f fakeAuth) Authenticate(_ context.Context, tok string) (Principal, error) {
	p, ok := f[tok]
	if !ok {
		return Principal{}, errors.New("unknown token")
	}
	return p, nil
}

func TestUnaryInterceptor(t *testing.T) {
	ic := UnaryInterceptor(fakeAuth{"good": {Username: "bob"}})
	handler := func(ctx context.Context, _ any) (any, error) {
		p, ok := PrincipalFrom(ctx)
		if !ok {
			return "anonymous", nil
		}
		return p.Username, nil
	}
	call := func(method, header string) (any, error) {
		ctx := context.Background()
		if header != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", header))
		}
		return ic(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, handler)
	}
	if got, err := call("/raftchat.chat.v1.ChatService/History", "Bearer good"); err != nil || got != "bob" {
		t.Fatalf("good token: %v %v", got, err)
	}
	for _, h := range []string{"", "Bearer bad", "Basic good"} {
		if _, err := call("/raftchat.chat.v1.ChatService/History", h); status.Code(err) != codes.Unauthenticated {
			t.Errorf("header %q: got %v, want Unauthenticated", h, err)
		}
	}
	for _, m := range []string{"/raftchat.chat.v1.ChatService/Login", "/raftchat.chat.v1.ChatService/SignUp", "/grpc.health.v1.Health/Check"} {
		if got, err := call(m, ""); err != nil || got != "anonymous" {
			t.Errorf("public %s: %v %v", m, got, err)
		}
	}
	if IsPublic("/evil.ChatService/Login") {
		t.Error("a foreign service's Login is public")
	}
}

func TestParseRequiresIssueTime(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_700_000_000, 0)
	c := Claims{Kind: Access, RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: "a", ID: "x",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(key, raw, Access, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token without iat: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, &c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := Parse(key, none, Access, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("alg none accepted: %v", err)
	}
}
