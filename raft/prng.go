package raft

// prng is a tiny deterministic generator (SplitMix64). Raft needs randomness only for
// election timeouts; keeping the generator here means no math/rand import and the same
// sequence on every platform and Go version for a given seed.
type prng struct{ state uint64 }

func newPRNG(seed, stream uint64) prng {
	// Mixing the node ID in keeps nodes that share a seed from drawing identical timeouts.
	return prng{state: seed ^ (stream * 0x9e3779b97f4a7c15)}
}

func (p *prng) next() uint64 {
	p.state += 0x9e3779b97f4a7c15
	z := p.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n must be positive. The modulo bias is negligible for the
// small n used here (an election timeout in ticks).
func (p *prng) intn(n uint64) uint64 {
	if n == 0 {
		panic("raft: prng.intn(0)")
	}
	return p.next() % n
}
