package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
)

// downloadPiece bounds one DownloadChunk message.
const downloadPiece = 64 << 10

func (h *handler) StartUpload(ctx context.Context, r *chatpb.StartUploadRequest) (*chatpb.UploadStatusResponse, error) {
	user, res, err := h.write(ctx, r.GetMeta(), &commandpb.Command{Op: &commandpb.Command_BeginUpload{BeginUpload: &commandpb.BeginUpload{
		ConversationId: r.GetConversationId(), Name: r.GetName(), Size: int64(r.GetSize()),
		Sha256: r.GetSha256(), ChunkSize: int64(r.GetChunkSize())}}})
	if err != nil {
		return nil, err
	}
	return h.uploadStatus(ctx, user, res.GetFile().GetFileId(), true)
}

func (h *handler) UploadStatus(ctx context.Context, r *chatpb.UploadStatusRequest) (*chatpb.UploadStatusResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return h.uploadStatus(ctx, p.Username, r.GetFileId(), r.GetRead().GetStale())
}

func (h *handler) uploadStatus(ctx context.Context, user string, id uint64, stale bool) (*chatpb.UploadStatusResponse, error) {
	f, err := h.file(ctx, user, id, stale)
	if err != nil {
		return nil, err
	}
	return &chatpb.UploadStatusResponse{FileId: f.ID, ChunkCount: uint32(f.Chunks()),
		ChunksReceived: uint32(len(f.ChunkHashes)), Complete: f.Complete, File: fileRefPB(&f)}, nil
}

func (h *handler) file(ctx context.Context, user string, id uint64, stale bool) (statemachine.FileInfo, error) {
	var f statemachine.FileInfo
	err := h.s.read(ctx, stale, func(m *statemachine.Machine) (err error) {
		f, err = m.File(user, id)
		return err
	})
	return f, err
}

// Upload receives chunks in order. Chunks the cluster already holds (a resumed upload) are
// skipped; each new chunk's SHA-256 is checked here and again by the state machine; after
// the last chunk the upload is completed, which checks the whole-file SHA-256.
func (h *handler) Upload(stream chatpb.ChatService_UploadServer) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	var last *chatpb.UploadStatusResponse
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if last, err = h.uploadChunk(ctx, p.Username, c); err != nil {
			return err
		}
	}
	if last == nil {
		return status.Error(codes.InvalidArgument, "upload stream carried no chunk")
	}
	if !last.GetComplete() && last.GetChunksReceived() == last.GetChunkCount() {
		cmd := &commandpb.Command{Op: &commandpb.Command_CompleteUpload{CompleteUpload: &commandpb.CompleteUpload{FileId: last.GetFileId()}}}
		// The completion is keyed by the file: retrying it on another node is idempotent.
		meta := &chatpb.WriteMeta{ClientId: fmt.Sprintf("complete-upload/%d", last.GetFileId()), RequestId: 1}
		if _, err := h.s.propose(ctx, p.Username, meta, cmd); err != nil {
			return err
		}
		if last, err = h.uploadStatus(ctx, p.Username, last.GetFileId(), true); err != nil {
			return err
		}
	}
	return stream.SendAndClose(last)
}

func (h *handler) uploadChunk(ctx context.Context, user string, c *chatpb.UploadChunk) (*chatpb.UploadStatusResponse, error) {
	if err := validateRequest(c, &h.s.cfg); err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(c.GetData()); !bytes.Equal(sum[:], c.GetSha256()) {
		return nil, status.Errorf(codes.InvalidArgument, "chunk %d: sha256 mismatch", c.GetIndex())
	}
	st, err := h.uploadStatus(ctx, user, c.GetFileId(), true)
	if err != nil {
		return nil, err
	}
	if c.GetIndex() < st.GetChunksReceived() {
		return st, nil // already stored: a resumed upload resends it harmlessly
	}
	cmd := &commandpb.Command{Op: &commandpb.Command_UploadChunk{UploadChunk: &commandpb.UploadChunk{
		FileId: c.GetFileId(), Index: int64(c.GetIndex()), Data: c.GetData(), Sha256: c.GetSha256()}}}
	if _, err := h.s.propose(ctx, user, c.GetMeta(), cmd); err != nil {
		return nil, err
	}
	return h.uploadStatus(ctx, user, c.GetFileId(), true)
}

// Download streams a complete file from offset, chunk by chunk from the blob store, checking
// every chunk against its recorded SHA-256 before sending any of it.
func (h *handler) Download(r *chatpb.DownloadRequest, stream chatpb.ChatService_DownloadServer) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	f, err := h.file(ctx, p.Username, r.GetFileId(), r.GetRead().GetStale())
	if err != nil {
		return err
	}
	if !f.Complete {
		return status.Errorf(codes.FailedPrecondition, "file %d is not completely uploaded", f.ID)
	}
	off := r.GetOffset()
	if off > uint64(f.Size) {
		return status.Errorf(codes.OutOfRange, "offset %d beyond file size %d", off, f.Size)
	}
	first := true
	for i, sum := range f.ChunkHashes {
		start := uint64(i) * uint64(f.ChunkSize)
		data, err := h.readChunk(ctx, sum)
		if err != nil {
			return err
		}
		end := start + uint64(len(data))
		if end <= off {
			continue
		}
		data = data[max(off, start)-start:]
		for len(data) > 0 {
			n := min(len(data), downloadPiece)
			msg := &chatpb.DownloadChunk{Offset: end - uint64(len(data)), Data: data[:n]}
			if first {
				msg.File, first = fileRefPB(&f), false
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			data = data[n:]
		}
	}
	if first { // empty tail: still say which file this is
		return stream.Send(&chatpb.DownloadChunk{Offset: off, File: fileRefPB(&f)})
	}
	return nil
}

func (h *handler) readChunk(ctx context.Context, sum []byte) ([]byte, error) {
	var key [32]byte
	copy(key[:], sum)
	rc, err := h.s.b.OpenBlob(ctx, key)
	if err != nil {
		return nil, toStatus(err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(io.LimitReader(rc, int64(h.s.cfg.MaxChunkBytes)+1))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read blob %x: %v", sum, err)
	}
	if got := sha256.Sum256(data); !bytes.Equal(got[:], sum) {
		return nil, status.Errorf(codes.DataLoss, "blob %x is corrupt on this node", sum)
	}
	return data, nil
}
