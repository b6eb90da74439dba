package snap

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

// writePieces returns a SaveStream producer writing data in pieces of the given sizes, in
// turn, then the rest.
func writePieces(data []byte, sizes ...int) func(io.Writer) error {
	return func(w io.Writer) error {
		for i := 0; len(data) > 0; i++ {
			n := len(data)
			if len(sizes) > 0 {
				n = min(n, sizes[i%len(sizes)])
			}
			if _, err := w.Write(data[:n]); err != nil {
				return err
			}
			data = data[n:]
		}
		return nil
	}
}

// A streamed snapshot file holds exactly the bytes Save writes for the same snapshot,
// whatever the pieces the data comes in, and reads back.
func TestSaveStreamEqualsSave(t *testing.T) {
	big := bytes.Repeat([]byte("streamed snapshot data "), syncEveryBytes/10)
	for name, tc := range map[string]struct {
		snap  raft.Snapshot
		sizes []int
	}{
		"empty data":     {snapAt(3, 1), nil},
		"one piece":      {snapAt(9, 2), nil},
		"bytes":          {snapAt(9, 2), []int{1}},
		"odd pieces":     {snapAt(200, 4), []int{3, 1000, 17}},
		"large, members": {raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 77, Term: 5, ConfState: raft.ConfState{Voters: []raft.NodeID{1, 4}, Learners: []raft.NodeID{9}, Removed: []raft.NodeID{2, 3}}}, Data: big}, []int{writeBufferBytes - 1, 5 << 20, 100}},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "empty data" {
				tc.snap.Data = nil
			}
			fsys := fsx.NewMemFS()
			for _, d := range []string{"/saved", "/streamed"} {
				if err := fsys.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			saved := New(fsys, "/saved", slog.New(slog.DiscardHandler))
			streamed := New(fsys, "/streamed", slog.New(slog.DiscardHandler))
			if err := saved.Save(tc.snap); err != nil {
				t.Fatal(err)
			}
			n, err := streamed.SaveStream(tc.snap.Metadata, writePieces(tc.snap.Data, tc.sizes...))
			if err != nil || n != uint64(len(tc.snap.Data)) {
				t.Fatalf("streamed %d bytes, %v; want %d", n, err, len(tc.snap.Data))
			}
			name := FileName(tc.snap.Metadata.Index, tc.snap.Metadata.Term)
			want, _ := fsys.ReadFile(filepath.Join("/saved", name))
			got, err := fsys.ReadFile(filepath.Join("/streamed", name))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("streamed file (%d bytes, %v) differs from the saved one (%d bytes)", len(got), err, len(want))
			}
			sn, err := streamed.LoadNewest()
			if err != nil || !bytes.Equal(sn.Data, tc.snap.Data) || !reflect.DeepEqual(sn.Metadata, tc.snap.Metadata) {
				t.Fatalf("read back %+v (%d bytes), %v", sn.Metadata, len(sn.Data), err)
			}
		})
	}
}

// A stream that fails part-way, whether its producer or the file fails, leaves no new file
// and the previous snapshot intact and loadable.
func TestSaveStreamFailureKeepsPrevious(t *testing.T) {
	errProducer := errors.New("encoder failed")
	errDisk := errors.New("no space left on device")
	data := bytes.Repeat([]byte("x"), 3*syncEveryBytes)
	for name, tc := range map[string]struct {
		write  func(io.Writer) error
		inject fsx.Injector
		want   error
	}{
		"producer error": {
			write: func(w io.Writer) error {
				if _, err := w.Write(data[:syncEveryBytes+5]); err != nil {
					return err
				}
				return errProducer
			},
			want: errProducer,
		},
		"torn write": {
			write: writePieces(data, 1<<20),
			inject: func(op fsx.Op, name string, n int) (int, error) {
				if op == fsx.OpWrite && strings.HasSuffix(name, ".tmp") && n >= 1<<20 {
					return n / 2, errDisk
				}
				return n, nil
			},
			want: errDisk,
		},
		"failed flush": {
			write: writePieces(data, 1<<20),
			inject: func(op fsx.Op, name string, n int) (int, error) {
				if op == fsx.OpSync && strings.HasSuffix(name, ".tmp") {
					return 0, errDisk
				}
				return n, nil
			},
			want: errDisk,
		},
	} {
		t.Run(name, func(t *testing.T) {
			mem := fsx.NewMemFS()
			if err := mem.MkdirAll("/snap", 0o755); err != nil {
				t.Fatal(err)
			}
			faulty := fsx.NewFaulty(mem)
			s := New(faulty, "/snap", slog.New(slog.DiscardHandler))
			prev := snapAt(10, 1)
			if err := s.Save(prev); err != nil {
				t.Fatal(err)
			}
			faulty.SetInjector(tc.inject)
			next := snapAt(20, 1).Metadata
			if _, err := s.SaveStream(next, tc.write); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			faulty.SetInjector(nil)
			names, _ := mem.ReadDir("/snap")
			if want := []string{FileName(10, 1)}; !reflect.DeepEqual(names, want) {
				t.Fatalf("files after the failed stream: %v, want %v", names, want)
			}
			sn, err := s.LoadNewest()
			if err != nil || !reflect.DeepEqual(sn, prev) {
				t.Fatalf("loaded %+v, %v; want the previous snapshot", sn.Metadata, err)
			}
		})
	}
}

// A crash in the middle of a stream (the process dies: no error path runs) leaves a torn
// temporary file at most; the previous snapshot loads and Prune removes the leftover.
func TestSaveStreamCrashKeepsPrevious(t *testing.T) {
	for _, crashAfter := range []int{0, 100, syncEveryBytes, syncEveryBytes + 1, 2*syncEveryBytes + 3} {
		mem := fsx.NewMemFS()
		if err := mem.MkdirAll("/snap", 0o755); err != nil {
			t.Fatal(err)
		}
		s := New(mem, "/snap", slog.New(slog.DiscardHandler))
		prev := snapAt(10, 1)
		if err := s.Save(prev); err != nil {
			t.Fatal(err)
		}
		errDied := errors.New("process died")
		_, err := s.SaveStream(snapAt(20, 1).Metadata, func(w io.Writer) error {
			if _, err := w.Write(bytes.Repeat([]byte("y"), crashAfter)); err != nil {
				return err
			}
			if bw, ok := w.(interface{ Flush() error }); ok {
				_ = bw.Flush()
			}
			mem.Crash() // what is not durable is gone; the leftover is what a crash leaves
			return errDied
		})
		if !errors.Is(err, errDied) {
			t.Fatal(err)
		}
		// The error path removed the temporary file in the running program's view; after a
		// restart the durable view may still hold it, torn.
		mem.Crash()
		// MemFS forgets a file whose creation was never synced; a real disk may keep it,
		// torn: put one there.
		tmp := filepath.Join("/snap", FileName(20, 1)+".tmp")
		f, err := mem.OpenFile(tmp, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(encodeHead(snapAt(20, 1).Metadata, 0)); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		s = New(mem, "/snap", slog.New(slog.DiscardHandler))
		sn, err := s.LoadNewest()
		if err != nil || !reflect.DeepEqual(sn, prev) {
			t.Fatalf("crash after %d bytes: loaded %+v, %v; want the previous snapshot", crashAfter, sn.Metadata, err)
		}
		if err := s.Prune(2, 10); err != nil {
			t.Fatal(err)
		}
		if names, _ := mem.ReadDir("/snap"); !reflect.DeepEqual(names, []string{FileName(10, 1)}) {
			t.Fatalf("crash after %d bytes: files after prune %v", crashAfter, names)
		}
	}
}

// A torn streamed file under its final name (a disk that lost part of it) is detected on
// load, exactly as a torn saved file is.
func TestStreamedFileTornOrFlippedIsRejected(t *testing.T) {
	mem := fsx.NewMemFS()
	if err := mem.MkdirAll("/snap", 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(mem, "/snap", slog.New(slog.DiscardHandler))
	snap := snapAt(30, 2)
	if _, err := s.SaveStream(snap.Metadata, writePieces(snap.Data, 7)); err != nil {
		t.Fatal(err)
	}
	b, _ := mem.ReadFile(filepath.Join("/snap", FileName(30, 2)))
	for _, bad := range [][]byte{b[:len(b)-1], b[:len(b)/2], flip(b, 40), flip(b, len(b)-2)} {
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damaged file of %d bytes decoded: %v", len(bad), err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}
