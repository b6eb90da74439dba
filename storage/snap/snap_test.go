package snap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

func snapAt(i raft.Index, t raft.Term) raft.Snapshot {
	return raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: i, Term: t, ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}},
		Data:     bytes.Repeat([]byte{byte(i)}, 1000+int(i)),
	}
}

func TestSaveListReadPrune(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	s := New(fsx.OS, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if sn, err := s.LoadNewest(); err != nil || !sn.IsEmpty() {
		t.Fatalf("empty dir: %+v %v", sn.Metadata, err)
	}
	for _, i := range []raft.Index{5, 17, 300} {
		if err := s.Save(snapAt(i, 2)); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := s.LoadNewest()
	if err != nil || !reflect.DeepEqual(sn, snapAt(300, 2)) {
		t.Fatalf("newest: %+v %v", sn.Metadata, err)
	}
	// Damage the newest: LoadNewest falls back to the one before and says so.
	newest := filepath.Join(dir, FileName(300, 2))
	b, _ := os.ReadFile(newest)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(newest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if sn, err := s.LoadNewest(); err != nil || sn.Metadata.Index != 17 {
		t.Fatalf("after damaging the newest: %+v %v", sn.Metadata, err)
	}
	if !strings.Contains(logs.String(), "skipping corrupt snapshot") {
		t.Fatalf("fallback not logged: %s", logs.String())
	}
	if err := os.WriteFile(filepath.Join(dir, FileName(400, 2)+".tmp"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(2, 300); err != nil {
		t.Fatal(err)
	}
	metas, err := s.List()
	if err != nil || len(metas) != 2 || metas[0].Index != 17 || metas[1].Index != 300 {
		t.Fatalf("after prune: %+v %v", metas, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName(400, 2)+".tmp")); !os.IsNotExist(err) {
		t.Fatal("prune left a temporary file")
	}
}

func TestDecodeRejectsEveryTruncationAndFlip(t *testing.T) {
	dir := t.TempDir()
	s := New(fsx.OS, dir, slog.New(slog.DiscardHandler))
	sn := snapAt(9, 1)
	sn.Metadata.ConfState.Learners = []raft.NodeID{4}
	sn.Metadata.ConfState.Removed = []raft.NodeID{5}
	if err := s.Save(sn); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName(9, 1)))
	for n := range len(b) {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := 0; i < len(b); i += 7 {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
}

func TestRenamedFileIsRejected(t *testing.T) {
	dir := t.TempDir()
	s := New(fsx.OS, dir, slog.New(slog.DiscardHandler))
	if err := s.Save(snapAt(9, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, FileName(9, 1)), filepath.Join(dir, FileName(10, 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(Meta{Index: 10, Term: 1, Name: FileName(10, 1)}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("file whose name disagrees with its contents: %v", err)
	}
}

// encodeV1 writes a snapshot file as version 1 did (no learners), for the tests that old
// files still read.
func encodeV1(snap raft.Snapshot) []byte {
	m := snap.Metadata
	b := []byte(magicV1)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Index))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Term))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.ConfState.Voters)))
	for _, v := range m.ConfState.Voters {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(snap.Data)))
	b = append(b, snap.Data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// encodeFile is what Save writes.
func encodeFile(snap raft.Snapshot) []byte {
	b := append(encodeHead(snap.Metadata, uint64(len(snap.Data))), snap.Data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// The header records learners and removed nodes as well as voters (version 2), and a
// version-1 file, written before membership changes existed, still reads: same index, term,
// voters and data, no learners or removed nodes.
func TestHeaderVersions(t *testing.T) {
	cases := []struct {
		name string
		cs   raft.ConfState
	}{
		{"voters", raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}},
		{"voters and learners", raft.ConfState{Voters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{4, 9}}},
		{"learners and removed", raft.ConfState{Voters: []raft.NodeID{2, 3}, Learners: []raft.NodeID{4}, Removed: []raft.NodeID{1, 5}}},
		{"none", raft.ConfState{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 77, Term: 5, ConfState: tc.cs}, Data: []byte("state")}
			got, err := Decode(encodeFile(in))
			if err != nil || !reflect.DeepEqual(got, in) {
				t.Fatalf("v2 round trip: %+v %v, want %+v", got, err, in)
			}
			old, err := Decode(encodeV1(in))
			want := in
			want.Metadata.ConfState.Learners, want.Metadata.ConfState.Removed = nil, nil
			if err != nil || !reflect.DeepEqual(old, want) {
				t.Fatalf("v1 file: %+v %v, want %+v", old, err, want)
			}
		})
	}
	// Through the store: a v1 file in the directory is loaded like any other.
	dir := t.TempDir()
	s := New(fsx.OS, dir, slog.New(slog.DiscardHandler))
	v1 := snapAt(12, 3)
	if err := os.WriteFile(filepath.Join(dir, FileName(12, 3)), encodeV1(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	if sn, err := s.LoadNewest(); err != nil || !reflect.DeepEqual(sn, v1) {
		t.Fatalf("v1 file from the store: %+v %v", sn.Metadata, err)
	}
	v2 := snapAt(20, 3)
	v2.Metadata.ConfState.Learners = []raft.NodeID{4}
	v2.Metadata.ConfState.Removed = []raft.NodeID{7}
	if err := s.Save(v2); err != nil {
		t.Fatal(err)
	}
	if sn, err := s.LoadNewest(); err != nil || !reflect.DeepEqual(sn, v2) {
		t.Fatalf("v2 file from the store: %+v %v", sn.Metadata, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(magic))
	f.Add(encodeV1(snapAt(3, 1)))
	withLearners := snapAt(4, 1)
	withLearners.Metadata.ConfState.Learners = []raft.NodeID{7}
	withLearners.Metadata.ConfState.Removed = []raft.NodeID{8}
	f.Add(encodeFile(withLearners))
	f.Fuzz(func(t *testing.T, b []byte) {
		sn, err := Decode(b)
		if err == nil && len(sn.Data) > len(b) {
			t.Fatalf("decoded %d data bytes from %d", len(sn.Data), len(b))
		}
	})
}

// A large snapshot is flushed as it is written, every syncEveryBytes, not only at the end,
// and reads back intact.
func TestLargeSnapshotFlushedAsWritten(t *testing.T) {
	dir := t.TempDir()
	faulty := fsx.NewFaulty(fsx.OS)
	var syncs, written int
	var syncedAt []int
	faulty.SetInjector(func(op fsx.Op, name string, n int) (int, error) {
		if !strings.HasSuffix(name, ".tmp") {
			return n, nil
		}
		switch op {
		case fsx.OpWrite:
			written += n
		case fsx.OpSync:
			syncs++
			syncedAt = append(syncedAt, written)
		case fsx.OpTruncate, fsx.OpCreate, fsx.OpRename, fsx.OpRemove, fsx.OpSyncDir:
		}
		return n, nil
	})
	s := New(faulty, dir, slog.New(slog.DiscardHandler))
	snap := snapAt(7, 1)
	snap.Data = bytes.Repeat([]byte("0123456789"), syncEveryBytes+500) // 10 full slices and a bit
	if err := s.Save(snap); err != nil {
		t.Fatal(err)
	}
	if want := 10 + 1; syncs != want {
		t.Fatalf("%d flushes of a %d-byte snapshot (at %v), want %d", syncs, len(snap.Data), syncedAt, want)
	}
	for i := 1; i < len(syncedAt); i++ {
		if d := syncedAt[i] - syncedAt[i-1]; d > syncEveryBytes+64 {
			t.Fatalf("%d bytes written between flushes (at %v)", d, syncedAt)
		}
	}
	got, err := s.Read(Meta{Index: 7, Term: 1, Name: FileName(7, 1)})
	if err != nil || !bytes.Equal(got.Data, snap.Data) {
		t.Fatalf("read back %d bytes, %v", len(got.Data), err)
	}
}
