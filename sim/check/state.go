package check

import (
	"hash/fnv"

	"github.com/raftchat/raftchat/raft"
)

// maxStates bounds how many applied indexes ObserveState remembers.
const maxStates = 4096

// stateSeen is the first state digest reported at one applied index.
type stateSeen struct {
	digest uint64
	node   raft.NodeID
}

// DigestBytes is FNV-1a over b, for ObserveState (for example over a state machine snapshot,
// whose encoding is deterministic).
func DigestBytes(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}

// ObserveState reports the digest of node id's whole application state at applied index
// applied. Replicas that applied the same prefix of the log must hold the same state
// (state machine safety at the level of state, not just of commands): a snapshot that
// forgets part of the state, or a non-deterministic apply, shows up here even when every
// replica applied the same commands. The simulator can call it whenever convenient (at the
// end of a run, or every so often); only the last few thousand indexes are remembered.
// It returns the violation it found, or "".
func (c *Checker) ObserveState(id raft.NodeID, applied raft.Index, digest uint64) string {
	if c.states == nil {
		c.states = make(map[raft.Index]stateSeen)
	}
	prev, ok := c.states[applied]
	if !ok {
		if len(c.states) >= maxStates {
			c.forgetOldStates()
		}
		c.states[applied] = stateSeen{digest: digest, node: id}
		return ""
	}
	if prev.digest == digest {
		return ""
	}
	n := len(c.violations)
	c.reportf("state divergence: at applied index %d node %d has state digest %016x, node %d has %016x",
		applied, prev.node, prev.digest, id, digest)
	if len(c.violations) > n {
		return c.violations[n]
	}
	return ""
}

// forgetOldStates drops the lower half of the remembered indexes.
func (c *Checker) forgetOldStates() {
	lo, hi := raft.Index(0), raft.Index(0)
	first := true
	for i := range c.states {
		if first || i < lo {
			lo = i
		}
		if first || i > hi {
			hi = i
		}
		first = false
	}
	mid := lo + (hi-lo)/2
	for i := range c.states {
		if i <= mid {
			delete(c.states, i)
		}
	}
}
