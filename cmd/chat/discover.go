package main

import (
	"context"
	"slices"
	"time"

	"github.com/raftchat/raftchat/client"
)

// The CLI keeps the members' client addresses in the session file, so that after nodes are
// replaced (chat cluster add/remove) it still finds the cluster without a new --addrs.

// relearnAfter is how old learned addresses may get before a command asks the cluster again.
const relearnAfter = 10 * time.Minute

// nodeAddrs returns the node addresses to use: --addrs when given on the command line, else
// the addresses learned into the session file, else the --addrs default.
func (g *globalFlags) nodeAddrs() ([]string, error) {
	if !g.addrsGiven && len(g.saved.Addrs) > 0 {
		return slices.Clone(g.saved.Addrs), nil
	}
	return splitAddrs(g.addrs)
}

// learnAddrs refreshes s.Addrs from the cluster when due: when none are saved, when --addrs was
// given (the user points at the cluster anew), when this command had to fail over away from
// the first address, or when they are older than relearnAfter. It asks the node the client is
// connected to for the members' client addresses and keeps them only if they include that
// node's own (so a node that knows its members by addresses this machine cannot dial, such as
// a wildcard listen address, changes nothing). Any failure keeps what was saved: learning is a
// convenience, never a reason for a command to fail.
func learnAddrs(ctx context.Context, g *globalFlags, c *client.Client, s *savedSession) {
	now := time.Now()
	due := len(s.Addrs) == 0 || g.addrsGiven || now.Sub(time.Unix(s.LearnedUnix, 0)) > relearnAfter
	if addrs, err := g.nodeAddrs(); err == nil && len(addrs) > 0 && c.Node() != addrs[0] {
		due = true
	}
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.ClusterStatus(ctx)
	if err != nil || st.GetRemoved() {
		return
	}
	var learned []string
	for _, n := range st.GetNodes() {
		if a := n.GetClientAddr(); a != "" && !slices.Contains(learned, a) {
			learned = append(learned, a)
		}
	}
	if !slices.Contains(learned, c.Node()) {
		return
	}
	s.Addrs, s.LearnedUnix = learned, now.Unix()
}
