package tracker

import "fmt"

// Inflights is the sliding window of MsgApp messages sent to one follower and not yet
// acknowledged, each remembered by the last index it carried. It is a ring buffer that grows
// lazily up to its capacity, so idle followers cost little memory.
type Inflights struct {
	start int // position of the oldest entry in buffer
	count int // number of entries in flight
	size  int // capacity limit
	// buffer holds indexes in increasing order, wrapping around.
	buffer []uint64
}

// NewInflights returns a window of at most size messages. size must be positive.
func NewInflights(size int) *Inflights {
	if size <= 0 {
		panic(fmt.Sprintf("tracker: inflights size %d must be positive", size))
	}
	return &Inflights{size: size}
}

// Add records a message whose last entry has index last. Indexes must be added in increasing
// order and the window must not be full; both are programmer errors.
func (in *Inflights) Add(last uint64) {
	if in.Full() {
		panic("tracker: cannot add to a full inflights window")
	}
	if in.count > 0 && last <= in.at(in.count-1) {
		panic(fmt.Sprintf("tracker: inflight index %d not above last %d", last, in.at(in.count-1)))
	}
	pos := in.start + in.count
	if pos >= in.size {
		pos -= in.size
	}
	if pos >= len(in.buffer) {
		in.grow()
	}
	in.buffer[pos] = last
	in.count++
}

// grow doubles the buffer (up to size), unwrapping it so start becomes 0.
func (in *Inflights) grow() {
	n := max(2*len(in.buffer), 1)
	n = min(n, in.size)
	buf := make([]uint64, n)
	for i := 0; i < in.count; i++ {
		buf[i] = in.at(i)
	}
	in.buffer, in.start = buf, 0
}

func (in *Inflights) at(i int) uint64 {
	pos := in.start + i
	if pos >= in.size {
		pos -= in.size
	}
	return in.buffer[pos]
}

// FreeLE frees every message whose last index is <= to (they have been acknowledged).
func (in *Inflights) FreeLE(to uint64) {
	n := 0
	for n < in.count && in.at(n) <= to {
		n++
	}
	in.start += n
	if in.start >= in.size {
		in.start -= in.size
	}
	in.count -= n
	if in.count == 0 {
		in.start = 0
	}
}

// FreeFirstOne frees the oldest message; a leader uses it when a heartbeat response shows the
// follower alive but acknowledgements were lost, so the window cannot stay stuck full.
func (in *Inflights) FreeFirstOne() {
	if in.count > 0 {
		in.FreeLE(in.at(0))
	}
}

// Full reports whether no more messages may be sent.
func (in *Inflights) Full() bool { return in.count == in.size }

// Count returns the number of messages in flight.
func (in *Inflights) Count() int { return in.count }

// Reset empties the window.
func (in *Inflights) Reset() { in.count, in.start = 0, 0 }
