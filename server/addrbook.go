package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

// PeersFile is the name of the address book in a node's data directory.
const PeersFile = "peers.json"

const addrBookVersion = 1

// addrBook maps node IDs to their addresses. Membership itself lives in the Raft log and
// snapshots; the addresses ride along in the Context of each change entry, and the book keeps
// them once that entry is compacted into a snapshot, so a restarted node can still reach every
// member. It also remembers the nodes removed from the cluster, so that a restart with the
// original --cluster flags does not bring their addresses back.
//
// Every change is written to the file atomically (temporary file, fsync, rename, fsync of the
// directory) before it is visible. Safe for concurrent use.
type addrBook struct {
	fs   fsx.FS
	path string // empty: kept in memory only

	mu      sync.RWMutex
	members map[raft.NodeID]Member
	removed map[raft.NodeID]bool
}

// addrBookFile is the file's JSON form. Lists are sorted so equal books are equal files.
type addrBookFile struct {
	Version int          `json:"version"`
	Members []bookMember `json:"members"`
	Removed []uint64     `json:"removed,omitempty"`
}

type bookMember struct {
	ID         uint64 `json:"id"`
	PeerAddr   string `json:"peer_addr"`
	ClientAddr string `json:"client_addr,omitempty"`
}

// openAddrBook reads the book at path (empty path: an in-memory book) and fills in the seed
// members it does not know and has not seen removed: the file, which follows every applied
// change, is newer than the command line that seeds it. self is always taken from the seed,
// since this node's own addresses are whatever it was started with. The result is written
// back when it differs from the file.
func openAddrBook(fsys fsx.FS, path string, self raft.NodeID, seed []Member) (*addrBook, error) {
	b := &addrBook{fs: fsys, path: path, members: map[raft.NodeID]Member{}, removed: map[raft.NodeID]bool{}}
	if path != "" {
		data, err := fsys.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read address book: %w", err)
		default:
			if err := b.decode(data); err != nil {
				return nil, fmt.Errorf("address book %s: %w", path, err)
			}
		}
	}
	before := b.encode()
	for _, m := range seed {
		old, known := b.members[m.ID]
		switch {
		case m.ID == self:
			if m.ClientAddr == "" {
				m.ClientAddr = old.ClientAddr
			}
			b.members[m.ID] = m
			delete(b.removed, m.ID)
		case !known && !b.removed[m.ID]:
			b.members[m.ID] = m
		case known && old.ClientAddr == "" && m.ClientAddr != "":
			old.ClientAddr = m.ClientAddr
			b.members[m.ID] = old
		}
	}
	if path != "" && string(before) != string(b.encode()) {
		if err := b.save(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *addrBook) decode(data []byte) error {
	var f addrBookFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if f.Version != addrBookVersion {
		return fmt.Errorf("unknown version %d", f.Version)
	}
	for _, m := range f.Members {
		if m.ID == 0 || m.PeerAddr == "" {
			return fmt.Errorf("bad member %+v", m)
		}
		b.members[raft.NodeID(m.ID)] = Member{ID: raft.NodeID(m.ID), PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr}
	}
	for _, id := range f.Removed {
		b.removed[raft.NodeID(id)] = true
	}
	return nil
}

// encode returns the file's bytes; the caller holds mu (or owns b).
func (b *addrBook) encode() []byte {
	f := addrBookFile{Version: addrBookVersion, Members: []bookMember{}}
	for _, m := range b.sortedLocked() {
		f.Members = append(f.Members, bookMember{ID: uint64(m.ID), PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr})
	}
	for id := range b.removed {
		f.Removed = append(f.Removed, uint64(id))
	}
	slices.Sort(f.Removed)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("encode address book: %v", err)) // plain structs always encode
	}
	return append(data, '\n')
}

func (b *addrBook) save() error {
	if b.path == "" {
		return nil
	}
	if err := fsx.WriteFileAtomic(b.fs, b.path, b.encode()); err != nil {
		return fmt.Errorf("save address book: %w", err)
	}
	return nil
}

func (b *addrBook) sortedLocked() []Member {
	out := make([]Member, 0, len(b.members))
	for _, m := range b.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Member) int { return cmpID(x.ID, y.ID) })
	return out
}

func cmpID(a, b raft.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// get returns the addresses of id.
func (b *addrBook) get(id raft.NodeID) (Member, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m, ok := b.members[id]
	return m, ok
}

// all returns every known member, sorted by ID.
func (b *addrBook) all() []Member {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sortedLocked()
}

// set records m (an empty ClientAddr keeps the one known) and saves the book. It reports
// whether anything changed.
func (b *addrBook) set(m Member) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, known := b.members[m.ID]
	if m.ClientAddr == "" {
		m.ClientAddr = old.ClientAddr
	}
	if known && old == m && !b.removed[m.ID] {
		return false, nil
	}
	b.members[m.ID] = m
	delete(b.removed, m.ID)
	return true, b.save()
}

// remove forgets id's addresses, remembers that it was removed, and saves the book. It
// reports whether anything changed.
func (b *addrBook) remove(id raft.NodeID) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, known := b.members[id]; !known && b.removed[id] {
		return false, nil
	}
	delete(b.members, id)
	b.removed[id] = true
	return true, b.save()
}

// isRemoved reports whether id was removed from the cluster (and not added again since).
func (b *addrBook) isRemoved(id raft.NodeID) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.removed[id]
}
