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
	if len(ents) > 1 {
		w.hitCrashPoint(b.n, PointDuringLeaderWrite) // the process dies at the end of this pass
	}
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

// bgSnapshots is a simulated process's node.SnapshotSaver, as chatd runs one. The encoding
// takes time in proportion to the snapshot's size and the save two fsync delays (the file,
// then the log's mark), while the process goes on (not applying during the encoding). A crash
// before the save completes loses the snapshot: the restarted process recovers from the
// previous one and its log, which the save had not trimmed yet.
type bgSnapshots struct {
	w *World
	n *simNode
	// boot names the process incarnation; completions of an earlier one are void.
	boot uint64
	// steps counts the steps started; an evSnapStep event completes the one its arg names.
	steps uint64
	busy  bool
	// The encoding: done once its step completed.
	data    []byte
	encErr  error
	encoded bool
	// pending is the snapshot being saved.
	pending *raft.Snapshot
}

var _ node.SnapshotSaver = (*bgSnapshots)(nil)

// snapshotEncodeNsPerByte is the simulated encoding speed (100 MB/s: a loaded machine).
const snapshotEncodeNsPerByte = 10

// Encode implements node.SnapshotSaver. It encodes at once: the Replica leaves the machine
// alone until it sees the step done, so encoding later would give the same bytes.
func (s *bgSnapshots) Encode(encode func() ([]byte, error)) {
	s.data, s.encErr = encode()
	s.encoded = false
	s.startStep(100_000 + int64(len(s.data))*snapshotEncodeNsPerByte)
}

// Encoded implements node.SnapshotSaver.
func (s *bgSnapshots) Encoded() ([]byte, bool, error) { return s.data, s.encoded, s.encErr }

// Save implements node.SnapshotSaver.
func (s *bgSnapshots) Save(snap raft.Snapshot) {
	s.data = nil
	s.pending = &snap
	s.startStep(s.w.net.fsyncDelay() + s.w.net.fsyncDelay())
}

func (s *bgSnapshots) startStep(d int64) {
	s.busy = true
	s.steps++
	s.w.q.push(event{at: s.w.now + d, kind: evSnapStep, node: int32(s.n.idx), gen: s.boot, arg: int32(s.steps)})
}

// Saved implements node.SnapshotSaver.
func (s *bgSnapshots) Saved() (bool, error) { return !s.busy, nil }

// Wait implements node.SnapshotSaver: the process blocks until the step is done; the
// simulation does not advance time for it.
func (s *bgSnapshots) Wait() error {
	s.finishStep()
	return nil
}

func (s *bgSnapshots) finishStep() {
	if !s.busy {
		return
	}
	s.busy = false
	if s.pending != nil {
		_ = s.n.disk.SaveSnapshot(*s.pending) // the simulated disk cannot fail
		s.pending = nil
		return
	}
	s.encoded = true
}

// onSnapStep completes a background snapshot step and lets the process carry the snapshot on
// (once it runs: a paused one does when it resumes).
func (w *World) onSnapStep(e *event) int {
	n := w.nodes[e.node]
	s := n.snaps
	if !n.up || s == nil || s.boot != e.gen || uint64(e.arg) != s.steps || !s.busy {
		return untouched
	}
	s.finishStep()
	if n.paused {
		return untouched
	}
	w.catchUp(n)
	w.process(n)
	return n.idx
}
