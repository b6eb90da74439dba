package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/raftchat/raftchat/service"
)

// HostConfig configures a Host: a Node plus its client-facing servers.
type HostConfig struct {
	Node Config
	// PeerListener and ClientListener are used when set; otherwise the node listens on its
	// member PeerAddr and on ClientAddr.
	PeerListener, ClientListener net.Listener
	ClientAddr                   string
	// MetricsAddr, when set, serves Registry (or a fresh one) at /metrics over HTTP, and
	// Go profiles at /debug/pprof/.
	MetricsAddr string
	// Registry receives the node's metrics, labelled with its id; nil creates one when
	// MetricsAddr is set.
	Registry *prometheus.Registry
	// Service configures the ChatService; nil uses service.DefaultConfig.
	Service *service.Config
	// GracePeriod bounds how long Stop waits for client calls to finish.
	GracePeriod time.Duration
}

// Host is a running chatd node: the Node, its peer server, the client gRPC server (ChatService,
// health, reflection) and optionally a metrics endpoint.
type Host struct {
	Node       *Node
	clientLis  net.Listener
	grpc       *grpc.Server
	health     *health.Server
	metrics    *http.Server
	metricsLis net.Listener
	grace      time.Duration
	served     chan error
}

// StartHost opens the node and starts every server. On error nothing is left running.
func StartHost(cfg HostConfig) (h *Host, err error) {
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	peerLis, clientLis := cfg.PeerListener, cfg.ClientListener
	if peerLis == nil {
		self, _ := cfg.Node.member(cfg.Node.ID)
		if peerLis, err = net.Listen("tcp", self.PeerAddr); err != nil {
			return nil, fmt.Errorf("listen for peers: %w", err)
		}
	}
	cleanup = append(cleanup, func() { _ = peerLis.Close() })
	if clientLis == nil {
		if clientLis, err = net.Listen("tcp", cfg.ClientAddr); err != nil {
			return nil, fmt.Errorf("listen for clients: %w", err)
		}
	}
	cleanup = append(cleanup, func() { _ = clientLis.Close() })
	if cfg.MetricsAddr != "" && cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.Registry != nil && cfg.Node.Registerer == nil {
		cfg.Node.Registerer = prometheus.WrapRegistererWith(
			prometheus.Labels{"node": fmt.Sprint(cfg.Node.ID)}, cfg.Registry)
	}
	n, err := New(cfg.Node)
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = n.Stop() })
	h = &Host{Node: n, clientLis: clientLis, grace: cfg.GracePeriod, served: make(chan error, 1)}
	if h.grace <= 0 {
		h.grace = 5 * time.Second
	}
	if err := h.buildClientServer(cfg); err != nil {
		return nil, err
	}
	if cfg.MetricsAddr != "" {
		if err := h.startMetrics(cfg.MetricsAddr, cfg.Registry); err != nil {
			return nil, err
		}
	}
	n.Start(peerLis)
	go func() { h.served <- h.grpc.Serve(clientLis) }()
	go h.watch()
	return h, nil
}

// buildClientServer creates the client gRPC server with the ChatService, health and
// reflection.
// streamWorkers is how many goroutines serve client calls; calls beyond them get a
// goroutine of their own, as without workers.
const streamWorkers = 256

func (h *Host) buildClientServer(cfg HostConfig) error {
	scfg := service.DefaultConfig()
	if cfg.Service != nil {
		scfg = *cfg.Service
	}
	if scfg.Logger == nil {
		scfg.Logger = h.Node.log
	}
	svc, err := service.New(h.Node, scfg)
	if err != nil {
		return fmt.Errorf("chat service: %w", err)
	}
	// Stream workers serve calls on long-lived goroutines whose stacks have already grown,
	// rather than a new goroutine per call that grows its stack again every time.
	h.grpc = grpc.NewServer(append(svc.ServerOptions(), grpc.NumStreamWorkers(streamWorkers))...)
	svc.Register(h.grpc)
	h.health = health.NewServer()
	healthpb.RegisterHealthServer(h.grpc, h.health)
	reflection.Register(h.grpc)
	for name := range h.grpc.GetServiceInfo() {
		h.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	h.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return nil
}

func (h *Host) startMetrics(addr string, reg *prometheus.Registry) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// Profiles on the operator's port, next to the metrics.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	h.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	h.metricsLis = lis
	go func() { _ = h.metrics.Serve(lis) }()
	return nil
}

// watch marks the node unhealthy when its loop ends on its own (a fatal storage error).
func (h *Host) watch() {
	<-h.Node.Done()
	h.health.Shutdown()
}

// ClientAddr is the address clients connect to.
func (h *Host) ClientAddr() string { return h.clientLis.Addr().String() }

// MetricsAddr is the metrics HTTP address, empty when not serving metrics.
func (h *Host) MetricsAddr() string {
	if h.metricsLis == nil {
		return ""
	}
	return h.metricsLis.Addr().String()
}

// Done is closed when the node's loop has ended.
func (h *Host) Done() <-chan struct{} { return h.Node.Done() }

// Stop shuts down gracefully: health turns NOT_SERVING, subscriptions end, a leader hands
// over leadership, client calls get the rest of GracePeriod to finish, then the node stops. It returns the node's fatal error, if any.
func (h *Host) Stop() error {
	h.health.Shutdown()
	h.Node.Drain(h.grace / 2)
	stopped := make(chan struct{})
	go func() { h.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(h.grace):
		h.grpc.Stop()
	}
	if err := <-h.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		h.Node.log.Warn("client server", "err", err)
	}
	if h.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = h.metrics.Shutdown(ctx)
		cancel()
	}
	return h.Node.Stop()
}
