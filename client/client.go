// Package client is the Go client library of raftchat: it talks to a list of nodes, fails
// over to the next one (or to the leader a node names) on Unavailable and connection errors,
// retries writes with the same request id so a retry never duplicates, refreshes the access
// token when it expires, and resumes event streams from the last seen position.
//
// One Client is one write session (its ClientID). The cluster remembers the last results of
// a session (256 by default), so a write retried after more than that many later writes of
// the same session completed is refused with FailedPrecondition rather than risk applying
// it twice: give each heavily concurrent writer its own Client.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// Config configures a Client.
type Config struct {
	// Addrs are the client addresses of the nodes (host:port); at least one.
	Addrs []string
	// ClientID names this client for exactly-once writes; a random id when empty.
	ClientID string
	// DialOptions replace the default (plaintext) transport options.
	DialOptions []grpc.DialOption
	// AttemptTimeout bounds one attempt on one node; the caller's context bounds the whole
	// call. Default 5s.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts of one call across nodes. Default 4 per node, at least 8.
	MaxAttempts int
	// Backoff is the pause before retrying after every node failed once. Default 100ms,
	// doubling up to 2s.
	Backoff time.Duration
	// FirstNode is the index into Addrs tried first (spreads clients over nodes).
	FirstNode int
	// Logger receives failover logs; nil discards them.
	Logger *slog.Logger
	// StayOnNode keeps the client on its node when a follower names the leader in a
	// response (it still fails over on errors): for tests that must write through followers.
	StayOnNode bool
	// PostStream sends Post and SendDirect over one long-lived PostStream to the node in
	// use instead of a unary call each: far less work per message for both sides, with the
	// same retry, failover and exactly-once guarantees.
	PostStream bool
	// Conns, when set, are shared connections (from Dial) used instead of dialing Addrs:
	// many clients, each its own user and write session, multiplexed over one HTTP/2
	// connection per node, as a gateway or a load generator does. Addrs and DialOptions are
	// then taken from Conns, and Close leaves Conns open.
	Conns *Conns
}

// Conns holds one gRPC connection per node address, for Clients to share.
type Conns struct {
	addrs []string
	conns []*grpc.ClientConn
	rpcs  []chatpb.ChatServiceClient
}

// Dial returns connections to addrs (made lazily), plaintext unless opts say otherwise.
// Close them after the last Client using them is done.
func Dial(addrs []string, opts ...grpc.DialOption) (*Conns, error) {
	if len(addrs) == 0 {
		return nil, errors.New("client: no node addresses")
	}
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	opts = append(append([]grpc.DialOption(nil), opts...), grpc.WithChainUnaryInterceptor(followLeader))
	cs := &Conns{addrs: slices.Clone(addrs)}
	for _, a := range addrs {
		cc, err := grpc.NewClient(a, opts...)
		if err != nil {
			_ = cs.Close()
			return nil, fmt.Errorf("client: dial %s: %w", a, err)
		}
		cs.conns = append(cs.conns, cc)
		cs.rpcs = append(cs.rpcs, chatpb.NewChatServiceClient(cc))
	}
	return cs, nil
}

// Close closes every connection.
func (cs *Conns) Close() error {
	var errs []error
	for _, cc := range cs.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// Client is a raftchat client. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	conns    *Conns
	ownConns bool // dialed by New, so closed by Close
	rpcs     []chatpb.ChatServiceClient
	cur      atomic.Int64
	reqID    atomic.Uint64

	mu      sync.Mutex
	session session

	psMu sync.Mutex // held while finding or opening ps
	ps   *postStream
	// noPostStream is set once a node answered PostStream with Unimplemented.
	noPostStream atomic.Bool
}

type session struct {
	username, password    string // kept to log in again when the refresh token is gone
	access, refresh       string
	accessExp, refreshExp time.Time
}

// New returns a client for cfg.Addrs. Connections are made lazily.
func New(cfg Config) (*Client, error) {
	if cfg.Conns != nil {
		cfg.Addrs = cfg.Conns.addrs
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("client: no node addresses")
	}
	if cfg.ClientID == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("client: random client id: %w", err)
		}
		cfg.ClientID = "c-" + hex.EncodeToString(b[:])
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = max(8, 4*len(cfg.Addrs))
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, conns: cfg.Conns}
	if c.conns == nil {
		conns, err := Dial(cfg.Addrs, cfg.DialOptions...)
		if err != nil {
			return nil, err
		}
		c.conns, c.ownConns = conns, true
	}
	c.cfg.Addrs, c.rpcs = c.conns.addrs, c.conns.rpcs
	c.cur.Store(int64(cfg.FirstNode % len(c.cfg.Addrs)))
	return c, nil
}

// Close closes the client's connections, unless they were shared through Config.Conns.
func (c *Client) Close() error {
	c.closePostStream()
	if !c.ownConns {
		return nil
	}
	return c.conns.Close()
}

// ClientID returns the id this client's writes carry.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Username returns the logged-in user, empty before Login.
func (c *Client) Username() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session.username
}

// NewWriteMeta returns the idempotency key of a new write: this client's id and the next
// request id. Reuse it for every retry of that write.
func (c *Client) NewWriteMeta() *chatpb.WriteMeta {
	return &chatpb.WriteMeta{ClientId: c.cfg.ClientID, RequestId: c.nextRequestID()}
}

// nextRequestID starts from the wall clock in microseconds so a restarted client with a
// fixed ClientID does not reuse ids of its previous run.
func (c *Client) nextRequestID() uint64 {
	for {
		old := c.reqID.Load()
		next := max(old+1, uint64(time.Now().UnixMicro()))
		if c.reqID.CompareAndSwap(old, next) {
			return next
		}
	}
}

// Node returns the address currently preferred.
func (c *Client) Node() string { return c.cfg.Addrs[c.cur.Load()] }

// Do runs call against the current node, failing over to other nodes on Unavailable and
// connection errors and refreshing the access token once on Unauthenticated. A write request
// must carry a WriteMeta created before Do so every attempt shares it.
func (c *Client) Do(ctx context.Context, call func(ctx context.Context, rpc chatpb.ChatServiceClient) error) error {
	return c.do(ctx, true, call)
}

// do is Do; authed false sends no token and never refreshes (sign-up, login, refresh).
func (c *Client) do(ctx context.Context, authed bool, call func(context.Context, chatpb.ChatServiceClient) error) error {
	return c.doWithin(ctx, authed, c.cfg.AttemptTimeout, call)
}

// doWithin is do with its own bound on each attempt, for calls that take long by design.
func (c *Client) doWithin(ctx context.Context, authed bool, attemptTimeout time.Duration, call func(context.Context, chatpb.ChatServiceClient) error) error {
	return c.retry(ctx, authed, func(node int) error {
		actx := ctx
		if authed {
			actx = c.withToken(ctx)
		}
		actx = context.WithValue(actx, clientKey{}, c)
		actx, cancel := context.WithTimeout(actx, attemptTimeout)
		defer cancel()
		return call(actx, c.rpcs[node])
	})
}

// retry runs attempt against the current node until it succeeds, fails for good, or ctx or
// MaxAttempts runs out: it refreshes the token once on Unauthenticated (when authed) and
// fails over on errors that say the node cannot serve now. attempt must bound itself by
// AttemptTimeout.
func (c *Client) retry(ctx context.Context, authed bool, attempt func(node int) error) error {
	var last error
	refreshed := !authed
	for try := 0; try < c.cfg.MaxAttempts; try++ {
		if err := ctx.Err(); err != nil {
			return errors.Join(err, last)
		}
		node := int(c.cur.Load())
		err := attempt(node)
		if err == nil {
			return nil
		}
		last = err
		switch {
		case status.Code(err) == codes.Unauthenticated && !refreshed && c.canRefresh():
			refreshed = true
			if rerr := c.refresh(ctx); rerr != nil {
				return fmt.Errorf("%w (refresh: %w)", err, rerr)
			}
		case retryable(ctx, err):
			c.failover(node, err)
			if (try+1)%len(c.rpcs) == 0 {
				if err := sleep(ctx, c.backoff(try)); err != nil {
					return errors.Join(err, last)
				}
			}
		default:
			return err
		}
	}
	return fmt.Errorf("client: gave up after %d attempts: %w", c.cfg.MaxAttempts, last)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.Backoff << min(attempt/len(c.rpcs), 5)
	return min(d, 2*time.Second)
}

// retryable reports whether err means "this node cannot serve the call now" rather than
// "the call is wrong": the next node may succeed. An attempt timeout while the caller's
// context is alive is retryable (the write key makes it safe).
func retryable(ctx context.Context, err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted:
		return true
	case codes.DeadlineExceeded, codes.Canceled:
		return ctx.Err() == nil
	default:
		return false
	}
}

// failover moves off node, to the leader the error names when it is one of ours, else to
// the next address.
func (c *Client) failover(node int, err error) {
	next := (node + 1) % len(c.rpcs)
	if hint := leaderHint(err); hint != "" {
		for i, a := range c.cfg.Addrs {
			if a == hint && i != node {
				next = i
			}
		}
	}
	if c.cur.CompareAndSwap(int64(node), int64(next)) {
		c.log.Debug("failover", "from", c.cfg.Addrs[node], "to", c.cfg.Addrs[next], "err", err)
	}
}

func leaderHint(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if h, ok := d.(*chatpb.LeaderHint); ok {
			return h.GetLeaderAddr()
		}
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) withToken(ctx context.Context) context.Context {
	c.mu.Lock()
	tok := c.session.access
	c.mu.Unlock()
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// leaderHeader is service.LeaderHeader (not imported: the client does not depend on the
// server's packages).
const leaderHeader = "raftchat-leader"

// clientKey marks the context of a Client's call with the Client, for followLeader: the
// interceptor belongs to connections several Clients may share.
type clientKey struct{}

// followLeader moves the calling client to the leader a follower names in a write's
// response header, when the leader is one of Addrs: later calls then skip the forwarding hop.
func followLeader(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c, _ := ctx.Value(clientKey{}).(*Client)
	if c == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	var md metadata.MD
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Header(&md))...)
	if addrs := md.Get(leaderHeader); len(addrs) > 0 && !c.cfg.StayOnNode {
		for i, a := range c.cfg.Addrs {
			if a == addrs[0] {
				c.cur.Store(int64(i))
			}
		}
	}
	return err
}
