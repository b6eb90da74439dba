package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
)

// bootstrapClientID is the session of the one Bootstrap command: every node that tries to
// bootstrap uses the same (client id, request id), so the log applies only the first (the
// same id server.Node uses when it bootstraps on becoming leader).
const bootstrapClientID = "chatd-bootstrap"

// signingKey returns the cluster's token key, bootstrapping the cluster when it has none.
func (s *Service) signingKey(ctx context.Context) ([]byte, error) {
	if k := s.key.Load(); k != nil {
		return *k, nil
	}
	var key []byte
	err := s.read(ctx, true, func(m *statemachine.Machine) error {
		key = m.SigningKey()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if key == nil {
		if key, err = s.awaitBootstrap(ctx); err != nil {
			return nil, err
		}
	}
	s.key.Store(&key)
	return key, nil
}

// awaitBootstrap proposes the Bootstrap when this service is configured to, then waits
// (bounded by ctx and a few seconds) until a Bootstrap has applied.
func (s *Service) awaitBootstrap(ctx context.Context) ([]byte, error) {
	if s.cfg.Bootstrap {
		if err := s.bootstrap(ctx); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		var key []byte
		err := s.read(wctx, false, func(m *statemachine.Machine) error {
			key = m.SigningKey()
			return nil
		})
		if err == nil && key != nil {
			return key, nil
		}
		select {
		case <-wctx.Done():
			return nil, status.Error(codes.Unavailable, "cluster not bootstrapped yet")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bootstrap proposes the cluster's one Bootstrap: a fresh signing key and the first admin.
func (s *Service) bootstrap(ctx context.Context) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return status.Errorf(codes.Internal, "bootstrap: signing key: %v", err)
	}
	pw := s.cfg.AdminPassword
	if pw == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		pw = hex.EncodeToString(b[:])
	}
	hash, err := auth.HashPassword(pw, s.cfg.PasswordParams, nil)
	if err != nil {
		return status.Errorf(codes.Internal, "bootstrap: %v", err)
	}
	cmd := &commandpb.Command{
		ClientId: bootstrapClientID, RequestId: 1, TimeUnixMs: s.cfg.Now().UnixMilli(),
		Op: &commandpb.Command_Bootstrap{Bootstrap: &commandpb.Bootstrap{
			SigningKey: key, AdminUsername: s.cfg.AdminUsername, AdminPasswordHash: hash}},
	}
	res, err := s.b.Propose(ctx, cmd)
	if err != nil {
		return toStatus(err)
	}
	switch res.GetCode() {
	case commandpb.ErrorCode_OK:
		if s.cfg.AdminPassword == "" && res.GetUser().GetUsername() == s.cfg.AdminUsername {
			s.log.Warn("bootstrapped cluster with a random admin password", "admin", s.cfg.AdminUsername, "password", pw)
		}
		return nil
	case commandpb.ErrorCode_FAILED_PRECONDITION: // another node bootstrapped first
		return nil
	default:
		return resultError(res)
	}
}

// Authenticate implements auth.Authenticator: signature, expiry, revocation, the user's
// existence, enablement and token cut-off, then the per-user rate limit.
func (s *Service) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	key, err := s.signingKey(ctx)
	if err != nil {
		return auth.Principal{}, err
	}
	now := s.cfg.Now()
	c, err := s.tokens.parse(key, token, now)
	if err != nil {
		return auth.Principal{}, status.Error(codes.Unauthenticated, err.Error())
	}
	p := auth.Principal{Username: c.Subject, TokenID: c.ID, Expires: c.ExpiresAt.UnixMilli()}
	check := func(m *statemachine.Machine) error {
		if m.IsTokenRevoked(c.ID) {
			return status.Error(codes.Unauthenticated, "token revoked (logged out)")
		}
		u, err := m.LookupUser(c.Subject)
		if err != nil {
			return errUnknownUser
		}
		if err := usable(u, c.IssuedAtMs); err != nil {
			return err
		}
		p.Role = roleName(u.Role)
		return nil
	}
	err = s.read(ctx, true, check)
	if errors.Is(err, errUnknownUser) {
		// A user signed up through another node may not have reached this one yet.
		err = s.read(ctx, false, check)
	}
	if err != nil {
		return auth.Principal{}, err
	}
	if !s.limiter.allow(p.Username, now) {
		return auth.Principal{}, status.Errorf(codes.ResourceExhausted,
			"rate limit: more than %.0f requests per second", s.cfg.RequestsPerSecond)
	}
	s.touchPresence(p.Username, now)
	return p, nil
}

// errUnknownUser refuses a token whose user this node does not know (yet).
var errUnknownUser = status.Error(codes.Unauthenticated, "unknown user")

// usable refuses disabled users and tokens issued before the user's token cut-off.
func usable(u statemachine.UserInfo, issuedMs int64) error {
	if u.Disabled {
		return status.Error(codes.PermissionDenied, "user is disabled")
	}
	if issuedMs < u.TokensNotBeforeUnixMs {
		return status.Error(codes.Unauthenticated, "token issued before the password changed")
	}
	return nil
}

func roleName(r statemachine.Role) string {
	if r == statemachine.RoleAdmin {
		return "admin"
	}
	return "user"
}

func (h *handler) SignUp(ctx context.Context, r *chatpb.SignUpRequest) (*chatpb.AuthResponse, error) {
	s := h.s
	if _, err := s.signingKey(ctx); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(ctx, r.GetPassword())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "hash password: %v", err)
	}
	cmd := &commandpb.Command{Op: &commandpb.Command_CreateUser{CreateUser: &commandpb.CreateUser{
		Username: r.GetUsername(), PasswordHash: hash, Role: commandpb.Role_ROLE_USER}}}
	// Sign-up runs as no one; scope its session by the new name so retries deduplicate.
	meta := &chatpb.WriteMeta{ClientId: "signup/" + r.GetMeta().GetClientId(), RequestId: r.GetMeta().GetRequestId()}
	if _, err := s.propose(ctx, "", meta, cmd); err != nil {
		return nil, err
	}
	return s.login(ctx, r.GetUsername(), r.GetPassword(), hash)
}

func (h *handler) Login(ctx context.Context, r *chatpb.LoginRequest) (*chatpb.AuthResponse, error) {
	if _, err := h.s.signingKey(ctx); err != nil {
		return nil, err
	}
	return h.s.login(ctx, r.GetUsername(), r.GetPassword(), "")
}

// login checks the password (unless knownHash is the stored hash: the sign-up that just
// created it) and issues a token pair.
func (s *Service) login(ctx context.Context, username, password, knownHash string) (*chatpb.AuthResponse, error) {
	var u statemachine.UserInfo
	err := s.read(ctx, knownHash != "", func(m *statemachine.Machine) (err error) {
		u, err = m.LookupUser(username)
		return err
	})
	if status.Code(err) == codes.NotFound {
		return nil, status.Error(codes.Unauthenticated, "wrong username or password")
	}
	if err != nil {
		return nil, err
	}
	if knownHash == "" || u.PasswordHash != knownHash {
		if err := s.verifyPassword(ctx, password, u.PasswordHash); err != nil {
			if status.Code(err) == codes.ResourceExhausted {
				return nil, err
			}
			return nil, status.Error(codes.Unauthenticated, "wrong username or password")
		}
	}
	if u.Disabled {
		return nil, status.Error(codes.PermissionDenied, "user is disabled")
	}
	s.touchPresence(username, s.cfg.Now())
	return s.issue(ctx, u)
}

func (s *Service) issue(ctx context.Context, u statemachine.UserInfo) (*chatpb.AuthResponse, error) {
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	role := roleName(u.Role)
	access, err := auth.Issue(key, auth.Access, u.Name, role, now, s.cfg.AccessTokenTTL)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	refresh, err := auth.Issue(key, auth.Refresh, u.Name, role, now, s.cfg.RefreshTokenTTL)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &chatpb.AuthResponse{
		AccessToken: access.Raw, AccessExpiresUnixMs: access.Expires.UnixMilli(),
		RefreshToken: refresh.Raw, RefreshExpiresUnixMs: refresh.Expires.UnixMilli(),
		User: &chatpb.User{Username: u.Name, Role: chatpb.Role(u.Role), CreatedUnixMs: u.CreatedUnixMs},
	}, nil
}

// Refresh exchanges a valid refresh token for a new pair and revokes the old refresh token
// through the log (rotation), so a stolen refresh token works at most once.
func (h *handler) Refresh(ctx context.Context, r *chatpb.RefreshRequest) (*chatpb.AuthResponse, error) {
	s := h.s
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	c, err := auth.Parse(key, r.GetRefreshToken(), auth.Refresh, s.cfg.Now())
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	var u statemachine.UserInfo
	err = s.read(ctx, false, func(m *statemachine.Machine) (err error) {
		if m.IsTokenRevoked(c.ID) {
			return status.Error(codes.Unauthenticated, "refresh token revoked")
		}
		if u, err = m.LookupUser(c.Subject); err != nil {
			return status.Error(codes.Unauthenticated, "unknown user")
		}
		return usable(u, c.IssuedAtMs)
	})
	if err != nil {
		return nil, err
	}
	if err := s.revoke(ctx, c.Subject, r.GetMeta(), c.ID, c.ExpiresAt.Time); err != nil {
		return nil, err
	}
	return s.issue(ctx, u)
}

func (s *Service) revoke(ctx context.Context, user string, meta *chatpb.WriteMeta, id string, exp time.Time) error {
	cmd := &commandpb.Command{Op: &commandpb.Command_RevokeToken{RevokeToken: &commandpb.RevokeToken{
		TokenId: id, Username: user, ExpiresUnixMs: exp.UnixMilli()}}}
	_, err := s.propose(ctx, user, meta, cmd)
	return err
}

// Logout revokes the access token of the call (and the refresh token given) through the
// log, so every node refuses them once it has applied the entry.
func (h *handler) Logout(ctx context.Context, r *chatpb.LogoutRequest) (*chatpb.LogoutResponse, error) {
	s := h.s
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if rt := r.GetRefreshToken(); rt != "" {
		key, err := s.signingKey(ctx)
		if err != nil {
			return nil, err
		}
		// An expired refresh token needs no revocation; a foreign one is refused.
		if c, err := auth.Parse(key, rt, auth.Refresh, s.cfg.Now()); err == nil {
			if c.Subject != p.Username {
				return nil, status.Error(codes.PermissionDenied, "refresh token of another user")
			}
			sub := &chatpb.WriteMeta{ClientId: r.GetMeta().GetClientId() + "/refresh", RequestId: r.GetMeta().GetRequestId()}
			if err := s.revoke(ctx, p.Username, sub, c.ID, c.ExpiresAt.Time); err != nil {
				return nil, err
			}
		}
	}
	if err := s.revoke(ctx, p.Username, r.GetMeta(), p.TokenID, time.UnixMilli(p.Expires)); err != nil {
		return nil, err
	}
	return &chatpb.LogoutResponse{}, nil
}

func (h *handler) ChangePassword(ctx context.Context, r *chatpb.ChangePasswordRequest) (*chatpb.Empty, error) {
	s := h.s
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var u statemachine.UserInfo
	if err := s.read(ctx, false, func(m *statemachine.Machine) (err error) {
		u, err = m.LookupUser(p.Username)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.verifyPassword(ctx, r.GetOldPassword(), u.PasswordHash); err != nil {
		if st, ok := status.FromError(err); ok {
			return nil, st.Err()
		}
		if errors.Is(err, auth.ErrMismatch) {
			return nil, status.Error(codes.PermissionDenied, "wrong old password")
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	hash, err := s.hashPassword(ctx, r.GetNewPassword())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	cmd := &commandpb.Command{Op: &commandpb.Command_ChangePassword{ChangePassword: &commandpb.ChangePassword{
		Username: p.Username, PasswordHash: hash}}}
	if _, err := s.propose(ctx, p.Username, r.GetMeta(), cmd); err != nil {
		return nil, err
	}
	return &chatpb.Empty{}, nil
}

// touchPresence records user as seen through the log at most once per PresenceInterval
// per node, in the background: log traffic grows with active users, not with requests.
func (s *Service) touchPresence(user string, now time.Time) {
	s.presenceMu.Lock()
	last, ok := s.presence[user]
	due := !ok || now.Sub(last) >= s.cfg.PresenceInterval
	if due {
		s.presence[user] = now
	}
	s.presenceMu.Unlock()
	if due {
		go s.proposePresence(user, false)
	}
}

func (s *Service) proposePresence(user string, offline bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := &commandpb.Command{ClientId: "presence/" + user, TimeUnixMs: s.cfg.Now().UnixMilli(), Actor: user,
		Op: &commandpb.Command_Heartbeat{Heartbeat: &commandpb.Heartbeat{Usernames: []string{user}, Offline: offline}}}
	if res, err := s.b.Propose(ctx, cmd); err != nil || res.GetCode() != commandpb.ErrorCode_OK {
		s.log.Debug("presence heartbeat failed", "user", user, "err", err, "code", res.GetCode())
		s.presenceMu.Lock()
		delete(s.presence, user) // try again on the next request
		s.presenceMu.Unlock()
	}
}

// maxCachedTokens bounds the verified-token cache; when full it is emptied (a burst of
// re-verification is cheaper than tracking recency).
const maxCachedTokens = 10_000

// tokenCache remembers access tokens whose signature was verified, so a client's steady
// stream of calls pays for the HMAC and JSON decoding once per token. Expiry is still
// checked on every call; revocation and the user's state are checked by the caller.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*auth.Claims
}

func (tc *tokenCache) parse(key []byte, raw string, now time.Time) (*auth.Claims, error) {
	tc.mu.Lock()
	c, ok := tc.m[raw]
	tc.mu.Unlock()
	if ok {
		if !now.Before(c.ExpiresAt.Time) {
			return nil, fmt.Errorf("%w: token is expired", auth.ErrInvalidToken)
		}
		return c, nil
	}
	c, err := auth.Parse(key, raw, auth.Access, now)
	if err != nil {
		return nil, err
	}
	tc.mu.Lock()
	if tc.m == nil || len(tc.m) >= maxCachedTokens {
		tc.m = map[string]*auth.Claims{}
	}
	tc.m[raw] = c
	tc.mu.Unlock()
	return c, nil
}

// acquireHashing takes one of the slots that bound concurrent argon2id work: each hash
// holds PasswordParams.MemoryKiB of memory, so a burst of public sign-ups and logins must
// queue (up to ctx's deadline) rather than exhaust the node's memory.
func (s *Service) acquireHashing(ctx context.Context) (release func(), err error) {
	select {
	case s.hashSlots <- struct{}{}:
		return func() { <-s.hashSlots }, nil
	case <-ctx.Done():
		return nil, status.Error(codes.ResourceExhausted, "too many concurrent password checks; retry later")
	}
}

func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.acquireHashing(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return auth.HashPassword(password, s.cfg.PasswordParams, nil)
}

func (s *Service) verifyPassword(ctx context.Context, password, encoded string) error {
	release, err := s.acquireHashing(ctx)
	if err != nil {
		return err
	}
	defer release()
	return auth.VerifyPassword(password, encoded)
}
