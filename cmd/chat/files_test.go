package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFileCommands(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob", "carol")
	alice, bob, carol := u["alice"], u["bob"], u["carol"]
	g := createGroup(t, alice, "team", "bob")

	src := t.TempDir()
	data := make([]byte, 600_000) // three upload chunks
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(src, "notes.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, as(alice, "upload", g, path, "--caption", "the notes")...)
	var id uint64
	var name, conv string
	var size int
	var seq uint64
	if _, err := fmt.Sscanf(out, "uploaded file %d %s %d bytes as %s #%d", &id, &name, &size, &conv, &seq); err != nil ||
		name != "notes.bin" || size != len(data) || conv != g || seq != 1 {
		t.Fatalf("upload printed %q (%v)", out, err)
	}
	wantContains(t, "history", mustRun(t, as(bob, "history", g)...), fmt.Sprintf("alice: the notes [file %d: notes.bin, 600000 bytes]", id))

	dst := t.TempDir()
	out = mustRun(t, as(bob, "download", fmt.Sprint(id), "-o", filepath.Join(dst, "copy.bin"))...)
	wantContains(t, "download", out, fmt.Sprintf("downloaded file %d notes.bin 600000 bytes to ", id))
	if got, err := os.ReadFile(filepath.Join(dst, "copy.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(data))
	}
	t.Chdir(dst)
	mustRun(t, as(bob, "download", fmt.Sprint(id))...)
	if got, err := os.ReadFile(filepath.Join(dst, "notes.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("download to the default name: %d bytes (%v)", len(got), err)
	}
	if stdout := mustRun(t, as(bob, "download", fmt.Sprint(id), "-o", "-")...); stdout != string(data) {
		t.Fatalf("download -o - printed %d bytes, want the file's %d", len(stdout), len(data))
	}

	mustFail(t, exitFail, "no such file", as(alice, "upload", g, filepath.Join(src, "missing"))...)
	mustFail(t, exitUsage, "not a regular file", as(alice, "upload", g, src)...)
	mustFail(t, exitFail, "not found", as(alice, "upload", "g:999", path)...)
	mustFail(t, exitUsage, "FILE_ID must be a file number", as(bob, "download", "abc")...)
	mustFail(t, exitFail, "not found", as(bob, "download", "999", "-o", filepath.Join(dst, "none"))...)
	mustFail(t, exitFail, "not a member", as(carol, "download", fmt.Sprint(id), "-o", filepath.Join(dst, "stolen"))...)
	mustFail(t, exitFail, "no such file or directory", as(bob, "download", fmt.Sprint(id), "-o", filepath.Join(dst, "no-dir", "x"))...)
	if names := dirNames(t, dst); !slices.Equal(names, []string{"copy.bin", "notes.bin"}) {
		t.Fatalf("download directory holds %v after the failed downloads", names)
	}
}

// TestWriteAtomicallyLeavesNothingOnError: a download failing half-way leaves neither a
// partial file nor its temporary file, and does not touch a file already at the path.
func TestWriteAtomicallyLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	fail := errors.New("stream broke")
	half := func(w io.Writer) error {
		_, _ = w.Write([]byte("first half"))
		return fail
	}
	if err := writeAtomically(filepath.Join(dir, "new"), half); !errors.Is(err, fail) {
		t.Fatalf("err %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("failed write left %v", names)
	}
	old := filepath.Join(dir, "old")
	if err := os.WriteFile(old, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomically(old, half); !errors.Is(err, fail) {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "keep me" || len(dirNames(t, dir)) != 1 {
		t.Fatalf("failed write over an existing file: %q, dir %v", b, dirNames(t, dir))
	}
	if err := writeAtomically(old, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(old); string(b) != "new" || len(dirNames(t, dir)) != 1 {
		t.Fatalf("write over an existing file: %q, dir %v", b, dirNames(t, dir))
	}
}

func TestLocalName(t *testing.T) {
	for name, want := range map[string]string{
		"notes.txt": "notes.txt", "../../etc/passwd": "passwd", "/abs/x.png": "x.png",
		"": "file-7", "..": "file-7", "a/": "a",
	} {
		if got := localName(name, 7); got != want {
			t.Errorf("localName(%q) = %q, want %q", name, got, want)
		}
	}
}
