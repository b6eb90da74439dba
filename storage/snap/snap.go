// Package snap stores raft snapshots as checksummed files, one per snapshot, written
// atomically (temporary file, fsync, rename, fsync directory).
//
// File layout (little endian), version 2:
//
//	magic "RCSNAP02" | index u64 | term u64 | voter count u32 | voters u64... |
//	learner count u32 | learners u64... | removed count u32 | removed u64... |
//	data length u64 | data | CRC32C (Castagnoli) of everything before it, u32
//
// Version 1 (magic "RCSNAP01", written before membership changes existed) has only the
// voters; Decode still reads it, as a configuration without learners or removed nodes.
package snap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

const (
	magic     = "RCSNAP02"
	magicV1   = "RCSNAP01"
	suffix    = ".snap"
	maxVoters = 1 << 16 // bounds each member list: voters, learners, removed
)

// ErrCorrupt marks a snapshot file whose bytes do not decode or whose checksum fails.
var ErrCorrupt = errors.New("snapshot file is corrupt")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Meta identifies one snapshot file.
type Meta struct {
	Index raft.Index
	Term  raft.Term
	// Name is the file name inside the store's directory.
	Name string
}

// Store is a directory of snapshot files.
type Store struct {
	fs     fsx.FS
	dir    string
	logger *slog.Logger
}

// New returns a Store over dir, which must exist.
func New(fsys fsx.FS, dir string, logger *slog.Logger) *Store {
	return &Store{fs: fsys, dir: dir, logger: logger}
}

// FileName returns the file name of the snapshot at index and term; names sort by index.
func FileName(index raft.Index, term raft.Term) string {
	return fmt.Sprintf("%016x-%016x%s", uint64(index), uint64(term), suffix)
}

func parseName(name string) (Meta, bool) {
	base, ok := strings.CutSuffix(name, suffix)
	if !ok || len(base) != 33 || base[16] != '-' {
		return Meta{}, false
	}
	idx, err1 := strconv.ParseUint(base[:16], 16, 64)
	term, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return Meta{}, false
	}
	return Meta{Index: raft.Index(idx), Term: raft.Term(term), Name: name}, true
}

// Save writes snap durably and atomically. When it returns nil the file survives a crash.
func (s *Store) Save(snap raft.Snapshot) error {
	n, err := s.SaveStream(snap.Metadata, func(w io.Writer) error {
		_, err := w.Write(snap.Data)
		return err
	})
	if err == nil && n != uint64(len(snap.Data)) {
		panic(fmt.Sprintf("snap: saved %d bytes of a %d-byte snapshot", n, len(snap.Data)))
	}
	return err
}

// SaveStream writes, as Save does, the snapshot with metadata m whose data write writes to
// its argument: the data goes to the file as it comes, through a buffer of
// writeBufferBytes, so a large snapshot never sits in memory whole. The file gets the same
// bytes Save would write (the data length in its head and the checksum are filled in at the
// end). It returns the data length. If write fails, or the file cannot be written, the
// temporary file is removed and the snapshots already saved are untouched; a crash
// part-way leaves at most a temporary file, which List ignores and Prune removes.
func (s *Store) SaveStream(m raft.SnapshotMetadata, write func(io.Writer) error) (uint64, error) {
	if m.Index == 0 {
		return 0, errors.New("save snapshot: snapshot is empty")
	}
	path := filepath.Join(s.dir, FileName(m.Index, m.Term))
	tmp := path + ".tmp"
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("save snapshot: %w", err)
	}
	n, err := writeSnapshot(f, m, write)
	if err != nil {
		_ = f.Close()
		_ = s.fs.Remove(tmp)
		return 0, fmt.Errorf("save snapshot %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = s.fs.Remove(tmp)
		return 0, fmt.Errorf("save snapshot %s: %w", tmp, err)
	}
	if err := fsx.CommitRename(s.fs, tmp, path); err != nil {
		return 0, fmt.Errorf("save snapshot: %w", err)
	}
	return n, nil
}

// syncEveryBytes is how much of a snapshot file is written between two flushes. A large
// state written in one go and synced at the end puts tens of megabytes in front of the
// write-ahead log's next fsync on the same disk: followers, which sync before they answer,
// then stall for hundreds of milliseconds, and a leader that hears from none of them steps
// down. Flushing as it goes keeps that queue short.
const syncEveryBytes = 4 << 20

// writeBufferBytes is the buffer between a streamed snapshot's producer and its file:
// small writes are gathered, large ones go straight through.
const writeBufferBytes = 256 << 10

// writeSnapshot writes the file to f: the head with a zero data length, the data as write
// produces it (checksummed and counted on the way, flushed every syncEveryBytes), then the
// real data length over the zero and the checksum, which combines the head's and the
// data's. Then it fsyncs. It returns the data length.
func writeSnapshot(f fsx.File, m raft.SnapshotMetadata, write func(io.Writer) error) (uint64, error) {
	head := encodeHead(m, 0)
	if _, err := f.Write(head); err != nil {
		return 0, err
	}
	dw := &dataWriter{f: f}
	bw := bufio.NewWriterSize(dw, writeBufferBytes)
	if err := write(bw); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if dw.err != nil { // write swallowed an error of ours
		return 0, dw.err
	}
	head = encodeHead(m, dw.n)
	lenAt := len(head) - 8
	if _, err := f.WriteAt(head[lenAt:], int64(lenAt)); err != nil {
		return 0, err
	}
	crc := crcCombine(crc32.Checksum(head, castagnoli), dw.crc, dw.n)
	if _, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc)); err != nil {
		return 0, err
	}
	return dw.n, f.Sync()
}

// dataWriter passes a snapshot's data to its file, checksumming and counting it, and
// flushes the file every syncEveryBytes of data (before writing more: not after the last).
type dataWriter struct {
	f        fsx.File
	crc      uint32 // CRC-32C of the data written
	n        uint64 // data bytes written
	unsynced int    // data bytes written since the last flush
	err      error  // the first error; every later Write returns it
}

func (w *dataWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if w.unsynced == syncEveryBytes {
			if w.err = w.f.DataSync(); w.err != nil {
				return written, w.err
			}
			w.unsynced = 0
		}
		k := min(len(p), syncEveryBytes-w.unsynced)
		n, err := w.f.Write(p[:k])
		w.crc = crc32.Update(w.crc, castagnoli, p[:n])
		w.n += uint64(n)
		w.unsynced += n
		written += n
		if err == nil && n < k {
			err = io.ErrShortWrite
		}
		if err != nil {
			w.err = err
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

// encodeHead returns the file's bytes up to the data, for metadata m and dataLen bytes of
// data.
func encodeHead(m raft.SnapshotMetadata, dataLen uint64) []byte {
	cs := m.ConfState
	b := make([]byte, 0, len(magic)+36+8*(len(cs.Voters)+len(cs.Learners)+len(cs.Removed))+8)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Index))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Term))
	for _, ids := range [][]raft.NodeID{cs.Voters, cs.Learners, cs.Removed} {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
		for _, v := range ids {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return binary.LittleEndian.AppendUint64(b, dataLen)
}

// Decode parses a snapshot file's bytes, of either version. Data aliases b.
func Decode(b []byte) (raft.Snapshot, error) {
	var snap raft.Snapshot
	if len(b) < len(magic)+28+4 {
		return snap, fmt.Errorf("%w: too short (%d bytes)", ErrCorrupt, len(b))
	}
	lists := 0
	switch string(b[:len(magic)]) {
	case magic:
		lists = 3 // voters, learners, removed
	case magicV1:
		lists = 1 // voters only
	default:
		return snap, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc := crc32.Checksum(body, castagnoli); crc != sum {
		return snap, fmt.Errorf("%w: checksum stored %08x, computed %08x", ErrCorrupt, sum, crc)
	}
	p := body[len(magic):]
	snap.Metadata.Index = raft.Index(binary.LittleEndian.Uint64(p[0:8]))
	snap.Metadata.Term = raft.Term(binary.LittleEndian.Uint64(p[8:16]))
	p = p[16:]
	cs := &snap.Metadata.ConfState
	for i, dst := range []*[]raft.NodeID{&cs.Voters, &cs.Learners, &cs.Removed}[:lists] {
		ids, rest, err := decodeIDs(p)
		if err != nil {
			return snap, fmt.Errorf("%w: member list %d: %w", ErrCorrupt, i, err)
		}
		*dst, p = ids, rest
	}
	if len(p) < 8 {
		return snap, fmt.Errorf("%w: no data length", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint64(p[0:8])
	if n != uint64(len(p)-8) {
		return snap, fmt.Errorf("%w: data length %d, %d bytes present", ErrCorrupt, n, len(p)-8)
	}
	snap.Data = p[8:]
	return snap, nil
}

// decodeIDs reads a count u32 and that many u64 node IDs (nil for none), returning the rest.
func decodeIDs(p []byte) ([]raft.NodeID, []byte, error) {
	if len(p) < 4 {
		return nil, nil, errors.New("no count")
	}
	n := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if n > maxVoters || uint64(len(p)) < 8*uint64(n) {
		return nil, nil, fmt.Errorf("%d members do not fit", n)
	}
	var ids []raft.NodeID
	if n > 0 {
		ids = make([]raft.NodeID, n)
	}
	for i := range ids {
		ids[i] = raft.NodeID(binary.LittleEndian.Uint64(p[8*i:]))
	}
	return ids, p[8*n:], nil
}

// List returns the snapshot files in the directory, oldest (lowest index) first. Leftover
// temporary files are ignored.
func (s *Store) List() ([]Meta, error) {
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var metas []Meta
	for _, name := range names {
		if m, ok := parseName(name); ok {
			metas = append(metas, m)
		}
	}
	return metas, nil
}

// Read reads and verifies one snapshot file and checks that its contents match its name.
func (s *Store) Read(m Meta) (raft.Snapshot, error) {
	path := filepath.Join(s.dir, m.Name)
	b, err := s.fs.ReadFile(path)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	snap, err := Decode(b)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	if snap.Metadata.Index != m.Index || snap.Metadata.Term != m.Term {
		return raft.Snapshot{}, fmt.Errorf("read snapshot %s: %w: holds index %d term %d", path, ErrCorrupt,
			snap.Metadata.Index, snap.Metadata.Term)
	}
	return snap, nil
}

// LoadNewest returns the newest snapshot that reads back intact, logging and skipping
// corrupt ones. It returns an empty snapshot when there is none.
func (s *Store) LoadNewest() (raft.Snapshot, error) {
	metas, err := s.List()
	if err != nil {
		return raft.Snapshot{}, err
	}
	for i := len(metas) - 1; i >= 0; i-- {
		snap, err := s.Read(metas[i])
		if err == nil {
			return snap, nil
		}
		if !errors.Is(err, ErrCorrupt) {
			return raft.Snapshot{}, err
		}
		s.logger.Warn("skipping corrupt snapshot", "file", metas[i].Name, "err", err)
	}
	return raft.Snapshot{}, nil
}

// Prune removes leftover temporary files, every snapshot file above index upTo (files the
// log skipped as unreadable) and all but the newest keep of the rest.
func (s *Store) Prune(keep int, upTo raft.Index) error {
	metas, err := s.List()
	if err != nil {
		return err
	}
	names, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("prune snapshots: %w", err)
	}
	var doomed []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix+".tmp") {
			doomed = append(doomed, n)
		}
	}
	for len(metas) > 0 && metas[len(metas)-1].Index > upTo {
		doomed = append(doomed, metas[len(metas)-1].Name)
		metas = metas[:len(metas)-1]
	}
	for i := 0; i+keep < len(metas); i++ {
		doomed = append(doomed, metas[i].Name)
	}
	for _, n := range doomed {
		if err := s.fs.Remove(filepath.Join(s.dir, n)); err != nil {
			return fmt.Errorf("prune snapshots: %w", err)
		}
	}
	return nil
}
