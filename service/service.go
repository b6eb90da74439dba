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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
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
	// Bootstrap makes the service propose the cluster's Bootstrap (signing key and first
	// admin) on the first call that needs a key, for backends that do not bootstrap
	// themselves (server.Node does, on becoming leader; leave this false there). Without
	// it the service waits for the key to appear.
	Bootstrap bool
	// AdminUsername and AdminPassword name the first admin when Bootstrap is set. An empty
	// password is replaced by a random one, logged once at warning level.
	AdminUsername, AdminPassword string
	// PasswordParams are the argon2id costs of new password hashes.
	PasswordParams auth.Params
	// PresenceInterval is how often, at most, this node records a user as seen through the
	// log (the state machine's online window must be longer).
	PresenceInterval time.Duration
	// MaxConcurrentHashes bounds the password hashes computed at once (each holds
	// PasswordParams.MemoryKiB); further sign-ups and logins wait.
	MaxConcurrentHashes int
}

// DefaultConfig returns the limits chatd runs with.
func DefaultConfig() Config {
	return Config{
		MaxMessageBytes:   16 << 10,
		MaxFileBytes:      1 << 30,
		MaxChunkBytes:     256 << 10, // = statemachine.DefaultConfig().MaxChunkBytes
		MaxPageSize:       500,
		RequestsPerSecond: 1000,
		Burst:             2000,
		AccessTokenTTL:    15 * time.Minute,
		RefreshTokenTTL:   7 * 24 * time.Hour,
		AdminUsername:     "admin",
		PasswordParams:    auth.DefaultParams,
		PresenceInterval:  30 * time.Second,
		// Two per core keeps the cores busy; 8 x 19 MiB bounds the memory.
		MaxConcurrentHashes: 8,
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
	case c.PasswordParams.MemoryKiB == 0 || c.PresenceInterval <= 0:
		return errors.New("PasswordParams and PresenceInterval must be set")
	case c.AdminUsername == "":
		return errors.New("AdminUsername must be set")
	case c.MaxConcurrentHashes <= 0:
		return errors.New("MaxConcurrentHashes must be positive")
	}
	return nil
}

// Service is the ChatService of one node. It is safe for concurrent use.
type Service struct {
	b       Backend
	cfg     Config
	log     *slog.Logger
	limiter *rateLimiter
	// key caches the cluster's token signing key, which never changes once bootstrapped.
	key    atomic.Pointer[[]byte]
	tokens tokenCache
	// hashSlots bounds concurrent password hashing (Config.MaxConcurrentHashes).
	hashSlots chan struct{}
	leader    atomic.Pointer[leaderView]

	// presence remembers when this node last proposed a heartbeat for each user.
	presenceMu sync.Mutex
	presence   map[string]time.Time
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
	return &Service{b: b, cfg: cfg, log: cfg.Logger,
		limiter:   newRateLimiter(cfg.RequestsPerSecond, cfg.Burst),
		presence:  map[string]time.Time{},
		hashSlots: make(chan struct{}, cfg.MaxConcurrentHashes)}, nil
}

// ServerOptions returns the options the node's gRPC server must be created with: the
// authentication, rate-limit and request-validation interceptors.
func (s *Service) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.UnaryInterceptor(s), s.unaryValidate),
		grpc.ChainStreamInterceptor(auth.StreamInterceptor(s)),
	}
}

// Register registers the ChatService on g.
func (s *Service) Register(g *grpc.Server) {
	chatpb.RegisterChatServiceServer(g, &handler{s: s})
}

// unaryValidate refuses malformed ChatService requests before a handler sees them. Other
// services on the same server (health, reflection) have their own request types and pass.
func (s *Service) unaryValidate(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, "/"+chatpb.ChatService_ServiceDesc.ServiceName+"/") {
		return h(ctx, req)
	}
	if err := validateRequest(req, &s.cfg); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// handler implements chatpb.ChatServiceServer; its methods live in the files by topic.
type handler struct {
	chatpb.UnimplementedChatServiceServer
	s *Service
}

// caller returns the authenticated user of ctx. Handlers of non-public methods only run
// after the interceptor authenticated them, so a missing principal means the server was
// built without ServerOptions: refuse rather than run as nobody.
func caller(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return p, status.Error(codes.Unauthenticated, "not authenticated (server built without service.ServerOptions)")
	}
	return p, nil
}

// propose stamps cmd with the write key, the proposer's clock and the actor, replicates it
// and returns its result, or the gRPC status of its failure or rejection. Client ids are
// scoped by user so one user can never collide with (or read) another's session results.
func (s *Service) propose(ctx context.Context, actor string, meta *chatpb.WriteMeta, cmd *commandpb.Command) (*commandpb.Result, error) {
	cmd.ClientId = actor + "/" + meta.GetClientId()
	cmd.RequestId = meta.GetRequestId()
	cmd.TimeUnixMs = s.cfg.Now().UnixMilli()
	cmd.Actor = actor
	res, err := s.b.Propose(ctx, cmd)
	if err != nil {
		return nil, toStatus(err)
	}
	s.hintLeader(ctx)
	if err := resultError(res); err != nil {
		return nil, err
	}
	return res, nil
}

// LeaderHeader is the response header a follower adds to a write's response: the leader's
// client address, where the client library sends its next calls (saving the forwarding hop).
const LeaderHeader = "raftchat-leader"

// leaderView caches the backend's view of the leader for hintLeader.
type leaderView struct {
	at       time.Time
	isLeader bool
	addr     string
}

// hintLeader sets LeaderHeader when this node is a follower that knows the leader's address.
// The view is refreshed at most every 100ms.
func (s *Service) hintLeader(ctx context.Context) {
	v := s.leader.Load()
	if now := time.Now(); v == nil || now.Sub(v.at) > 100*time.Millisecond {
		st, err := s.b.Status(ctx)
		if err != nil {
			return
		}
		v = &leaderView{at: now, isLeader: st.Leader == st.ID, addr: st.LeaderAddr}
		s.leader.Store(v)
	}
	if !v.isLeader && v.addr != "" {
		_ = grpc.SetHeader(ctx, metadata.Pairs(LeaderHeader, v.addr))
	}
}

// read runs fn on the state machine, linearizably unless stale, mapping errors to statuses.
func (s *Service) read(ctx context.Context, stale bool, fn func(m *statemachine.Machine) error) error {
	return toStatus(s.b.Read(ctx, stale, fn))
}
