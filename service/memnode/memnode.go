// Package memnode is an in-process, single-replica service.Backend built on a real
// statemachine.Machine: proposals apply synchronously in call order. Tests of the service,
// the client library and cmd/chat use it where a real cluster would be too slow.
package memnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/service"
	"github.com/raftchat/raftchat/statemachine"
)

// retained bounds the applied entries kept for Subscribe replay.
const retained = 4096

type entry struct {
	index uint64
	cmd   *commandpb.Command
	res   *commandpb.Result
}

// Node is a one-replica Backend. It is safe for concurrent use.
type Node struct {
	mu      sync.RWMutex
	m       *statemachine.Machine
	entries []entry // the newest applied entries, oldest first
	blobs   map[[32]byte][]byte
	applied chan struct{} // closed and replaced on every apply
	// failPropose, when set, is returned by Propose instead of applying.
	failPropose error
	// clientAddr is the address Status reports for this node's clients.
	clientAddr string
}

// SetClientAddr sets the client address Status reports for the node (where a test serves
// it), as a real node reports its --client-addr.
func (n *Node) SetClientAddr(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.clientAddr = addr
}

// SetFailPropose makes every Propose fail with err (nil: apply again), to inject the
// errors a real node returns without a leader.
func (n *Node) SetFailPropose(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failPropose = err
}

var _ service.Backend = (*Node)(nil)

// New returns an empty node running a machine with cfg.
func New(cfg statemachine.Config) (*Node, error) {
	m, err := statemachine.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("memnode: %w", err)
	}
	return &Node{m: m, blobs: map[[32]byte][]byte{}, applied: make(chan struct{})}, nil
}

// Propose implements service.Backend: it encodes cmd, applies it at the next index and
// stores the bytes of an accepted upload chunk in the blob map.
func (n *Node) Propose(ctx context.Context, cmd *commandpb.Command) (*commandpb.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("memnode: encode command: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failPropose != nil {
		return nil, n.failPropose
	}
	index := n.m.AppliedIndex() + 1
	res := n.m.Apply(index, data)
	if c := cmd.GetUploadChunk(); c != nil && res.GetCode() == commandpb.ErrorCode_OK {
		n.blobs[sha256.Sum256(c.GetData())] = bytes.Clone(c.GetData())
	}
	n.entries = append(n.entries, entry{index: index, cmd: cmd, res: res})
	if len(n.entries) > retained {
		n.entries = n.entries[len(n.entries)-retained:]
	}
	close(n.applied)
	n.applied = make(chan struct{})
	return res, nil
}

// Read implements service.Backend; a single replica is always linearizable.
func (n *Node) Read(ctx context.Context, _ bool, fn func(*statemachine.Machine) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return fn(n.m)
}

// Subscribe implements service.Backend.
func (n *Node) Subscribe(ctx context.Context, after uint64, fn func(uint64, *commandpb.Command, *commandpb.Result) error) error {
	for {
		n.mu.RLock()
		var batch []entry
		compacted := len(n.entries) > 0 && after+1 < n.entries[0].index
		for _, e := range n.entries {
			if e.index > after {
				batch = append(batch, e)
			}
		}
		wait := n.applied
		n.mu.RUnlock()
		if compacted {
			return fmt.Errorf("memnode: after %d: %w", after, service.ErrEventsCompacted)
		}
		for _, e := range batch {
			if err := fn(e.index, e.cmd, e.res); err != nil {
				return err
			}
			after = e.index
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// OpenBlob implements service.Backend.
func (n *Node) OpenBlob(_ context.Context, sum [32]byte) (io.ReadCloser, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	b, ok := n.blobs[sum]
	if !ok {
		return nil, fmt.Errorf("memnode: blob %x: %w", sum[:4], service.ErrBlobNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// CorruptBlob flips a byte of the stored blob (tests of the download check).
func (n *Node) CorruptBlob(sum [32]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b := n.blobs[sum]; len(b) > 0 {
		b[0] ^= 0xff
	}
}

// Status implements service.Backend: one node, always the leader.
func (n *Node) Status(context.Context) (service.ClusterStatus, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	a := n.m.AppliedIndex()
	return service.ClusterStatus{ID: 1, Role: "leader", Term: 1, Leader: 1, Commit: a, Applied: a, Quorum: true,
		Peers: []service.PeerStatus{{ID: 1, Reachable: true, Match: a, ClientAddr: n.clientAddr}}}, nil
}
