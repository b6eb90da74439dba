package service

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/auth"
)

// noBackend satisfies Backend for tests that never reach it.
type noBackend struct{ Backend }

func TestPasswordHashingIsBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConcurrentHashes = 1
	cfg.PasswordParams = auth.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltBytes: 16, KeyBytes: 32}
	s, err := New(noBackend{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.acquireHashing(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.hashPassword(ctx, "password"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("hash with every slot taken: %v, want ResourceExhausted", err)
	}
	release()
	if _, err := s.hashPassword(context.Background(), "password"); err != nil {
		t.Fatalf("hash after release: %v", err)
	}
}

func TestTokenCacheStillChecksExpiry(t *testing.T) {
	key := make([]byte, 32)
	now := time.Unix(1_700_000_000, 0)
	tok, err := auth.Issue(key, auth.Access, "alice", "user", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var tc tokenCache
	if _, err := tc.parse(key, tok.Raw, now); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.parse(key, tok.Raw, now.Add(30*time.Second)); err != nil {
		t.Fatalf("cached valid token: %v", err)
	}
	if _, err := tc.parse(key, tok.Raw, now.Add(2*time.Minute)); err == nil {
		t.Fatal("cached token accepted after expiry")
	}
	if _, err := tc.parse(make([]byte, 32), tok.Raw+"x", now); err == nil {
		t.Fatal("tampered token accepted")
	}
}
