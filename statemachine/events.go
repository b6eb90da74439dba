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
	// buf[head]. Invariant: indexes increase from oldest to newest.
	buf  []Event
	head int
	// droppedThrough is the highest index of an event that fell out of the ring.
	droppedThrough uint64
	// enc[encFrom:] is the snapshot encoding of the events in buf, oldest first, and
	// encLen[k] the length of buf[k]'s: an event never changes once pushed, so Snapshot
	// copies these bytes instead of encoding every event again.
	enc     []byte
	encFrom int
	encLen  []int32
}

func (l *eventLog) len() int { return len(l.buf) }

// at returns the i-th oldest event.
func (l *eventLog) at(i int) *Event { return &l.buf[(l.head+i)%len(l.buf)] }

// encoded returns the snapshot encoding of every event held, oldest first.
func (l *eventLog) encoded() []byte { return l.enc[l.encFrom:] }

func (l *eventLog) push(capacity int, ev Event) {
	n := len(l.enc)
	l.enc = growDoubling(l.enc, eventSizeBound(&ev), math.MaxInt)
	l.enc = encodeEvent(l.enc, &ev)
	size := int32(len(l.enc) - n)
	if len(l.buf) < capacity {
		if len(l.buf) == cap(l.buf) {
			l.buf = growDoubling(l.buf, 1, capacity)
			l.encLen = growDoubling(l.encLen, 1, capacity)
		}
		l.buf = append(l.buf, ev)
		l.encLen = append(l.encLen, size)
		return
	}
	old := l.at(0)
	l.droppedThrough = max(l.droppedThrough, old.Index)
	*old = ev
	l.encFrom += int(l.encLen[l.head])
	l.encLen[l.head] = size
	l.head = (l.head + 1) % len(l.buf)
	if l.encFrom > len(l.enc)/2 {
		// Drop the bytes of the events that fell out, once they are half of the buffer.
		l.enc = append(l.enc[:0], l.enc[l.encFrom:]...)
		l.encFrom = 0
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
	ev.Index = x.index
	ev.TimeUnixMs = x.nowMs
	if x.actor != nil {
		ev.Actor = x.actor.name
	}
	m.st.events.push(m.cfg.MaxRecentEvents, ev)
}

// messageEvent records an event about message seq of c, with a copy of the message.
func (m *Machine) messageEvent(x *applyCtx, kind EventKind, c *conversation, seq uint64, target string) {
	m.messageEventText(x, kind, c, seq, target, c.texts.str(c.msg(seq).text))
}

// messageEventText is messageEvent for a command that has just stored text as the message's
// text: the event shares the command's string instead of copying the text out of the arena.
func (m *Machine) messageEventText(x *applyCtx, kind EventKind, c *conversation, seq uint64, target, text string) {
	msg := m.exportMessageText(c, seq, text)
	m.event(x, Event{Kind: kind, ConversationID: c.id, Seq: seq, Target: target, Message: &msg})
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
		if ev := l.at(i); m.visible(u, ev) {
			out = append(out, cloneEvent(ev))
		}
	}
	return out, nil
}

func cloneEvent(ev *Event) Event {
	c := *ev
	if ev.Message != nil {
		msg := *ev.Message
		msg.Reactions = cloneReactions(msg.Reactions)
		c.Message = &msg
	}
	return c
}

func cloneReactions(rs []Reaction) []Reaction {
	if rs == nil {
		return nil
	}
	out := make([]Reaction, len(rs))
	for i, r := range rs {
		out[i] = Reaction{Emoji: r.Emoji, Users: append([]string(nil), r.Users...)}
	}
	return out
}
