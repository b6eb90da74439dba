package storage

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/wal"
)

// failWrites makes every write to a WAL segment keep only keep bytes and fail with errno;
// truncation fails too when failTruncate is set, so the torn bytes stay on disk.
func failWrites(errno syscall.Errno, keep int, failTruncate bool) fsx.Injector {
	return func(op fsx.Op, name string, n int) (int, error) {
		switch {
		case op == fsx.OpWrite && strings.HasSuffix(name, ".wal"):
			return keep, errno
		case op == fsx.OpTruncate && failTruncate:
			return 0, syscall.EIO
		}
		return n, nil
	}
}

// TestFullDisk: a write that fails with ENOSPC (having written any prefix) is reported
// clearly, the log refuses further work, and after a reopen only the entries that were
// synced before the failure are there, never the failed or unsynced ones.
func TestFullDisk(t *testing.T) {
	for _, tc := range []struct {
		keep         int
		failTruncate bool
	}{{0, false}, {1, false}, {100, false}, {1, true}, {9, true}, {100, true}, {250, true}} {
		dir := t.TempDir()
		faulty := fsx.NewFaulty(fsx.OS)
		o := testOptions(nil)
		o.FS = faulty
		// No background spare segment: its writes, failing too, would now and then take
		// the injected failure (and the torn prefix) in place of the append under test.
		o.Preallocate = false
		l := mustOpen(t, dir, o)
		synced := ents(1, 5, 1, 100)
		if err := l.Save(raft.HardState{Term: 1, Commit: 5}, synced, true); err != nil {
			t.Fatal(err)
		}
		if err := l.Save(raft.HardState{Term: 1, Commit: 6}, ents(6, 1, 1, 100), false); err != nil {
			t.Fatal(err)
		}
		faulty.SetInjector(failWrites(syscall.ENOSPC, tc.keep, tc.failTruncate))
		err := l.Save(raft.HardState{Term: 1, Commit: 7}, ents(7, 1, 1, 100), true)
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "wal append") ||
			!strings.HasSuffix(err.Error(), "no space left on device") {
			t.Fatalf("%+v: save on a full disk: %v", tc, err)
		}
		faulty.SetInjector(nil)
		// The disk has room again, but the log must not pretend the failed batch is safe.
		if err := l.Sync(); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%+v: sync after a failed write: %v, want the original error", tc, err)
		}
		if err := l.Save(raft.HardState{}, ents(8, 1, 1, 1), true); err == nil {
			t.Fatalf("%+v: save after a failed write succeeded", tc)
		}
		if err := l.SaveSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 3, Term: 1}}); err == nil {
			t.Fatalf("%+v: snapshot after a failed write succeeded", tc)
		}
		_ = l.Close()
		// Whatever whole records a torn write left (only when cutting it back failed too)
		// may come back; they were never reported durable, which is all Raft needs.
		want, wantHS := synced, raft.HardState{Term: 1, Commit: 5}
		torn := tc.keep > 0 && tc.failTruncate
		if rec6 := len(wal.AppendEntry(nil, ents(6, 1, 1, 100)[0])); torn && tc.keep >= rec6 {
			want = ents(1, 6, 1, 100)
			if tc.keep >= rec6+len(wal.AppendHardState(nil, raft.HardState{})) {
				wantHS.Commit = 6
			}
		}
		checkRecoveredHS(t, dir, want, wantHS, torn)
	}
}

func checkRecoveredHS(t *testing.T, dir string, want []raft.Entry, wantHS raft.HardState, wantCut bool) {
	t.Helper()
	var logs logBuf
	l := mustOpen(t, dir, testOptions(&logs))
	defer mustClose(t, l)
	hs, _, got := load(t, l)
	sameEntries(t, got, want)
	if hs != wantHS {
		t.Fatalf("hard state %+v, want %+v", hs, wantHS)
	}
	if cut := strings.Contains(logs.String(), "cut torn tail"); cut != wantCut {
		t.Fatalf("torn tail cut logged: %v, want %v; log: %s", cut, wantCut, logs.String())
	}
}

// TestFailedFsync: after an fsync error the log stops (the kernel may have dropped the
// dirty pages, so retrying could report data durable that is not).
func TestFailedFsync(t *testing.T) {
	dir := t.TempDir()
	faulty := fsx.NewFaulty(fsx.OS)
	o := testOptions(nil)
	o.FS = faulty
	o.Preallocate = false // no background spare whose own syncs would fail too
	l := mustOpen(t, dir, o)
	defer func() { _ = l.Close() }()
	if err := l.Save(raft.HardState{Term: 1}, ents(1, 2, 1, 10), true); err != nil {
		t.Fatal(err)
	}
	faulty.SetInjector(func(op fsx.Op, _ string, n int) (int, error) {
		if op == fsx.OpSync {
			return 0, syscall.EIO
		}
		return n, nil
	})
	if err := l.Save(raft.HardState{}, ents(3, 1, 1, 10), true); !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "wal sync") {
		t.Fatalf("save with failing fsync: %v", err)
	}
	faulty.SetInjector(nil)
	if err := l.Sync(); err == nil {
		t.Fatal("sync succeeded after a failed fsync")
	}
}

// TestFullDiskDuringRotationAndSnapshot: creating the next segment or a snapshot file can
// hit ENOSPC too. A failed snapshot leaves the WAL usable; a failed rotation stops it.
func TestFullDiskDuringRotationAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	faulty := fsx.NewFaulty(fsx.OS)
	o := testOptions(nil)
	o.FS = faulty
	o.Preallocate = false // TestSpareFailureFallsBack covers spares
	l := mustOpen(t, dir, o)
	if err := l.Save(raft.HardState{Term: 1}, ents(1, 3, 1, 100), true); err != nil {
		t.Fatal(err)
	}
	faulty.SetInjector(func(op fsx.Op, name string, n int) (int, error) {
		if op == fsx.OpWrite && strings.HasSuffix(name, ".tmp") {
			return n / 2, syscall.ENOSPC
		}
		return n, nil
	})
	err := l.SaveSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 2, Term: 1}, Data: []byte("s")})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "save snapshot") {
		t.Fatalf("snapshot on a full disk: %v", err)
	}
	if got := listDir(t, dir+"/snap"); len(got) != 0 {
		t.Fatalf("failed snapshot left files: %v", got)
	}
	if err := l.Save(raft.HardState{}, ents(4, 1, 1, 100), true); err != nil {
		t.Fatalf("save after a failed snapshot: %v", err)
	}
	// Fill the first segment until a rotation is due; creating the next one fails.
	synced := append(ents(1, 3, 1, 100), ents(4, 1, 1, 100)...)
	var err2 error
	for i := 0; i < 100 && err2 == nil; i++ {
		e := ents(raft.Index(len(synced)+1), 1, 1, 1000)
		if err2 = l.Save(raft.HardState{}, e, true); err2 == nil {
			synced = append(synced, e...)
		}
	}
	if !errors.Is(err2, syscall.ENOSPC) || !strings.Contains(err2.Error(), "wal new segment") {
		t.Fatalf("rotation on a full disk: %v", err2)
	}
	faulty.SetInjector(nil)
	_ = l.Close()
	checkRecoveredHS(t, dir, synced, raft.HardState{Term: 1}, false)
}

// TestSpareFailureFallsBack: when zero-filling spares fails (a nearly full disk), the log
// keeps working with segments that grow as written, and does not rotate on every Save.
func TestSpareFailureFallsBack(t *testing.T) {
	dir := t.TempDir()
	faulty := fsx.NewFaulty(fsx.OS)
	faulty.SetInjector(func(op fsx.Op, name string, n int) (int, error) {
		if op == fsx.OpWrite && strings.HasSuffix(name, spareName) {
			return 0, syscall.ENOSPC
		}
		return n, nil
	})
	var logs logBuf
	o := testOptions(&logs)
	o.FS = faulty
	l := mustOpen(t, dir, o)
	var all []raft.Entry
	for i := range 60 {
		e := ents(raft.Index(i+1), 1, 1, 300)
		all = append(all, e...)
		if err := l.Save(raft.HardState{}, e, true); err != nil {
			t.Fatal(err)
		}
		l.prep.wait() // let every spare attempt finish (and fail) before the next Save
	}
	st := l.Stats()
	// 60 records of ~330 bytes fill about five 4 KiB segments.
	if st.PreallocatedSegments != 0 || st.Segments > 7 {
		t.Fatalf("stats with failing spares: %+v", st)
	}
	if !strings.Contains(logs.String(), "preallocating a segment failed") {
		t.Fatalf("spare failure not logged: %s", logs.String())
	}
	mustClose(t, l)
	l = mustOpen(t, dir, o)
	defer mustClose(t, l)
	_, _, got := load(t, l)
	sameEntries(t, got, all)
}
