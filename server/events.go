package server

import (
	"sync"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// event is one applied entry as Subscribe hands it out.
type event struct {
	index uint64
	cmd   *commandpb.Command
	res   *commandpb.Result
}

// eventLog keeps the most recently applied entries for subscribers. The loop appends (from the
// Replica's apply hook) and publishes once per iteration; subscribers read from their own
// goroutines.
type eventLog struct {
	mu     sync.Mutex
	retain int
	// evs holds consecutive indexes first, first+1, ...; Invariant: next == first+len(evs).
	evs   []event
	first uint64
	next  uint64
	// wake is closed (and replaced) when new events are published.
	wake    chan struct{}
	pending bool
}

func newEventLog(applied uint64, retain int) *eventLog {
	return &eventLog{retain: retain, first: applied + 1, next: applied + 1, wake: make(chan struct{})}
}

// append records an applied entry. A jump in the index (a snapshot was installed) discards
// what is retained: the entries in between were never seen here.
func (l *eventLog) append(index uint64, cmd *commandpb.Command, res *commandpb.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index != l.next {
		l.evs, l.first = nil, index
	}
	if res.GetIndex() != 0 && res.GetIndex() != index {
		// A retried command answered from its session: it changed nothing, and its event
		// went out when it first applied. Keep the index (the log stays contiguous) empty.
		cmd, res = nil, nil
	}
	l.evs = append(l.evs, event{index, cmd, res})
	l.next = index + 1
	if len(l.evs) >= 2*l.retain {
		drop := len(l.evs) - l.retain
		l.evs = append([]event(nil), l.evs[drop:]...)
		l.first += uint64(drop)
	}
	l.pending = true
}

// publish wakes the subscribers if anything was appended since the last call.
func (l *eventLog) publish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending {
		close(l.wake)
		l.wake = make(chan struct{})
		l.pending = false
	}
}

// read returns up to max events starting at index from, or, when there is none yet, a channel
// closed when there may be. gone reports that from is no longer retained.
func (l *eventLog) read(from uint64, max int) (evs []event, wake <-chan struct{}, gone bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < l.first {
		return nil, nil, true
	}
	if from >= l.next {
		return nil, l.wake, false
	}
	start := int(from - l.first)
	end := min(len(l.evs), start+max)
	return append([]event(nil), l.evs[start:end]...), nil, false
}
