package election

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config describes one line of the experiment. Zero fields take the defaults listed.
type Config struct {
	// Nodes is the cluster size. Default 5.
	Nodes int
	// TimeoutMin and TimeoutMax bound the uniformly drawn election timeout. Required;
	// TimeoutMax may equal TimeoutMin (no randomness).
	TimeoutMin, TimeoutMax time.Duration
	// Tick is the length of one raft tick. Default 1ms. The heartbeat interval is
	// TimeoutMin/2 rounded down to whole ticks.
	Tick time.Duration
	// LatencyMin and LatencyMax bound the one-way network delay. Default 4.5ms-7.5ms.
	LatencyMin, LatencyMax time.Duration
	// DiskMin and DiskMax bound one synced disk write. Default 2ms-4ms.
	DiskMin, DiskMax time.Duration
	// Trials is the number of trials. Default 1000.
	Trials int
	// Seed is the root seed; trial k uses a seed derived from (Seed, k).
	Seed uint64
	// MaxOutage caps one trial's wait for a new leader. Default 60s.
	MaxOutage time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Nodes == 0 {
		c.Nodes = 5
	}
	def(&c.Tick, time.Millisecond)
	def(&c.LatencyMin, 4500*time.Microsecond)
	def(&c.LatencyMax, 7500*time.Microsecond)
	def(&c.DiskMin, 2*time.Millisecond)
	def(&c.DiskMax, 4*time.Millisecond)
	def(&c.MaxOutage, 60*time.Second)
	if c.Trials == 0 {
		c.Trials = 1000
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Nodes < 3:
		return fmt.Errorf("election: %d nodes, need at least 3", c.Nodes)
	case c.TimeoutMin <= 0 || c.TimeoutMax < c.TimeoutMin:
		return fmt.Errorf("election: bad timeout range %v-%v", c.TimeoutMin, c.TimeoutMax)
	case c.Tick <= 0 || c.TimeoutMin/2 < c.Tick:
		return fmt.Errorf("election: tick %v too coarse for timeout %v", c.Tick, c.TimeoutMin)
	case c.LatencyMin < 0 || c.LatencyMax < c.LatencyMin || c.DiskMin < 0 || c.DiskMax < c.DiskMin:
		return errors.New("election: bad latency or disk range")
	case c.Trials <= 0:
		return fmt.Errorf("election: %d trials", c.Trials)
	}
	return nil
}

// heartbeatTicks is half the minimum election timeout, in ticks.
func (c Config) heartbeatTicks() int { return int(c.TimeoutMin / 2 / c.Tick) }

// ParseRange parses an election timeout range such as "150ms-300ms", "150-300ms" or "150ms"
// (a range of width zero).
func ParseRange(s string) (lo, hi time.Duration, err error) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		b = a
	}
	hi, err = time.ParseDuration(b)
	if err != nil {
		return 0, 0, fmt.Errorf("parse timeout range %q: %w", s, err)
	}
	lo, err = time.ParseDuration(a)
	if err != nil {
		// "150-300ms": the unit of the upper bound applies to both.
		unit := strings.TrimLeft(b, "0123456789.")
		if lo, err = time.ParseDuration(a + unit); err != nil {
			return 0, 0, fmt.Errorf("parse timeout range %q: %w", s, err)
		}
	}
	if lo <= 0 || hi < lo {
		return 0, 0, fmt.Errorf("parse timeout range %q: need 0 < min <= max", s)
	}
	return lo, hi, nil
}
