package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/raftchat/raftchat/client"
)

// TestFileUploadedThroughOneNodeDownloadsFromEvery uploads a multi-chunk file through one
// node and downloads it, whole and from an offset, from each node on its own: the bytes
// travel with the log into every node's blob store.
func TestFileUploadedThroughOneNodeDownloadsFromEvery(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := c.newClient(0)
	if _, err := alice.SignUp(ctx, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	g, err := alice.CreateGroup(ctx, "files")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640000 bytes: 3 chunks
	f, err := alice.UploadFile(ctx, g.GetId(), "data.bin", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(f.GetSha256(), sum[:]) {
		t.Fatalf("file ref %v", f)
	}
	for i, p := range c.procs {
		one, err := client.New(client.Config{Addrs: []string{p.clientAddr}, MaxAttempts: 20, Backoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = one.Close() })
		if _, err := one.Login(ctx, "alice", "alice-password"); err != nil {
			t.Fatal(err)
		}
		for _, off := range []uint64{0, 300_001} {
			var buf bytes.Buffer
			if _, err := one.DownloadFile(ctx, f.GetFileId(), off, &buf); err != nil {
				t.Fatalf("download from node %d at %d: %v", i+1, off, err)
			}
			if !bytes.Equal(buf.Bytes(), data[off:]) {
				t.Fatalf("node %d at offset %d: %d bytes differ from the upload", i+1, off, buf.Len())
			}
		}
	}
}
