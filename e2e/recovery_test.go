package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/wal"
)

// postN posts n numbered messages to w's conversation, all of which must be acknowledged.
func postN(ctx context.Context, t *testing.T, w *writer, from, n int) {
	t.Helper()
	for k := from; k < from+n; k++ {
		text := fmt.Sprintf("%s-%d", w.name, k)
		if _, err := w.cl.Post(ctx, w.conv, text, 0); err != nil {
			t.Fatalf("post %s: %v", text, err)
		}
		w.acked = append(w.acked, text)
	}
}

// follower returns the index of a live node that is not the leader.
func (c *cluster) follower(ctx context.Context, t *testing.T) int {
	t.Helper()
	admin := c.admin(ctx)
	lead := -1
	waitFor(t, 20*time.Second, "a leader", func() (bool, string) {
		lead = c.leader(ctx, admin)
		return lead >= 0, "no majority names a leader"
	})
	return (lead + 1) % len(c.procs)
}

// lastSegment returns the newest write-ahead log segment under dir.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	var segs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".wal") {
			segs = append(segs, path)
		}
		return err
	})
	if err != nil || len(segs) == 0 {
		t.Fatalf("no .wal segment under %s: %v", dir, err)
	}
	sort.Strings(segs)
	return segs[len(segs)-1]
}

// tearTail simulates a write torn by a crash: right after the last whole record, the first
// half of a new record (an entry never synced, so never acknowledged) and nothing more.
// Synced records stay intact: a crash cannot tear what fsync already made durable, and a
// test that cut into acknowledged records would be testing a broken disk, not a crash.
func tearTail(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := wal.Scan(data, func(wal.RecordType, []byte, int) error { return nil })
	if end == 0 {
		t.Fatalf("segment %s holds no whole record", path)
	}
	rec := wal.AppendRecord(nil, wal.TypeEntry,
		wal.AppendEntry(nil, raft.Entry{Term: 1 << 40, Index: 1 << 40, Data: []byte("never acknowledged")}))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteAt(rec[:len(rec)/2], int64(end)); err != nil {
		t.Fatal(err)
	}
}

// TestTornTailRestartCatchesUp kills a follower, tears the tail of its log, restarts it and
// checks it repairs the log and ends up with exactly the cluster's history.
func TestTornTailRestartCatchesUp(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := setupWriters(ctx, t, c, 1)[0]
	postN(ctx, t, w, 0, 50)
	f := c.procs[c.follower(ctx, t)]
	c.kill(f)
	tearTail(t, lastSegment(t, f.dataDir))
	postN(ctx, t, w, 50, 30)
	c.start(f)
	postN(ctx, t, w, 80, 20)
	got := c.converged(ctx, c.admin(ctx), []string{w.conv})
	checkWriter(t, w, got[w.conv])
	if len(got[w.conv]) != 100 {
		t.Fatalf("history has %d messages, want 100", len(got[w.conv]))
	}
	b, _ := os.ReadFile(f.logPath)
	if !strings.Contains(string(b), "torn tail") {
		t.Fatalf("node %d restarted without reporting the torn tail it had to cut", f.id)
	}
}

// TestFollowerBehindSnapshotCatchesUp keeps a follower down while the others write far past
// their snapshot and compaction points (--snapshot-every 20 keeps a tail of 10 entries, and
// --snapshot-log-ratio 0 snapshots on that count alone), so the restarted follower can only
// catch up through a snapshot.
func TestFollowerBehindSnapshotCatchesUp(t *testing.T) {
	c := startCluster(t, 3, "--snapshot-every", "20", "--snapshot-log-ratio", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := setupWriters(ctx, t, c, 1)[0]
	postN(ctx, t, w, 0, 10)
	f := c.procs[c.follower(ctx, t)]
	c.kill(f)
	postN(ctx, t, w, 10, 200)
	c.start(f)
	got := c.converged(ctx, c.admin(ctx), []string{w.conv})
	checkWriter(t, w, got[w.conv])
	if len(got[w.conv]) != 210 {
		t.Fatalf("history has %d messages, want 210", len(got[w.conv]))
	}
	if os.Getenv("RAFTCHAT_E2E_LOG_LEVEL") != "" {
		b, _ := os.ReadFile(f.logPath)
		t.Logf("node %d log after catching up:\n%s", f.id, tail(b, 4000))
	}
	// The caught-up follower also serves new writes' results locally.
	postN(ctx, t, w, 210, 5)
	got = c.converged(ctx, c.admin(ctx), []string{w.conv})
	checkWriter(t, w, got[w.conv])
}
