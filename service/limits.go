package service

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket per user: rate tokens per second up to burst. Buckets of
// users idle long enough to be full again are dropped, so memory follows active users.
type rateLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes one token from user's bucket at now and reports whether there was one.
func (r *rateLimiter) allow(user string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	b := r.buckets[user]
	if b == nil {
		b = &bucket{tokens: r.burst, last: now}
		r.buckets[user] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(r.burst, b.tokens+dt*r.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops full buckets once a minute.
func (r *rateLimiter) sweep(now time.Time) {
	if now.Sub(r.swept) < time.Minute {
		return
	}
	r.swept = now
	refill := time.Duration(r.burst / r.rate * float64(time.Second))
	for u, b := range r.buckets {
		if now.Sub(b.last) > refill {
			delete(r.buckets, u)
		}
	}
}
