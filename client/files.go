package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// DefaultChunkBytes is the upload chunk size UploadFile uses (each chunk is one log entry).
const DefaultChunkBytes = 256 << 10

// UploadFile uploads size bytes read from r (an io.ReaderAt, so chunks can be re-read when
// an upload resumes on another node) into conv as name, and returns the completed file.
// The whole-file SHA-256 is computed first; each chunk carries its own. After a failure it
// asks the cluster how many chunks it holds and continues from there.
func (c *Client) UploadFile(ctx context.Context, conv, name string, r io.ReaderAt, size int64) (*chatpb.FileRef, error) {
	sum, err := hashReaderAt(r, size)
	if err != nil {
		return nil, err
	}
	start := &chatpb.StartUploadRequest{Meta: c.NewWriteMeta(), ConversationId: conv, Name: name,
		Size: uint64(size), Sha256: sum, ChunkSize: DefaultChunkBytes}
	st, err := invoke(ctx, c, start, chatpb.ChatServiceClient.StartUpload)
	if err != nil {
		return nil, fmt.Errorf("start upload %s: %w", name, err)
	}
	for attempt := 0; !st.GetComplete(); attempt++ {
		if attempt >= c.cfg.MaxAttempts {
			return nil, fmt.Errorf("upload %s: gave up after %d attempts", name, attempt)
		}
		next, err := c.uploadFrom(ctx, r, size, st)
		if err == nil {
			st = next
			continue
		}
		if !retryable(ctx, err) && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("upload %s: %w", name, err)
		}
		// The stream broke: ask (with failover) where the cluster stands and resume.
		req := &chatpb.UploadStatusRequest{FileId: st.GetFileId()}
		if st, err = invoke(ctx, c, req, chatpb.ChatServiceClient.UploadStatus); err != nil {
			return nil, fmt.Errorf("upload %s: status: %w", name, err)
		}
	}
	return st.GetFile(), nil
}

func hashReaderAt(r io.ReaderAt, size int64) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, fmt.Errorf("hash file: %w", err)
	}
	return h.Sum(nil), nil
}

// uploadFrom streams the chunks after st.ChunksReceived to the current node.
func (c *Client) uploadFrom(ctx context.Context, r io.ReaderAt, size int64, st *chatpb.UploadStatusResponse) (*chatpb.UploadStatusResponse, error) {
	node := int(c.cur.Load())
	stream, err := c.rpcs[node].Upload(c.withToken(ctx))
	if err != nil {
		c.failover(node, err)
		return nil, err
	}
	buf := make([]byte, DefaultChunkBytes)
	for i := st.GetChunksReceived(); i < st.GetChunkCount(); i++ {
		off := int64(i) * DefaultChunkBytes
		n, err := r.ReadAt(buf[:min(DefaultChunkBytes, size-off)], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read chunk %d: %w", i, err)
		}
		sum := sha256.Sum256(buf[:n])
		chunk := &chatpb.UploadChunk{Meta: c.NewWriteMeta(), FileId: st.GetFileId(), Index: i, Data: buf[:n], Sha256: sum[:]}
		if err := stream.Send(chunk); err != nil {
			break // the real error comes from CloseAndRecv
		}
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		c.failover(node, err)
	}
	return res, err
}

// ShareFile posts a completed upload into its conversation as a message, with caption as
// its text (may be empty): until then the file exists but no message points to it.
func (c *Client) ShareFile(ctx context.Context, conv string, id uint64, caption string) (*chatpb.Message, error) {
	req := &chatpb.PostMessageRequest{Meta: c.NewWriteMeta(), ConversationId: conv, FileId: id, Text: caption}
	return invoke(ctx, c, req, chatpb.ChatServiceClient.PostMessage)
}

// FileInfo returns the name, size and SHA-256 of file id (to a member of its conversation).
func (c *Client) FileInfo(ctx context.Context, id uint64) (*chatpb.FileRef, error) {
	st, err := invoke(ctx, c, &chatpb.UploadStatusRequest{FileId: id}, chatpb.ChatServiceClient.UploadStatus)
	if err != nil {
		return nil, err
	}
	if !st.GetComplete() {
		return nil, fmt.Errorf("file %d: upload not complete (%d of %d chunks)", id, st.GetChunksReceived(), st.GetChunkCount())
	}
	return st.GetFile(), nil
}

// DownloadFile writes file id to w from byte offset, resuming on another node after the
// bytes already written when a node fails. It returns the bytes written.
func (c *Client) DownloadFile(ctx context.Context, id, offset uint64, w io.Writer) (uint64, error) {
	written := uint64(0)
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		node := int(c.cur.Load())
		n, err := c.downloadOnce(ctx, node, id, offset+written, w)
		written += n
		if err == nil {
			return written, nil
		}
		if !retryable(ctx, err) {
			return written, fmt.Errorf("download %d: %w", id, err)
		}
		c.failover(node, err)
	}
	return written, fmt.Errorf("download %d: gave up after %d attempts", id, c.cfg.MaxAttempts)
}

func (c *Client) downloadOnce(ctx context.Context, node int, id, offset uint64, w io.Writer) (uint64, error) {
	sctx, cancel := context.WithCancel(c.withToken(ctx))
	defer cancel()
	stream, err := c.rpcs[node].Download(sctx, &chatpb.DownloadRequest{FileId: id, Offset: offset})
	if err != nil {
		return 0, err
	}
	written := uint64(0)
	for {
		part, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return written, nil
		}
		if err != nil {
			return written, err
		}
		if part.GetOffset() != offset+written {
			return written, fmt.Errorf("download %d: piece at %d, expected %d", id, part.GetOffset(), offset+written)
		}
		n, err := w.Write(part.GetData())
		written += uint64(n)
		if err != nil {
			return written, fmt.Errorf("write: %w", err)
		}
	}
}
