package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft/tracker"
)

// Membership changes add or remove one server at a time (thesis §4.1): any two
// configurations that follow each other then share a majority, so no joint consensus is
// needed. A change takes effect on a node when the driver applies its entry
// (RawNode.ApplyConfChange), the way etcd-io/raft does it; the leader accepts a new change
// only after applying the previous one and this term's no-op, which keeps every two
// consecutive configurations one server apart on every node.
//
// A change entry carries the whole configuration it produces, written in by the leader when
// it appends the entry. A node that joins with an empty configuration therefore learns every
// member from the first change entry (or snapshot) it applies, with no address book or
// bootstrap entries needed.

// ConfChangeType names a membership change.
type ConfChangeType uint8

const (
	// ConfChangeAddLearner adds a node that receives the log without voting. Adding a new
	// server as a learner first, and promoting it once it has caught up, keeps commits
	// flowing while it copies the log (thesis §4.2.1).
	ConfChangeAddLearner ConfChangeType = iota + 1
	// ConfChangeAddVoter adds a voter, or promotes a learner.
	ConfChangeAddVoter
	// ConfChangeRemove removes a voter or a learner. A leader that removes itself leads on,
	// without counting itself and taking no proposals, until the remaining voters hold its
	// log (leaveAfterRemoval). The ID is spent: it never joins again (ConfState.Removed).
	ConfChangeRemove
)

var confChangeNames = [...]string{"", "AddLearner", "AddVoter", "Remove"}

func (t ConfChangeType) String() string {
	if t > 0 && int(t) < len(confChangeNames) {
		return confChangeNames[t]
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one membership change. Context is carried with it untouched, for the
// application (chatd puts the new node's address there).
type ConfChange struct {
	Type    ConfChangeType
	NodeID  NodeID
	Context []byte
}

// ErrConfChangeRefused is returned for a membership change that cannot be made now: another
// change is still being applied, or it would change nothing or remove the last voter.
var ErrConfChangeRefused = errors.New("raft: configuration change refused")

// maxConfContext bounds ConfChange.Context, and maxConfMembers the members of a
// configuration, so that decoding a corrupt entry cannot allocate without limit.
const (
	maxConfContext = 4 << 10
	maxConfMembers = 1 << 10
)

const confEntryVersion = 1

// EncodeConfChange is the Data of a proposed EntryConfChange (what ProposeConfChange sends).
func EncodeConfChange(cc ConfChange) []byte { return encodeConfEntry(cc, ConfState{}) }

// encodeConfEntry writes a change and, once the leader has resolved it, the configuration it
// produces: version, type, node, context, voters, learners, removed, all as uvarints
// (length-prefixed).
func encodeConfEntry(cc ConfChange, cs ConfState) []byte {
	b := make([]byte, 0, 16+len(cc.Context)+8*(len(cs.Voters)+len(cs.Learners)+len(cs.Removed)))
	b = append(b, confEntryVersion, byte(cc.Type))
	b = binary.AppendUvarint(b, uint64(cc.NodeID))
	b = binary.AppendUvarint(b, uint64(len(cc.Context)))
	b = append(b, cc.Context...)
	for _, ids := range [][]NodeID{cs.Voters, cs.Learners, cs.Removed} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, uint64(id))
		}
	}
	return b
}

// DecodeConfChange reads the Data of an EntryConfChange: the change, and the configuration
// it produces (empty Voters if the entry was proposed but not yet resolved by a leader). A
// resolved configuration is checked to be well formed.
func DecodeConfChange(data []byte) (ConfChange, ConfState, error) {
	var cc ConfChange
	var cs ConfState
	if len(data) < 2 || data[0] != confEntryVersion {
		return cc, cs, errors.New("raft: conf change: unknown version or short entry")
	}
	cc.Type = ConfChangeType(data[1])
	if cc.Type < ConfChangeAddLearner || cc.Type > ConfChangeRemove {
		return cc, cs, fmt.Errorf("raft: conf change: unknown type %d", data[1])
	}
	p := data[2:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 || n != uvarintLen(v) {
			return 0, false // truncated, overflowing, or not the shortest form
		}
		p = p[n:]
		return v, true
	}
	id, ok := next()
	if !ok || id == uint64(None) {
		return cc, cs, errors.New("raft: conf change: missing node ID")
	}
	cc.NodeID = NodeID(id)
	n, ok := next()
	if !ok || n > maxConfContext || n > uint64(len(p)) {
		return cc, cs, errors.New("raft: conf change: bad context length")
	}
	if n > 0 {
		cc.Context = slices.Clone(p[:n])
	}
	p = p[n:]
	for _, dst := range []*[]NodeID{&cs.Voters, &cs.Learners, &cs.Removed} {
		n, ok := next()
		if !ok || n > maxConfMembers || n > uint64(len(p)) {
			return cc, cs, errors.New("raft: conf change: bad member count")
		}
		for range n {
			v, ok := next()
			if !ok {
				return cc, cs, errors.New("raft: conf change: truncated member list")
			}
			*dst = append(*dst, NodeID(v))
		}
	}
	if len(p) != 0 {
		return cc, cs, errors.New("raft: conf change: trailing bytes")
	}
	if len(cs.Voters) > 0 {
		if err := cs.validate(); err != nil {
			return cc, cs, fmt.Errorf("raft: conf change: %w", err)
		}
	} else if len(cs.Learners) > 0 || len(cs.Removed) > 0 {
		return cc, cs, errors.New("raft: conf change: members without voters")
	}
	return cc, cs, nil
}

// uvarintLen is the length of v's shortest uvarint encoding: the decoder accepts only that
// one, so every configuration has a single spelling and equal entries are equal bytes.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// validate checks that cs is a usable configuration: at least one voter, sorted lists
// without duplicates or None, no node in two of them.
func (cs ConfState) validate() error {
	if len(cs.Voters) == 0 {
		return errors.New("no voters")
	}
	for _, ids := range [][]NodeID{cs.Voters, cs.Learners, cs.Removed} {
		for i, id := range ids {
			if id == None {
				return errors.New("member None")
			}
			if i > 0 && ids[i-1] >= id {
				return fmt.Errorf("members %v not sorted and distinct", ids)
			}
		}
	}
	for _, id := range cs.Learners {
		if slices.Contains(cs.Voters, id) {
			return fmt.Errorf("node %d is both voter and learner", id)
		}
	}
	for _, id := range cs.Removed {
		if slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) {
			return fmt.Errorf("node %d is both removed and a member", id)
		}
	}
	return nil
}

// Clone returns a deep copy of cs.
func (cs ConfState) Clone() ConfState {
	return ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners), Removed: slices.Clone(cs.Removed)}
}

// Equal reports whether cs and o name the same voters, learners and removed nodes.
func (cs ConfState) Equal(o ConfState) bool {
	return slices.Equal(cs.Voters, o.Voters) && slices.Equal(cs.Learners, o.Learners) &&
		slices.Equal(cs.Removed, o.Removed)
}

// apply returns the configuration cc produces from cs, or an error if it changes nothing or
// leaves no voter. cs is not modified.
func (cs ConfState) apply(cc ConfChange) (ConfState, error) {
	if cc.NodeID == None {
		return cs, fmt.Errorf("%w: no node named", ErrConfChangeRefused)
	}
	out := cs.Clone()
	isVoter, isLearner := slices.Contains(cs.Voters, cc.NodeID), slices.Contains(cs.Learners, cc.NodeID)
	if cc.Type != ConfChangeRemove && slices.Contains(cs.Removed, cc.NodeID) {
		return cs, fmt.Errorf("%w: %d was removed, and a removed ID never joins again (give the server a new ID)",
			ErrConfChangeRefused, cc.NodeID)
	}
	switch cc.Type {
	case ConfChangeAddVoter:
		if isVoter {
			return cs, fmt.Errorf("%w: %d is a voter already", ErrConfChangeRefused, cc.NodeID)
		}
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.NodeID })
		out.Voters = insertSorted(out.Voters, cc.NodeID)
	case ConfChangeAddLearner:
		if isVoter || isLearner {
			// Demoting a voter is two changes in one (it leaves the quorum): remove it instead.
			return cs, fmt.Errorf("%w: %d is a member already", ErrConfChangeRefused, cc.NodeID)
		}
		out.Learners = insertSorted(out.Learners, cc.NodeID)
	case ConfChangeRemove:
		if !isVoter && !isLearner {
			return cs, fmt.Errorf("%w: %d is not a member", ErrConfChangeRefused, cc.NodeID)
		}
		if isVoter && len(cs.Voters) == 1 {
			return cs, fmt.Errorf("%w: %d is the last voter", ErrConfChangeRefused, cc.NodeID)
		}
		del := func(id NodeID) bool { return id == cc.NodeID }
		out.Voters = slices.DeleteFunc(out.Voters, del)
		out.Learners = slices.DeleteFunc(out.Learners, del)
		out.Removed = insertSorted(out.Removed, cc.NodeID)
	default:
		return cs, fmt.Errorf("%w: unknown change type %d", ErrConfChangeRefused, cc.Type)
	}
	return out, nil
}

func insertSorted(ids []NodeID, id NodeID) []NodeID {
	i, _ := slices.BinarySearch(ids, id)
	return slices.Insert(ids, i, id)
}

func (r *raft) confState() ConfState {
	cs := ConfState{Voters: slices.Clone(r.voters), Removed: slices.Clone(r.removed)}
	for i, id := range r.members {
		if r.prs[i].IsLearner {
			cs.Learners = append(cs.Learners, id)
		}
	}
	return cs
}

// setConf makes cs the configuration. Members that stay keep their progress; new ones start
// probing after the leader's last entry, counted as recently active so CheckQuorum gives
// them an election timeout to answer.
func (r *raft) setConf(cs ConfState) {
	members := append(slices.Clone(cs.Voters), cs.Learners...)
	slices.Sort(members)
	prs := make([]tracker.Progress, len(members))
	last := uint64(r.raftLog.lastIndex())
	for i, id := range members {
		if old := r.progress(id); old != nil {
			prs[i] = *old
		} else {
			prs[i] = *tracker.New(last+1, r.maxInflight)
			prs[i].RecentActive = true
			if id == r.id {
				prs[i].Match = uint64(r.raftLog.stableLastIndex())
				prs[i].Next = max(prs[i].Next, prs[i].Match+1)
			}
		}
		prs[i].IsLearner = slices.Contains(cs.Learners, id)
	}
	r.voters = slices.Clone(cs.Voters)
	r.removed = slices.Clone(cs.Removed)
	r.members = members
	r.prs = prs
	if cap(r.matchScratch) < len(r.voters) {
		r.matchScratch = make([]uint64, 0, len(r.voters))
	}
}

// resolveConfChange turns a proposed change into the entry a leader appends: the change plus
// the configuration it produces. It refuses a change while an earlier one (or this term's
// no-op) is not yet applied.
func (r *raft) resolveConfChange(e *Entry) error {
	if r.pendingConfIndex > r.raftLog.applied && !r.knobs.AcceptConfChangeWhilePending {
		return fmt.Errorf("%w: the change at index %d is not applied yet", ErrConfChangeRefused, r.pendingConfIndex)
	}
	cc, cs, err := DecodeConfChange(e.Data)
	if err != nil {
		return err
	}
	if len(cs.Voters) > 0 {
		return fmt.Errorf("%w: proposal already carries a configuration", ErrConfChangeRefused)
	}
	next, err := r.confState().apply(cc)
	if err != nil {
		return err
	}
	e.Data = encodeConfEntry(cc, next)
	return nil
}

// applyConfChange makes the configuration carried by a committed change entry current.
func (r *raft) applyConfChange(data []byte) (ConfChange, ConfState, error) {
	cc, cs, err := DecodeConfChange(data)
	if err != nil {
		return cc, cs, err
	}
	if len(cs.Voters) == 0 {
		return cc, cs, errors.New("raft: conf change entry without a configuration (not written by a leader)")
	}
	r.setConf(cs)
	if r.state == StateLeader {
		if !r.isVoter(r.id) && r.removedElapsed < 0 {
			r.logger.Info("removed from the configuration: leaving once the voters hold the log", "term", uint64(r.term))
			r.removedElapsed = 0
		}
		if r.leadTransferee != None && !r.isVoter(r.leadTransferee) {
			r.leadTransferee = None
		}
		// A smaller quorum may commit more now; new members need their first append.
		if r.maybeCommit() {
			r.onCommitAdvanced()
		} else {
			r.bcastAppend()
		}
	}
	return cc, cs, nil
}

// leaveAfterRemoval steps a removed leader down once every remaining voter holds its whole
// log, or after an election timeout at the latest (thesis §4.2.2: a removed leader manages
// the cluster until its removal is committed, then steps down).
//
// Changes apply when applied, not when appended, so a follower that has the removal entry
// but has not learned it committed still counts the old leader as a voter, whose vote it
// then needs; stepping down at once would leave the old leader, holding entries the others
// lack, refusing them that vote while never campaigning itself. Waiting until they hold
// every entry it has (it accepts no proposals meanwhile) means it grants their votes, and
// the heartbeats sent meanwhile usually tell them the removal is committed.
func (r *raft) leaveAfterRemoval() {
	caughtUp := true
	last := uint64(r.raftLog.lastIndex())
	for i := range r.prs {
		if !r.prs[i].IsLearner && r.prs[i].Match < last {
			caughtUp = false
		}
	}
	if caughtUp || r.removedElapsed >= r.electionTimeout {
		r.logger.Info("stepping down: removed from the configuration", "term", uint64(r.term), "caught_up", caughtUp)
		r.becomeFollower(r.term, None)
	}
}

// ProposeConfChange proposes a membership change. Like Propose it is forwarded by a follower;
// the outcome shows when the entry is committed and applied (ApplyConfChange). A leader
// refuses it with ErrConfChangeRefused while its previous change (or, after an election, its
// no-op) is not applied yet, or if the change would change nothing or remove the last voter;
// a follower's leader refuses such a change silently.
func (rn *RawNode) ProposeConfChange(cc ConfChange) error {
	rn.propScratch[0] = Entry{Type: EntryConfChange, Data: EncodeConfChange(cc)}
	err := rn.raft.Step(Message{From: rn.raft.id, Type: MsgProp, Entries: rn.propScratch[:]})
	rn.propScratch[0] = Entry{}
	rn.checkInvariants()
	return err
}

// ApplyConfChange is called by the driver when it applies a committed EntryConfChange entry,
// in log order with the other entries: the configuration the entry carries becomes current.
// It returns the change (with its Context) and the new configuration, which the driver
// records with its next snapshot (ConfState returns it too).
func (rn *RawNode) ApplyConfChange(data []byte) (ConfChange, ConfState, error) {
	cc, cs, err := rn.raft.applyConfChange(data)
	rn.checkInvariants()
	return cc, cs, err
}
