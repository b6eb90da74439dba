package fsx

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFileAtomic(OS, path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	faulty := NewFaulty(OS)
	faulty.SetInjector(func(op Op, _ string, n int) (int, error) {
		if op == OpWrite {
			return n / 2, syscall.ENOSPC
		}
		return n, nil
	})
	if err := WriteFileAtomic(faulty, path, []byte("second version")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("failed atomic write changed the file to %q", b)
	}
	if names, _ := OS.ReadDir(dir); len(names) != 1 {
		t.Fatalf("failed atomic write left files: %v", names)
	}
}

func TestFaultyTornWriteKeepsPrefix(t *testing.T) {
	dir := t.TempDir()
	faulty := NewFaulty(OS)
	f, err := faulty.OpenFile(filepath.Join(dir, "f"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	faulty.SetInjector(func(op Op, _ string, n int) (int, error) { return 3, syscall.EIO })
	n, err := f.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("torn write: n=%d err=%v", n, err)
	}
	if err := f.DataSync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("datasync: %v", err)
	}
	faulty.SetInjector(nil)
	if err := f.DataSync(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "abc" {
		t.Fatalf("file holds %q after a torn write, want the kept prefix", b)
	}
}
