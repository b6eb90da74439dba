package fsx

import (
	"io/fs"
	"os"
	"sync"
)

// Op names the kind of operation a Faulty file system is about to perform.
type Op uint8

// The operations an Injector sees.
const (
	OpWrite    Op = iota // File.Write or WriteAt; n is the number of bytes asked for
	OpSync               // File.Sync or File.DataSync
	OpTruncate           // File.Truncate
	OpCreate             // OpenFile with O_CREATE
	OpRename             // Rename; name is the old path
	OpRemove             // Remove
	OpSyncDir            // SyncDir
)

// Injector decides the fate of one operation on name. A nil error lets the operation run
// normally. With an error, the operation fails with it; for OpWrite, keep says how many of the
// n bytes reach the file first (0 <= keep <= n), which models a torn write.
type Injector func(op Op, name string, n int) (keep int, err error)

// Faulty wraps a file system and consults an Injector before every mutating operation.
// It is safe for concurrent use.
type Faulty struct {
	base FS
	mu   sync.Mutex
	inj  Injector
}

// NewFaulty returns a Faulty over base that injects nothing until SetInjector is called.
func NewFaulty(base FS) *Faulty { return &Faulty{base: base} }

// SetInjector replaces the injector; nil injects nothing.
func (f *Faulty) SetInjector(inj Injector) {
	f.mu.Lock()
	f.inj = inj
	f.mu.Unlock()
}

func (f *Faulty) inject(op Op, name string, n int) (int, error) {
	f.mu.Lock()
	inj := f.inj
	f.mu.Unlock()
	if inj == nil {
		return n, nil
	}
	keep, err := inj(op, name, n)
	if err == nil {
		return n, nil
	}
	return min(max(keep, 0), n), err
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// OpenFile implements FS.
func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if _, err := f.inject(OpCreate, name, 0); err != nil {
			return nil, pathErr("open", name, err)
		}
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

// ReadFile implements FS.
func (f *Faulty) ReadFile(name string) ([]byte, error) { return f.base.ReadFile(name) }

// Rename implements FS.
func (f *Faulty) Rename(oldpath, newpath string) error {
	if _, err := f.inject(OpRename, oldpath, 0); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return f.base.Rename(oldpath, newpath)
}

// Remove implements FS.
func (f *Faulty) Remove(name string) error {
	if _, err := f.inject(OpRemove, name, 0); err != nil {
		return pathErr("remove", name, err)
	}
	return f.base.Remove(name)
}

// MkdirAll implements FS.
func (f *Faulty) MkdirAll(path string, perm fs.FileMode) error { return f.base.MkdirAll(path, perm) }

// Stat implements FS.
func (f *Faulty) Stat(name string) (fs.FileInfo, error) { return f.base.Stat(name) }

// ReadDir implements FS.
func (f *Faulty) ReadDir(name string) ([]string, error) { return f.base.ReadDir(name) }

// SyncDir implements FS.
func (f *Faulty) SyncDir(name string) error {
	if _, err := f.inject(OpSyncDir, name, 0); err != nil {
		return pathErr("sync", name, err)
	}
	return f.base.SyncDir(name)
}

type faultyFile struct {
	File
	fs *Faulty
}

func (ff *faultyFile) Write(p []byte) (int, error) {
	keep, err := ff.fs.inject(OpWrite, ff.Name(), len(p))
	if err == nil {
		return ff.File.Write(p)
	}
	n := 0
	if keep > 0 {
		n, _ = ff.File.Write(p[:keep])
	}
	return n, pathErr("write", ff.Name(), err)
}

func (ff *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	keep, err := ff.fs.inject(OpWrite, ff.Name(), len(p))
	if err == nil {
		return ff.File.WriteAt(p, off)
	}
	n := 0
	if keep > 0 {
		n, _ = ff.File.WriteAt(p[:keep], off)
	}
	return n, pathErr("write", ff.Name(), err)
}

func (ff *faultyFile) DataSync() error {
	if _, err := ff.fs.inject(OpSync, ff.Name(), 0); err != nil {
		return pathErr("sync", ff.Name(), err)
	}
	return ff.File.DataSync()
}

func (ff *faultyFile) Sync() error {
	if _, err := ff.fs.inject(OpSync, ff.Name(), 0); err != nil {
		return pathErr("sync", ff.Name(), err)
	}
	return ff.File.Sync()
}

func (ff *faultyFile) Truncate(size int64) error {
	if _, err := ff.fs.inject(OpTruncate, ff.Name(), 0); err != nil {
		return pathErr("truncate", ff.Name(), err)
	}
	return ff.File.Truncate(size)
}
