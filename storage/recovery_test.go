package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/wal"
)

// writeLog saves batches of entries, each synced, and returns the entries and the byte
// offset at which each entry's record starts in the (single) segment.
func writeLog(t *testing.T, dir string, batches ...int) ([]raft.Entry, []int) {
	t.Helper()
	o := testOptions(nil)
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, dir, o)
	if err := l.Save(raft.HardState{Term: 1, Vote: 1}, nil, true); err != nil {
		t.Fatal(err)
	}
	var all []raft.Entry
	for _, n := range batches {
		b := ents(raft.Index(len(all)+1), n, 1, 40+len(all))
		all = append(all, b...)
		if err := l.Save(raft.HardState{}, b, true); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	data, err := os.ReadFile(lastSegment(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	starts := make([]int, len(all))
	end := len(data)
	for i := len(all) - 1; i >= 0; i-- {
		end -= len(wal.AppendEntry(nil, all[i]))
		starts[i] = end
	}
	return all, starts
}

// TestTornTailEveryOffset cuts the last write (a batch of three records) at every byte
// offset and checks that Open keeps exactly the whole records before the cut, cuts the
// file there, says so in the log, and that the log accepts new entries afterwards.
func TestTornTailEveryOffset(t *testing.T) {
	dir := t.TempDir()
	all, starts := writeLog(t, dir, 3, 2, 3)
	seg := lastSegment(t, dir)
	orig, _ := os.ReadFile(seg)
	for cut := starts[len(all)-3]; cut < len(orig); cut++ {
		if err := os.WriteFile(seg, orig[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		keep := 0
		for keep < len(all) && (keep+1 == len(all) && len(orig) <= cut || keep+1 < len(all) && starts[keep+1] <= cut) {
			keep++
		}
		// checkRecovered appends after the cut and reopens: had the cut left any garbage,
		// that reopen would fail with mid-log corruption.
		checkRecovered(t, dir, all[:keep], cut != starts[keep] && keep < len(all))
	}
}

// checkRecovered opens dir, checks it holds want (and whether a cut was logged), then
// appends the next entry and checks it survives a reopen.
func checkRecovered(t *testing.T, dir string, want []raft.Entry, wantCut bool) {
	t.Helper()
	var logs logBuf
	l := mustOpen(t, dir, testOptions(&logs))
	_, _, got := load(t, l)
	sameEntries(t, got, want)
	if cut := strings.Contains(logs.String(), "cut torn tail"); cut != wantCut {
		t.Fatalf("recovering %d entries: cut logged %v, want %v; log: %s", len(want), cut, wantCut, logs.String())
	}
	next := ents(raft.Index(len(want)+1), 1, 1, 40+len(want))
	if err := l.Save(raft.HardState{}, next, true); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = mustOpen(t, dir, testOptions(nil))
	_, _, got = load(t, l)
	sameEntries(t, got, append(want[:len(want):len(want)], next...))
	mustClose(t, l)
}

// TestCorruptTailEveryByte flips each byte of the last record: the record is dropped as a
// torn tail, since nothing valid follows it.
func TestCorruptTailEveryByte(t *testing.T) {
	dir := t.TempDir()
	all, starts := writeLog(t, dir, 2, 1)
	seg := lastSegment(t, dir)
	orig, _ := os.ReadFile(seg)
	last := len(all) - 1
	for off := starts[last]; off < len(orig); off++ {
		bad := append([]byte(nil), orig...)
		bad[off] ^= 0x5a
		if err := os.WriteFile(seg, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		checkRecovered(t, dir, all[:last], true)
	}
}

// TestCorruptMiddleEveryByte flips each byte of a record that has valid records after it:
// Open must refuse, naming the file and the offset, instead of dropping synced entries.
func TestCorruptMiddleEveryByte(t *testing.T) {
	dir := t.TempDir()
	all, starts := writeLog(t, dir, 2, 2, 2)
	seg := lastSegment(t, dir)
	orig, _ := os.ReadFile(seg)
	victim := 2
	for off := starts[victim]; off < starts[victim+1]; off++ {
		bad := append([]byte(nil), orig...)
		bad[off] ^= 0x01
		if err := os.WriteFile(seg, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, testOptions(nil))
		want := fmt.Sprintf("%s: bad record at offset %d is followed by a valid record", seg, starts[victim])
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Fatalf("flipped byte %d: open error %v, want ErrCorrupt containing %q", off, err, want)
		}
	}
	// The file is untouched: restoring the byte recovers everything.
	if err := os.WriteFile(seg, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, dir, all, false)
}

// TestCorruptSealedSegment: damage at the very end of a segment that is not the newest is
// never a torn tail, because segments are fsynced before the next one starts.
func TestCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions(nil))
	for i := range 30 {
		if err := l.Save(raft.HardState{}, ents(raft.Index(i+1), 1, 1, 500), true); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	names := listDir(t, dir+"/wal")
	if len(names) < 3 {
		t.Fatalf("want several segments, have %v", names)
	}
	first := dir + "/wal/" + names[0]
	data, _ := os.ReadFile(first)
	if err := os.WriteFile(first, data[:len(data)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions(nil))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), first+": bad record at offset") {
		t.Fatalf("open with a damaged sealed segment: %v", err)
	}
	if err := os.Remove(dir + "/wal/" + names[1]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testOptions(nil)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing segments") {
		t.Fatalf("open with a missing segment: %v", err)
	}
}
