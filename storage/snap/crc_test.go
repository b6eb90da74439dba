package snap

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRCCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 100, 4096, 100_000} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		want := crc32.Checksum(buf, castagnoli)
		for _, cut := range []int{0, n / 3, n / 2, n} {
			a, b := buf[:cut], buf[cut:]
			got := crcCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), uint64(len(b)))
			if got != want {
				t.Fatalf("%d bytes cut at %d: combined %08x, whole %08x", n, cut, got, want)
			}
		}
	}
}
