package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/auth"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/server"
	"github.com/raftchat/raftchat/service"
)

// Exit statuses.
const (
	exitFail  = 1
	exitUsage = 2
)

type usageError struct{ error }

// run executes the chatd command line and returns the exit status. ctx ends on SIGINT or
// SIGTERM, which shuts the node(s) down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		_, _ = fmt.Fprintln(stderr, "chatd:", err)
		var ue usageError
		if errors.As(err, &ue) || strings.Contains(err.Error(), "unknown flag") ||
			strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "flag needs") {
			return exitUsage
		}
		return exitFail
	}
	return 0
}

// commonFlags are shared by run and dev.
type commonFlags struct {
	logLevel, logFormat           string
	adminUser                     string
	adminPassword                 string
	metricsAddr                   string
	tick                          time.Duration
	electionTicks, heartbeatTicks int
	suggester                     string
	geminiModel                   string
	geminiBaseURL                 string
	userRate                      float64
}

func (c *commonFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&c.adminUser, "admin-user", "admin", "admin account created when this node bootstraps a new cluster")
	f.StringVar(&c.adminPassword, "admin-password", "",
		"its password (default $CHATD_ADMIN_PASSWORD, else a random one that is printed)")
	f.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics")
	def := server.DefaultConfig(0, nil, "")
	f.DurationVar(&c.tick, "tick", def.TickInterval, "Raft tick length")
	f.IntVar(&c.electionTicks, "election-ticks", def.ElectionTicks, "election timeout in ticks (randomized up to twice that)")
	f.IntVar(&c.heartbeatTicks, "heartbeat-ticks", def.HeartbeatTicks, "heartbeat interval in ticks")
	f.StringVar(&c.suggester, "suggester", "auto",
		"reply suggestions: gemini (needs $GEMINI_API_KEY; the offline suggester answers while Gemini fails), offline, or auto (gemini when $GEMINI_API_KEY is set)")
	f.StringVar(&c.geminiModel, "gemini-model", service.DefaultGeminiModel, "Gemini model for reply suggestions")
	f.StringVar(&c.geminiBaseURL, "gemini-base-url", "", "Gemini API address (default Google's; for a proxy)")
	f.Float64Var(&c.userRate, "user-rate", service.DefaultConfig().RequestsPerSecond,
		"requests per second one user may make (bursts of twice that); beyond it calls fail with ResourceExhausted")
}

// timing sets Raft's timers the flags ask for.
func (c *commonFlags) timing(cfg *server.Config) error {
	if c.tick <= 0 || c.heartbeatTicks <= 0 || c.electionTicks <= c.heartbeatTicks {
		return usageError{fmt.Errorf("need --tick > 0 and 0 < --heartbeat-ticks < --election-ticks (got %v, %d, %d)",
			c.tick, c.heartbeatTicks, c.electionTicks)}
	}
	cfg.TickInterval, cfg.ElectionTicks, cfg.HeartbeatTicks = c.tick, c.electionTicks, c.heartbeatTicks
	return nil
}

// serviceConfig builds the chat service's configuration: the default one, with the
// suggester the flags ask for.
func (c *commonFlags) serviceConfig(log *slog.Logger) (*service.Config, error) {
	cfg := service.DefaultConfig()
	if c.userRate <= 0 || c.userRate > 1e9 {
		return nil, usageError{fmt.Errorf("--user-rate %v: want a number of requests per second above 0", c.userRate)}
	}
	cfg.RequestsPerSecond, cfg.Burst = c.userRate, int(min(2*c.userRate, 2e9))
	key := os.Getenv("GEMINI_API_KEY")
	switch c.suggester {
	case "offline":
		return &cfg, nil
	case "auto":
		if key == "" {
			return &cfg, nil
		}
	case "gemini":
		if key == "" {
			return nil, usageError{errors.New("--suggester gemini: set GEMINI_API_KEY")}
		}
	default:
		return nil, usageError{fmt.Errorf("--suggester %q: want gemini, offline or auto", c.suggester)}
	}
	g, err := service.NewGeminiSuggester(context.Background(), service.GeminiConfig{
		APIKey: key, Model: c.geminiModel, BaseURL: c.geminiBaseURL})
	if err != nil {
		return nil, err
	}
	cfg.Suggester = &service.FallbackSuggester{Primary: g, Fallback: service.OfflineSuggester{}, Logger: log}
	log.Info("reply suggestions from Gemini, offline while it fails", "model", c.geminiModel)
	return &cfg, nil
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "chatd",
		Short:         "raftchat node: a Raft-replicated chat server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr), newDevCmd(stdout, stderr))
	return root
}

// logger builds the structured logger the flags ask for, writing to w.
func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", c.logFormat)}
}

// bootstrap hashes the admin password (generating one when none is given) for the bootstrap
// command. generated reports that the password was made up here and must be shown.
func (c *commonFlags) bootstrap() (b *server.Bootstrap, password string, generated bool, err error) {
	password = c.adminPassword
	if password == "" {
		password = os.Getenv("CHATD_ADMIN_PASSWORD")
	}
	if password == "" {
		var raw [12]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, "", false, fmt.Errorf("generate admin password: %w", err)
		}
		password, generated = base64.RawURLEncoding.EncodeToString(raw[:]), true
	}
	hash, err := auth.HashPassword(password, auth.DefaultParams, rand.Reader)
	if err != nil {
		return nil, "", false, fmt.Errorf("hash admin password: %w", err)
	}
	return &server.Bootstrap{AdminUsername: c.adminUser, AdminPasswordHash: hash}, password, generated, nil
}

// parseIDMap parses "1=host:port,2=host:port".
func parseIDMap(flag, s string) (map[raft.NodeID]string, error) {
	out := map[raft.NodeID]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(part, "=")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || err != nil || id == 0 || addr == "" {
			return nil, usageError{fmt.Errorf("--%s: bad entry %q, want ID=HOST:PORT", flag, part)}
		}
		if _, dup := out[raft.NodeID(id)]; dup {
			return nil, usageError{fmt.Errorf("--%s: node %d named twice", flag, id)}
		}
		out[raft.NodeID(id)] = addr
	}
	return out, nil
}
