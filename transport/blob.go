package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// blobPieceBytes is the size of one piece of a blob on the wire.
const blobPieceBytes = 256 << 10

// ErrBlobUnavailable is returned when the peer does not hold the blob (or serves no blobs).
var ErrBlobUnavailable = errors.New("transport: peer does not hold the blob")

// FetchBlob implements raftpb.RaftServer: it streams the blob with the requested SHA-256 from
// Config.OpenBlob.
func (t *Transport) FetchBlob(req *raftpb.BlobRequest, st raftpb.Raft_FetchBlobServer) error {
	var sum [32]byte
	if len(req.GetSha256()) != len(sum) || t.cfg.OpenBlob == nil {
		return status.Error(codes.NotFound, "no such blob")
	}
	copy(sum[:], req.GetSha256())
	r, err := t.cfg.OpenBlob(sum)
	if err != nil {
		return status.Errorf(codes.NotFound, "blob %x: %v", sum[:8], err)
	}
	defer func() { _ = r.Close() }()
	buf := make([]byte, blobPieceBytes)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if serr := st.Send(&raftpb.BlobPiece{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.DataLoss, "read blob %x: %v", sum[:8], err)
		}
	}
}

// DownloadBlob asks peer for the blob with the given SHA-256 and returns its bytes after checking
// them against the sum. A blob is one upload chunk, so it is held in memory, up to maxBytes.
func (t *Transport) DownloadBlob(ctx context.Context, peer raft.NodeID, sum [32]byte, maxBytes int) ([]byte, error) {
	p := t.peerMap()[peer]
	if p == nil {
		return nil, fmt.Errorf("fetch blob from unknown peer %d", peer)
	}
	st, err := raftpb.NewRaftClient(p.conn).FetchBlob(ctx, &raftpb.BlobRequest{Sha256: sum[:]})
	if err != nil {
		return nil, fmt.Errorf("fetch blob %x from %d: %w", sum[:8], peer, err)
	}
	var buf bytes.Buffer
	for {
		piece, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("fetch blob %x from %d: %w", sum[:8], peer, ErrBlobUnavailable)
		}
		if err != nil {
			return nil, fmt.Errorf("fetch blob %x from %d: %w", sum[:8], peer, err)
		}
		if buf.Len()+len(piece.GetData()) > maxBytes {
			return nil, fmt.Errorf("fetch blob %x from %d: larger than %d bytes", sum[:8], peer, maxBytes)
		}
		buf.Write(piece.GetData())
	}
	if sha256.Sum256(buf.Bytes()) != sum {
		return nil, fmt.Errorf("fetch blob %x from %d: bytes do not match the sum", sum[:8], peer)
	}
	return buf.Bytes(), nil
}
