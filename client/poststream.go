package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// postStream is a Client's open PostStream to one node (Config.PostStream). Posts share it:
// each is sent with a tag and waits for the answer carrying that tag.
type postStream struct {
	node   int
	token  string
	st     chatpb.ChatService_PostStreamClient
	cancel context.CancelFunc

	sendMu sync.Mutex // Send is not safe for concurrent use

	mu      sync.Mutex
	pending map[uint64]chan *chatpb.PostStreamResponse
	nextTag uint64
	err     error         // why the stream ended; set before done closes
	done    chan struct{} // closed when the stream ended
}

// post sends one post over the stream to the node retry chose and waits for its answer. Its
// errors are gRPC statuses, so retry's rules (refresh on Unauthenticated, fail over on
// Unavailable or an attempt timeout) apply exactly as for the unary call; the request keeps
// its WriteMeta, so a post retried after a broken stream is never applied twice.
//
// An attempt is bounded by a timer rather than a context derived from ctx: deriving one per
// post registers it with ctx, and many clients posting under one parent context contend on it.
func (c *Client) post(ctx context.Context, req *chatpb.PostMessageRequest) (*chatpb.Message, error) {
	var msg *chatpb.Message
	err := c.retry(ctx, true, func(node int) error {
		timer := time.NewTimer(c.cfg.AttemptTimeout)
		defer timer.Stop()
		ps, err := c.postStreamTo(ctx, node, timer.C)
		if err != nil {
			return err
		}
		msg, err = ps.post(ctx, req, timer.C)
		return err
	})
	if status.Code(err) == codes.Unimplemented {
		// A node without PostStream (an older version, mid-upgrade): the call never ran, so
		// the unary call with the same write key is safe; stay with it from now on.
		c.noPostStream.Store(true)
		return invoke(ctx, c, req, chatpb.ChatServiceClient.PostMessage)
	}
	return msg, err
}

// errAttemptTimeout is an attempt's timeout as the unary path reports it: DeadlineExceeded,
// which retry treats as "try the next node" while the caller's context lasts.
var errAttemptTimeout = status.Error(codes.DeadlineExceeded, "post stream: attempt timed out")

// postStreamTo returns the open stream to node carrying the current access token, opening
// one (and ending any other) if needed. When the node names another as the leader, the
// stream is opened there instead and the client moves there for its other calls too.
func (c *Client) postStreamTo(ctx context.Context, node int, timeout <-chan time.Time) (*postStream, error) {
	c.psMu.Lock()
	defer c.psMu.Unlock()
	c.mu.Lock()
	tok := c.session.access
	c.mu.Unlock()
	if ps := c.ps; ps != nil && ps.token == tok && !ps.ended() {
		if ps.node == node || int(c.cur.Load()) == ps.node {
			return ps, nil
		}
	}
	for tries := 0; ; tries++ {
		if c.ps != nil {
			c.ps.end(status.Error(codes.Unavailable, "post stream replaced"))
			c.ps = nil
		}
		ps, leader, err := c.openPostStream(ctx, node, tok, timeout)
		if err != nil {
			return nil, err
		}
		c.ps = ps
		if leader < 0 || leader == node || c.cfg.StayOnNode || tries > 0 {
			return ps, nil
		}
		c.cur.CompareAndSwap(int64(node), int64(leader))
		node = leader
	}
}

// openPostStream opens a PostStream to node and waits for its header, which names the
// leader (as an index into Addrs, -1 if none) when node is a follower.
func (c *Client) openPostStream(ctx context.Context, node int, tok string, timeout <-chan time.Time) (*postStream, int, error) {
	// The stream outlives the call that opens it; ctx only bounds the wait for the header.
	sctx, cancel := context.WithCancel(context.Background())
	if tok != "" {
		sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+tok)
	}
	st, err := c.rpcs[node].PostStream(sctx)
	if err != nil {
		cancel()
		return nil, -1, err
	}
	type header struct {
		md  metadata.MD
		err error
	}
	hc := make(chan header, 1)
	go func() {
		md, err := st.Header()
		hc <- header{md, err}
	}()
	var h header
	select {
	case h = <-hc:
	case <-ctx.Done():
		cancel()
		return nil, -1, status.FromContextError(ctx.Err()).Err()
	case <-timeout:
		cancel()
		return nil, -1, errAttemptTimeout
	}
	if h.err != nil {
		cancel()
		return nil, -1, h.err
	}
	if h.md == nil {
		// The stream ended before its header: the status says why.
		_, err := st.Recv()
		cancel()
		if err == nil || errors.Is(err, io.EOF) {
			err = status.Error(codes.Unavailable, "post stream ended at once")
		}
		return nil, -1, err
	}
	leader := -1
	if addrs := h.md.Get(leaderHeader); len(addrs) > 0 {
		for i, a := range c.cfg.Addrs {
			if a == addrs[0] {
				leader = i
			}
		}
	}
	ps := &postStream{node: node, token: tok, st: st, cancel: cancel,
		pending: map[uint64]chan *chatpb.PostStreamResponse{}, done: make(chan struct{})}
	go ps.receive()
	return ps, leader, nil
}

// receive hands each answer to the post waiting for its tag, until the stream ends.
func (ps *postStream) receive() {
	for {
		r, err := ps.st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "post stream closed by the server")
			}
			ps.end(err)
			return
		}
		ps.mu.Lock()
		ch := ps.pending[r.GetTag()]
		delete(ps.pending, r.GetTag())
		ps.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// end records why the stream ended (the first reason wins), fails the posts waiting on it
// and cancels it.
func (ps *postStream) end(err error) {
	ps.mu.Lock()
	if ps.err == nil {
		ps.err = err
		close(ps.done)
	}
	ps.mu.Unlock()
	ps.cancel()
}

func (ps *postStream) ended() bool {
	select {
	case <-ps.done:
		return true
	default:
		return false
	}
}

func (ps *postStream) post(ctx context.Context, req *chatpb.PostMessageRequest, timeout <-chan time.Time) (*chatpb.Message, error) {
	ch := make(chan *chatpb.PostStreamResponse, 1)
	ps.mu.Lock()
	if ps.err != nil {
		err := ps.err
		ps.mu.Unlock()
		return nil, err
	}
	ps.nextTag++
	tag := ps.nextTag
	ps.pending[tag] = ch
	ps.mu.Unlock()
	forget := func() {
		ps.mu.Lock()
		delete(ps.pending, tag)
		ps.mu.Unlock()
	}
	ps.sendMu.Lock()
	err := ps.st.Send(&chatpb.PostStreamRequest{Tag: tag, Post: req})
	ps.sendMu.Unlock()
	if err != nil {
		// Send reports only that the stream is gone; receive learns the status.
		forget()
		select {
		case <-ps.done:
			return nil, ps.err
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-timeout:
			return nil, errAttemptTimeout
		}
	}
	select {
	case r := <-ch:
		if r.GetCode() != uint32(codes.OK) {
			return nil, status.Error(codes.Code(r.GetCode()), r.GetError())
		}
		return r.GetMessage(), nil
	case <-ps.done:
		forget()
		return nil, ps.err
	case <-ctx.Done():
		forget()
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-timeout:
		forget()
		return nil, errAttemptTimeout
	}
}

// closePostStream ends the client's stream, if it has one.
func (c *Client) closePostStream() {
	c.psMu.Lock()
	defer c.psMu.Unlock()
	if c.ps != nil {
		c.ps.end(status.Error(codes.Canceled, "client closed"))
		c.ps = nil
	}
}
