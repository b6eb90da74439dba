package transport

import (
	"context"
	"fmt"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// startSnapshot sends m (a MsgSnap) to p on a stream of its own, so a large snapshot does not
// hold up heartbeats. Only one snapshot is in flight per peer; Raft asks again later.
func (t *Transport) startSnapshot(p *peer, m raft.Message) {
	if m.Snapshot == nil || !p.snapBusy.CompareAndSwap(false, true) {
		t.cfg.ReportSnapshot(p.id, true)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer p.snapBusy.Store(false)
		err := t.sendSnapshot(p, m)
		if err != nil {
			t.log.Warn("snapshot send failed", "node", t.cfg.ID, "peer", p.id,
				"index", m.Snapshot.Metadata.Index, "err", err)
		}
		t.cfg.ReportSnapshot(p.id, err != nil)
	}()
}

// sendSnapshot streams m in chunks and waits for the receiver to confirm it was delivered.
func (t *Transport) sendSnapshot(p *peer, m raft.Message) error {
	ctx, cancel := context.WithTimeout(p.ctx, t.cfg.SnapshotTimeout)
	defer cancel()
	st, err := raftpb.NewRaftClient(p.conn).Stream(ctx)
	if err != nil {
		return fmt.Errorf("open snapshot stream: %w", err)
	}
	header := ToProto(m)
	data := header.Snapshot.Data
	header.Snapshot.Data = nil
	total := uint64(len(data))
	for off := 0; ; off += t.cfg.SnapshotChunkBytes {
		end := min(off+t.cfg.SnapshotChunkBytes, len(data))
		c := &raftpb.SnapshotChunk{TotalBytes: total, Offset: uint64(off), Data: data[off:end], Last: end == len(data)}
		if off == 0 {
			c.Header = header
		}
		if err := st.Send(&raftpb.Frame{From: uint64(t.cfg.ID), Chunk: c}); err != nil {
			return fmt.Errorf("send snapshot chunk at %d: %w", off, err)
		}
		if c.Last {
			break
		}
	}
	fb, err := st.Recv()
	if err != nil {
		return fmt.Errorf("await snapshot ack: %w", err)
	}
	_ = st.CloseSend()
	if fb.SnapshotFailed || fb.SnapshotIndex != uint64(m.Snapshot.Metadata.Index) {
		return fmt.Errorf("peer refused snapshot %d (acked %d)", m.Snapshot.Metadata.Index, fb.SnapshotIndex)
	}
	return nil
}
