package blob

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/raftchat/raftchat/storage/fsx"
)

func mustOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t *testing.T, s *Store, sum Sum) []byte {
	t.Helper()
	r, size, err := s.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size {
		t.Fatalf("read %d bytes, Open said %d", len(b), size)
	}
	return b
}

func TestPutHasOpenRemove(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	data := []byte("hello, raftchat")
	sum := sha256.Sum256(data)
	if s.Has(sum) {
		t.Fatal("empty store has the blob")
	}
	if _, _, err := s.Open(sum); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing blob: %v", err)
	}
	if err := s.Put(sum, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(sum, data); err != nil {
		t.Fatalf("second put of the same blob: %v", err)
	}
	if !s.Has(sum) || !bytes.Equal(readAll(t, s, sum), data) {
		t.Fatal("blob not stored intact")
	}
	if _, err := os.Stat(filepath.Join(dir, hexOf(sum)[:2], hexOf(sum)[2:])); err != nil {
		t.Fatalf("blob not at DIR/ab/cdef...: %v", err)
	}
	wrong := sum
	wrong[0] ^= 1
	if err := s.Put(wrong, data); !errors.Is(err, ErrHashMismatch) || s.Has(wrong) {
		t.Fatalf("put under the wrong hash: %v", err)
	}
	if err := s.Remove(sum); err != nil || s.Has(sum) {
		t.Fatalf("remove: %v", err)
	}
	if err := s.Remove(sum); err != nil {
		t.Fatalf("removing a missing blob: %v", err)
	}
}

func hexOf(sum Sum) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 64)
	for i, c := range sum {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}

func TestListSortedAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var want []Sum
	for i := range 50 {
		data := []byte{byte(i), byte(i >> 8), 7}
		sum := sha256.Sum256(data)
		want = append(want, sum)
		if err := s.Put(sum, data); err != nil {
			t.Fatal(err)
		}
	}
	// A writer that never commits leaves nothing behind after a reopen.
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abandoned")); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b Sum) int { return bytes.Compare(a[:], b[:]) })
	s = mustOpen(t, dir)
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("list: %d blobs, want %d in order", len(got), len(want))
	}
	if left, _ := os.ReadDir(filepath.Join(dir, tmpDirName)); len(left) != 0 {
		t.Fatalf("temporary files left after reopen: %d", len(left))
	}
}

func TestOpenDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	data := bytes.Repeat([]byte("x"), 100000)
	sum := sha256.Sum256(data)
	if err := s.Put(sum, data); err != nil {
		t.Fatal(err)
	}
	path := s.path(sum)
	data[5000] = 'y'
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if _, err := io.ReadAll(r); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("reading a damaged blob: %v, want ErrHashMismatch", err)
	}
}

func TestCommitExpectMismatchStoresNothing(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("upload")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CommitExpect(sha256.Sum256([]byte("other"))); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("commit with the wrong hash: %v", err)
	}
	if got, _ := s.List(); len(got) != 0 || s.Has(sha256.Sum256([]byte("upload"))) {
		t.Fatal("mismatched upload was stored")
	}
}

func TestFullDisk(t *testing.T) {
	faulty := fsx.NewFaulty(fsx.OS)
	s, err := Open(t.TempDir(), Options{FS: faulty})
	if err != nil {
		t.Fatal(err)
	}
	faulty.SetInjector(func(op fsx.Op, _ string, n int) (int, error) {
		if op == fsx.OpWrite {
			return n / 2, syscall.ENOSPC
		}
		return n, nil
	})
	data := bytes.Repeat([]byte("z"), 1000)
	sum := sha256.Sum256(data)
	if err := s.Put(sum, data); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("put on a full disk: %v", err)
	}
	faulty.SetInjector(nil)
	if s.Has(sum) {
		t.Fatal("failed put left a blob")
	}
	if err := s.Put(sum, data); err != nil || !bytes.Equal(readAll(t, s, sum), data) {
		t.Fatalf("put after space returned: %v", err)
	}
}

// TestStreamLargeBlobBoundedMemory pushes 64 MiB through Create and back out through Open
// in 64 KiB pieces, checking the hash end to end and that the whole round trip allocates
// a small fraction of the blob's size.
func TestStreamLargeBlobBoundedMemory(t *testing.T) {
	const total, piece = 64 << 20, 64 << 10
	s := mustOpen(t, t.TempDir())
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, piece)
	want := sha256.New()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	for range total / piece {
		_, _ = src.Read(buf)
		want.Write(buf)
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	sum, size, err := w.Commit()
	if err != nil || size != total {
		t.Fatalf("commit: %v, size %d", err, size)
	}
	if !bytes.Equal(sum[:], want.Sum(nil)) {
		t.Fatal("commit hash differs from the hash of the streamed bytes")
	}
	r, n, err := s.Open(sum)
	if err != nil || n != total {
		t.Fatalf("open: %v, size %d", err, n)
	}
	got := sha256.New()
	if _, err := io.CopyBuffer(got, r, buf); err != nil {
		t.Fatalf("streaming back: %v", err)
	}
	_ = r.Close()
	runtime.ReadMemStats(&after)
	if !bytes.Equal(got.Sum(nil), sum[:]) {
		t.Fatal("read-back hash differs")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > 2<<20 {
		t.Fatalf("streaming 64 MiB allocated %d bytes; want under 2 MiB", alloc)
	}
	t.Logf("64 MiB written and read back with %d bytes allocated", alloc)
}

// TestPutSurvivesCrash: once Put or Commit returns, the blob survives a power cut; an
// uncommitted writer leaves nothing.
func TestPutSurvivesCrash(t *testing.T) {
	mfs := fsx.NewMemFS()
	s, err := Open("/data/blobs", Options{FS: mfs})
	if err != nil {
		t.Fatal(err)
	}
	a := []byte("chunk a")
	if err := s.Put(sha256.Sum256(a), a); err != nil {
		t.Fatal(err)
	}
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("streamed")); err != nil {
		t.Fatal(err)
	}
	sumB, _, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pending.Write([]byte("never committed")); err != nil {
		t.Fatal(err)
	}
	mfs.Crash()
	s, err = Open("/data/blobs", Options{FS: mfs})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil || len(got) != 2 || !s.Has(sha256.Sum256(a)) || !s.Has(sumB) {
		t.Fatalf("after crash: %d blobs (%v); fs: %s", len(got), err, mfs)
	}
}
