package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
	"github.com/raftchat/raftchat/storage"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/snap"
)

// machineWithUsers returns a machine holding a bootstrap and n users.
func machineWithUsers(t *testing.T, n int) *statemachine.Machine {
	t.Helper()
	m, err := statemachine.New(statemachine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cmds := []*commandpb.Command{{Op: &commandpb.Command_Bootstrap{Bootstrap: &commandpb.Bootstrap{
		SigningKey: []byte("0123456789abcdef0123456789abcdef"), AdminUsername: "admin", AdminPasswordHash: "h"}}}}
	for i := range n {
		cmds = append(cmds, createUser(fmt.Sprintf("user%d", i), uint64(i+1)))
	}
	for i, c := range cmds {
		if r := m.ApplyCommand(uint64(i+1), c); r.GetCode() != commandpb.ErrorCode_OK {
			t.Fatalf("command %d: %v", i, r)
		}
	}
	return m
}

// The saver streams a snapshot straight into the DiskLog's file: the file holds the
// machine's Snapshot bytes (read back and loaded after a restart), and a failed stream
// leaves the previous snapshot in place and is reported by Streamed and Wait.
func TestSnapshotSaverStreamsToFile(t *testing.T) {
	dir := t.TempDir()
	opts := storage.DefaultOptions()
	opts.Logger = slog.New(slog.DiscardHandler)
	dl, err := storage.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := machineWithUsers(t, 300)
	want, _ := m.Snapshot()
	woken := make(chan struct{}, 4)
	s := newSnapshotSaver(dl, newMetrics(nil), func() { woken <- struct{}{} })
	var _ node.SnapshotStreamer = s
	meta := raft.SnapshotMetadata{Index: 301, Term: 2, ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}}
	s.Stream(meta, func(w io.Writer) error {
		_, err := m.WriteSnapshot(w)
		return err
	})
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	<-woken
	size, done, err := s.Streamed()
	if !done || err != nil || size != uint64(len(want)) {
		t.Fatalf("streamed %d bytes, done %v, %v; want %d bytes", size, done, err, len(want))
	}
	got, err := dl.ReadSnapshot(meta)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), want the machine's %d-byte snapshot", len(got), err, len(want))
	}
	// A stream that fails part-way leaves the snapshot above as the newest.
	errEncode := errors.New("encoder failed")
	s.Stream(raft.SnapshotMetadata{Index: 400, Term: 2, ConfState: meta.ConfState}, func(w io.Writer) error {
		_, _ = w.Write(want[:1000])
		return errEncode
	})
	if err := s.Wait(); !errors.Is(err, errEncode) {
		t.Fatalf("Wait after a failed stream: %v", err)
	}
	if _, done, err := s.Streamed(); !done || !errors.Is(err, errEncode) {
		t.Fatalf("Streamed after a failed stream: done %v, %v", done, err)
	}
	names, _ := os.ReadDir(filepath.Join(dir, "snap"))
	if len(names) != 1 || names[0].Name() != snap.FileName(301, 2) {
		t.Fatalf("snapshot files after the failed stream: %v", names)
	}
	if err := dl.Close(); err != nil {
		t.Fatal(err)
	}
	dl, err = storage.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dl.Close() }()
	_, loaded, _, err := dl.Load()
	if err != nil || loaded.Metadata.Index != 301 || !bytes.Equal(loaded.Data, want) {
		t.Fatalf("loaded snapshot %d (%d bytes), %v", loaded.Metadata.Index, len(loaded.Data), err)
	}
}

// A store that cannot stream (here the in-memory one) still gets the snapshot, encoded into
// a buffer first.
func TestSnapshotSaverStreamFallsBackToSave(t *testing.T) {
	store := node.NewMemLogStore()
	m := machineWithUsers(t, 10)
	want, _ := m.Snapshot()
	s := newSnapshotSaver(store, newMetrics(nil), func() {})
	meta := raft.SnapshotMetadata{Index: 11, Term: 1}
	s.Stream(meta, func(w io.Writer) error {
		_, err := m.WriteSnapshot(w)
		return err
	})
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if size, done, err := s.Streamed(); !done || err != nil || size != uint64(len(want)) {
		t.Fatalf("streamed %d bytes, done %v, %v", size, done, err)
	}
	if got, err := store.ReadSnapshot(meta); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("store holds %d bytes, %v", len(got), err)
	}
}

// A follower that was down while the leader streamed snapshots and compacted its log past
// the follower's catches up from the leader's snapshot, which only its file holds.
func TestLaggingFollowerGetsStreamedSnapshot(t *testing.T) {
	c := newTestClusterWith(t, 3, func(cfg *Config) {
		cfg.SnapshotEveryEntries, cfg.CompactionTailEntries, cfg.SnapshotLogRatio = 8, 4, 0
	})
	leader := c.waitLeader()
	f := (leader + 1) % 3
	c.propose(leader, createUser("before", 1))
	c.hasUsers(f, []string{"before"})
	behind := c.nodes[f].RaftStatus().Commit
	c.stop(f)
	var names []string
	for i := range 60 {
		name := fmt.Sprintf("lagged%d", i)
		if res := c.propose(leader, createUser(name, uint64(i+2))); res.GetCode() != commandpb.ErrorCode_OK {
			t.Fatalf("create %s: %v", name, res)
		}
		names = append(names, name)
	}
	// The leader snapshots (streamed) beyond what the follower has, and keeps only a
	// tail of 4 entries after it in memory: the follower can only be sent the snapshot.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := snap.New(fsx.OS, filepath.Join(c.dir, fmt.Sprint(leader+1), "snap"), slog.New(slog.DiscardHandler))
	for {
		metas, err := store.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(metas) > 0 && metas[len(metas)-1].Index > behind+8 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("leader has no snapshot beyond index %d: %v", behind+8, metas)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.start(f, nil)
	c.hasUsers(f, names)
}
