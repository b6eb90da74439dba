package server

import (
	"sync"

	"github.com/raftchat/raftchat/raft"
)

// inboundQueue holds peer messages for the loop. The transport hands it a whole frame at a
// time, so the loop steps every message of a frame before it processes: the answers they
// cause then share one Ready (and coalesce there), where a per-message queue would let a
// quick loop wake once per message.
type inboundQueue struct {
	mu    sync.Mutex
	msgs  []raft.Message
	spare []raft.Message // the slice take handed out last time, reused
	limit int
	// wake has room for one token: add leaves one when the queue goes from empty to not.
	wake chan struct{}
}

func newInboundQueue(limit int) *inboundQueue {
	return &inboundQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// add queues ms unless that would exceed the limit, in which case the whole frame is dropped
// (Raft retransmits). It reports how many messages it dropped.
func (q *inboundQueue) add(ms []raft.Message) (dropped int) {
	q.mu.Lock()
	if len(q.msgs)+len(ms) > q.limit {
		q.mu.Unlock()
		return len(ms)
	}
	wasEmpty := len(q.msgs) == 0
	q.msgs = append(q.msgs, ms...)
	q.mu.Unlock()
	if wasEmpty {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return 0
}

// take returns up to max queued messages, oldest first. The slice is valid until the next
// take.
func (q *inboundQueue) take(max int) []raft.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(q.spare)
	out := q.msgs
	if len(out) > max {
		rest := append(q.spare[:0], out[max:]...)
		out = out[:max]
		q.msgs, q.spare = rest, out
		// Still not empty: make sure the loop comes back for the rest.
		select {
		case q.wake <- struct{}{}:
		default:
		}
		return out
	}
	q.msgs, q.spare = q.spare[:0], out
	return out
}
