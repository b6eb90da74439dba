package fsx

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// MemFS is an in-memory file system that knows what is durable, for crash tests. A file's
// bytes become durable when it is synced; a creation, rename or removal becomes durable
// when its directory is synced. Crash throws away everything that is not durable, as a
// power cut would. Directories themselves are always durable. It is safe for concurrent
// use.
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*memNode // the namespace as the running program sees it
	durable map[string]*memNode // the namespace a crash would leave
	dirs    map[string]bool
}

type memNode struct {
	data   []byte
	synced []byte
}

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS {
	return &MemFS{files: map[string]*memNode{}, durable: map[string]*memNode{}, dirs: map[string]bool{"/": true}}
}

// Crash forgets every unsynced write and every directory change not followed by a sync
// of the directory. Files open at the time keep working on detached copies.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files = map[string]*memNode{}
	for name, n := range m.durable {
		c := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced)}
		m.files[name], m.durable[name] = c, c
	}
}

func (m *MemFS) pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	switch {
	case ok && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, m.pathErr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, m.pathErr("open", name, fs.ErrNotExist)
	case !ok:
		if !m.dirs[filepath.Dir(name)] {
			return nil, m.pathErr("open", name, fs.ErrNotExist)
		}
		n = &memNode{}
		m.files[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.data = n.data[:0]
	}
	return &memFile{fs: m, node: n, name: name, append: flag&os.O_APPEND != 0}, nil
}

// ReadFile implements FS.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	if !ok {
		return nil, m.pathErr("open", name, fs.ErrNotExist)
	}
	return slices.Clone(n.data), nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[oldpath]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	delete(m.files, oldpath)
	m.files[newpath] = n
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return m.pathErr("remove", name, fs.ErrNotExist)
	}
	delete(m.files, name)
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(path string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := filepath.Clean(path); !m.dirs[p]; p = filepath.Dir(p) {
		m.dirs[p] = true
	}
	return nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[name] {
		return memInfo{name: filepath.Base(name), dir: true}, nil
	}
	n, ok := m.files[name]
	if !ok {
		return nil, m.pathErr("stat", name, fs.ErrNotExist)
	}
	return memInfo{name: filepath.Base(name), size: int64(len(n.data))}, nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, m.pathErr("readdir", name, fs.ErrNotExist)
	}
	var names []string
	for p := range m.files {
		if filepath.Dir(p) == name {
			names = append(names, filepath.Base(p))
		}
	}
	for p := range m.dirs {
		if p != name && filepath.Dir(p) == name {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

// SyncDir implements FS: the directory's entries as they are now become durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.durable {
		if filepath.Dir(p) == name {
			delete(m.durable, p)
		}
	}
	for p, n := range m.files {
		if filepath.Dir(p) == name {
			m.durable[p] = n
		}
	}
	return nil
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	off    int64
	append bool
	closed bool
}

func (f *memFile) check() error {
	if f.closed {
		return f.fs.pathErr("use", f.name, fs.ErrClosed)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if f.off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	off := f.off
	if f.append {
		off = int64(len(f.node.data))
	}
	f.fs.mu.Unlock()
	n, err := f.WriteAt(p, off)
	f.fs.mu.Lock()
	f.off = off + int64(n)
	f.fs.mu.Unlock()
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return 0, err
	}
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		f.node.data = append(f.node.data, make([]byte, end-int64(len(f.node.data)))...)
	}
	copy(f.node.data[off:], p)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	f.node.synced = slices.Clone(f.node.data)
	return nil
}

func (f *memFile) DataSync() error { return f.Sync() }

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if size <= int64(len(f.node.data)) {
		f.node.data = f.node.data[:size]
	} else {
		f.node.data = append(f.node.data, make([]byte, size-int64(len(f.node.data)))...)
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.node.data))}, nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return f.fs.pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

var _ FS = (*MemFS)(nil)

// String describes the file system's contents, for test failure messages.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.files))
	for p, n := range m.files {
		names = append(names, fmt.Sprintf("%s(%d/%d synced)", p, len(n.data), len(n.synced)))
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}
