package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftchat/raftchat/client"
)

// chatCLI runs the chat CLI built beside chatd and returns its stdout, failing the test on a
// non-zero exit.
func chatCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(chatBin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chat %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// peersFile is the address book a node keeps in its data directory (server.PeersFile).
type peersFile struct {
	Members []struct {
		ID         uint64 `json:"id"`
		PeerAddr   string `json:"peer_addr"`
		ClientAddr string `json:"client_addr"`
	} `json:"members"`
	Removed []uint64 `json:"removed"`
}

func readPeers(t *testing.T, p *proc) peersFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir, "peers.json"))
	if err != nil {
		t.Fatalf("node %d address book: %v", p.id, err)
	}
	var f peersFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("node %d address book: %v\n%s", p.id, err, b)
	}
	return f
}

func (f peersFile) addr(id uint64) string {
	for _, m := range f.Members {
		if m.ID == id {
			return m.PeerAddr
		}
	}
	return ""
}

// TestReplaceNode replaces node 1 of a running cluster by a new node 4, as an operator
// would: node 4 starts with --join, `chat cluster add` adds it as a learner and promotes it
// once it caught up, `chat cluster remove 1` removes node 1, which is then stopped. Every
// acknowledged message is on nodes 2, 3 and 4. Snapshots every 20 entries compact the
// change entries away, so the restarts that follow need the address books: node 2
// restarts with its original --cluster (which does not name node 4), node 4 with one that
// names node 2 only, and both still reach every member.
func TestReplaceNode(t *testing.T) {
	c := startCluster(t, 3, "--snapshot-every", "20", "--snapshot-log-ratio", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := setupWriters(ctx, t, c, 1)[0]
	postN(ctx, t, w, 0, 30)

	ports := freePorts(t, 2)
	p4 := &proc{id: 4, clientAddr: ports[0], peerAddr: ports[1],
		dataDir: filepath.Join(t.TempDir(), "node4"), logPath: filepath.Join(t.TempDir(), "node4.log")}
	t.Cleanup(func() {
		c.kill(p4)
		if t.Failed() {
			if b, err := os.ReadFile(p4.logPath); err == nil {
				t.Logf("--- node 4 log (last 3000 bytes):\n%s", tail(b, 3000))
			}
		}
	})
	peers, clients := c.clusterFlags()
	joinArgs := func(cluster string) []string {
		return []string{"run", "--id", "4", "--join", "--data-dir", p4.dataDir, "--client-addr", p4.clientAddr,
			"--peer-addr", p4.peerAddr, "--cluster", cluster, "--cluster-clients", clients, "--log-level", logLevel(),
			"--snapshot-every", "20", "--snapshot-log-ratio", "0"}
	}
	c.startArgs(p4, joinArgs(peers))
	waitFor(t, 30*time.Second, "node 4 to accept connections", func() (bool, string) {
		conn, err := net.DialTimeout("tcp", p4.clientAddr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		_ = conn.Close()
		return true, ""
	})

	all := append(c.addrs(), p4.clientAddr)
	session := filepath.Join(t.TempDir(), "admin.json")
	admin := func(addrs []string, args ...string) string {
		return chatCLI(t, append([]string{"--addrs", strings.Join(addrs, ","), "--session", session}, args...)...)
	}
	admin(c.addrs(), "login", "admin", "--password", adminPassword)
	out := admin(c.addrs(), "cluster", "add", "4", p4.peerAddr, "--client-addr", p4.clientAddr, "--timeout", "60s")
	for _, want := range []string{"node 4 added as a learner", "node 4 caught up", "node 4 promoted to voter", "4\tvoter\t"} {
		if !strings.Contains(out, want) {
			t.Fatalf("chat cluster add: no %q in:\n%s", want, out)
		}
	}
	t.Logf("chat cluster add:\n%s", out)
	out = admin(c.addrs()[1:], "cluster", "remove", "1")
	if !strings.Contains(out, "node 1 removed") || strings.Contains(out, "\n1\t") {
		t.Fatalf("chat cluster remove 1:\n%s", out)
	}
	// Node 1 learns that it was removed (by applying the removal if it led, else when a peer
	// refuses it) and says so in its status.
	reader := newClientOver(t, all)
	if _, err := reader.Login(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "node 1 to report its removal", func() (bool, string) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := reader.ClusterStatusOf(sctx, 0)
		return err == nil && st.GetRemoved(), fmt.Sprintf("status %v, err %v", st, err)
	})
	c.kill(c.procs[0])
	out = admin(all[1:], "cluster", "members")
	for _, want := range []string{"2\tvoter\t", "3\tvoter\t", "4\tvoter\t", "peer " + p4.peerAddr, "client " + p4.clientAddr} {
		if !strings.Contains(out, want) {
			t.Fatalf("chat cluster members: no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n1\t") {
		t.Fatalf("chat cluster members still lists node 1:\n%s", out)
	}
	// Its ID is spent: adding it back is refused, with the reason.
	cmd := exec.Command(chatBin, "--addrs", strings.Join(all[1:], ","), "--session", session,
		"cluster", "add", "1", c.procs[0].peerAddr, "--timeout", "20s")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "never joins again") {
		t.Fatalf("chat cluster add 1 after its removal: %v\n%s", err, b)
	}
	postN(ctx, t, w, 30, 30)

	check := func(total int) {
		t.Helper()
		got := convergedOn(ctx, t, reader, []int{1, 2, 3}, w.conv, total)
		checkWriter(t, w, got)
		if len(got) != total {
			t.Fatalf("history has %d messages, want %d", len(got), total)
		}
	}
	check(60)

	// The other nodes recorded node 4's addresses from the change; node 2's --cluster does
	// not name node 4, so after a restart only its address book knows where node 4 is.
	for _, p := range c.procs[1:] {
		if f := readPeers(t, p); f.addr(4) != p4.peerAddr || !slices.Contains(f.Removed, 1) {
			t.Fatalf("node %d address book: %+v", p.id, f)
		}
	}
	c.kill(c.procs[1])
	c.start(c.procs[1])
	postN(ctx, t, w, 60, 10)
	check(70)

	// Node 4 restarts naming only node 2: node 3's address comes from its address book, and
	// node 1, removed, stays out.
	c.kill(p4)
	c.startArgs(p4, joinArgs(fmt.Sprintf("2=%s", c.procs[1].peerAddr)))
	f := readPeers(t, p4)
	if f.addr(3) != c.procs[2].peerAddr || f.addr(1) != "" || !slices.Contains(f.Removed, 1) {
		t.Fatalf("node 4 address book after restart: %+v", f)
	}
	waitFor(t, 20*time.Second, "node 4 to know the configuration and reach its peers", func() (bool, string) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := reader.ClusterStatusOf(sctx, 3)
		if err != nil {
			return false, err.Error()
		}
		var ids []string
		ok := st.GetLeader() != 0
		for _, n := range st.GetNodes() {
			ids = append(ids, fmt.Sprintf("%d learner=%v reachable=%v peer=%s", n.GetId(), n.GetLearner(), n.GetReachable(), n.GetPeerAddr()))
			ok = ok && !n.GetLearner() && n.GetReachable() && n.GetPeerAddr() != ""
		}
		return ok && len(ids) == 3 && st.GetNodes()[0].GetId() == 2, fmt.Sprintf("leader %d, members %v", st.GetLeader(), ids)
	})
	postN(ctx, t, w, 70, 10)
	check(80)
	// Its first snapshot predates its addition; that is no reason to think it was removed.
	if b, _ := os.ReadFile(p4.logPath); strings.Contains(string(b), "removed") {
		t.Fatalf("node 4 thought itself removed:\n%s", tail(b, 3000))
	}
	// The admin's session file learned the members' client addresses: without --addrs the
	// CLI reaches the cluster as it is now, node 1 gone and node 4 in.
	out = chatCLI(t, "--session", session, "status")
	for _, p := range []*proc{c.procs[1], c.procs[2], p4} {
		if !strings.Contains(out, p.clientAddr+"\tnode ") {
			t.Fatalf("chat status without --addrs does not ask node %d (%s):\n%s", p.id, p.clientAddr, out)
		}
	}
	if strings.Contains(out, c.procs[0].clientAddr) {
		t.Fatalf("chat status without --addrs still asks the removed node 1:\n%s", out)
	}
}

// newClientOver is a library client over addrs.
func newClientOver(t *testing.T, addrs []string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Addrs: addrs, AttemptTimeout: 3 * time.Second, MaxAttempts: 40,
		Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// convergedOn waits until the given nodes (indexes into cl's addresses) hold identical copies
// of conv, of at least least messages, and returns it.
func convergedOn(ctx context.Context, t *testing.T, cl *client.Client, nodes []int, conv string, least int) []string {
	t.Helper()
	var ref []string
	waitFor(t, 30*time.Second, "the nodes to hold identical histories", func() (bool, string) {
		ref = nil
		for k, i := range nodes {
			ms, err := historyOf(ctx, cl, i, conv)
			if err != nil {
				return false, fmt.Sprintf("node %d: %v", i+1, err)
			}
			got := texts(ms)
			if len(got) < least {
				return false, fmt.Sprintf("node %d has %d messages of %d", i+1, len(got), least)
			}
			if k == 0 {
				ref = got
				continue
			}
			if strings.Join(got, "\x00") != strings.Join(ref, "\x00") {
				return false, fmt.Sprintf("node %d has %d messages, node %d has %d", nodes[0]+1, len(ref), i+1, len(got))
			}
		}
		return true, ""
	})
	return ref
}
