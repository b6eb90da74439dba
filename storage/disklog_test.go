package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/wal"
)

// logBuf collects log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *logBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func testOptions(logs *logBuf) Options {
	o := DefaultOptions()
	o.SegmentBytes = MinSegmentBytes
	o.BufferBytes = MinBufferBytes
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return o
}

func mustOpen(t testing.TB, dir string, opts Options) *DiskLog {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func mustClose(t testing.TB, l *DiskLog) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func ents(first raft.Index, n int, term raft.Term, size int) []raft.Entry {
	out := make([]raft.Entry, n)
	for i := range out {
		idx := first + raft.Index(i)
		data := bytes.Repeat([]byte{byte(idx)}, size)
		copy(data, fmt.Sprintf("e%d/t%d", idx, term))
		out[i] = raft.Entry{Index: idx, Term: term, Data: data}
	}
	return out
}

func load(t testing.TB, l *DiskLog) (raft.HardState, raft.Snapshot, []raft.Entry) {
	t.Helper()
	hs, sn, es, err := l.Load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return hs, sn, es
}

func sameEntries(t testing.TB, got, want []raft.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries (%s), want %d (%s)", len(got), span(got), len(want), span(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("entry %d: got index %d term %d, want index %d term %d (or data differs)", i, g.Index, g.Term, w.Index, w.Term)
		}
	}
}

func span(es []raft.Entry) string {
	if len(es) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", es[0].Index, es[len(es)-1].Index)
}

func TestRoundTripWithTruncation(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	if hs, sn, es := load(t, l); !hs.IsEmpty() || !sn.IsEmpty() || len(es) != 0 {
		t.Fatalf("fresh log not empty: %+v %+v %d", hs, sn.Metadata, len(es))
	}
	hs := raft.HardState{Term: 1, Vote: 2, Commit: 0}
	if err := l.Save(hs, ents(1, 10, 1, 100), true); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrites 6..10 with a shorter suffix of term 2.
	hs = raft.HardState{Term: 2, Vote: 3, Commit: 5}
	if err := l.Save(hs, ents(6, 3, 2, 50), false); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(raft.HardState{}, ents(9, 2, 2, 50), true); err != nil {
		t.Fatal(err)
	}
	want := append(ents(1, 5, 1, 100), ents(6, 5, 2, 50)...)
	gotHS, _, got := load(t, l) // re-reads the directory
	sameEntries(t, got, want)
	if gotHS != hs {
		t.Fatalf("hard state %+v, want %+v", gotHS, hs)
	}
	mustClose(t, l)

	l = mustOpen(t, dir, testOptions(nil))
	defer mustClose(t, l)
	gotHS, _, got = load(t, l)
	sameEntries(t, got, want)
	if gotHS != hs {
		t.Fatalf("after reopen hard state %+v, want %+v", gotHS, hs)
	}
	// The reopened log continues where it left off.
	if err := l.Save(hs, ents(11, 1, 2, 10), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(hs, ents(13, 1, 2, 10), true); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("save with a gap: %v, want a gap error", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []Options{{}, {SegmentBytes: 1 << 20}, {BufferBytes: 1 << 20}, {SegmentBytes: 10, BufferBytes: 1 << 20}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open with %+v succeeded, want a validation error", o)
		}
	}
}

func TestSaveRejectsBadBatches(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions(nil))
	defer mustClose(t, l)
	if err := l.Save(raft.HardState{}, ents(2, 1, 1, 1), true); err == nil {
		t.Fatal("first entry at index 2 accepted")
	}
	bad := ents(1, 3, 1, 1)
	bad[2].Index = 7
	if err := l.Save(raft.HardState{}, bad, true); err == nil {
		t.Fatal("non-contiguous batch accepted")
	}
	// Nothing of the rejected batches was stored.
	if err := l.Save(raft.HardState{}, ents(1, 1, 1, 1), true); err != nil {
		t.Fatal(err)
	}
}

func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	_, err := Open(dir, testOptions(nil))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "data directory "+dir+" is in use") {
		t.Fatalf("second open: %v, want ErrLocked naming the directory", err)
	}
	mustClose(t, l)
	mustClose(t, mustOpen(t, dir, testOptions(nil)))
}

// TestLockOtherProcess re-runs the test binary as a child that tries to open a directory
// this process holds.
func TestLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("RAFTCHAT_STORAGE_LOCK_CHILD"); dir != "" {
		_, err := Open(dir, testOptions(nil))
		fmt.Printf("child-open-result: %v\n", err)
		return
	}
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	defer mustClose(t, l)
	out := runChild(t, dir)
	if !strings.Contains(out, "data directory "+dir+" is in use") {
		t.Fatalf("child output %q, want the in-use error", out)
	}
	if !strings.Contains(out, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("child output %q does not name the holder pid %d", out, os.Getpid())
	}
}

func TestSegmentsRotateAndSnapshotsCleanUp(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	var all []raft.Entry
	for i := range 40 {
		batch := ents(raft.Index(len(all)+1), 5, 1, 200)
		all = append(all, batch...)
		if err := l.Save(raft.HardState{Term: 1, Commit: raft.Index(len(all))}, batch, i%3 == 0); err != nil {
			t.Fatal(err)
		}
	}
	segs := segmentFiles(t, dir)
	if len(segs) < 10 {
		t.Fatalf("%d segments for 200 KB of 4 KiB segments: %v", len(segs), segs)
	}
	for _, at := range []raft.Index{60, 120, 180} {
		sn := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: at, Term: 1, ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}}, Data: []byte(fmt.Sprint("state@", at))}
		if err := l.SaveSnapshot(sn); err != nil {
			t.Fatal(err)
		}
	}
	snaps := listDir(t, filepath.Join(dir, "snap"))
	if len(snaps) != KeepSnapshots {
		t.Fatalf("snapshot files %v, want the newest %d", snaps, KeepSnapshots)
	}
	left := segmentFiles(t, dir)
	// About 5 of the 13-odd segments hold entries above 120, the older retained snapshot.
	if len(left) > len(segs)-4 {
		t.Fatalf("segments after snapshots at 120 and 180: %v (before: %d)", left, len(segs))
	}
	mustClose(t, l)

	l = mustOpen(t, dir, testOptions(nil))
	defer mustClose(t, l)
	hs, sn, got := load(t, l)
	if sn.Metadata.Index != 180 || string(sn.Data) != "state@180" || !reflect.DeepEqual(sn.Metadata.ConfState.Voters, []raft.NodeID{1, 2, 3}) {
		t.Fatalf("snapshot %+v %q", sn.Metadata, sn.Data)
	}
	sameEntries(t, got, all[180:])
	if hs.Commit != 200 {
		t.Fatalf("hard state %+v", hs)
	}
	if err := l.SaveSnapshot(sn); err != nil {
		t.Fatalf("repeating the current snapshot: %v", err)
	}
	sn.Metadata.Index = 100
	if err := l.SaveSnapshot(sn); err != nil {
		t.Fatalf("older snapshot: %v, want it ignored", err)
	}
	// Entries the snapshot covers are skipped; the rest append as usual.
	if err := l.Save(raft.HardState{}, ents(170, 40, 1, 200), true); err != nil {
		t.Fatalf("save overlapping the snapshot: %v", err)
	}
	if _, sn2, got := load(t, l); sn2.Metadata.Index != 180 || len(got) != 29 || got[0].Index != 181 {
		t.Fatalf("after overlapping save: snapshot %d, entries %s", sn2.Metadata.Index, span(got))
	}
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	var segs []string
	for _, n := range listDir(t, filepath.Join(dir, "wal")) {
		if _, ok := wal.ParseSegmentName(n); ok {
			segs = append(segs, n)
		}
	}
	return segs
}

func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	names := listDir(t, filepath.Join(dir, "wal"))
	for i := len(names) - 1; i >= 0; i-- {
		if _, ok := wal.ParseSegmentName(names[i]); ok {
			return filepath.Join(dir, "wal", names[i])
		}
	}
	t.Fatal("no segment")
	return ""
}

func TestStats(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions(nil))
	defer mustClose(t, l)
	before := l.Stats()
	for i := range 3 {
		if err := l.Save(raft.HardState{Term: 1}, ents(raft.Index(i+1), 1, 1, 100), true); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing new to sync: no fsync.
	if err := l.Save(raft.HardState{Term: 1}, nil, true); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Syncs-before.Syncs < 3 || st.BytesWritten == 0 || st.LastIndex != 3 || st.SyncTime <= 0 {
		t.Fatalf("stats %+v (before %+v)", st, before)
	}
}

// TestFreshLogMovesToPreallocatedSegment: a fresh log starts in a segment that grows as it
// is written (Open does not wait for zero-filling) and moves to a preallocated one as soon
// as the spare is ready.
func TestFreshLogMovesToPreallocatedSegment(t *testing.T) {
	o := testOptions(nil)
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, t.TempDir(), o)
	defer mustClose(t, l)
	if st := l.Stats(); st.PreallocatedSegments != 0 || st.Segments != 1 {
		t.Fatalf("fresh log: %+v", st)
	}
	l.prep.wait()
	if err := l.Save(raft.HardState{Term: 1}, ents(1, 1, 1, 10), true); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.PreallocatedSegments != 1 || st.Segments != 2 {
		t.Fatalf("after the spare was ready: %+v", st)
	}
	_, _, got := load(t, l)
	sameEntries(t, got, ents(1, 1, 1, 10))
}
