package sim

import (
	"math/rand/v2"
)

// NetParams are the network's steady-state characteristics for one run.
type NetParams struct {
	// LatencyMinUs is the minimum one-way delay; LatencyMeanUs the mean (the excess over the
	// minimum is exponentially distributed, which also reorders messages).
	LatencyMinUs  int64   `json:"latency_min_us"`
	LatencyMeanUs int64   `json:"latency_mean_us"`
	Drop          float64 `json:"drop"`
	Dup           float64 `json:"dup"`
	// Slow is the probability that a message is held up for 20 ms to SlowMaxMs more (a
	// retransmission, a congested switch): late messages from old terms arrive.
	Slow      float64 `json:"slow,omitempty"`
	SlowMaxMs int64   `json:"slow_max_ms,omitempty"`
	// FsyncUs is the mean time of a synced disk write; messages of a Ready that had to be
	// synced leave only after it.
	FsyncUs int64 `json:"fsync_us,omitempty"`
}

// network decides the fate of each message: dropped, delivered once or twice, and when.
// Partitions are a set of blocked directed links.
type network struct {
	n       int
	params  NetParams
	rng     *rand.Rand
	blocked []bool // blocked[from*n+to]; from, to are 0-based node indexes
	faulty  bool   // drop/dup apply only while true (the liveness phase turns them off)

	sent, dropped, duplicated, cut, slow int
}

func newNetwork(n int, p NetParams, rng *rand.Rand) *network {
	return &network{n: n, params: p, rng: rng, blocked: make([]bool, n*n), faulty: true}
}

func (nw *network) isBlocked(from, to int) bool { return nw.blocked[from*nw.n+to] }

func (nw *network) setLinks(links [][2]int, blocked bool) {
	for _, l := range links {
		nw.blocked[l[0]*nw.n+l[1]] = blocked
	}
}

// grow makes room for n nodes; the new ones' links are open.
func (nw *network) grow(n int) {
	b := make([]bool, n*n)
	for from := 0; from < nw.n; from++ {
		copy(b[from*n:from*n+nw.n], nw.blocked[from*nw.n:(from+1)*nw.n])
	}
	nw.n, nw.blocked = n, b
}

func (nw *network) healAll() {
	for i := range nw.blocked {
		nw.blocked[i] = false
	}
}

func (nw *network) anyBlocked() bool {
	for _, b := range nw.blocked {
		if b {
			return true
		}
	}
	return false
}

// latency draws one one-way delay in nanoseconds.
func (nw *network) latency() int64 {
	minNs := nw.params.LatencyMinUs * 1000
	excess := (nw.params.LatencyMeanUs - nw.params.LatencyMinUs) * 1000
	if excess <= 0 {
		return minNs
	}
	return minNs + int64(nw.rng.ExpFloat64()*float64(excess))
}

func (nw *network) slowness() int64 {
	if !nw.faulty || nw.params.Slow <= 0 || nw.rng.Float64() >= nw.params.Slow {
		return 0
	}
	nw.slow++
	return 20_000_000 + nw.rng.Int64N(max(1, nw.params.SlowMaxMs-20)*1_000_000)
}

// fsyncDelay draws the duration of one synced write.
func (nw *network) fsyncDelay() int64 {
	if nw.params.FsyncUs <= 0 {
		return 0
	}
	return int64((0.5 + nw.rng.Float64()) * float64(nw.params.FsyncUs) * 1000)
}

// plan returns the delays of the copies of one message from -> to that will arrive: none if
// it is dropped or the link is cut, two if it is duplicated.
func (nw *network) plan(from, to int, out []int64) []int64 {
	nw.sent++
	out = out[:0]
	if nw.isBlocked(from, to) {
		nw.cut++
		return out
	}
	if nw.faulty && nw.params.Drop > 0 && nw.rng.Float64() < nw.params.Drop {
		nw.dropped++
		return out
	}
	out = append(out, nw.latency()+nw.slowness())
	if nw.faulty && nw.params.Dup > 0 && nw.rng.Float64() < nw.params.Dup {
		nw.duplicated++
		out = append(out, nw.latency()+nw.slowness())
	}
	return out
}
