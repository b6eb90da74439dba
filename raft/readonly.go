package raft

import "github.com/raftchat/raftchat/raft/quorum"

// readIndexStatus is one ReadIndex request waiting for a heartbeat round to confirm that
// this node still leads (thesis §6.4 step 3).
type readIndexStatus struct {
	req   Message
	index Index
	acks  map[NodeID]struct{}
}

// readOnly tracks pending ReadIndex requests in arrival order. Request contexts must be
// unique among pending requests; a duplicate is dropped.
type readOnly struct {
	pending map[string]*readIndexStatus
	queue   []string
}

func (ro *readOnly) reset() {
	ro.pending = nil
	ro.queue = nil
}

// add registers a request answered at index once confirmed; false if its context is pending.
func (ro *readOnly) add(index Index, m Message) bool {
	ctx := string(m.Context)
	if _, ok := ro.pending[ctx]; ok {
		return false
	}
	if ro.pending == nil {
		ro.pending = make(map[string]*readIndexStatus)
	}
	ro.pending[ctx] = &readIndexStatus{req: m, index: index, acks: make(map[NodeID]struct{})}
	ro.queue = append(ro.queue, ctx)
	return true
}

// recvAck records that id answered the heartbeat carrying ctx; it returns the number of
// distinct acknowledgements for that request (0 if unknown).
func (ro *readOnly) recvAck(id NodeID, ctx []byte) int {
	rs, ok := ro.pending[string(ctx)]
	if !ok {
		return 0
	}
	rs.acks[id] = struct{}{}
	return len(rs.acks)
}

// advance removes and returns the request with ctx and every request queued before it: a
// heartbeat round confirming a later request confirms the earlier ones too.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	var out []*readIndexStatus
	for i, c := range ro.queue {
		if c != string(ctx) {
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
	return []byte(ro.queue[len(ro.queue)-1])
}

// handleReadIndex is the leader's ReadIndex (thesis §6.4): record the commit index, then
// confirm leadership with a heartbeat round before answering.
func (r *raft) handleReadIndex(m Message) {
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
	if !r.readOnly.add(r.raftLog.committed, m) {
		return
	}
	r.readOnly.recvAck(r.id, m.Context)
	r.bcastHeartbeatWithCtx(m.Context)
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
