package sim

import (
	"fmt"
	"math/bits"

	"github.com/raftchat/raftchat/raft"
)

// Progress probing during the fault phase: whenever a majority of nodes is up, running and
// fully connected, a correct cluster elects a leader and commits pending writes within a few
// election timeouts. A cluster that stalls anyway has a liveness bug (a deposed leader that
// never steps down, a follower that can never catch up) even though healing everything at
// the end would hide it.
const (
	progressProbeNs  = 500_000_000
	progressWindowNs = 5_000_000_000
	probeProgress    = 0
	probeLiveness    = 1
)

type progress struct {
	// healthySince is when the current healthy period began, -1 when there is none (a fault
	// event always restarts the period).
	healthySince int64
	lastCommit   raft.Index
	lastCommitAt int64
	reported     bool
	violation    string
}

// noteTopology restarts the healthy period after a fault event.
func (w *World) noteTopology() {
	if w.healthyQuorum() {
		w.progress.healthySince = w.now
	} else {
		w.progress.healthySince = -1
	}
}

// healthyQuorum reports whether some majority of nodes is up, unpaused, ticking and
// connected both ways between every pair.
func (w *World) healthyQuorum() bool {
	if w.oper != nil {
		return w.healthyQuorumDynamic()
	}
	n := len(w.nodes)
	var ok uint32
	for i, nd := range w.nodes {
		if nd.up && !nd.paused && w.now >= nd.stallUntil {
			ok |= 1 << i
		}
	}
	for set := uint32(1); set < 1<<n; set++ {
		if set&ok != set || bits.OnesCount32(set) <= n/2 {
			continue
		}
		if w.connected(set) {
			return true
		}
	}
	return false
}

func (w *World) connected(set uint32) bool {
	for a := range w.nodes {
		for b := range w.nodes {
			if a != b && set&(1<<a) != 0 && set&(1<<b) != 0 && w.net.isBlocked(a, b) {
				return false
			}
		}
	}
	return true
}

func (w *World) probeProgress() {
	if w.liveness || w.progress.reported {
		return
	}
	w.q.push(event{at: w.now + progressProbeNs, kind: evProbe, arg: probeProgress, node: -1})
	p := &w.progress
	for _, n := range w.nodes {
		if n.up {
			if c := n.rep.Position().Commit; c > p.lastCommit {
				p.lastCommit, p.lastCommitAt = c, w.now
			}
		}
	}
	if p.healthySince < 0 {
		return
	}
	since := max(p.healthySince, p.lastCommitAt)
	oldest := w.oldestPendingWrite()
	if oldest < 0 || w.now-since < progressWindowNs || w.now-oldest < progressWindowNs {
		return
	}
	p.reported = true
	w.done = true
	p.violation = fmt.Sprintf("t=%s liveness: no progress: a connected majority has been up since %s, a write has waited since %s, but nothing committed since %s",
		fmtTime(w.now), fmtTime(p.healthySince), fmtTime(oldest), fmtTime(p.lastCommitAt))
	w.logAll("VIOLATION %s", p.violation)
}

// oldestPendingWrite is the call time of the oldest write a client still waits on, or -1.
func (w *World) oldestPendingWrite() int64 {
	oldest := int64(-1)
	for _, c := range w.clients {
		if c.cur != nil && c.cur.cmd != nil {
			if t := w.ops[c.cur.op].CallNs; oldest < 0 || t < oldest {
				oldest = t
			}
		}
	}
	return oldest
}
