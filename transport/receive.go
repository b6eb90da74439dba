package transport

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// Stream implements raftpb.RaftServer: it reads frames from one peer and hands their messages
// to Deliver, reassembling chunked snapshots on the way.
func (t *Transport) Stream(st raftpb.Raft_StreamServer) error {
	var asm reassembly
	for {
		f, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		from := raft.NodeID(f.From)
		if t.cfg.Removed != nil && t.cfg.Removed(from) {
			return status.Errorf(codes.FailedPrecondition, "%s: node %d", removedMsg, from)
		}
		if p := t.peerMap()[from]; p != nil {
			p.lastHeard.Store(time.Now().UnixNano())
		}
		if f.Chunk != nil {
			m, done, err := asm.add(f.Chunk, t.cfg.MaxSnapshotBytes)
			if err != nil {
				_ = st.Send(&raftpb.Feedback{SnapshotFailed: true})
				return status.Errorf(codes.InvalidArgument, "snapshot from %d: %v", from, err)
			}
			if done {
				if ok := t.accept(from, m); ok {
					t.deliver([]raft.Message{m})
				}
				if err := st.Send(&raftpb.Feedback{SnapshotIndex: uint64(m.Snapshot.Metadata.Index)}); err != nil {
					return err
				}
			}
			continue
		}
		msgs := make([]raft.Message, 0, len(f.Messages))
		for _, pm := range f.Messages {
			m, err := FromProto(pm)
			if err != nil {
				return status.Errorf(codes.InvalidArgument, "frame from %d: %v", from, err)
			}
			if t.accept(from, m) {
				msgs = append(msgs, m)
			}
		}
		t.deliver(msgs)
	}
}

// deliver hands a frame's accepted messages to DeliverFrame, or one by one to Deliver.
func (t *Transport) deliver(msgs []raft.Message) {
	if len(msgs) == 0 {
		return
	}
	if t.cfg.DeliverFrame != nil {
		t.cfg.DeliverFrame(msgs)
		return
	}
	for _, m := range msgs {
		t.cfg.Deliver(m)
	}
}

// accept reports whether m, arriving in a frame from `from`, is addressed to this node and
// claims the sender it came from. Anything else is a misrouted or forged message.
func (t *Transport) accept(from raft.NodeID, m raft.Message) bool {
	if m.To != t.cfg.ID || m.From != from || from == raft.None {
		t.log.Warn("misaddressed peer message dropped",
			"node", t.cfg.ID, "frame_from", from, "from", m.From, "to", m.To, "type", m.Type)
		return false
	}
	return true
}

// reassembly collects the chunks of one snapshot message in order.
type reassembly struct {
	header *raftpb.Message
	total  uint64
	buf    []byte
}

// add appends chunk c. When c is the last chunk it returns the complete message and done.
func (a *reassembly) add(c *raftpb.SnapshotChunk, limit uint64) (m raft.Message, done bool, err error) {
	if c.Offset == 0 {
		if c.Header == nil || c.Header.Snapshot == nil {
			return m, false, errors.New("first chunk without a snapshot header")
		}
		if c.TotalBytes > limit {
			return m, false, fmt.Errorf("snapshot of %d bytes exceeds the limit of %d", c.TotalBytes, limit)
		}
		// Grow as chunks arrive rather than trusting total_bytes for one large allocation.
		*a = reassembly{header: c.Header, total: c.TotalBytes, buf: make([]byte, 0, min(c.TotalBytes, 1<<20))}
	}
	if a.header == nil || c.Offset != uint64(len(a.buf)) {
		return m, false, fmt.Errorf("chunk at offset %d, expected %d", c.Offset, len(a.buf))
	}
	if uint64(len(a.buf))+uint64(len(c.Data)) > a.total {
		return m, false, fmt.Errorf("chunks exceed the announced %d bytes", a.total)
	}
	a.buf = append(a.buf, c.Data...)
	if !c.Last {
		return m, false, nil
	}
	if uint64(len(a.buf)) != a.total {
		return m, false, fmt.Errorf("snapshot ended at %d of %d bytes", len(a.buf), a.total)
	}
	a.header.Snapshot.Data = a.buf
	m, err = FromProto(a.header)
	*a = reassembly{}
	if err == nil && m.Type != raft.MsgSnap {
		err = fmt.Errorf("chunked message of type %v", m.Type)
	}
	return m, err == nil, err
}

// removedMsg starts the status message of a stream refused because its sender was removed
// from the cluster.
const removedMsg = "removed from the cluster"

// isRemovedStatus reports whether err is a peer's refusal of a removed node's stream.
func isRemovedStatus(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.FailedPrecondition && strings.HasPrefix(st.Message(), removedMsg)
}
