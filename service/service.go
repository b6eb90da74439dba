//go:build ignore

// (Draft until statemachine/ and proto/commandpb land; the tag comes off then.)

// Package service implements the gRPC ChatService of a raftchat node on top of a Backend
// (the running node: log, state machine, blob store). It owns the client-facing edge:
// authentication, authorization, limits, request validation and the mapping of state
// machine and Raft errors to gRPC status codes.
//
// Wiring in a node:
//
//	svc, err := service.New(node, service.DefaultConfig())
//	gs := grpc.NewServer(svc.ServerOptions()...) // authentication interceptors
//	svc.Register(gs)                             // ChatService
package service

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config holds the service's limits and collaborators. Zero never means unlimited: New
// rejects a zero limit; start from DefaultConfig.
type Config struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the proposer's clock for command timestamps and token expiry; nil uses time.Now.
	Now func() time.Time
	// MaxMessageBytes bounds a message body (UTF-8 bytes).
	MaxMessageBytes int
	// MaxFileBytes bounds an uploaded file.
	MaxFileBytes int64
	// MaxChunkBytes bounds one upload chunk (each chunk is one log entry).
	MaxChunkBytes int
	// MaxPageSize bounds the number of items one query returns.
	MaxPageSize int
	// RequestsPerSecond and Burst shape the per-user token bucket; a call beyond it is
	// refused with ResourceExhausted.
	RequestsPerSecond float64
	Burst             int
	// AccessTokenTTL and RefreshTokenTTL are the lifetimes of issued tokens.
	AccessTokenTTL, RefreshTokenTTL time.Duration
	// Suggester produces reply suggestions; nil uses the built-in offline suggester.
	Suggester Suggester
}

// DefaultConfig returns the limits chatd runs with.
func DefaultConfig() Config {
	return Config{
		MaxMessageBytes:   16 << 10,
		MaxFileBytes:      1 << 30,
		MaxChunkBytes:     1 << 20,
		MaxPageSize:       500,
		RequestsPerSecond: 200,
		Burst:             400,
		AccessTokenTTL:    15 * time.Minute,
		RefreshTokenTTL:   7 * 24 * time.Hour,
	}
}

func (c *Config) validate() error {
	switch {
	case c.MaxMessageBytes <= 0:
		return errors.New("MaxMessageBytes must be positive")
	case c.MaxFileBytes <= 0:
		return errors.New("MaxFileBytes must be positive")
	case c.MaxChunkBytes <= 0:
		return errors.New("MaxChunkBytes must be positive")
	case c.MaxPageSize <= 0:
		return errors.New("MaxPageSize must be positive")
	case c.RequestsPerSecond <= 0 || c.Burst <= 0:
		return errors.New("RequestsPerSecond and Burst must be positive")
	case c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0:
		return errors.New("token lifetimes must be positive")
	}
	return nil
}

// Service is the ChatService of one node. It is safe for concurrent use.
type Service struct {
	b   Backend
	cfg Config
	log *slog.Logger
}

// New returns the ChatService for backend b.
func New(b Backend, cfg Config) (*Service, error) {
	if b == nil {
		return nil, errors.New("service: nil backend")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("service config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Suggester == nil {
		cfg.Suggester = OfflineSuggester{}
	}
	return &Service{b: b, cfg: cfg, log: cfg.Logger}, nil
}
