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

// writeLog saves batches of entries, each synced, and returns the entries, the byte
// offset at which each entry's record starts in the (single) segment, and the offset where
// the records end (a preallocated segment has zeros after that).
func writeLog(t *testing.T, dir string, prealloc bool, batches ...int) ([]raft.Entry, []int, int) {
	t.Helper()
	o := testOptions(nil)
	o.SegmentBytes = 64 << 10
	o.Preallocate = prealloc
	l := mustOpen(t, dir, o)
	if prealloc {
		l.prep.wait() // the first Save moves to the preallocated segment: all records land there
	}
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
	var starts []int
	end, _ := wal.Scan(data, func(typ wal.RecordType, _ []byte, off int) error {
		if typ == wal.TypeEntry {
			starts = append(starts, off)
		}
		return nil
	})
	if len(starts) != len(all) || (prealloc && len(data) != int(o.SegmentBytes)) || (!prealloc && end != len(data)) {
		t.Fatalf("segment: %d entry records, %d bytes, records end at %d", len(starts), len(data), end)
	}
	return all, starts, end
}

// tornTail is what a crash can leave of a segment's last write: a prefix of it and, in a
// preallocated segment, the zeros that were there before.
func tornTail(orig []byte, cut int, prealloc bool) []byte {
	b := append([]byte(nil), orig[:cut]...)
	if prealloc {
		b = append(b, make([]byte, len(orig)-cut)...)
	}
	return b
}

// TestTornTailEveryOffset cuts the last write (a batch of three records) at every byte
// offset and checks that Open keeps exactly the whole records before the cut, cuts the
// file there, says so in the log, and that the log accepts new entries afterwards.
func TestTornTailEveryOffset(t *testing.T) {
	for _, prealloc := range []bool{false, true} {
		dir := t.TempDir()
		all, starts, end := writeLog(t, dir, prealloc, 3, 2, 3)
		seg := lastSegment(t, dir)
		orig, _ := os.ReadFile(seg)
		for cut := starts[len(all)-3]; cut < end; cut++ {
			if err := os.WriteFile(seg, tornTail(orig, cut, prealloc), 0o644); err != nil {
				t.Fatal(err)
			}
			keep := 0
			for keep < len(all) && (keep+1 == len(all) && end <= cut || keep+1 < len(all) && starts[keep+1] <= cut) {
				keep++
			}
			// checkRecovered appends after the cut and reopens: had the cut left any
			// garbage, that reopen would fail with mid-log corruption.
			checkRecovered(t, dir, all[:keep], cut != starts[keep] && keep < len(all))
		}
	}
}

// recoverOptions never start a new segment, so each case of a test that damages the
// segment in place starts from the same files.
func recoverOptions(logs *logBuf) Options {
	o := testOptions(logs)
	o.SegmentBytes = 64 << 10
	o.Preallocate = false
	return o
}

// checkRecovered opens dir, checks it holds want (and whether a cut was logged), then
// appends the next entry and checks it survives a reopen.
func checkRecovered(t *testing.T, dir string, want []raft.Entry, wantCut bool) {
	t.Helper()
	var logs logBuf
	l := mustOpen(t, dir, recoverOptions(&logs))
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
	l = mustOpen(t, dir, recoverOptions(nil))
	_, _, got = load(t, l)
	sameEntries(t, got, append(want[:len(want):len(want)], next...))
	mustClose(t, l)
}

// TestCorruptTailEveryByte flips each byte of the last record: the record is dropped as a
// torn tail, since nothing valid follows it.
func TestCorruptTailEveryByte(t *testing.T) {
	for _, prealloc := range []bool{false, true} {
		dir := t.TempDir()
		all, starts, end := writeLog(t, dir, prealloc, 2, 1)
		seg := lastSegment(t, dir)
		orig, _ := os.ReadFile(seg)
		last := len(all) - 1
		for off := starts[last]; off < end; off++ {
			bad := append([]byte(nil), orig...)
			bad[off] ^= 0x5a
			if err := os.WriteFile(seg, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			checkRecovered(t, dir, all[:last], true)
		}
	}
}

// TestCorruptMiddleEveryByte flips each byte of a record that has valid records after it:
// Open must refuse, naming the file and the offset, instead of dropping synced entries.
func TestCorruptMiddleEveryByte(t *testing.T) {
	dir := t.TempDir()
	all, starts, _ := writeLog(t, dir, true, 2, 2, 2)
	seg := lastSegment(t, dir)
	orig, _ := os.ReadFile(seg)
	victim := 2
	for off := starts[victim]; off < starts[victim+1]; off++ {
		bad := append([]byte(nil), orig...)
		bad[off] ^= 0x01
		if err := os.WriteFile(seg, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, recoverOptions(nil))
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
		if err := l.Save(raft.HardState{}, ents(raft.Index(i+1), 1, 1, 300), true); err != nil {
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
	var lastRec int
	end, _ := wal.Scan(data, func(_ wal.RecordType, _ []byte, off int) error { lastRec = off; return nil })
	bad := append([]byte(nil), data...)
	bad[end-1] ^= 1
	if err := os.WriteFile(first, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions(nil))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%s: bad record at offset %d", first, lastRec)) {
		t.Fatalf("open with a damaged sealed segment: %v", err)
	}
	// Zeroing the whole last record looks like a clean (preallocated) end of the segment,
	// but the next segment's header knows where the log should have reached.
	bad = append([]byte(nil), data...)
	clear(bad[lastRec:end])
	if err := os.WriteFile(first, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, testOptions(nil))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment header says the log ends at index") {
		t.Fatalf("open with a sealed segment missing its last record: %v", err)
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
