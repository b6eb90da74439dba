package sim

import (
	"math/rand/v2"
	"testing"
)

func TestQueueOrdersByTimeThenSeq(t *testing.T) {
	var q queue
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		q.push(event{at: int64(r.IntN(50)), arg: int32(i)})
	}
	prev := q.pop()
	for q.len() > 0 {
		e := q.pop()
		if e.at < prev.at || (e.at == prev.at && e.seq <= prev.seq) {
			t.Fatalf("out of order: %+v after %+v", e, prev)
		}
		prev = e
	}
}

func TestStreamsAreIndependentAndStable(t *testing.T) {
	a1 := newStream(42, "net").Uint64()
	a2 := newStream(42, "net").Uint64()
	b := newStream(42, "clients").Uint64()
	c := newStream(43, "net").Uint64()
	if a1 != a2 {
		t.Fatal("same seed and name gave different streams")
	}
	if a1 == b || a1 == c {
		t.Fatal("different seed or name gave the same first draw")
	}
}
