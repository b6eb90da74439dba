// Package blob is a content-addressed file store: each blob lives under its SHA-256, at
// DIR/ab/cdef... (the first byte of the hash names a subdirectory), and is written
// atomically (temporary file, fsync, rename, fsync directory). Writers hash while they
// stream to disk and readers verify while they stream from it, so a 1 GiB file never has to
// sit in memory. *Store implements the runtime's node.BlobStore (Put, Has).
//
// The runtime keeps it in DATA_DIR/blobs, inside the data directory storage.Open locks.
package blob

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/raftchat/raftchat/storage/fsx"
)

// Sum is a blob's SHA-256.
type Sum = [32]byte

// Errors; check them with errors.Is.
var (
	// ErrNotFound: no blob with that hash is stored (also matches fs.ErrNotExist).
	ErrNotFound = fmt.Errorf("blob not found: %w", fs.ErrNotExist)
	// ErrHashMismatch: the bytes do not hash to the expected sum.
	ErrHashMismatch = errors.New("blob hash mismatch")
)

const (
	tmpDirName  = "tmp"
	writeBuffer = 64 << 10
)

// Options configures a Store.
type Options struct {
	// FS is the file system; nil is the real one.
	FS fsx.FS
}

// Store is a blob directory. It is safe for concurrent use.
type Store struct {
	fs  fsx.FS
	dir string
	tmp string

	mu      sync.Mutex
	synced  [256]bool // prefix directories whose entry in dir is known durable
	tempSeq uint64
}

// Open opens (creating if needed) the blob store in dir and removes temporary files left
// by writers that never committed.
func Open(dir string, opts Options) (*Store, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = fsx.OS
	}
	s := &Store{fs: fsys, dir: dir, tmp: filepath.Join(dir, tmpDirName)}
	if err := fsys.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	names, err := fsys.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	for _, n := range names {
		if err := fsys.Remove(filepath.Join(s.tmp, n)); err != nil {
			return nil, fmt.Errorf("open blob store: remove leftover: %w", err)
		}
	}
	return s, nil
}

func (s *Store) path(sum Sum) string {
	h := hex.EncodeToString(sum[:])
	return filepath.Join(s.dir, h[:2], h[2:])
}

// Has reports whether the blob is stored.
func (s *Store) Has(sum Sum) bool {
	st, err := s.fs.Stat(s.path(sum))
	return err == nil && st.Mode().IsRegular()
}

// Put stores data under sum after checking that it hashes to sum. Storing a blob that is
// already there is a no-op.
func (s *Store) Put(sum Sum, data []byte) error {
	if got := sha256.Sum256(data); got != sum {
		return fmt.Errorf("put blob %x: %w: data hashes to %x", sum, ErrHashMismatch, got)
	}
	if s.Has(sum) {
		return nil
	}
	// The bytes are in hand and already hashed: write them straight to a temporary file
	// rather than through a Writer, which would buffer and hash them again.
	tmp := s.tempName()
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("put blob %x: %w", sum, err)
	}
	return s.install(tmp, sum)
}

// tempName returns a fresh name in the temporary directory.
func (s *Store) tempName() string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	s.mu.Lock()
	s.tempSeq++
	seq := s.tempSeq
	s.mu.Unlock()
	return filepath.Join(s.tmp, fmt.Sprintf("%d-%x", seq, rnd))
}

// Open returns a reader over the blob and its size. The reader verifies the hash as it
// goes: the Read that reaches the end returns ErrHashMismatch instead of io.EOF if the
// stored bytes are damaged.
func (s *Store) Open(sum Sum) (io.ReadCloser, int64, error) {
	f, err := s.fs.OpenFile(s.path(sum), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("open blob %x: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %x: %w", sum, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("open blob %x: %w", sum, err)
	}
	return &verifier{f: f, h: sha256.New(), want: sum}, st.Size(), nil
}

type verifier struct {
	f    fsx.File
	h    hash.Hash
	want Sum
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		var got Sum
		if v.h.Sum(got[:0]); got != v.want {
			return n, fmt.Errorf("read blob %x: %w: stored bytes hash to %x", v.want, ErrHashMismatch, got)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.f.Close() }

// Remove deletes a blob; removing a missing blob is not an error.
func (s *Store) Remove(sum Sum) error {
	err := s.fs.Remove(s.path(sum))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob %x: %w", sum, err)
	}
	return nil
}

// List returns the hashes of every stored blob in ascending order, for shipping the blobs
// a snapshot refers to.
func (s *Store) List() ([]Sum, error) {
	prefixes, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	var sums []Sum
	for _, p := range prefixes {
		if len(p) != 2 || p == tmpDirName {
			continue
		}
		names, err := s.fs.ReadDir(filepath.Join(s.dir, p))
		if err != nil {
			return nil, fmt.Errorf("list blobs: %w", err)
		}
		for _, n := range names {
			var sum Sum
			if len(n) == 62 {
				if _, err := hex.Decode(sum[:], []byte(p+n)); err == nil {
					sums = append(sums, sum)
				}
			}
		}
	}
	return sums, nil
}

// Create starts a streamed blob: write the bytes, then Commit (or CommitExpect) to store
// them under their hash, or Abort. Only a small fixed buffer is held in memory.
func (s *Store) Create() (*Writer, error) {
	f, err := s.fs.OpenFile(s.tempName(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	w := &Writer{s: s, f: f, h: sha256.New()}
	w.bw = bufio.NewWriterSize(fileWriter{w}, writeBuffer)
	return w, nil
}
