package statemachine

import "fmt"

// Config holds the limits of the state machine. Every replica of a cluster must use the same
// Config, since the limits decide which commands are accepted. Zero never means unlimited:
// New rejects a zero or negative limit. Start from DefaultConfig.
type Config struct {
	// MaxTextBytes bounds the UTF-8 length of a message text, an edit and a file caption.
	MaxTextBytes int
	// MaxGroupNameBytes bounds a group name.
	MaxGroupNameBytes int
	// MaxGroupMembers bounds the members of one group.
	MaxGroupMembers int
	// MaxReactionsPerMessage bounds the (emoji, user) pairs on one message.
	MaxReactionsPerMessage int
	// MaxFileBytes bounds the declared size of an upload.
	MaxFileBytes int64
	// MaxChunkBytes bounds the chunk size of an upload (and so the data of one UploadChunk).
	MaxChunkBytes int64
	// MaxPendingUploadsPerUser bounds the unfinished uploads of one user.
	MaxPendingUploadsPerUser int
	// UploadTTLMs is how long (log time since BeginUpload) an unfinished upload is kept.
	UploadTTLMs int64
	// MaxSessions bounds the client sessions kept for exactly-once execution.
	MaxSessions int
	// MaxResultsPerSession bounds the remembered results of one client session.
	MaxResultsPerSession int
	// SessionTTLMs is how long (log time since its last command) an idle session is kept.
	SessionTTLMs int64
	// SweepIntervalMs is how often (log time) expired sessions, uploads and revocations are
	// dropped. Expiry is exact at lookup; the sweep only frees memory.
	SweepIntervalMs int64
	// MaxRevokedTokens bounds the revocation list.
	MaxRevokedTokens int
	// MaxTokenTTLMs bounds how far in the future a revocation may expire.
	MaxTokenTTLMs int64
	// OnlineWindowMs: a user seen within this window (before "now") is online.
	OnlineWindowMs int64
	// MaxHeartbeatUsers bounds the users named by one Heartbeat.
	MaxHeartbeatUsers int
	// MaxRecentEvents bounds the recent-events feed (RecentEvents) kept for resuming streams.
	MaxRecentEvents int
	// MaxPageSize bounds (and is the default of) the limit of History, Search and RecentEvents.
	MaxPageSize int
	// SignupRequiresAdmin, when set, rejects CreateUser unless the actor is an admin.
	SignupRequiresAdmin bool
	// Knobs plants bugs for the simulator; nil means none.
	Knobs *TestingKnobs
}

// TestingKnobs plants deliberate bugs that the simulator must catch. All false is correct.
type TestingKnobs struct {
	// DropSessionsFromSnapshot leaves the session table out of snapshots, so a replica restored
	// from a snapshot re-applies a retried command (breaks exactly-once).
	DropSessionsFromSnapshot bool
}

// DefaultConfig returns the limits used by chatd and chatsim.
func DefaultConfig() Config {
	return Config{
		MaxTextBytes:             4096,
		MaxGroupNameBytes:        64,
		MaxGroupMembers:          1000,
		MaxReactionsPerMessage:   256,
		MaxFileBytes:             1 << 30,
		MaxChunkBytes:            256 << 10,
		MaxPendingUploadsPerUser: 16,
		UploadTTLMs:              60 * 60 * 1000,
		MaxSessions:              100_000,
		MaxResultsPerSession:     256,
		SessionTTLMs:             60 * 60 * 1000,
		SweepIntervalMs:          60 * 1000,
		MaxRevokedTokens:         1_000_000,
		MaxTokenTTLMs:            7 * 24 * 60 * 60 * 1000,
		OnlineWindowMs:           90 * 1000,
		MaxHeartbeatUsers:        10_000,
		MaxRecentEvents:          10_000,
		MaxPageSize:              1000,
	}
}

func (c *Config) validate() error {
	ints := []struct {
		name string
		v    int64
	}{
		{"MaxTextBytes", int64(c.MaxTextBytes)},
		{"MaxGroupNameBytes", int64(c.MaxGroupNameBytes)},
		{"MaxGroupMembers", int64(c.MaxGroupMembers)},
		{"MaxReactionsPerMessage", int64(c.MaxReactionsPerMessage)},
		{"MaxFileBytes", c.MaxFileBytes},
		{"MaxChunkBytes", c.MaxChunkBytes},
		{"MaxPendingUploadsPerUser", int64(c.MaxPendingUploadsPerUser)},
		{"UploadTTLMs", c.UploadTTLMs},
		{"MaxSessions", int64(c.MaxSessions)},
		{"MaxResultsPerSession", int64(c.MaxResultsPerSession)},
		{"SessionTTLMs", c.SessionTTLMs},
		{"SweepIntervalMs", c.SweepIntervalMs},
		{"MaxRevokedTokens", int64(c.MaxRevokedTokens)},
		{"MaxTokenTTLMs", c.MaxTokenTTLMs},
		{"OnlineWindowMs", c.OnlineWindowMs},
		{"MaxHeartbeatUsers", int64(c.MaxHeartbeatUsers)},
		{"MaxRecentEvents", int64(c.MaxRecentEvents)},
		{"MaxPageSize", int64(c.MaxPageSize)},
	}
	for _, f := range ints {
		if f.v <= 0 {
			return fmt.Errorf("statemachine config: %s must be positive, got %d", f.name, f.v)
		}
	}
	return nil
}
