package server

import (
	"errors"
	"sync"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// diskWriter is the node's node.LogWriter: one goroutine that saves the leader's Readies in
// queue order, all the saves queued during one fsync under the next (group commit), while
// the loop goes on stepping acknowledgements and proposals. It wakes the loop after every
// batch so the Replica can count the leader's copy of the entries.
type diskWriter struct {
	store node.LogStore
	wake  func() // tells the loop that saves completed; must not block
	m     *metrics

	mu      sync.Mutex
	changed *sync.Cond // signalled on new work, completed work and close
	queue   []writeJob
	queued  uint64 // saves ever queued
	done    uint64 // saves completed
	err     error  // the first failed save; the writer stops there
	closing bool
	exited  chan struct{}
}

type writeJob struct {
	hs   raft.HardState
	ents []raft.Entry
	sync bool
}

var errWriterClosed = errors.New("server: log writer closed")

func newDiskWriter(store node.LogStore, m *metrics, wake func()) *diskWriter {
	w := &diskWriter{store: store, m: m, wake: wake, exited: make(chan struct{})}
	w.changed = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Write implements node.LogWriter.
func (w *diskWriter) Write(hs raft.HardState, ents []raft.Entry, sync bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(w.queue, writeJob{hs, ents, sync})
	w.queued++
	w.changed.Broadcast()
}

// Written implements node.LogWriter.
func (w *diskWriter) Written() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done, w.err
}

// Wait implements node.LogWriter.
func (w *diskWriter) Wait() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.done < w.queued && w.err == nil {
		w.changed.Wait()
	}
	return w.err
}

// close finishes the queued saves and stops the goroutine.
func (w *diskWriter) close() {
	w.mu.Lock()
	w.closing = true
	w.changed.Broadcast()
	w.mu.Unlock()
	<-w.exited
}

func (w *diskWriter) run() {
	defer close(w.exited)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closing {
			w.changed.Wait()
		}
		jobs := w.queue
		w.queue = nil
		failed := w.err != nil
		w.mu.Unlock()
		if len(jobs) == 0 {
			return // closing, nothing left
		}
		var err error
		if failed {
			err = errWriterClosed // never write after a failed save: what reached the disk is unknown
		} else {
			err = w.save(jobs)
		}
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
		}
		if err == nil {
			w.done += uint64(len(jobs))
		}
		w.changed.Broadcast()
		w.mu.Unlock()
		w.wake()
	}
}

// save writes jobs in order with one fsync at the end if any of them asks for one.
func (w *diskWriter) save(jobs []writeJob) error {
	sync, ents := false, 0
	for _, j := range jobs {
		sync = sync || j.sync
		ents += len(j.ents)
	}
	start := time.Now()
	for i, j := range jobs {
		if err := w.store.Save(j.hs, j.ents, sync && i == len(jobs)-1); err != nil {
			return err
		}
	}
	if sync {
		w.m.fsyncSeconds.Observe(time.Since(start).Seconds())
		w.m.savedEntries.Add(float64(ents))
	}
	return nil
}
