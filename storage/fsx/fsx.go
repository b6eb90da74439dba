// Package fsx is the small file-system seam under raftchat's storage: the write-ahead log,
// the snapshot files and the blob store reach the disk only through FS, so tests can inject
// write errors (ENOSPC), torn writes and failed fsyncs without filling a real disk.
package fsx

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// File is the part of *os.File the storage code uses.
type File interface {
	io.Reader
	io.Writer
	io.WriterAt
	io.Closer
	// Sync flushes the file's data and metadata to stable storage (fsync).
	Sync() error
	// DataSync flushes the file's data, and the metadata needed to read it back (its
	// size), to stable storage: fdatasync on Linux, fsync elsewhere. Overwriting
	// preallocated blocks then needs no file-system journal commit.
	DataSync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the file.
	Stat() (fs.FileInfo, error)
	// Name is the path the file was opened with.
	Name() string
}

// FS is the part of the os package the storage code uses.
type FS interface {
	// OpenFile opens name like os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// ReadFile reads a whole file like os.ReadFile.
	ReadFile(name string) ([]byte, error)
	// Rename renames like os.Rename (atomic within one directory on POSIX file systems).
	Rename(oldpath, newpath string) error
	// Remove removes a file like os.Remove.
	Remove(name string) error
	// MkdirAll creates a directory and its parents like os.MkdirAll.
	MkdirAll(path string, perm fs.FileMode) error
	// Stat describes a file like os.Stat.
	Stat(name string) (fs.FileInfo, error)
	// ReadDir returns the names of the entries of a directory, sorted.
	ReadDir(name string) ([]string, error)
	// SyncDir fsyncs a directory so that creations, renames and removals in it are durable.
	SyncDir(name string) error
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

type osFile struct{ *os.File }

func (f osFile) DataSync() error { return dataSync(f.File) }

func (osFS) ReadFile(name string) ([]byte, error)         { return os.ReadFile(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (osFS) ReadDir(name string) ([]string, error) {
	ents, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", name, err)
	}
	return nil
}

// WriteFileAtomic makes path hold exactly data, or leaves it untouched: it writes a temporary
// file beside path, fsyncs it, renames it over path and fsyncs the directory. A crash at any
// point leaves either the old file or the new one, never a mix.
func WriteFileAtomic(fsys FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	return CommitRename(fsys, tmp, path)
}

// CommitRename renames a fully written and synced temporary file into place and fsyncs the
// directory that holds it, so the new name survives a crash.
func CommitRename(fsys FS, tmp, path string) error {
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return nil
}
