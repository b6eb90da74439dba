package sim

import "math/rand/v2"

// splitmix64 is the finalizer of SplitMix64: a bijective mixer that turns nearby inputs
// (seed 1, seed 2) into unrelated outputs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// streamSeed derives the seed of the random stream called name from the run's root seed.
// Streams are independent: drawing more numbers from one never shifts another, which keeps
// a change in (say) client behaviour from perturbing the fault schedule.
func streamSeed(root uint64, name string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a over the name
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return splitmix64(splitmix64(root) ^ h)
}

// newStream returns the PCG-backed generator for stream name under root seed.
func newStream(root uint64, name string) *rand.Rand {
	s := streamSeed(root, name)
	return rand.New(rand.NewPCG(s, splitmix64(s)))
}
