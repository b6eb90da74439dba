package statemachine

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"strings"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// File uploads and the whole-file check.
//
// BeginUpload declares name, size, SHA-256 and chunk size; the file has ceil(size/chunk_size)
// chunks, each chunk_size bytes except a shorter last one. UploadChunk commands must come in
// index order (a retry of an already received chunk with the same hash is accepted and changes
// nothing). For each chunk the machine checks sha256(data) == the carried hash, stores only that
// hash, and feeds the bytes into the file's streaming SHA-256, whose marshaled state (about 100
// bytes) is all it keeps of them. CompleteUpload then compares the streaming digest with the
// declared whole-file hash, so a complete file is verified end to end although no replica keeps
// the bytes in memory: they live in the node's content-addressed blob store, keyed by the chunk
// hashes, which the node fills from the UploadChunk entries it applies.

const maxFileNameBytes = 255

func checkFileName(name string) *Error {
	if err := checkText("file name", name, maxFileNameBytes, false); err != nil {
		return err
	}
	if strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return errorf(CodeInvalidArgument, "file name %q contains a path", name)
	}
	return nil
}

func (m *Machine) beginUpload(x *applyCtx, op *commandpb.BeginUpload) *Error {
	c, _, err := m.memberConv(x, op.GetConversationId())
	if err != nil {
		return err
	}
	if err := checkFileName(op.GetName()); err != nil {
		return err
	}
	if op.GetSize() < 0 || op.GetChunkSize() <= 0 {
		return errorf(CodeInvalidArgument, "size %d and chunk size %d", op.GetSize(), op.GetChunkSize())
	}
	if op.GetSize() > m.cfg.MaxFileBytes {
		return errorf(CodeTooLarge, "file of %d bytes, max %d", op.GetSize(), m.cfg.MaxFileBytes)
	}
	if op.GetChunkSize() > m.cfg.MaxChunkBytes {
		return errorf(CodeTooLarge, "chunk size %d, max %d", op.GetChunkSize(), m.cfg.MaxChunkBytes)
	}
	if len(op.GetSha256()) != sha256.Size {
		return errorf(CodeInvalidArgument, "sha256 of %d bytes", len(op.GetSha256()))
	}
	if n := m.livePending(x); n >= m.cfg.MaxPendingUploadsPerUser {
		return errorf(CodeResourceExhausted, "%d unfinished uploads, max %d", n, m.cfg.MaxPendingUploadsPerUser)
	}
	state, merr := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	mustf(merr == nil, "marshal sha256 state: %v", merr)
	f := &file{
		id:        m.st.nextFile,
		conv:      c.id,
		name:      op.GetName(),
		uploader:  x.actor.name,
		size:      op.GetSize(),
		sha:       append([]byte(nil), op.GetSha256()...),
		chunkSize: op.GetChunkSize(),
		createdMs: x.nowMs,
		hashState: state,
	}
	m.st.nextFile++
	m.st.files[f.id] = f
	x.actor.pending = append(x.actor.pending, f.id) // ids grow, so it stays sorted
	fileResult(x, f)
	return nil
}

// livePending counts the actor's unfinished uploads that have not expired (expired ones wait
// for the next sweep but no longer count).
func (m *Machine) livePending(x *applyCtx) int {
	n := 0
	for _, id := range x.actor.pending {
		if f := m.liveFile(x, id); f != nil {
			n++
		}
	}
	return n
}

// liveFile finds a complete file or an unexpired upload.
func (m *Machine) liveFile(x *applyCtx, id uint64) *file {
	f := m.st.files[id]
	if f == nil || (!f.complete && x.nowMs-f.createdMs >= m.cfg.UploadTTLMs) {
		return nil
	}
	return f
}

// ownUpload finds a live upload of the actor.
func (m *Machine) ownUpload(x *applyCtx, id uint64) (*file, *Error) {
	f := m.liveFile(x, id)
	if f == nil {
		return nil, errorf(CodeNotFound, "no upload %d", id)
	}
	if f.uploader != x.actor.name {
		return nil, errorf(CodePermissionDenied, "upload %d belongs to %q", id, f.uploader)
	}
	return f, nil
}

func (f *file) chunkLen(i int64) int64 {
	if i == chunkCount(f.size, f.chunkSize)-1 {
		return f.size - i*f.chunkSize
	}
	return f.chunkSize
}

func (m *Machine) uploadChunk(x *applyCtx, op *commandpb.UploadChunk) *Error {
	f, err := m.ownUpload(x, op.GetFileId())
	if err != nil {
		return err
	}
	i, n := op.GetIndex(), chunkCount(f.size, f.chunkSize)
	if i < 0 || i >= n {
		return errorf(CodeOutOfRange, "chunk %d of a %d-chunk file", i, n)
	}
	sum := sha256.Sum256(op.GetData())
	if !bytes.Equal(sum[:], op.GetSha256()) {
		return errorf(CodeInvalidArgument, "chunk %d does not match its sha256", i)
	}
	if i < int64(len(f.chunks)) {
		if !bytes.Equal(f.chunks[i], sum[:]) {
			return errorf(CodeAlreadyExists, "chunk %d was received with other contents", i)
		}
		fileResult(x, f) // a retried chunk: nothing to do
		return nil
	}
	if i > int64(len(f.chunks)) {
		return errorf(CodeFailedPrecondition, "chunk %d before chunk %d", i, len(f.chunks))
	}
	if want := f.chunkLen(i); int64(len(op.GetData())) != want {
		return errorf(CodeInvalidArgument, "chunk %d has %d bytes, want %d", i, len(op.GetData()), want)
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(f.hashState); err != nil {
		return errorf(CodeFailedPrecondition, "upload %d hash state: %v", f.id, err)
	}
	h.Write(op.GetData())
	state, merr := h.(encoding.BinaryMarshaler).MarshalBinary()
	mustf(merr == nil, "marshal sha256 state: %v", merr)
	f.hashState = state
	f.chunks = append(f.chunks, sum[:])
	fileResult(x, f)
	return nil
}

func (m *Machine) completeUpload(x *applyCtx, op *commandpb.CompleteUpload) *Error {
	f, err := m.ownUpload(x, op.GetFileId())
	if err != nil {
		return err
	}
	if f.complete {
		fileResult(x, f)
		return nil
	}
	if got, n := int64(len(f.chunks)), chunkCount(f.size, f.chunkSize); got != n {
		return errorf(CodeFailedPrecondition, "upload %d has %d of %d chunks", f.id, got, n)
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(f.hashState); err != nil {
		return errorf(CodeFailedPrecondition, "upload %d hash state: %v", f.id, err)
	}
	if !bytes.Equal(h.Sum(nil), f.sha) {
		return errorf(CodeFailedPrecondition, "upload %d: chunks do not hash to the declared sha256", f.id)
	}
	f.complete = true
	f.hashState = nil
	m.dropUpload(f)
	fileResult(x, f)
	return nil
}

func (m *Machine) shareFile(x *applyCtx, op *commandpb.ShareFile) *Error {
	f := m.liveFile(x, op.GetFileId())
	if f == nil {
		return errorf(CodeNotFound, "no file %d", op.GetFileId())
	}
	c, mb, err := m.memberConv(x, f.conv)
	if err != nil {
		return err
	}
	if !f.complete {
		return errorf(CodeFailedPrecondition, "file %d is not complete", f.id)
	}
	if err := checkText("caption", op.GetText(), m.cfg.MaxTextBytes, true); err != nil {
		return err
	}
	m.post(x, c, mb, op.GetText(), 0, f.id)
	return nil
}
