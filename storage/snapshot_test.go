package storage

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/snap"
)

func snapshotAt(i raft.Index, t raft.Term) raft.Snapshot {
	return raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: i, Term: t}, Data: []byte{byte(i)}}
}

// fill saves n entries of term 1 in batches of 5 and returns them.
func fill(t *testing.T, l *DiskLog, n int) []raft.Entry {
	t.Helper()
	var all []raft.Entry
	for len(all) < n {
		b := ents(raft.Index(len(all)+1), 5, 1, 200)
		all = append(all, b...)
		if err := l.Save(raft.HardState{Term: 1, Commit: raft.Index(len(all))}, b, true); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// TestCorruptNewestSnapshotFallsBack: segments are kept back to the older of the two
// retained snapshots, so a damaged newest snapshot still leaves a complete state.
func TestCorruptNewestSnapshotFallsBack(t *testing.T) {
	dir := t.TempDir()
	var logs logBuf
	l := mustOpen(t, dir, testOptions(nil))
	all := fill(t, l, 200)
	for _, at := range []raft.Index{60, 120, 180} {
		if err := l.SaveSnapshot(snapshotAt(at, 1)); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	newest := filepath.Join(dir, "snap", snap.FileName(180, 1))
	b, _ := os.ReadFile(newest)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(newest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, testOptions(&logs))
	_, sn, got := load(t, l)
	if sn.Metadata.Index != 120 {
		t.Fatalf("fell back to snapshot %d, want 120", sn.Metadata.Index)
	}
	sameEntries(t, got, all[120:])
	if !strings.Contains(logs.String(), "skipping corrupt snapshot") {
		t.Fatalf("fallback not logged: %s", logs.String())
	}
	// Raft restarts from 120 and will snapshot again below the lost 180.
	if err := l.SaveSnapshot(snapshotAt(150, 1)); err != nil {
		t.Fatalf("snapshot after falling back: %v", err)
	}
	mustClose(t, l)
	l = mustOpen(t, dir, testOptions(nil))
	_, sn, got = load(t, l)
	if sn.Metadata.Index != 150 {
		t.Fatalf("after a new snapshot at 150 Load gives %d", sn.Metadata.Index)
	}
	sameEntries(t, got, all[150:])
	mustClose(t, l)
	// The unreadable 180 is gone; 120 and 150 are kept.
	if names := listDir(t, filepath.Join(dir, "snap")); len(names) != 2 || names[0] != snap.FileName(120, 1) || names[1] != snap.FileName(150, 1) {
		t.Fatalf("snapshot files %v", names)
	}
	if err := os.Remove(filepath.Join(dir, "snap", snap.FileName(150, 1))); err != nil {
		t.Fatal(err)
	}

	// With both snapshots damaged the entries before 120 are gone: Open must say so.
	older := filepath.Join(dir, "snap", snap.FileName(120, 1))
	if err := os.WriteFile(older, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testOptions(nil)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "newest readable snapshot") {
		t.Fatalf("open with every snapshot damaged: %v", err)
	}
}

// TestSnapshotFileWithoutMarker: a crash after the snapshot file became durable but before
// its WAL marker did. Open uses the file; a received snapshot (term unknown to the log)
// replaces the log, a local one keeps the entries after it.
func TestSnapshotFileWithoutMarker(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap raft.Snapshot
		want func([]raft.Entry) []raft.Entry
	}{
		{"local", snapshotAt(30, 1), func(all []raft.Entry) []raft.Entry { return all[30:] }},
		{"received", snapshotAt(30, 7), func([]raft.Entry) []raft.Entry { return nil }},
		{"ahead", snapshotAt(90, 1), func([]raft.Entry) []raft.Entry { return nil }},
	} {
		dir := t.TempDir()
		l := mustOpen(t, dir, testOptions(nil))
		all := fill(t, l, 50)
		mustClose(t, l)
		if err := snap.New(fsx.OS, filepath.Join(dir, "snap"), slog.New(slog.DiscardHandler)).Save(tc.snap); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, dir, testOptions(nil))
		_, sn, got := load(t, l)
		if sn.Metadata.Index != tc.snap.Metadata.Index || sn.Metadata.Term != tc.snap.Metadata.Term {
			t.Fatalf("%s: snapshot %+v", tc.name, sn.Metadata)
		}
		sameEntries(t, got, tc.want(all))
		// The log continues right after what Load returned.
		next := sn.Metadata.Index + raft.Index(len(got)) + 1
		if err := l.Save(raft.HardState{}, ents(next, 1, 7, 10), true); err != nil {
			t.Fatalf("%s: save after recovery: %v", tc.name, err)
		}
		mustClose(t, l)
	}
}

// TestAppendsWhileSnapshotFileIsWritten: while SaveSnapshot puts the snapshot file in place
// (held here at its rename), synced appends still complete. Then either the snapshot lands,
// or the write of its WAL mark fails (a crash in that window); either way a reopened log
// recovers the snapshot and every entry after it, the appends made meanwhile included.
func TestAppendsWhileSnapshotFileIsWritten(t *testing.T) {
	for _, markFails := range []bool{false, true} {
		dir := t.TempDir()
		faulty := fsx.NewFaulty(fsx.OS)
		o := testOptions(nil)
		o.FS = faulty
		l := mustOpen(t, dir, o)
		all := fill(t, l, 50)
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var renamed atomic.Bool
		snapDir := string(filepath.Separator) + "snap" + string(filepath.Separator)
		faulty.SetInjector(func(op fsx.Op, name string, n int) (int, error) {
			switch {
			case op == fsx.OpRename && strings.Contains(name, snapDir):
				once.Do(func() { close(entered); <-release })
				renamed.Store(true)
			case op == fsx.OpWrite && strings.HasSuffix(name, ".wal") && markFails && renamed.Load():
				return 0, syscall.EIO
			}
			return n, nil
		})
		saved := make(chan error, 1)
		go func() { saved <- l.SaveSnapshot(snapshotAt(40, 1)) }()
		<-entered
		more := ents(51, 5, 1, 200)
		appended := make(chan error, 1)
		go func() { appended <- l.Save(raft.HardState{Term: 1, Commit: 55}, more, true) }()
		select {
		case err := <-appended:
			if err != nil {
				t.Fatalf("markFails=%v: append during the snapshot save: %v", markFails, err)
			}
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatalf("markFails=%v: an append waited for the snapshot file", markFails)
		}
		all = append(all, more...)
		close(release)
		if err := <-saved; (err != nil) != markFails {
			t.Fatalf("markFails=%v: SaveSnapshot: %v", markFails, err)
		}
		faulty.SetInjector(nil)
		_ = l.Close()
		l = mustOpen(t, dir, testOptions(nil))
		hs, sn, got := load(t, l)
		if sn.Metadata.Index != 40 || hs.Commit != 55 {
			t.Fatalf("markFails=%v: recovered snapshot %d commit %d, want 40 and 55", markFails, sn.Metadata.Index, hs.Commit)
		}
		sameEntries(t, got, all[40:])
		mustClose(t, l)
	}
}

// ReadSnapshot returns a saved snapshot's data, and an error for a snapshot that is not
// stored or whose file is damaged.
func TestReadSnapshot(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	fill(t, l, 100)
	want := snapshotAt(60, 1)
	want.Data = []byte("the state at 60")
	if err := l.SaveSnapshot(want); err != nil {
		t.Fatal(err)
	}
	got, err := l.ReadSnapshot(want.Metadata)
	if err != nil || string(got) != "the state at 60" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if _, err := l.ReadSnapshot(raft.SnapshotMetadata{Index: 60, Term: 2}); err == nil {
		t.Fatal("read a snapshot of another term")
	}
	if _, err := l.ReadSnapshot(raft.SnapshotMetadata{Index: 70, Term: 1}); err == nil {
		t.Fatal("read a snapshot never saved")
	}
	path := filepath.Join(dir, "snap", snap.FileName(60, 1))
	b, _ := os.ReadFile(path)
	b[len(b)-2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadSnapshot(want.Metadata); !errors.Is(err, snap.ErrCorrupt) {
		t.Fatalf("damaged file: %v", err)
	}
	mustClose(t, l)
}
