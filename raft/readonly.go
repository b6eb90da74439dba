package raft

import (
	"encoding/binary"

	"github.com/raftchat/raftchat/raft/quorum"
)

// readIndexStatus is one ReadIndex request waiting for a heartbeat round to confirm that
// this node still leads (thesis §6.4 step 3).
type readIndexStatus struct {
	req   Message
	index Index
	acks  map[NodeID]struct{}
}

// readOnly tracks pending ReadIndex requests in arrival order. Each request gets a sequence
// number of its own, which is what heartbeats carry as their Context: request contexts come
// from different nodes and need not be unique.
type readOnly struct {
	pending map[uint64]*readIndexStatus
	// queue holds pending sequence numbers, ascending.
	queue []uint64
	// nextSeq is never reset, so an acknowledgement can never match a later request.
	nextSeq uint64
}

func (ro *readOnly) reset() {
	ro.pending = nil
	ro.queue = nil
}

// add registers a request to be answered at index once confirmed and returns the heartbeat
// context that identifies it.
func (ro *readOnly) add(index Index, m Message) []byte {
	ro.nextSeq++
	if ro.pending == nil {
		ro.pending = make(map[uint64]*readIndexStatus)
	}
	ro.pending[ro.nextSeq] = &readIndexStatus{req: m, index: index, acks: make(map[NodeID]struct{})}
	ro.queue = append(ro.queue, ro.nextSeq)
	return binary.BigEndian.AppendUint64(nil, ro.nextSeq)
}

func parseReadCtx(ctx []byte) (uint64, bool) {
	if len(ctx) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx), true
}

// recvAck records that id answered the heartbeat carrying ctx; it returns the number of
// distinct acknowledgements for that request (0 if unknown).
func (ro *readOnly) recvAck(id NodeID, ctx []byte) int {
	seq, ok := parseReadCtx(ctx)
	if !ok {
		return 0
	}
	rs, ok := ro.pending[seq]
	if !ok {
		return 0
	}
	rs.acks[id] = struct{}{}
	return len(rs.acks)
}

// advance removes and returns the request with ctx and every request queued before it: a
// heartbeat round confirming a later request confirms the earlier ones too.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	seq, ok := parseReadCtx(ctx)
	if !ok {
		return nil
	}
	var out []*readIndexStatus
	for i, s := range ro.queue {
		if s != seq {
			continue
		}
		for _, done := range ro.queue[:i+1] {
			out = append(out, ro.pending[done])
			delete(ro.pending, done)
		}
		ro.queue = ro.queue[i+1:]
		return out
	}
	return nil
}

func (ro *readOnly) lastPendingCtx() []byte {
	if len(ro.queue) == 0 {
		return nil
	}
	return binary.BigEndian.AppendUint64(nil, ro.queue[len(ro.queue)-1])
}

// MaxPendingReadIndex bounds the ReadIndex requests a leader holds unanswered (waiting for its
// no-op to commit or for a heartbeat round). Beyond it requests are dropped, like any request
// a leader cannot answer: the driver's timeout covers both.
const MaxPendingReadIndex = 1 << 12

// handleReadIndex is the leader's ReadIndex (thesis §6.4): record the commit index, then
// confirm leadership with a heartbeat round before answering.
func (r *raft) handleReadIndex(m Message) {
	if len(r.pendingReadIndex)+len(r.readOnly.queue) >= MaxPendingReadIndex {
		return
	}
	if !r.knobs.ReadBeforeNoopCommitted && !r.committedEntryInCurrentTerm() {
		// Step 1: until this term's no-op commits, our commit index may lag the previous
		// leader's; wait.
		r.pendingReadIndex = append(r.pendingReadIndex, m)
		return
	}
	r.serveReadIndex(m)
}

func (r *raft) serveReadIndex(m Message) {
	if r.isSingleVoter() {
		r.respondReadIndex(m, r.raftLog.committed)
		return
	}
	ctx := r.readOnly.add(r.raftLog.committed, m)
	r.readOnly.recvAck(r.id, ctx)
	r.bcastHeartbeatWithCtx(ctx)
}

// respondReadIndex answers a local request with a ReadState and a forwarded one with
// MsgReadIndexResp.
func (r *raft) respondReadIndex(req Message, index Index) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: req.Context})
		return
	}
	r.send(Message{To: req.From, Type: MsgReadIndexResp, Index: index, Context: req.Context})
}

// handleReadAck processes the ReadIndex context echoed by a heartbeat response.
func (r *raft) handleReadAck(m Message) {
	if len(m.Context) == 0 {
		return
	}
	if r.readOnly.recvAck(m.From, m.Context) < quorum.Majority(len(r.voters)) {
		return
	}
	for _, rs := range r.readOnly.advance(m.Context) {
		r.respondReadIndex(rs.req, rs.index)
	}
}
