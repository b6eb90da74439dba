package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/service"
)

// BenchmarkPostMessage measures the service's own cost per post (authentication, rate
// limit, validation, proposal encoding, gRPC over an in-memory pipe) on a memnode backend
// that applies synchronously: no Raft, no disk.
func BenchmarkPostMessage(b *testing.B) {
	e := newEnv(b, func(c *service.Config) { c.RequestsPerSecond, c.Burst = 1e9, 1e9 })
	alice := e.client("alice")
	e.client("bob")
	m, err := alice.SendDirect(context.Background(), "bob", "first")
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("x", 256)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// One client (one write session) per goroutine: a session refuses a request id that
		// fell below its remembered window, which a request assigned early but sent late
		// behind 256 others of the same session would.
		c := e.client("")
		if _, err := c.Login(context.Background(), "alice", "alice-password"); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if _, err := c.Post(context.Background(), m.GetConversationId(), text, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
