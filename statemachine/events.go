package statemachine

import (
	"math"
	"slices"
)

// eventLog is the bounded recent-events feed, ordered by log index. A server stream that
// reconnects to another node resumes with RecentEvents(user, lastIndexSeen, limit): events are
// keyed by the log index of the command that caused them, which is the same on every replica,
// so the resumed stream has no gap and no duplicate as long as the feed still reaches back
// far enough; otherwise RecentEvents says OUT_OF_RANGE and the client re-reads history.
type eventLog struct {
	// buf holds the newest events: it grows to capacity, then is a ring whose oldest element is
	// buf[head]. Invariant: indexes increase from oldest to newest. An event is held without
	// its Message (nil): the message is in its encoding, which RecentEvents decodes. Building
	// a Message (with its reactions) for every message event on every replica, to keep it for
	// a stream that may never ask, cost more than encoding the message straight from the
	// conversation; and a ring of events without pointers to messages is less for the garbage
	// collector to scan.
	buf  []Event
	head int
	// droppedThrough is the highest index of an event that fell out of the ring.
	droppedThrough uint64
	// enc holds the snapshot encodings of the events in buf back to back, oldest first, from
	// stream offset encBase on (the stream being every encoding ever pushed), and start[k]
	// is the stream offset of buf[k]'s: an event never changes once pushed, so Snapshot
	// copies these bytes instead of encoding every event again. Stream offsets do not move
	// when the bytes of events that fell out are dropped from the front of enc.
	enc     []byte
	encBase int64
	start   []int64
}

func (l *eventLog) len() int { return len(l.buf) }

// ring returns the position in buf of the i-th oldest event.
func (l *eventLog) ring(i int) int { return (l.head + i) % len(l.buf) }

// at returns the i-th oldest event, without its Message (see decode).
func (l *eventLog) at(i int) *Event { return &l.buf[l.ring(i)] }

// decode returns the i-th oldest event with its Message, decoded from its encoding.
func (l *eventLog) decode(i int) Event {
	d := dec{b: l.enc[l.start[l.ring(i)]-l.encBase:]}
	ev := decodeEvent(&d)
	mustf(d.err == nil, "event log: cannot decode event %d: %v", l.at(i).Index, d.err)
	return ev
}

// encoded returns the snapshot encoding of every event held, oldest first.
func (l *eventLog) encoded() []byte {
	if len(l.buf) == 0 {
		return nil
	}
	return l.enc[l.start[l.head]-l.encBase:]
}

// reserve makes room in enc for the encoding of an event of at most n bytes, which the
// caller then appends to enc before calling push.
func (l *eventLog) reserve(n int) {
	l.enc = growDoubling(l.enc, n, math.MaxInt)
}

// push adds ev (its Message dropped), whose encoding the caller has appended to enc from
// offset from on.
func (l *eventLog) push(capacity int, ev Event, from int) {
	ev.Message = nil
	at := l.encBase + int64(from)
	if len(l.buf) < capacity {
		if len(l.buf) == cap(l.buf) {
			l.buf = growDoubling(l.buf, 1, capacity)
			l.start = growDoubling(l.start, 1, capacity)
		}
		l.buf = append(l.buf, ev)
		l.start = append(l.start, at)
		return
	}
	old := l.at(0)
	l.droppedThrough = max(l.droppedThrough, old.Index)
	*old = ev
	l.start[l.head] = at
	l.head = (l.head + 1) % len(l.buf)
	if drop := int(l.start[l.head] - l.encBase); drop > len(l.enc)/2 {
		// Drop the bytes of the events that fell out, once they are half of the buffer.
		l.enc = append(l.enc[:0], l.enc[drop:]...)
		l.encBase += int64(drop)
	}
}

// growDoubling returns s with room for at least n more elements, at least doubling its
// capacity when it must grow, but beyond limit elements only as far as needed. append grows a
// large slice by about 1.25 times, so a slice that grows to F elements append by append has
// allocated about 5F elements along the way; doubling allocates about 2F. (The event log of
// every replica grows to thousands of events, and its encoding to hundreds of kilobytes.)
func growDoubling[S ~[]E, E any](s S, n, limit int) S {
	if len(s)+n <= cap(s) {
		return s
	}
	want := max(len(s)+n, min(max(2*cap(s), 16), limit))
	return slices.Grow(s, want-len(s))
}

// event appends ev, stamped with the command's index, time and actor.
func (m *Machine) event(x *applyCtx, ev Event) {
	m.pushEvent(x, ev, nil, 0)
}

// messageEvent records an event about message seq of c, with a copy of the message as it is
// now.
func (m *Machine) messageEvent(x *applyCtx, kind EventKind, c *conversation, seq uint64, target string) {
	m.pushEvent(x, Event{Kind: kind, ConversationID: c.id, Seq: seq, Target: target}, c, seq)
}

// pushEvent stamps ev and appends it to the log with its encoding; when c is not nil, the
// event carries message seq of c, encoded from the conversation as
// encodeExported(exportMessage(c, seq)) would encode it, without building the Message.
func (m *Machine) pushEvent(x *applyCtx, ev Event, c *conversation, seq uint64) {
	ev.Index = x.index
	ev.TimeUnixMs = x.nowMs
	if x.actor != nil {
		ev.Actor = x.actor.name
	}
	l := &m.st.events
	bound := eventSizeBound(&ev)
	if c != nil {
		bound += m.liveMessageSizeBound(c, seq)
	}
	l.reserve(bound)
	from := len(l.enc)
	e := encodeEventHeader(l.enc, &ev, c != nil)
	if c != nil {
		e = m.encodeLiveMessage(e, c, seq)
	}
	l.enc = e
	l.push(m.cfg.MaxRecentEvents, ev, from)
}

// visible reports whether viewer may see ev.
func (m *Machine) visible(viewer *user, ev *Event) bool {
	switch ev.Kind {
	case EventRead:
		return ev.Actor == viewer.name
	case EventMemberRemoved, EventMemberAdded, EventAdminChanged:
		if ev.Target == viewer.name {
			return true
		}
	default:
	}
	c := m.st.convs[ev.ConversationID]
	if c == nil {
		return false
	}
	mb := c.members[viewer.name]
	return mb != nil && mb.joinedIdx <= ev.Index
}

// RecentEvents returns up to limit events after log index afterIndex that viewer may see, oldest
// first. It fails with OUT_OF_RANGE when events after afterIndex have been dropped from the
// bounded feed: the caller must then resynchronise from History and Conversations.
func (m *Machine) RecentEvents(viewer string, afterIndex uint64, limit int) ([]Event, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return nil, err
	}
	l := &m.st.events
	if afterIndex < l.droppedThrough {
		return nil, errorf(CodeOutOfRange, "events after %d were dropped (through %d)", afterIndex, l.droppedThrough)
	}
	limit = m.clampLimit(limit)
	// Binary search for the first event with Index > afterIndex.
	lo, hi := 0, l.len()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.at(mid).Index <= afterIndex {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var out []Event
	for i := lo; i < l.len() && len(out) < limit; i++ {
		if m.visible(u, l.at(i)) {
			out = append(out, l.decode(i)) // a fresh copy: nothing is shared with the log
		}
	}
	return out, nil
}
