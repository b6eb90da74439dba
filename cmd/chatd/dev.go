package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/server"
)

type devFlags struct {
	common   commonFlags
	nodes    int
	dataDir  string
	basePort int
}

func newDevCmd(stdout, stderr io.Writer) *cobra.Command {
	fl := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "run a whole local cluster in this process, for trying raftchat out",
		Long: "dev starts --nodes nodes on 127.0.0.1 inside one process. Clients listen on ports\n" +
			"BASE..BASE+n-1 and peers on BASE+100.. (random ports with --base-port 0). Data goes to\n" +
			"--data-dir, or to a temporary directory removed on exit.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return fl.run(cmd, stdout, stderr) },
	}
	f := cmd.Flags()
	f.IntVar(&fl.nodes, "nodes", 3, "number of nodes")
	f.StringVar(&fl.dataDir, "data-dir", "", "data directory (default: a temporary one, removed on exit)")
	f.IntVar(&fl.basePort, "base-port", 7001, "first client port; 0 picks free ports")
	fl.common.register(cmd)
	cmd.Flags().Lookup("log-level").DefValue = "warn"
	_ = cmd.Flags().Set("log-level", "warn")
	return cmd
}

func (fl *devFlags) run(cmd *cobra.Command, stdout, stderr io.Writer) (err error) {
	if fl.nodes < 1 || fl.nodes > 9 {
		return usageError{errors.New("--nodes must be between 1 and 9")}
	}
	log, err := fl.common.logger(stderr)
	if err != nil {
		return err
	}
	dir := fl.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "chatd-dev-"); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
	}
	boot, password, _, err := fl.common.bootstrap()
	if err != nil {
		return err
	}
	// Flags are checked before anything is bound: a usage error leaves no listener open.
	svc, err := fl.common.serviceConfig(log)
	if err != nil {
		return err
	}
	clientLis, peerLis, err := fl.listen()
	if err != nil {
		return err
	}
	peers, clients := map[raft.NodeID]string{}, map[raft.NodeID]string{}
	for i := range fl.nodes {
		id := raft.NodeID(i + 1)
		peers[id], clients[id] = peerLis[i].Addr().String(), clientLis[i].Addr().String()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var hosts []*server.Host
	defer func() {
		if err != nil {
			for _, h := range hosts {
				_ = h.Stop()
			}
		}
	}()
	for i := range fl.nodes {
		id := raft.NodeID(i + 1)
		cfg := server.DefaultConfig(id, members(peers, clients), fmt.Sprintf("%s/node%d", dir, id))
		cfg.Bootstrap, cfg.Logger = boot, log
		if err := fl.common.timing(&cfg); err != nil {
			closeAll(clientLis[i:], peerLis[i:])
			return err
		}
		hc := server.HostConfig{Node: cfg, PeerListener: peerLis[i], ClientListener: clientLis[i], Registry: reg, Service: svc}
		if i == 0 {
			hc.MetricsAddr = fl.common.metricsAddr
		}
		h, err := server.StartHost(hc)
		if err != nil {
			closeAll(clientLis[i+1:], peerLis[i+1:])
			return fmt.Errorf("start node %d: %w", id, err)
		}
		hosts = append(hosts, h)
	}
	fl.banner(stdout, dir, hosts, password)
	return wait(cmd, hosts)
}

// listen binds every node's client and peer listener up front, so the cluster configuration
// can name real ports even when they are picked by the kernel.
func (fl *devFlags) listen() (clients, peers []net.Listener, err error) {
	addr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
	for i := range fl.nodes {
		cport, pport := 0, 0
		if fl.basePort != 0 {
			cport, pport = fl.basePort+i, fl.basePort+100+i
		}
		c, err := net.Listen("tcp", addr(cport))
		if err != nil {
			closeAll(clients, peers)
			return nil, nil, fmt.Errorf("listen for clients of node %d: %w", i+1, err)
		}
		clients = append(clients, c)
		p, err := net.Listen("tcp", addr(pport))
		if err != nil {
			closeAll(clients, peers)
			return nil, nil, fmt.Errorf("listen for peers of node %d: %w", i+1, err)
		}
		peers = append(peers, p)
	}
	return clients, peers, nil
}

func closeAll(lists ...[]net.Listener) {
	for _, l := range lists {
		for _, lis := range l {
			_ = lis.Close()
		}
	}
}

func (fl *devFlags) banner(w io.Writer, dir string, hosts []*server.Host, password string) {
	var b strings.Builder
	var addrs []string
	fmt.Fprintf(&b, "raftchat dev cluster: %d nodes, data in %s\n", len(hosts), dir)
	for _, h := range hosts {
		addrs = append(addrs, h.ClientAddr())
		fmt.Fprintf(&b, "  node %d  client %s\n", h.Node.ID(), h.ClientAddr())
	}
	if m := hosts[0].MetricsAddr(); m != "" {
		fmt.Fprintf(&b, "metrics: http://%s/metrics\n", m)
	}
	fmt.Fprintf(&b, "admin user: %s  password: %s\n", fl.common.adminUser, password)
	fmt.Fprintf(&b, "connect:\n  chat --addrs %s signup alice --password PASSWORD\n", strings.Join(addrs, ","))
	fmt.Fprintf(&b, "  grpcurl -plaintext %s list\n", addrs[0])
	b.WriteString("Ctrl-C stops the cluster.\n")
	_, _ = io.WriteString(w, b.String())
}
