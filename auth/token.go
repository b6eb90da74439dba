package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kind distinguishes access tokens (sent with every call) from refresh tokens (exchanged
// for a new pair); one can never stand in for the other.
type Kind string

const (
	// Access tokens are short-lived and authenticate calls.
	Access Kind = "access"
	// Refresh tokens are long-lived and only buy a new token pair.
	Refresh Kind = "refresh"
)

// Claims are the fields raftchat puts in a token.
type Claims struct {
	// Kind is Access or Refresh.
	Kind Kind `json:"knd"`
	// Role is the user's role when the token was issued ("user" or "admin"); the service
	// re-checks the current role for admin calls.
	Role string `json:"rol,omitempty"`
	// IssuedAtMs is the issue time in milliseconds: "iat" has second resolution, too coarse
	// to tell a token issued just before a password change from one issued just after.
	IssuedAtMs int64 `json:"iam"`
	jwt.RegisteredClaims
}

// Username returns the subject.
func (c *Claims) Username() string { return c.Subject }

// Token is one issued token.
type Token struct {
	Raw     string
	ID      string // jti, used for revocation
	Expires time.Time
}

// ErrInvalidToken wraps every reason a token is refused (bad signature, expired, wrong
// kind, malformed); the reason is in the message.
var ErrInvalidToken = errors.New("invalid token")

const issuer = "raftchat"

// Issue signs a token of kind for username with key (HS256), valid from now for ttl.
func Issue(key []byte, kind Kind, username, role string, now time.Time, ttl time.Duration) (Token, error) {
	if len(key) < 32 {
		return Token{}, errors.New("issue token: signing key shorter than 32 bytes")
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, fmt.Errorf("issue token: jti: %w", err)
	}
	exp := now.Add(ttl)
	c := Claims{Kind: kind, Role: role, IssuedAtMs: now.UnixMilli(), RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   username,
		ID:        hex.EncodeToString(id[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), // tolerate clock skew between nodes
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(key)
	if err != nil {
		return Token{}, fmt.Errorf("issue token: sign: %w", err)
	}
	return Token{Raw: raw, ID: c.ID, Expires: exp.Truncate(time.Second)}, nil
}

// Parse verifies raw with key (HS256 only), its expiry against now, and that it is of kind.
// Revocation is the caller's check (the revoked jti set lives in the state machine).
func Parse(key []byte, raw string, kind Kind, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Kind != kind {
		return nil, fmt.Errorf("%w: %s token where %s expected", ErrInvalidToken, c.Kind, kind)
	}
	if c.Subject == "" || c.ID == "" || c.IssuedAt == nil || c.IssuedAtMs <= 0 {
		return nil, fmt.Errorf("%w: missing subject, id or issue time", ErrInvalidToken)
	}
	return &c, nil
}
