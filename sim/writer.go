package sim

import (
	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// bgWriter is a simulated process's node.LogWriter, as chatd runs one: a leader's saves go
// to the page cache at once and become durable when their fsync completes, an fsync delay
// later and in queue order; the Replica counts its own copy of the entries only then. A
// crash before that loses them like any unsynced write (Disk.Crash).
type bgWriter struct {
	w *World
	n *simNode
	// boot names the process incarnation; completions of an earlier one are void.
	boot   uint64
	queued uint64
	done   uint64
	// lastAt is when the newest queued save completes: saves finish in order.
	lastAt int64
}

var _ node.LogWriter = (*bgWriter)(nil)

// Write implements node.LogWriter.
func (b *bgWriter) Write(hs raft.HardState, ents []raft.Entry, sync bool) {
	w := b.w
	_ = b.n.disk.Save(hs, ents, false) // the simulated disk cannot fail
	b.queued++
	at := max(w.now, b.lastAt)
	if sync {
		at = max(at, w.now+w.net.fsyncDelay())
	}
	b.lastAt = at
	w.q.push(event{at: at, kind: evWriteDone, node: int32(b.n.idx), gen: b.boot, arg: int32(b.queued)})
}

// Written implements node.LogWriter.
func (b *bgWriter) Written() (uint64, error) { return b.done, nil }

// Wait implements node.LogWriter: the process blocks until its disk finishes; the
// simulation does not advance time for it.
func (b *bgWriter) Wait() error {
	if b.done < b.queued {
		b.sync()
		b.done = b.queued
	}
	return nil
}

// sync makes every write so far durable without holding back the next messages (the
// leader's messages never wait for its own fsync).
func (b *bgWriter) sync() {
	d := b.n.disk
	if d.loseWrites {
		return
	}
	_ = d.Save(raft.HardState{}, nil, true)
	d.synced = false
}

// onWriteDone completes the background saves up to the event's count and lets the process
// see them (once it runs: a paused one sees them when it resumes).
func (w *World) onWriteDone(e *event) int {
	n := w.nodes[e.node]
	b := n.writer
	if !n.up || b == nil || b.boot != e.gen || uint64(e.arg) <= b.done {
		return untouched
	}
	b.sync()
	b.done = uint64(e.arg)
	if n.paused {
		return untouched
	}
	w.catchUp(n)
	w.process(n)
	return n.idx
}

// bgSnapshots is a simulated process's node.SnapshotSaver, as chatd runs one: a snapshot
// handed over becomes durable two fsync delays later (the file, then the log's mark), while
// the process goes on. A crash before that loses it; the restarted process recovers from
// the previous snapshot and its log, which the save had not trimmed yet.
type bgSnapshots struct {
	w *World
	n *simNode
	// boot names the process incarnation; completions of an earlier one are void.
	boot    uint64
	pending *raft.Snapshot
	// started counts saves; an evSnapSaved event completes the one its arg names.
	started uint64
}

var _ node.SnapshotSaver = (*bgSnapshots)(nil)

// Save implements node.SnapshotSaver.
func (s *bgSnapshots) Save(snap raft.Snapshot) {
	w := s.w
	s.pending = &snap
	s.started++
	at := w.now + w.net.fsyncDelay() + w.net.fsyncDelay()
	w.q.push(event{at: at, kind: evSnapSaved, node: int32(s.n.idx), gen: s.boot, arg: int32(s.started)})
}

// Saved implements node.SnapshotSaver.
func (s *bgSnapshots) Saved() (bool, error) { return s.pending == nil, nil }

// Wait implements node.SnapshotSaver: the process blocks until the save is done; the
// simulation does not advance time for it.
func (s *bgSnapshots) Wait() error {
	s.complete()
	return nil
}

func (s *bgSnapshots) complete() {
	if s.pending != nil {
		_ = s.n.disk.SaveSnapshot(*s.pending) // the simulated disk cannot fail
		s.pending = nil
	}
}

// onSnapSaved makes a background snapshot save durable. The process learns of it at its
// next pass; nothing waits for it.
func (w *World) onSnapSaved(e *event) int {
	n := w.nodes[e.node]
	s := n.snaps
	if !n.up || s == nil || s.boot != e.gen || uint64(e.arg) != s.started || s.pending == nil {
		return untouched
	}
	s.complete()
	return n.idx
}
