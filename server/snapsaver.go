package server

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/raft"
)

// snapshotSaver is the node's node.SnapshotSaver and node.SnapshotStreamer: the encoding of
// the state machine and then the save of the snapshot, or the stream that does both, each
// run on a goroutine of their own (the Replica starts one step at a time), so the loop goes
// on ticking, heartbeating and replicating while a large state is encoded and its file
// written and synced. It wakes the loop when a step completes.
type snapshotSaver struct {
	store node.LogStore
	m     *metrics
	wake  func() // must not block

	mu       sync.Mutex
	done     chan struct{} // closed when the current step completes; nil before the first
	data     []byte        // the finished encoding, until it is saved
	encoded  bool
	encodeEr error
	// The outcome of the last stream (Stream), once streamed.
	streamed  bool
	size      uint64
	streamErr error
	err       error // the first failed save or stream; every later call reports it
}

var _ node.SnapshotStreamer = (*snapshotSaver)(nil)

// streamStore is a LogStore that can write a snapshot file as its data is produced
// (storage.DiskLog).
type streamStore interface {
	SaveSnapshotStream(m raft.SnapshotMetadata, write func(io.Writer) error) (uint64, error)
}

func newSnapshotSaver(store node.LogStore, m *metrics, wake func()) *snapshotSaver {
	return &snapshotSaver{store: store, m: m, wake: wake}
}

// start begins a step: run fn on its own goroutine, then record its outcome with record.
func (s *snapshotSaver) start(fn func(), record func()) {
	done := make(chan struct{})
	s.done = done
	go func() {
		fn()
		s.mu.Lock()
		record()
		close(done)
		s.mu.Unlock()
		s.wake()
	}()
}

// Encode implements node.SnapshotSaver.
func (s *snapshotSaver) Encode(encode func() ([]byte, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.encoded, s.encodeEr = nil, false, nil
	var data []byte
	var err error
	s.start(func() {
		start := time.Now()
		data, err = encode()
		s.m.snapshotEncodeSeconds.Observe(time.Since(start).Seconds())
	}, func() { s.data, s.encodeEr, s.encoded = data, err, true })
}

// Encoded implements node.SnapshotSaver.
func (s *snapshotSaver) Encoded() ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data, s.encoded, s.encodeEr
}

// Save implements node.SnapshotSaver.
func (s *snapshotSaver) Save(snap raft.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = nil // Raft's storage holds it now
	var err error
	s.start(func() {
		start := time.Now()
		err = s.store.SaveSnapshot(snap)
		s.m.snapshotSaveSeconds.Observe(time.Since(start).Seconds())
	}, func() {
		if err != nil && s.err == nil {
			s.err = err
		}
	})
}

// Stream implements node.SnapshotStreamer: the encoding goes straight into the snapshot file
// when the store can stream (storage.DiskLog), and otherwise into a buffer that is then
// saved. The encoding, the file's writes and its syncs all count as encoding time.
func (s *snapshotSaver) Stream(m raft.SnapshotMetadata, encode func(io.Writer) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamed, s.size, s.streamErr = false, 0, nil
	var size uint64
	var err error
	s.start(func() {
		start := time.Now()
		size, err = s.stream(m, encode)
		s.m.snapshotEncodeSeconds.Observe(time.Since(start).Seconds())
	}, func() {
		s.size, s.streamErr, s.streamed = size, err, true
		if err != nil && s.err == nil {
			s.err = err
		}
	})
}

func (s *snapshotSaver) stream(m raft.SnapshotMetadata, encode func(io.Writer) error) (uint64, error) {
	if ss, ok := s.store.(streamStore); ok {
		return ss.SaveSnapshotStream(m, encode)
	}
	var buf bytes.Buffer
	if err := encode(&buf); err != nil {
		return 0, err
	}
	return uint64(buf.Len()), s.store.SaveSnapshot(raft.Snapshot{Metadata: m, Data: buf.Bytes()})
}

// Streamed implements node.SnapshotStreamer.
func (s *snapshotSaver) Streamed() (uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size, s.streamed, s.streamErr
}

// Saved implements node.SnapshotSaver.
func (s *snapshotSaver) Saved() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle(), s.err
}

// idle reports whether no step is running. Call with mu held.
func (s *snapshotSaver) idle() bool {
	if s.done == nil {
		return true
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait implements node.SnapshotSaver.
func (s *snapshotSaver) Wait() error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
