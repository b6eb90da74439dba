package storage

import (
	"fmt"
	"log/slog"

	"github.com/raftchat/raftchat/storage/fsx"
)

// Bounds on Options. Zero never means "unlimited": a zero limit is rejected.
const (
	MinSegmentBytes = 4 << 10
	MaxSegmentBytes = 1 << 30
	MinBufferBytes  = 4 << 10
	MaxBufferBytes  = 256 << 20
	// KeepSnapshots is how many snapshot files are retained; the WAL keeps enough segments
	// to rebuild the log from the oldest of them, so a corrupt newest snapshot can fall back.
	KeepSnapshots = 2
)

// Options configures a DiskLog. Start from DefaultOptions.
type Options struct {
	// SegmentBytes is the size at which the log closes its current segment file and starts
	// a new one. A segment exceeds it by at most one Save's records.
	SegmentBytes int64
	// BufferBytes bounds the records that Saves without sync may hold in memory before
	// they are written to the segment file (still without fsync).
	BufferBytes int
	// Preallocate fills each new segment with zeros to SegmentBytes ahead of time, on a
	// background goroutine, so that appends overwrite allocated blocks and fdatasync has
	// no file-size change to commit. It costs SegmentBytes of disk for the spare.
	Preallocate bool
	// Logger receives recovery reports (a cut torn tail, a skipped corrupt snapshot) and
	// cleanup warnings. Nil discards them.
	Logger *slog.Logger
	// FS is the file system; nil is the real one. Tests inject faults through it.
	FS fsx.FS
}

// DefaultOptions returns the options chatd uses.
func DefaultOptions() Options {
	return Options{SegmentBytes: 64 << 20, BufferBytes: 1 << 20, Preallocate: true}
}

func (o *Options) validate() error {
	if o.SegmentBytes < MinSegmentBytes || o.SegmentBytes > MaxSegmentBytes {
		return fmt.Errorf("storage options: SegmentBytes %d outside [%d, %d]", o.SegmentBytes, MinSegmentBytes, MaxSegmentBytes)
	}
	if o.BufferBytes < MinBufferBytes || o.BufferBytes > MaxBufferBytes {
		return fmt.Errorf("storage options: BufferBytes %d outside [%d, %d]", o.BufferBytes, MinBufferBytes, MaxBufferBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = fsx.OS
	}
	return nil
}
