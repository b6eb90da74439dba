package service

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// maxPostsInFlight bounds the posts of one PostStream being handled at once; the stream stops
// reading until one completes, so a client cannot queue unbounded work.
const maxPostsInFlight = 64

// PostStream implements chatpb.ChatServiceServer. The stream was authenticated when it
// opened; every post is authenticated again with the same token (expiry, logout, a disabled
// account and the rate limit apply per post, as for PostMessage), validated, and handled
// concurrently with the others. After a post is refused for its token, the next request
// ends the stream with that status (once the posts in flight are answered), so the client
// refreshes and reopens.
func (h *handler) PostStream(st chatpb.ChatService_PostStreamServer) error {
	ctx := st.Context()
	tok, ok := auth.BearerToken(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "missing bearer token")
	}
	// Tell a client that opened the stream on a follower where the leader is, before the
	// first post, so it can move there (posts on a follower work, one hop slower).
	h.s.hintLeader(ctx)
	if err := st.SendHeader(nil); err != nil {
		return err
	}
	var (
		sendMu  sync.Mutex
		wg      sync.WaitGroup
		failMu  sync.Mutex
		authErr error // the first token failure: ends the stream
		// Posts go to long-lived workers, started as concurrency requires (up to
		// maxPostsInFlight): a goroutine per post would grow a fresh stack every time.
		work    = make(chan *chatpb.PostStreamRequest)
		workers = 0
	)
	handle := func(req *chatpb.PostStreamRequest) {
		msg, err := h.streamedPost(ctx, tok, req)
		resp := &chatpb.PostStreamResponse{Tag: req.GetTag(), Message: msg}
		if err != nil {
			s := status.Convert(err)
			resp.Code, resp.Error = uint32(s.Code()), s.Message()
			if s.Code() == codes.Unauthenticated {
				failMu.Lock()
				if authErr == nil {
					authErr = err
				}
				failMu.Unlock()
			}
		}
		sendMu.Lock()
		_ = st.Send(resp) // a broken stream ends Recv too
		sendMu.Unlock()
	}
	worker := func(first *chatpb.PostStreamRequest) {
		defer wg.Done()
		handle(first)
		for req := range work {
			handle(req)
		}
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	for {
		req, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		failMu.Lock()
		ended := authErr
		failMu.Unlock()
		if ended != nil {
			return ended
		}
		select {
		case work <- req: // an idle worker took it
			continue
		default:
		}
		if workers < maxPostsInFlight {
			workers++
			wg.Add(1)
			go worker(req)
			continue
		}
		select {
		case work <- req:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// streamedPost handles one post of a PostStream as the unary interceptors and PostMessage
// would.
func (h *handler) streamedPost(ctx context.Context, tok string, r *chatpb.PostStreamRequest) (*chatpb.Message, error) {
	if err := validateRequest(r, &h.s.cfg); err != nil {
		return nil, err
	}
	p, err := h.s.Authenticate(ctx, tok)
	if err != nil {
		return nil, err
	}
	return h.PostMessage(auth.WithPrincipal(ctx, p), r.GetPost())
}
