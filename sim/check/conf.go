package check

import (
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
)

// Membership checks. Raft changes membership one server at a time, and a change entry
// carries the configuration it produces (raft.DecodeConfChange), which takes effect on each
// node when it applies the entry. So:
//   - every node that applies the change entry at index i gets the same configuration;
//   - the configuration an entry produces is the previous configuration (the one produced
//     by the change entry before it in the log, or the bootstrap one) with exactly the
//     entry's change made; in particular two consecutive configurations differ by at most
//     one voter (thesis §4.1: any two of them then share a majority).
//
// A leader that accepted a second change before applying its first computes both from the
// same old configuration: the second silently undoes the first, which the second check
// catches.

// confSeen is the configuration first reported at one log index.
type confSeen struct {
	index raft.Index
	cc    raft.ConfChange
	cs    raft.ConfState
	node  raft.NodeID
}

// SetBootstrapConf records the configuration the cluster starts with (index 0), against which
// the first change entry is judged.
func (c *Checker) SetBootstrapConf(cs raft.ConfState) {
	c.confs = []confSeen{{cs: cs.Clone()}}
}

// ObserveConfChange reports that node applied the change entry at index, which made cs (with
// change cc) its configuration. Entries must be reported as nodes apply them; a node
// learns earlier ones only through snapshots, so the first report of any index always comes
// after the first report of every lower change index. It returns the violation found, or "".
func (c *Checker) ObserveConfChange(node raft.NodeID, index raft.Index, cc raft.ConfChange, cs raft.ConfState) string {
	k, found := slices.BinarySearchFunc(c.confs, index, func(s confSeen, i raft.Index) int {
		switch {
		case s.index < i:
			return -1
		case s.index > i:
			return 1
		}
		return 0
	})
	n := len(c.violations)
	if found {
		if prev := &c.confs[k]; !prev.cs.Equal(cs) || prev.cc.Type != cc.Type || prev.cc.NodeID != cc.NodeID {
			c.reportf("configuration safety: the change at index %d gave node %d %s (%s %d) but node %d %s (%s %d)",
				index, prev.node, fmtConf(prev.cs), prev.cc.Type, prev.cc.NodeID, node, fmtConf(cs), cc.Type, cc.NodeID)
		}
		return c.firstNew(n)
	}
	c.confs = slices.Insert(c.confs, k, confSeen{index: index, cc: cc, cs: cs.Clone(), node: node})
	if k == 0 {
		return c.firstNew(n) // no bootstrap configuration recorded: nothing to compare with
	}
	prev := &c.confs[k-1]
	if want, ok := applyChange(prev.cs, cc); !ok || !want.Equal(cs) {
		c.reportf("configuration safety: the change at index %d (%s %d) made %s, but the configuration before it (index %d) was %s",
			index, cc.Type, cc.NodeID, fmtConf(cs), prev.index, fmtConf(prev.cs))
	}
	if d := voterDistance(prev.cs, cs); d > 1 {
		c.reportf("configuration safety: configurations at index %d %s and index %d %s differ by %d voters",
			prev.index, fmtConf(prev.cs), index, fmtConf(cs), d)
	}
	return c.firstNew(n)
}

// Confs returns the configurations recorded so far by index (index 0: the bootstrap one).
func (c *Checker) Confs() (indexes []raft.Index, confs []raft.ConfState) {
	for _, s := range c.confs {
		indexes = append(indexes, s.index)
		confs = append(confs, s.cs)
	}
	return indexes, confs
}

func (c *Checker) firstNew(n int) string {
	if len(c.violations) > n {
		return c.violations[n]
	}
	return ""
}

// applyChange is what cc makes of cs, independently of raft's own code; ok is false for a
// change that should have been refused (it changes nothing or removes the last voter).
func applyChange(cs raft.ConfState, cc raft.ConfChange) (raft.ConfState, bool) {
	out := cs.Clone()
	voter, learner := slices.Contains(cs.Voters, cc.NodeID), slices.Contains(cs.Learners, cc.NodeID)
	if cc.Type != raft.ConfChangeRemove && slices.Contains(cs.Removed, cc.NodeID) {
		return cs, false // a removed ID never joins again
	}
	drop := func(ids []raft.NodeID) []raft.NodeID {
		return slices.DeleteFunc(ids, func(id raft.NodeID) bool { return id == cc.NodeID })
	}
	add := func(ids []raft.NodeID) []raft.NodeID {
		ids = append(ids, cc.NodeID)
		slices.Sort(ids)
		return ids
	}
	switch cc.Type {
	case raft.ConfChangeAddLearner:
		if voter || learner {
			return cs, false
		}
		out.Learners = add(out.Learners)
	case raft.ConfChangeAddVoter:
		if voter {
			return cs, false
		}
		out.Learners = drop(out.Learners)
		out.Voters = add(out.Voters)
	case raft.ConfChangeRemove:
		if (!voter && !learner) || (voter && len(cs.Voters) == 1) {
			return cs, false
		}
		out.Voters, out.Learners = drop(out.Voters), drop(out.Learners)
		out.Removed = add(out.Removed)
	default:
		return cs, false
	}
	if len(out.Learners) == 0 {
		out.Learners = nil
	}
	if len(out.Voters) == 0 {
		out.Voters = nil
	}
	return out, true
}

// voterDistance is the number of nodes that are a voter in exactly one of a and b.
func voterDistance(a, b raft.ConfState) int {
	d := 0
	for _, id := range a.Voters {
		if !slices.Contains(b.Voters, id) {
			d++
		}
	}
	for _, id := range b.Voters {
		if !slices.Contains(a.Voters, id) {
			d++
		}
	}
	return d
}

func fmtConf(cs raft.ConfState) string {
	return fmt.Sprintf("voters %v learners %v", cs.Voters, cs.Learners)
}
