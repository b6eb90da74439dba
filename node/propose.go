package node

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

// Propose submits cmd to the cluster. done runs from a later Process call: with the result
// when a command with the same (client_id, request_id) applies on this replica (which may be
// an earlier attempt of the same request), or with an error if Raft refused the proposal.
// A proposal lost in a leader change never completes: the caller times out, cancels and
// retries with the same request id. cmd must carry its client_id, request_id and time.
//
// With Config.BatchProposals the command waits in the Replica until the next Process (or
// FlushProposals), which hands every waiting command to Raft as one proposal; cancelling a
// waiting command withdraws it.
func (r *Replica) Propose(cmd *commandpb.Command, done func(*commandpb.Result, error)) (cancel func()) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(cmd)
	if err != nil {
		err = fmt.Errorf("node %d: encode command: %w", r.cfg.ID, err)
		r.later = append(r.later, func() { done(nil, err) })
		return func() {}
	}
	key := propKey{cmd.GetClientId(), cmd.GetRequestId()}
	p := &pendingProp{done: done}
	if r.cfg.BatchProposals {
		r.queued = append(r.queued, queuedProp{data: data, key: key, p: p})
		r.addProp(key, p)
		return func() {
			p.withdrawn = true
			r.dropProp(key, p)
		}
	}
	if err := r.rn.Propose(data); err != nil {
		err = fmt.Errorf("node %d: propose: %w", r.cfg.ID, err)
		r.later = append(r.later, func() { done(nil, err) })
		return func() {}
	}
	r.addProp(key, p)
	return func() { r.dropProp(key, p) }
}

// queuedProp is a command waiting for the next batch (Config.BatchProposals).
type queuedProp struct {
	data []byte
	key  propKey
	p    *pendingProp
}

// FlushProposals hands the commands waiting under Config.BatchProposals to Raft as one
// proposal. Process calls it first; a driver may call it earlier. If Raft refuses the batch,
// each waiting command fails from the next Process with Raft's error.
func (r *Replica) FlushProposals() {
	if len(r.queued) == 0 {
		return
	}
	data := r.batchScratch[:0]
	for _, q := range r.queued {
		if !q.p.withdrawn {
			data = append(data, q.data)
		}
	}
	if perr := r.rn.ProposeBatch(data); perr != nil {
		// err is declared here, not above, so that only a failure pays for the heap copy the
		// callbacks capture.
		err := fmt.Errorf("node %d: propose: %w", r.cfg.ID, perr)
		for _, q := range r.queued {
			if !q.p.withdrawn {
				r.dropProp(q.key, q.p)
				done := q.p.done
				r.later = append(r.later, func() { done(nil, err) })
			}
		}
	}
	clear(data)
	r.batchScratch = data[:0]
	clear(r.queued)
	r.queued = r.queued[:0]
}

// addProp appends p to the proposals waiting for key.
func (r *Replica) addProp(key propKey, p *pendingProp) {
	head := r.props[key]
	if head == nil {
		r.props[key] = p
		return
	}
	for head.next != nil {
		head = head.next
	}
	head.next = p
}

// dropProp removes p from the proposals waiting for key, if it is there.
func (r *Replica) dropProp(key propKey, p *pendingProp) {
	head := r.props[key]
	if head == p {
		if p.next == nil {
			delete(r.props, key)
		} else {
			r.props[key] = p.next
		}
		p.next = nil
		return
	}
	for q := head; q != nil; q = q.next {
		if q.next == p {
			q.next = p.next
			p.next = nil
			return
		}
	}
}

// completeProps runs the callbacks waiting for key.
func (r *Replica) completeProps(key propKey, res *commandpb.Result) {
	p := r.props[key]
	if p == nil {
		return
	}
	delete(r.props, key)
	for p != nil {
		// Unlink first: the callback may cancel p or propose the same request again.
		next := p.next
		p.next = nil
		p.done(res, nil)
		p = next
	}
}

// ReadIndex starts a linearizable read. done(nil) runs from Process once this replica has
// applied everything committed when the read started (Raft's ReadIndex, thesis §6.4); the
// caller may then read Machine(). A read with no leader fails at once with raft.ErrNoLeader;
// one lost in a leader change never completes, so callers time out and cancel.
func (r *Replica) ReadIndex(done func(error)) (cancel func()) {
	if r.soft.Lead == raft.None {
		r.later = append(r.later, func() { done(fmt.Errorf("node %d: read: %w", r.cfg.ID, raft.ErrNoLeader)) })
		return func() {}
	}
	r.nextReadID++
	id := r.nextReadID
	p := &pendingRead{id: id, done: done}
	binary.BigEndian.PutUint64(p.ctx[:], id)
	r.reads[id] = p
	r.rn.ReadIndex(p.ctx[:])
	return func() { r.removeRead(id) }
}

// removeRead forgets read id, if it is still pending.
func (r *Replica) removeRead(id uint64) {
	p := r.reads[id]
	if p == nil {
		return
	}
	if p.known {
		r.knownReads--
	}
	delete(r.reads, id)
}

// noteReadStates records the read index of each answered ReadIndex request.
func (r *Replica) noteReadStates(rss []raft.ReadState) {
	for _, rs := range rss {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		if p := r.reads[binary.BigEndian.Uint64(rs.RequestCtx)]; p != nil && !p.known {
			p.index, p.known = rs.Index, true
			if r.knownReads == 0 || rs.Index < r.readFloor {
				r.readFloor = rs.Index
			}
			r.knownReads++
		}
	}
}

// serveReads completes the reads whose read index has been applied, in request order.
func (r *Replica) serveReads() {
	// Process calls this after every Ready, and reads usually wait for their index: scan
	// the pending reads only when one may have become servable.
	if r.knownReads == 0 || r.readFloor > r.applied {
		return
	}
	// The scratch slice is taken out while callbacks run, in case one reaches back here.
	ready := r.readyScratch[:0]
	r.readyScratch = nil
	floor := raft.Index(math.MaxUint64) // the lowest index of the known reads left waiting
	for _, p := range r.reads {
		switch {
		case !p.known:
		case p.index <= r.applied:
			ready = append(ready, p)
		default:
			floor = min(floor, p.index)
		}
	}
	sortReads(ready) // map order is random: serve in request order
	for _, p := range ready {
		r.removeRead(p.id)
		p.done(nil)
	}
	// Callbacks may cancel reads but not learn new read indexes, so floor is still at most
	// the lowest known index.
	r.readFloor = floor
	clear(ready)
	r.readyScratch = ready[:0]
}

func sortReads(ps []*pendingRead) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].id < ps[j-1].id; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
