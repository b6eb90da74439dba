package main

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/server"
	"github.com/raftchat/raftchat/transport"
)

type runFlags struct {
	common                  commonFlags
	id                      uint64
	dataDir                 string
	clientAddr, peerAddr    string
	cluster, clusterClients string
	tlsCert, tlsKey, tlsCA  string
	snapshotEvery           uint64
	snapshotLogRatio        float64
	join                    bool
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	fl := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run one node of a cluster",
		Example: "  chatd run --id 1 --data-dir /var/lib/chatd --client-addr 127.0.0.1:7001 --peer-addr 127.0.0.1:7101 \\\n" +
			"      --cluster 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103\n" +
			"  # a new node joining that cluster; then run: chat cluster add 4 127.0.0.1:7104\n" +
			"  chatd run --id 4 --join --data-dir /var/lib/chatd4 --client-addr 127.0.0.1:7004 --peer-addr 127.0.0.1:7104 \\\n" +
			"      --cluster 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := fl.hostConfig(stderr)
			if err != nil {
				return err
			}
			h, err := server.StartHost(cfg)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("chatd node %d: clients %s, peers %s\n", fl.id, h.ClientAddr(), fl.peerAddr)
			if m := h.MetricsAddr(); m != "" {
				msg += fmt.Sprintf("metrics: http://%s/metrics\n", m)
			}
			_, _ = io.WriteString(stdout, msg)
			return wait(cmd, []*server.Host{h})
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&fl.id, "id", 0, "this node's id (required)")
	f.StringVar(&fl.dataDir, "data-dir", "", "data directory (required)")
	f.StringVar(&fl.clientAddr, "client-addr", "127.0.0.1:7001", "address for clients (ChatService, health, reflection)")
	f.StringVar(&fl.peerAddr, "peer-addr", "", "address for peers (default: this node's entry in --cluster)")
	f.StringVar(&fl.cluster, "cluster", "", "every node's peer address: 1=HOST:PORT,2=HOST:PORT,... (required; with --join, the running cluster's nodes)")
	f.BoolVar(&fl.join, "join", false, "join a running cluster: start with no configuration and wait for an admin to add this node (chat cluster add ID PEER_ADDR); needs --peer-addr unless --cluster names this node")
	f.StringVar(&fl.clusterClients, "cluster-clients", "", "every node's client address (ID=HOST:PORT,...), to point clients at the leader")
	f.StringVar(&fl.tlsCert, "tls-cert", "", "PEM certificate for mutual TLS between peers")
	f.StringVar(&fl.tlsKey, "tls-key", "", "PEM key for --tls-cert")
	f.StringVar(&fl.tlsCA, "tls-ca", "", "PEM CA that signs every peer's certificate")
	f.Uint64Var(&fl.snapshotEvery, "snapshot-every", 50_000, "take a snapshot every N applied entries (the whole chat state is encoded and synced each time)")
	f.Float64Var(&fl.snapshotLogRatio, "snapshot-log-ratio", 1, "and only once those entries' bytes reach this fraction of the last snapshot's size, so snapshot cost stays bounded as the state grows (0: entry count alone)")
	fl.common.register(cmd)
	return cmd
}

// hostConfig validates the flags and builds the node's configuration; logs go to logOut.
func (fl *runFlags) hostConfig(logOut io.Writer) (server.HostConfig, error) {
	if fl.id == 0 || fl.dataDir == "" || fl.cluster == "" {
		return server.HostConfig{}, usageError{errors.New("--id, --data-dir and --cluster are required")}
	}
	peers, err := parseIDMap("cluster", fl.cluster)
	if err != nil {
		return server.HostConfig{}, err
	}
	clients, err := parseIDMap("cluster-clients", fl.clusterClients)
	if err != nil {
		return server.HostConfig{}, err
	}
	id := raft.NodeID(fl.id)
	if _, ok := peers[id]; !ok {
		if !fl.join {
			return server.HostConfig{}, usageError{fmt.Errorf("--cluster does not name node %d", id)}
		}
		if fl.peerAddr == "" {
			return server.HostConfig{}, usageError{fmt.Errorf("--join: --peer-addr is required when --cluster does not name node %d", id)}
		}
		peers[id] = fl.peerAddr
	}
	if fl.peerAddr == "" {
		fl.peerAddr = peers[id]
	}
	clients[id] = fl.clientAddr
	log, err := fl.common.logger(logOut)
	if err != nil {
		return server.HostConfig{}, err
	}
	var boot *server.Bootstrap
	if !fl.join {
		// A joining node never initialises a cluster: it copies the running one's state.
		var generated bool
		boot, _, generated, err = fl.common.bootstrap()
		if err != nil {
			return server.HostConfig{}, err
		}
		if generated {
			log.Warn("no admin password given: bootstrapping with a random one; set --admin-password or CHATD_ADMIN_PASSWORD")
		}
	}
	cfg := server.DefaultConfig(id, members(peers, clients), fl.dataDir)
	cfg.Join = fl.join
	if err := fl.common.timing(&cfg); err != nil {
		return server.HostConfig{}, err
	}
	cfg.SnapshotEveryEntries = fl.snapshotEvery
	cfg.CompactionTailEntries = fl.snapshotEvery / 2
	cfg.SnapshotLogRatio = fl.snapshotLogRatio
	cfg.Bootstrap, cfg.Logger = boot, log
	if fl.tlsCert != "" || fl.tlsKey != "" || fl.tlsCA != "" {
		s, c, err := transport.MutualTLS(fl.tlsCert, fl.tlsKey, fl.tlsCA)
		if err != nil {
			return server.HostConfig{}, usageError{err}
		}
		cfg.PeerServerCreds, cfg.PeerClientCreds = s, c
	}
	for i := range cfg.Members {
		if cfg.Members[i].ID == id {
			// This node listens on --peer-addr, which may differ from where peers dial it
			// (0.0.0.0, or behind a proxy).
			cfg.Members[i].PeerAddr = fl.peerAddr
		}
	}
	svc, err := fl.common.serviceConfig(log)
	if err != nil {
		return server.HostConfig{}, err
	}
	return server.HostConfig{Node: cfg, ClientAddr: fl.clientAddr, MetricsAddr: fl.common.metricsAddr, Service: svc}, nil
}

// members joins peer and client addresses into the cluster's member list, sorted by id.
func members(peers, clients map[raft.NodeID]string) []server.Member {
	var ms []server.Member
	for id, addr := range peers {
		ms = append(ms, server.Member{ID: id, PeerAddr: addr, ClientAddr: clients[id]})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// wait blocks until the command's context ends (SIGINT/SIGTERM) or a node fails, then stops
// every host gracefully.
func wait(cmd *cobra.Command, hosts []*server.Host) error {
	failed := make(chan *server.Host, len(hosts))
	for _, h := range hosts {
		go func() {
			<-h.Done()
			failed <- h
		}()
	}
	var first error
	select {
	case <-cmd.Context().Done():
	case h := <-failed:
		first = fmt.Errorf("node %d stopped: %w", h.Node.ID(), h.Node.Err())
	}
	for _, h := range hosts {
		if err := h.Stop(); err != nil && first == nil {
			first = fmt.Errorf("node %d: %w", h.Node.ID(), err)
		}
	}
	return first
}
