package sim

import "github.com/raftchat/raftchat/raft"

// eventKind says what an event does when it fires.
type eventKind uint8

const (
	evTick      eventKind = iota + 1 // a node's clock ticks
	evDeliver                        // a message arrives at msg.To
	evFault                          // schedule event number arg happens
	evClient                         // client arg wakes up (start next op or retry)
	evTimeout                        // client arg's attempt gen timed out
	evPhase                          // the safety phase ends
	evProbe                          // a liveness probe
	evRestart                        // a node crashed at a crash point comes back
	evWriteDone                      // a node's background saves up to arg are durable (gen: its boot)
	evResume                         // a node's next pass, for work its last one left (gen: its incarnation)
	evSnapStep                       // a node's background snapshot step number arg completes (gen: its boot)
	evOperator                       // the membership operator's attempt gen at goal arg (see membership.go)
)

// event is one entry of the queue. It is kept small and pointer-free: the heap moves events
// by value, and without pointers a move needs no GC write barrier.
type event struct {
	at   int64 // virtual time in nanoseconds
	seq  uint64
	gen  uint64 // incarnation or attempt number the event belongs to
	node int32  // node index (0-based) for node events
	arg  int32  // client index, schedule index, ...
	msg  msgRef // the message an evDeliver event delivers
	kind eventKind
}

// msgRef names a message held by a msgTable; 0 names none.
type msgRef int32

// msgTable holds the messages in flight, so that events can name them without a pointer.
// Slots are reused once their message is taken.
type msgTable struct {
	msgs []*raft.Message // msgs[r-1] is message r
	free []msgRef
}

// put stores m and returns its reference.
func (t *msgTable) put(m *raft.Message) msgRef {
	if n := len(t.free); n > 0 {
		r := t.free[n-1]
		t.free = t.free[:n-1]
		t.msgs[r-1] = m
		return r
	}
	t.msgs = append(t.msgs, m)
	return msgRef(len(t.msgs))
}

// get returns message r (nil for 0).
func (t *msgTable) get(r msgRef) *raft.Message {
	if r == 0 {
		return nil
	}
	return t.msgs[r-1]
}

// take returns message r and frees its slot.
func (t *msgTable) take(r msgRef) *raft.Message {
	m := t.msgs[r-1]
	t.msgs[r-1] = nil
	t.free = append(t.free, r)
	return m
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue holds the pending events in (at, seq) order: a 4-ary min-heap, shallower than a
// binary heap, so a pop moves fewer events, and beside it a FIFO lane for events pushed in
// (at, seq) order anyway (pushLate: the clients' attempt timeouts, all one fixed delay
// ahead, which are about half of what is pending and mostly outlive their attempt). (at,
// seq) is a total order, so the pop order is the same as any other correct queue's. Hand-
// written rather than container/heap to avoid interface boxing on the hot path.
type queue struct {
	items []event
	// late[lateHead:] is the FIFO lane, in (at, seq) order.
	late     []event
	lateHead int
	seq      uint64
}

func (q *queue) len() int { return len(q.items) + len(q.late) - q.lateHead }

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.heapPush(e)
}

// pushLate is push for an event that is usually due no earlier than every event pushed with
// pushLate before it: those go to the FIFO lane (any other to the heap).
func (q *queue) pushLate(e event) {
	q.seq++
	e.seq = q.seq
	if n := len(q.late); n > q.lateHead && e.at < q.late[n-1].at {
		q.heapPush(e)
		return
	}
	if q.lateHead >= 64 && 2*q.lateHead >= len(q.late) {
		// Reuse the front of the array: the lane's pending part is at most as long as
		// what was popped.
		n := copy(q.late, q.late[q.lateHead:])
		q.late, q.lateHead = q.late[:n], 0
	}
	q.late = append(q.late, e) // seq grows: the lane stays in (at, seq) order
}

func (q *queue) heapPush(e event) {
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&q.items[p]) {
			break
		}
		q.items[i] = q.items[p]
		i = p
	}
	q.items[i] = e
}

// pop removes and returns the first event; the queue must not be empty.
func (q *queue) pop() event {
	items := q.items
	if h := q.lateHead; h < len(q.late) && (len(items) == 0 || q.late[h].before(&items[0])) {
		e := q.late[h]
		q.lateHead++
		if q.lateHead == len(q.late) {
			q.late, q.lateHead = q.late[:0], 0
		}
		return e
	}
	top := items[0]
	n := len(items) - 1
	e := items[n]
	items = items[:n]
	q.items = items
	i := 0
	for {
		// m: the least of i's children (4i+1 .. 4i+4), found as the least of the two least
		// of the pairs when all four exist.
		c := 4*i + 1
		var m int
		if c+3 < n {
			ch := items[c : c+4 : c+4]
			m = 0
			if ch[1].before(&ch[0]) {
				m = 1
			}
			m2 := 2
			if ch[3].before(&ch[2]) {
				m2 = 3
			}
			if ch[m2].before(&ch[m]) {
				m = m2
			}
			m += c
		} else if c < n {
			m = c
			for k := c + 1; k < n; k++ {
				if items[k].before(&items[m]) {
					m = k
				}
			}
		} else {
			break
		}
		if !items[m].before(&e) {
			break
		}
		items[i] = items[m]
		i = m
	}
	if n > 0 {
		items[i] = e
	}
	return top
}
