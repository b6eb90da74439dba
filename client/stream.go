package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// Position is where an event stream stands: the last event seen.
type Position struct {
	Index   uint64
	Ordinal uint32
}

// after reports whether ev comes after p in log order.
func (p Position) before(ev *chatpb.Event) bool {
	return ev.GetIndex() > p.Index || (ev.GetIndex() == p.Index && ev.GetOrdinal() > p.Ordinal)
}

// Subscribe streams the caller's events to fn, starting after from (the zero Position: from
// now), until ctx ends or fn returns an error. When the node fails or the stream breaks it
// resubscribes, on the next node, after the last event fn saw, so fn sees every event once
// and in log order. Heartbeats only advance the position; fn does not see them. It returns
// fn's error, ctx's error, or the server's refusal (OutOfRange when the position is too old
// to resume: resynchronise with History and subscribe from now).
func (c *Client) Subscribe(ctx context.Context, from Position, fn func(*chatpb.Event) error) error {
	failures := 0
	for {
		node := int(c.cur.Load())
		pos, err := c.subscribeOnce(ctx, node, from, fn)
		if pos != from {
			failures = 0
		}
		from = pos
		var fnErr callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case status.Code(err) == codes.Unauthenticated && c.canRefresh():
			if rerr := c.refresh(ctx); rerr != nil {
				return fmt.Errorf("subscribe: %w (refresh: %w)", err, rerr)
			}
		case errors.Is(err, io.EOF) || retryable(ctx, err):
			c.failover(node, err)
			failures++
			if failures%len(c.rpcs) == 0 {
				if err := sleep(ctx, c.backoff(failures)); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("subscribe: %w", err)
		}
	}
}

type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// subscribeOnce runs one stream on node and returns the position reached.
func (c *Client) subscribeOnce(ctx context.Context, node int, from Position, fn func(*chatpb.Event) error) (Position, error) {
	sctx, cancel := context.WithCancel(c.withToken(ctx))
	defer cancel()
	req := &chatpb.SubscribeRequest{AfterIndex: from.Index, AfterOrdinal: from.Ordinal}
	stream, err := c.rpcs[node].Subscribe(sctx, req)
	if err != nil {
		return from, err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return from, err
		}
		if !from.before(ev) {
			continue // a node never repeats; guard anyway so a resumed stream cannot either
		}
		from = Position{Index: ev.GetIndex(), Ordinal: ev.GetOrdinal()}
		if ev.GetHeartbeat() != nil {
			continue
		}
		if err := fn(ev); err != nil {
			return from, callbackError{err}
		}
	}
}
