package raft

import (
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/raftchat/raftchat/raft/quorum"
)

// readIndexStatus is one ReadIndex request waiting for a heartbeat round to confirm that
// this node still leads (thesis §6.4 step 3). One allocation holds it all: ReadIndex is
// frequent, and acknowledgements and context used to cost a map and a slice each.
type readIndexStatus struct {
	seq   uint64
	req   Message
	index Index
	// ctx is seq encoded: the Context of the heartbeats that confirm this request. Written
	// once, so heartbeats may share it.
	ctx [8]byte
	// acks lists the distinct voters that confirmed; ackBuf holds them for clusters of up to
	// seven voters without another allocation (a linear scan beats a map at that size).
	acks   []NodeID
	ackBuf [7]NodeID
}

// readOnly tracks pending ReadIndex requests in arrival order. Each request gets a sequence
// number of its own, which is what heartbeats carry as their Context: request contexts come
// from different nodes and need not be unique.
type readOnly struct {
	// queue holds the pending requests by ascending sequence number.
	queue []*readIndexStatus
	// nextSeq is never reset, so an acknowledgement can never match a later request.
	nextSeq uint64
}

func (ro *readOnly) reset() {
	ro.queue = nil
}

// add registers a request to be answered at index once confirmed and returns the heartbeat
// context that identifies it.
func (ro *readOnly) add(index Index, m Message) []byte {
	ro.nextSeq++
	rs := &readIndexStatus{seq: ro.nextSeq, req: m, index: index}
	rs.acks = rs.ackBuf[:0]
	binary.BigEndian.PutUint64(rs.ctx[:], rs.seq)
	ro.queue = append(ro.queue, rs)
	return rs.ctx[:]
}

func parseReadCtx(ctx []byte) (uint64, bool) {
	if len(ctx) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx), true
}

// find returns the position in the queue of the request with ctx, or -1.
func (ro *readOnly) find(ctx []byte) int {
	seq, ok := parseReadCtx(ctx)
	if !ok {
		return -1
	}
	i, found := slices.BinarySearchFunc(ro.queue, seq, func(rs *readIndexStatus, seq uint64) int {
		return cmp.Compare(rs.seq, seq)
	})
	if !found {
		return -1
	}
	return i
}

// recvAck records that id answered the heartbeat carrying ctx; it returns the number of
// distinct acknowledgements for that request from the given voters (0 if unknown). Only
// voters count: a learner's answer proves nothing about leadership, and the configuration may
// have changed since the request was queued.
func (ro *readOnly) recvAck(id NodeID, ctx []byte, voters []NodeID) int {
	i := ro.find(ctx)
	if i < 0 {
		return 0
	}
	rs := ro.queue[i]
	if !slices.Contains(rs.acks, id) {
		rs.acks = append(rs.acks, id)
	}
	n := 0
	for _, a := range rs.acks {
		if slices.Contains(voters, a) {
			n++
		}
	}
	return n
}

// advance removes and returns the request with ctx and every request queued before it: a
// heartbeat round confirming a later request confirms the earlier ones too. The result
// shares the queue's array (only slots after it are ever written again); the caller clears
// it when done so it does not keep the requests alive.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	i := ro.find(ctx)
	if i < 0 {
		return nil
	}
	out := ro.queue[: i+1 : i+1]
	ro.queue = ro.queue[i+1:]
	return out
}

func (ro *readOnly) lastPendingCtx() []byte {
	if len(ro.queue) == 0 {
		return nil
	}
	return ro.queue[len(ro.queue)-1].ctx[:]
}

// MaxPendingReadIndex bounds the ReadIndex requests a leader holds unanswered (waiting for its
// no-op to commit or for a heartbeat round). Beyond it requests are dropped, like any request
// a leader cannot answer: the driver's timeout covers both.
const MaxPendingReadIndex = 1 << 12

// handleReadIndex is the leader's ReadIndex (thesis §6.4): record the commit index, then
// confirm leadership with a heartbeat round before answering.
func (r *raft) handleReadIndex(m *Message) {
	if len(r.pendingReadIndex)+len(r.readOnly.queue) >= MaxPendingReadIndex {
		return
	}
	if !r.knobs.ReadBeforeNoopCommitted && !r.committedEntryInCurrentTerm() {
		// Step 1: until this term's no-op commits, our commit index may lag the previous
		// leader's; wait.
		r.pendingReadIndex = append(r.pendingReadIndex, *m)
		return
	}
	r.serveReadIndex(m)
}

func (r *raft) serveReadIndex(m *Message) {
	if r.isSingleVoter() {
		r.respondReadIndex(*m, r.raftLog.committed)
		return
	}
	ctx := r.readOnly.add(r.raftLog.committed, *m)
	r.readOnly.recvAck(r.id, ctx, r.voters)
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
func (r *raft) handleReadAck(m *Message) {
	if len(m.Context) == 0 {
		return
	}
	if r.readOnly.recvAck(m.From, m.Context, r.voters) < quorum.Majority(len(r.voters)) {
		return
	}
	done := r.readOnly.advance(m.Context)
	for _, rs := range done {
		r.respondReadIndex(rs.req, rs.index)
	}
	clear(done)
}
