package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/storage"
)

// openDataDir opens the durable stores of a node in dir: the log (dir itself, which the
// DiskLog locks against a second process) and the blobs (dir/blobs).
func openDataDir(dir string, log *slog.Logger) (node.LogStore, BlobStore, func() error, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	opts := storage.DefaultOptions()
	opts.Logger = log
	dl, err := storage.Open(dir, opts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open log in %s: %w", dir, err)
	}
	blobs, err := openDirBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		_ = dl.Close()
		return nil, nil, nil, err
	}
	return dl, blobs, dl.Close, nil
}

// dirBlobs is a content-addressed blob store: one file per SHA-256 sum, written to a
// temporary file, synced and renamed into place, so a file under a sum is always complete.
type dirBlobs struct{ dir string }

func openDirBlobs(dir string) (*dirBlobs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	return &dirBlobs{dir: dir}, nil
}

func (b *dirBlobs) path(sum [32]byte) string { return filepath.Join(b.dir, hex.EncodeToString(sum[:])) }

// Put implements node.BlobStore; it rejects bytes that do not hash to sum.
func (b *dirBlobs) Put(sum [32]byte, data []byte) error {
	if sha256.Sum256(data) != sum {
		return fmt.Errorf("put blob %x: checksum mismatch", sum[:8])
	}
	f, err := os.CreateTemp(b.dir, "tmp-*")
	if err != nil {
		return fmt.Errorf("put blob %x: %w", sum[:8], err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, b.path(sum))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("put blob %x: %w", sum[:8], err)
	}
	return nil
}

// Has implements node.BlobStore.
func (b *dirBlobs) Has(sum [32]byte) bool {
	_, err := os.Stat(b.path(sum))
	return err == nil
}

// Open implements BlobStore.
func (b *dirBlobs) Open(sum [32]byte) (io.ReadCloser, error) {
	f, err := os.Open(b.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open blob %x: %w", sum[:8], err)
	}
	return f, err
}
