package storage

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/raftchat/raftchat/storage/fsx"
	"github.com/raftchat/raftchat/storage/wal"
)

// Segments are preallocated: once the current segment is half full (or right away if it
// has no preallocated room), a spare file is filled with zeros to SegmentBytes and fsynced
// in the background, and rotation turns it into the next segment by writing the header and
// renaming it. Appending then overwrites blocks the file system already holds, so each
// fdatasync flushes data only, with no journal commit for a growing file size; on ext4
// that cuts the cost of the per-Save sync noticeably. Recovery treats the zeros after the
// last record as the normal end of a segment.

const spareName = "spare.tmp"

// zeros is the fill source; it is only ever read.
var zeros [1 << 20]byte

// preparer fills spare segment files on its own goroutine, one at a time. Its fields
// below done belong to the DiskLog's side (under the DiskLog's mutex).
type preparer struct {
	fs     fsx.FS
	path   string
	size   int64
	logger *slog.Logger
	req    chan struct{} // one request at a time; closed by stop
	readyc chan fsx.File // the prepared file, or nil after a failure
	done   chan struct{} // closed when run returns

	busy   bool     // a request is outstanding
	spare  fsx.File // a prepared spare received and not yet used
	gaveUp bool     // the last attempt failed: no retry until the next segment starts
}

func newPreparer(fsys fsx.FS, walDir string, size int64, logger *slog.Logger) *preparer {
	p := &preparer{
		fs: fsys, path: filepath.Join(walDir, spareName), size: size, logger: logger,
		req: make(chan struct{}, 1), readyc: make(chan fsx.File, 1), done: make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *preparer) run() {
	defer close(p.done)
	for range p.req {
		f, err := fillSpare(p.fs, p.path, p.size)
		if err != nil {
			p.logger.Warn("wal: preallocating a segment failed; the next one will grow as it is written", "err", err)
		}
		p.readyc <- f
	}
}

// request asks for a spare unless one is in hand or being prepared, or the last attempt
// failed during this segment.
func (p *preparer) request() {
	if !p.busy && p.spare == nil && !p.gaveUp {
		p.busy = true
		p.req <- struct{}{}
	}
}

// receive records the answer to the outstanding request.
func (p *preparer) receive(f fsx.File) {
	p.busy = false
	p.spare = f
	p.gaveUp = f == nil
}

// poll reports whether a spare is in hand, without waiting.
func (p *preparer) poll() bool {
	if p.spare == nil && p.busy {
		select {
		case f := <-p.readyc:
			p.receive(f)
		default:
		}
	}
	return p.spare != nil
}

// take hands over the spare in hand, if any, without waiting.
func (p *preparer) take() fsx.File {
	p.poll()
	f := p.spare
	p.spare = nil
	return f
}

// newSegment re-arms a preparer that gave up: a new segment is a new chance.
func (p *preparer) newSegment() { p.gaveUp = false }

// wait blocks until the outstanding request is answered.
func (p *preparer) wait() {
	if p.busy {
		p.receive(<-p.readyc)
	}
}

// stop ends the goroutine and removes any spare it left.
func (p *preparer) stop() {
	close(p.req)
	<-p.done
	select {
	case f := <-p.readyc:
		p.receive(f)
	default:
	}
	if p.spare != nil {
		_ = p.spare.Close()
		p.spare = nil
	}
	_ = p.fs.Remove(p.path)
}

// fillSpare writes size zero bytes to a fresh file at path and fsyncs it.
func fillSpare(fsys fsx.FS, path string, size int64) (fsx.File, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create spare segment: %w", err)
	}
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), size-off)]); err != nil {
			_ = f.Close()
			_ = fsys.Remove(path)
			return nil, fmt.Errorf("fill spare segment: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = fsys.Remove(path)
		return nil, fmt.Errorf("sync spare segment: %w", err)
	}
	return f, nil
}

// installSpare turns a prepared spare into segment path: header written and synced while
// it still has its temporary name, then renamed into place and the directory synced, so
// a segment file always starts with a valid header.
func installSpare(fsys fsx.FS, f fsx.File, spare, path string, header []byte) error {
	if _, err := f.WriteAt(header, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("write segment header: %w", err)
	}
	if err := f.DataSync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync segment header: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close spare segment: %w", err)
	}
	return fsx.CommitRename(fsys, spare, path)
}

// tailIsZero reports whether a segment's bytes after its last record are preallocated
// zeros rather than a torn or corrupt tail.
func tailIsZero(data []byte, end int) bool { return wal.AllZero(data[end:]) }
