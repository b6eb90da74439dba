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

// TestQueueLateLaneKeepsTheOrder: events pushed with push and with pushLate (mostly in time
// order, sometimes not), popped in between, come out in (at, seq) order, each exactly once.
func TestQueueLateLaneKeepsTheOrder(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		var q queue
		r := rand.New(rand.NewPCG(seed, 3))
		now := int64(0)
		var pending []event // what the queue holds, by seq
		for step := 0; step < 3000; step++ {
			switch x := r.IntN(10); {
			case x < 4:
				q.push(event{at: now + int64(r.IntN(100)), arg: int32(step)})
			case x < 7:
				d := int64(50)
				if r.IntN(20) == 0 {
					d = int64(r.IntN(100)) // out of the lane's order
				}
				q.pushLate(event{at: now + d, arg: int32(step)})
			default:
				if q.len() == 0 {
					continue
				}
				e := q.pop()
				now = e.at
				best := 0
				for k := range pending {
					if pending[k].before(&pending[best]) {
						best = k
					}
				}
				if pending[best] != e {
					t.Fatalf("seed %d step %d: popped %+v, want %+v", seed, step, e, pending[best])
				}
				pending = append(pending[:best], pending[best+1:]...)
				continue
			}
			pending = append(pending, event{})
			pending[len(pending)-1] = lastPushed(&q)
			if q.len() != len(pending) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, q.len(), len(pending))
			}
		}
	}
}

// lastPushed finds the event q numbered last.
func lastPushed(q *queue) event {
	for _, e := range q.items {
		if e.seq == q.seq {
			return e
		}
	}
	for _, e := range q.late[q.lateHead:] {
		if e.seq == q.seq {
			return e
		}
	}
	panic("not found")
}
