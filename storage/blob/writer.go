package blob

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/raftchat/raftchat/storage/fsx"
)

// Writer streams one blob to a temporary file, hashing as it goes. It is not safe for
// concurrent use.
type Writer struct {
	s    *Store
	f    fsx.File
	bw   *bufio.Writer
	h    hash.Hash
	n    int64
	done bool
	err  error // first write error; sticky
}

// fileWriter feeds the bufio.Writer's flushes to the file and the hash.
type fileWriter struct{ w *Writer }

func (fw fileWriter) Write(p []byte) (int, error) {
	n, err := fw.w.f.Write(p)
	fw.w.h.Write(p[:n])
	return n, err
}

var errFinished = errors.New("blob writer already committed or aborted")

// Write appends p to the blob.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errFinished
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write blob: %w", err)
		return n, w.err
	}
	return n, nil
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Commit makes the blob durable under its hash and returns the hash and size. If a blob
// with that hash exists already, the new copy is dropped.
func (w *Writer) Commit() (Sum, int64, error) {
	sum, err := w.commit(nil)
	return sum, w.n, err
}

// CommitExpect is Commit for a writer whose hash is known in advance (an upload): if the
// bytes hash to anything else nothing is stored and the error wraps ErrHashMismatch.
func (w *Writer) CommitExpect(want Sum) (int64, error) {
	_, err := w.commit(&want)
	return w.n, err
}

func (w *Writer) commit(want *Sum) (Sum, error) {
	var sum Sum
	if w.done {
		return sum, errFinished
	}
	if w.err != nil {
		_ = w.Abort()
		return sum, w.err
	}
	if err := w.bw.Flush(); err != nil {
		_ = w.Abort()
		return sum, fmt.Errorf("write blob: %w", err)
	}
	w.h.Sum(sum[:0])
	if want != nil && sum != *want {
		_ = w.Abort()
		return sum, fmt.Errorf("commit blob %x: %w: streamed bytes hash to %x", *want, ErrHashMismatch, sum)
	}
	if err := w.f.Sync(); err != nil {
		_ = w.Abort()
		return sum, fmt.Errorf("commit blob %x: %w", sum, err)
	}
	tmp := w.f.Name()
	err := w.f.Close()
	w.done = true
	if err != nil {
		_ = w.s.fs.Remove(tmp)
		return sum, fmt.Errorf("commit blob %x: %w", sum, err)
	}
	if w.s.Has(sum) {
		_ = w.s.fs.Remove(tmp)
		return sum, nil
	}
	return sum, w.s.install(tmp, sum)
}

// install renames a synced temporary file into place, making the prefix directory's own
// entry durable the first time this process uses it.
func (s *Store) install(tmp string, sum Sum) error {
	final := s.path(sum)
	prefix := filepath.Dir(final)
	if err := s.fs.MkdirAll(prefix, 0o755); err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("commit blob %x: %w", sum, err)
	}
	s.mu.Lock()
	synced := s.synced[sum[0]]
	s.mu.Unlock()
	if !synced {
		if err := s.fs.SyncDir(s.dir); err != nil {
			_ = s.fs.Remove(tmp)
			return fmt.Errorf("commit blob %x: %w", sum, err)
		}
		s.mu.Lock()
		s.synced[sum[0]] = true
		s.mu.Unlock()
	}
	if err := fsx.CommitRename(s.fs, tmp, final); err != nil {
		return fmt.Errorf("commit blob %x: %w", sum, err)
	}
	return nil
}

// Abort drops the blob being written. Aborting a committed writer does nothing.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	tmp := w.f.Name()
	err := w.f.Close()
	if rerr := w.s.fs.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("abort blob: %w", err)
	}
	return nil
}
