package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/raftchat/raftchat/node"
	"github.com/raftchat/raftchat/storage"
	"github.com/raftchat/raftchat/storage/blob"
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
	blobs, err := blob.Open(filepath.Join(dir, "blobs"), blob.Options{})
	if err != nil {
		_ = dl.Close()
		return nil, nil, nil, fmt.Errorf("open blobs in %s: %w", dir, err)
	}
	return dl, blobs, dl.Close, nil
}
