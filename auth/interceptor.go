package auth

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Username string
	// Role is the role recorded in the state machine when the call was authenticated.
	Role string
	// TokenID and Expires identify the access token used (for logout).
	TokenID string
	Expires int64 // unix ms
}

// Authenticator checks an access token: signature, expiry, revocation, and that the user
// exists and is not disabled. Its error is returned to the client as Unauthenticated unless
// it already is a gRPC status.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller authenticated by the interceptor, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// IsPublic reports whether a full gRPC method name needs no token: sign-up, login, token
// refresh (the refresh token is the credential), health checks and reflection.
func IsPublic(fullMethod string) bool {
	switch {
	case strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/"),
		strings.HasPrefix(fullMethod, "/grpc.reflection."):
		return true
	case strings.HasSuffix(fullMethod, "ChatService/SignUp"),
		strings.HasSuffix(fullMethod, "ChatService/Login"),
		strings.HasSuffix(fullMethod, "ChatService/Refresh"):
		return strings.HasPrefix(fullMethod, "/raftchat.chat.v1.ChatService/")
	}
	return false
}

// BearerToken extracts the token of an "authorization: Bearer X" metadata entry.
func BearerToken(ctx context.Context) (string, bool) {
	// ValueFromIncomingContext copies only this key's values, not the whole metadata map.
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:]), true
		}
	}
	return "", false
}

func authenticate(ctx context.Context, a Authenticator, fullMethod string) (context.Context, error) {
	if IsPublic(fullMethod) {
		return ctx, nil
	}
	tok, ok := BearerToken(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	p, err := a.Authenticate(ctx, tok)
	if err != nil {
		if _, isStatus := status.FromError(err); isStatus {
			return nil, err
		}
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return WithPrincipal(ctx, p), nil
}

// UnaryInterceptor authenticates every unary call except the public ones.
func UnaryInterceptor(a Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, a, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// StreamInterceptor authenticates every streaming call except the public ones.
func StreamInterceptor(a Authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := authenticate(ss.Context(), a, info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
