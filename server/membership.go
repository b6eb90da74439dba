package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/storage/fsx"
)

var _ service.Membership = (*Node)(nil)

// Membership changes go through Raft one at a time (raft/confchange.go). The Context of each
// change carries the new member's addresses (raftpb.MemberContext); every node records them
// in its address book and connects to the member when the change applies.
const (
	// catchUpEntries is how close to the leader's last index a learner's match must come
	// before it is promoted: a voter that lags further would slow commits (a quorum may need
	// it) until it has copied the rest.
	catchUpEntries = 256
	// maxRefusals bounds the attempts of one change that Raft refuses, most often because
	// the previous change has not applied yet.
	maxRefusals = 8
	// refusedPause is the wait before asking again after a refusal.
	refusedPause = 250 * time.Millisecond
	// defaultChangeTimeout bounds one change when the caller's context has no deadline, and
	// defaultCatchUpTimeout a learner's catch-up.
	defaultChangeTimeout  = time.Minute
	defaultCatchUpTimeout = 10 * time.Minute
	// progressEvery is how often AddMember reports a learner's catch-up.
	progressEvery = 500 * time.Millisecond
)

// EncodeMemberContext is the Context of a membership change that adds the node at these
// addresses.
func EncodeMemberContext(peerAddr, clientAddr string) []byte {
	b, err := proto.Marshal(&raftpb.MemberContext{PeerAddr: peerAddr, ClientAddr: clientAddr})
	if err != nil {
		panic(fmt.Sprintf("encode member context: %v", err)) // two strings always encode
	}
	return b
}

// decodeMemberContext reads a change's Context; ok is false when it names no peer address.
func decodeMemberContext(b []byte) (peerAddr, clientAddr string, ok bool) {
	var mc raftpb.MemberContext
	if len(b) == 0 || proto.Unmarshal(b, &mc) != nil || mc.GetPeerAddr() == "" {
		return "", "", false
	}
	return mc.GetPeerAddr(), mc.GetClientAddr(), true
}

// openAddrBook opens the address book in the data directory (in memory without one), seeded
// with the configured members.
func (n *Node) openAddrBook() error {
	path := ""
	if n.cfg.DataDir != "" {
		if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		path = filepath.Join(n.cfg.DataDir, PeersFile)
	}
	b, err := openAddrBook(fsx.OS, path, n.cfg.ID, n.cfg.Members)
	if err != nil {
		return err
	}
	n.book = b
	return nil
}

func isMember(cs raft.ConfState, id raft.NodeID) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id)
}

// onConfChange runs on the loop (inside Process) after a membership change applies, also when
// a restart applies it again: the address book and the transport follow it.
func (n *Node) onConfChange(cc raft.ConfChange, cs raft.ConfState) {
	n.log.Info("membership change applied", "change", cc.Type.String(), "member", cc.NodeID,
		"voters", fmt.Sprint(cs.Voters), "learners", fmt.Sprint(cs.Learners))
	switch cc.Type {
	case raft.ConfChangeAddLearner, raft.ConfChangeAddVoter:
		if peer, client, ok := decodeMemberContext(cc.Context); ok && cc.NodeID != n.cfg.ID {
			if _, err := n.book.set(Member{ID: cc.NodeID, PeerAddr: peer, ClientAddr: client}); err != nil {
				n.log.Error("address book not saved", "member", cc.NodeID, "err", err)
			}
			if err := n.tr.SetPeer(cc.NodeID, peer); err != nil {
				n.log.Error("cannot connect to new member", "member", cc.NodeID, "peer_addr", peer, "err", err)
			}
		}
	case raft.ConfChangeRemove:
		if cc.NodeID != n.cfg.ID {
			if _, err := n.book.remove(cc.NodeID); err != nil {
				n.log.Error("address book not saved", "member", cc.NodeID, "err", err)
			}
			n.tr.RemovePeer(cc.NodeID)
		}
	}
	n.checkAddresses(cs)
}

// checkAddresses notes whether this node is still a member, and warns about members it has
// no address for (it cannot send them anything: give their peer addresses with --cluster).
//
// A joining node's first configuration may well leave it out (a snapshot taken before it was
// added): only a node that has been a member counts as removed when one leaves it out.
func (n *Node) checkAddresses(cs raft.ConfState) {
	for _, id := range cs.Removed {
		// A node that learned the configuration from a snapshot applied no removal: its
		// address book learns them here.
		if id != n.cfg.ID && !n.book.isRemoved(id) {
			if _, err := n.book.remove(id); err != nil {
				n.log.Error("address book not saved", "member", id, "err", err)
			}
			n.tr.RemovePeer(id)
		}
	}
	switch {
	case isMember(cs, n.cfg.ID):
		n.wasMember = true
		n.removed.Store(false)
	case (n.wasMember || slices.Contains(cs.Removed, n.cfg.ID)) && len(cs.Voters) > 0:
		if !n.removed.Swap(true) {
			n.removedAt.Store(time.Now().UnixNano())
			n.log.Warn("this node is not a member of the cluster any more (removed): the members ignore it; stop it",
				"voters", fmt.Sprint(cs.Voters), "learners", fmt.Sprint(cs.Learners))
		}
	}
	for _, id := range append(slices.Clone(cs.Voters), cs.Learners...) {
		if _, ok := n.book.get(id); !ok && id != n.cfg.ID {
			n.log.Warn("no address for member; add it to --cluster", "member", id)
		}
	}
}

// toldRemoved is called by the transport when a peer refused this node's stream because
// this node was removed: a removed follower never applies its own removal (the leader stops
// sending to it once the removal commits), so this is how it learns.
func (n *Node) toldRemoved(by raft.NodeID) {
	if !n.removed.Swap(true) {
		n.removedAt.Store(time.Now().UnixNano())
		n.log.Warn("this node was removed from the cluster (a peer refused it): it takes no part any more; stop it", "peer", by)
	}
}

// removedTickTimeouts is how many election timeouts a removed node's clock runs on.
const removedTickTimeouts = 20

// ticking reports whether Raft's clock should run. A removed node stops it after a while,
// since it would only campaign in vain (the members ignore it, but it is noise), unless it
// still leads: a removed leader leads on until the others hold its log, which takes ticks.
// Until then it runs on: a voter that has not applied the removal yet may still need the
// removed node's vote and log, and Raft lets the removed node campaign for that
// (raft.hup).
func (n *Node) ticking() bool {
	if !n.removed.Load() || n.status.Load().Role == raft.StateLeader {
		return true
	}
	window := time.Duration(removedTickTimeouts*n.cfg.ElectionTicks) * n.cfg.TickInterval
	return time.Since(time.Unix(0, n.removedAt.Load())) < window
}

// confState is the configuration as this node last applied it.
func (n *Node) confState() raft.ConfState {
	st := n.status.Load()
	return raft.ConfState{Voters: st.Peers, Learners: st.Learners, Removed: st.Removed}
}

// Members implements service.Membership.
func (n *Node) Members(_ context.Context) (service.MemberList, error) {
	st := n.status.Load()
	l := service.MemberList{Self: n.cfg.ID, Leader: st.Leader}
	if st.Role == raft.StateLeader {
		l.LastIndex = leaderLastIndex(st.Progress, uint64(st.Commit))
	}
	reachable := map[raft.NodeID]bool{n.cfg.ID: true}
	for _, id := range n.tr.Reachable(n.cfg.ReachableWindow) {
		reachable[id] = true
	}
	add := func(id raft.NodeID, voter bool) {
		m, _ := n.book.get(id)
		mi := service.MemberInfo{ID: id, PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr, Voter: voter,
			Match: matchOf(st.Progress, id), Reachable: reachable[id]}
		switch {
		case id == st.Leader:
			mi.Role = "leader"
		case !voter:
			mi.Role = "learner"
		case id == n.cfg.ID:
			mi.Role = roleName(st.Role)
		case st.Leader != raft.None:
			mi.Role = "follower"
		}
		l.Members = append(l.Members, mi)
	}
	for _, id := range st.Peers {
		add(id, true)
	}
	for _, id := range st.Learners {
		add(id, false)
	}
	slices.SortFunc(l.Members, func(a, b service.MemberInfo) int { return cmpID(a.ID, b.ID) })
	return l, nil
}

// leaderLastIndex is the leader's last log index as far as its status shows: the highest
// match of any member (its own trails while it writes in the background, a follower's may be
// ahead) or the commit index.
func leaderLastIndex(progress []raft.PeerProgress, commit uint64) uint64 {
	last := commit
	for _, p := range progress {
		last = max(last, uint64(p.Match))
	}
	return last
}

// AddMember implements service.Membership.
func (n *Node) AddMember(ctx context.Context, add service.MemberAdd, progress func(service.MemberProgress)) (service.MemberList, error) {
	if add.ID == raft.None || add.PeerAddr == "" {
		return service.MemberList{}, fmt.Errorf("add member %d at %q: %w", add.ID, add.PeerAddr, service.ErrInvalidMember)
	}
	mctx := EncodeMemberContext(add.PeerAddr, add.ClientAddr)
	cs := n.confState()
	switch {
	case slices.Contains(cs.Removed, add.ID):
		// Raft refuses it too, but a follower's leader drops the change without a word.
		return service.MemberList{}, fmt.Errorf("%w: node %d was removed, and a removed ID never joins again: give the new server a new ID",
			raft.ErrConfChangeRefused, add.ID)
	case slices.Contains(cs.Voters, add.ID):
		if add.Learner {
			return service.MemberList{}, fmt.Errorf("%w: node %d is a voter already", raft.ErrConfChangeRefused, add.ID)
		}
		return n.Members(ctx)
	case slices.Contains(cs.Learners, add.ID):
	default:
		if !add.Learner {
			// The catch-up is watched on the leader: send the caller there before changing
			// anything, rather than after adding the learner.
			if err := n.needLeader(); err != nil {
				return service.MemberList{}, err
			}
		}
		cc := raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: add.ID, Context: mctx}
		if err := n.changeConf(ctx, cc, func(cs raft.ConfState) bool { return isMember(cs, add.ID) }); err != nil {
			return service.MemberList{}, err
		}
	}
	progress(service.MemberProgress{Stage: "learner"})
	if add.Learner {
		return n.Members(ctx)
	}
	if err := n.waitCaughtUp(ctx, add.ID, progress); err != nil {
		return service.MemberList{}, err
	}
	cc := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: add.ID, Context: mctx}
	if err := n.changeConf(ctx, cc, func(cs raft.ConfState) bool { return slices.Contains(cs.Voters, add.ID) }); err != nil {
		return service.MemberList{}, err
	}
	progress(service.MemberProgress{Stage: "voter"})
	return n.Members(ctx)
}

// RemoveMember implements service.Membership.
func (n *Node) RemoveMember(ctx context.Context, id raft.NodeID) (service.MemberList, error) {
	if id == raft.None {
		return service.MemberList{}, fmt.Errorf("remove member 0: %w", service.ErrInvalidMember)
	}
	switch cs := n.confState(); {
	case !isMember(cs, id):
		return service.MemberList{}, fmt.Errorf("%w: node %d is not a member (voters %v, learners %v)",
			raft.ErrConfChangeRefused, id, cs.Voters, cs.Learners)
	case len(cs.Voters) == 1 && cs.Voters[0] == id:
		return service.MemberList{}, fmt.Errorf("%w: node %d is the last voter", raft.ErrConfChangeRefused, id)
	}
	cc := raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: id}
	if err := n.changeConf(ctx, cc, func(cs raft.ConfState) bool { return len(cs.Voters) > 0 && !isMember(cs, id) }); err != nil {
		return service.MemberList{}, err
	}
	return n.Members(ctx)
}

// needLeader returns a LeaderError unless this node leads.
func (n *Node) needLeader() error {
	st := n.status.Load()
	if st.Role == raft.StateLeader {
		return nil
	}
	le := &service.LeaderError{Leader: st.Leader, Err: raft.ErrNotLeader}
	if st.Leader == raft.None {
		le.Err = raft.ErrNoLeader
	}
	if m, ok := n.book.get(st.Leader); ok {
		le.LeaderAddr = m.ClientAddr
	}
	return le
}

// changeConf proposes cc until done holds for the configuration this node applied. It asks
// again after a refusal (up to maxRefusals: usually the previous change is still applying),
// when no leader took it, and after ResendAfter without effect (a follower's leader drops a
// change it cannot make without a word).
func (n *Node) changeConf(ctx context.Context, cc raft.ConfChange, done func(raft.ConfState) bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultChangeTimeout)
		defer cancel()
	}
	what := fmt.Sprintf("%s of node %d", cc.Type, cc.NodeID)
	refusals := 0
	for {
		if done(n.confState()) {
			n.log.Info("membership change done", "change", cc.Type.String(), "member", cc.NodeID)
			return nil
		}
		wait := n.cfg.ResendAfter
		err := n.proposeConf(ctx, cc)
		switch {
		case err == nil:
		case errors.Is(err, raft.ErrConfChangeRefused):
			refusals++
			if refusals >= maxRefusals {
				return fmt.Errorf("%s: %w", what, err)
			}
			n.log.Info("membership change refused; asking again", "change", cc.Type.String(), "member", cc.NodeID, "err", err)
			wait = refusedPause
		case retryable(err):
			wait = n.cfg.RetryInterval
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return n.changeTimedOut(what, err)
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := n.waitConf(ctx, wait, done); err != nil {
			return n.changeTimedOut(what, err)
		}
	}
}

func (n *Node) changeTimedOut(what string, err error) error {
	if errors.Is(err, ErrStopped) {
		return err
	}
	return fmt.Errorf("%s not applied on node %d before the deadline (is there a leader? is a previous change stuck?): %w",
		what, n.cfg.ID, err)
}

// proposeConf hands cc to Raft on the loop and returns Raft's immediate answer.
func (n *Node) proposeConf(ctx context.Context, cc raft.ConfChange) error {
	ch := make(chan error, 1)
	if err := n.submit(ctx, func() { ch <- n.rep.ProposeConfChange(cc) }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// waitConf waits up to d for done to hold, checking every tick; it fails only when ctx ends
// or the node stops.
func (n *Node) waitConf(ctx context.Context, d time.Duration, done func(raft.ConfState) bool) error {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(n.cfg.TickInterval)
	defer tick.Stop()
	for !done(n.confState()) {
		select {
		case <-t.C:
			return nil
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrStopped
		}
	}
	return nil
}

// waitCaughtUp waits, on the leader, until learner id's match is within catchUpEntries of the
// leader's last index, reporting progress.
func (n *Node) waitCaughtUp(ctx context.Context, id raft.NodeID, progress func(service.MemberProgress)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCatchUpTimeout)
		defer cancel()
	}
	tick := time.NewTicker(n.cfg.TickInterval)
	defer tick.Stop()
	var lastReport time.Time
	for {
		if err := n.needLeader(); err != nil {
			return err
		}
		st := n.status.Load()
		if !slices.Contains(st.Learners, id) && !slices.Contains(st.Peers, id) {
			return fmt.Errorf("%w: node %d was removed while catching up", raft.ErrConfChangeRefused, id)
		}
		last := leaderLastIndex(st.Progress, uint64(st.Commit))
		match := matchOf(st.Progress, id)
		if match > 0 && match+catchUpEntries >= last {
			progress(service.MemberProgress{Stage: "caught-up", Match: match, LastIndex: last})
			return nil
		}
		if time.Since(lastReport) >= progressEvery {
			progress(service.MemberProgress{Stage: "catching-up", Match: match, LastIndex: last})
			lastReport = time.Now()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("node %d did not catch up (match %d of %d) before the deadline; is it running at its peer address? %w",
				id, match, last, ctx.Err())
		case <-n.done:
			return ErrStopped
		}
	}
}
