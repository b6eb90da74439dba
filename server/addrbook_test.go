package server

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

func bookMembers(b *addrBook) map[raft.NodeID]string {
	out := map[raft.NodeID]string{}
	for _, m := range b.all() {
		out[m.ID] = m.PeerAddr + "|" + m.ClientAddr
	}
	return out
}

func TestAddrBook(t *testing.T) {
	path := filepath.Join(t.TempDir(), PeersFile)
	seed := []Member{{ID: 1, PeerAddr: "h:1"}, {ID: 2, PeerAddr: "h:2", ClientAddr: "c:2"}, {ID: 3, PeerAddr: "h:3"}}

	// First start: the seed is the book, and it is on disk.
	b, err := openAddrBook(fsx.OS, path, 2, seed)
	if err != nil {
		t.Fatal(err)
	}
	want := map[raft.NodeID]string{1: "h:1|", 2: "h:2|c:2", 3: "h:3|"}
	if got := bookMembers(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("seeded: %v", got)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("seeded book not written: %v", err)
	}

	// Applied changes: 4 added (with a client address), 1 removed, 3 moved.
	for _, m := range []Member{{ID: 4, PeerAddr: "h:4", ClientAddr: "c:4"}, {ID: 3, PeerAddr: "h:33"}} {
		if changed, err := b.set(m); err != nil || !changed {
			t.Fatalf("set %v: %v %v", m, changed, err)
		}
	}
	if changed, err := b.set(Member{ID: 4, PeerAddr: "h:4"}); err != nil || changed {
		t.Fatalf("setting the same address again (client address kept): %v %v", changed, err)
	}
	if changed, err := b.remove(1); err != nil || !changed {
		t.Fatalf("remove: %v %v", changed, err)
	}
	if changed, err := b.remove(1); err != nil || changed {
		t.Fatalf("remove again: %v %v", changed, err)
	}
	want = map[raft.NodeID]string{2: "h:2|c:2", 3: "h:33|", 4: "h:4|c:4"}
	if got := bookMembers(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("after changes: %v", got)
	}

	// Restart with the original flags: the file wins for the members it knows, the removed
	// node stays out, and this node's own addresses come from its flags.
	seed2 := []Member{{ID: 1, PeerAddr: "h:1"}, {ID: 2, PeerAddr: "h:22"}, {ID: 3, PeerAddr: "h:3", ClientAddr: "c:3"}}
	b2, err := openAddrBook(fsx.OS, path, 2, seed2)
	if err != nil {
		t.Fatal(err)
	}
	want = map[raft.NodeID]string{2: "h:22|c:2", 3: "h:33|c:3", 4: "h:4|c:4"}
	if got := bookMembers(b2); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened: %v", got)
	}
	if m, ok := b2.get(4); !ok || m.ClientAddr != "c:4" {
		t.Fatalf("get 4: %+v %v", m, ok)
	}

	// A removed node added again is a member again.
	if _, err := b2.set(Member{ID: 1, PeerAddr: "h:111"}); err != nil {
		t.Fatal(err)
	}
	b3, err := openAddrBook(fsx.OS, path, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := b3.get(1); !ok || m.PeerAddr != "h:111" {
		t.Fatalf("re-added node after reopening: %+v %v", m, ok)
	}
	if strings.Contains(string(b3.encode()), `"removed"`) {
		t.Fatalf("re-added node still listed as removed:\n%s", b3.encode())
	}

	// No leftover temporary file; a damaged file is an error, not an empty book.
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	for _, bad := range []string{"{", `{"version": 9, "members": []}`, `{"version": 1, "members": [{"id": 0, "peer_addr": "x"}]}`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := openAddrBook(fsx.OS, path, 2, seed); err == nil {
			t.Fatalf("damaged book %q accepted", bad)
		}
	}

	// Without a path the book lives in memory.
	mem, err := openAddrBook(fsx.OS, "", 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.remove(3); err != nil {
		t.Fatal(err)
	}
	if len(mem.all()) != 2 {
		t.Fatalf("in-memory book: %v", mem.all())
	}
}

func TestMemberContextRoundTrip(t *testing.T) {
	peer, client, ok := decodeMemberContext(EncodeMemberContext("127.0.0.1:7104", "127.0.0.1:7004"))
	if !ok || peer != "127.0.0.1:7104" || client != "127.0.0.1:7004" {
		t.Fatalf("round trip: %q %q %v", peer, client, ok)
	}
	for _, b := range [][]byte{nil, {0xff, 0xff}, EncodeMemberContext("", "c:1")} {
		if _, _, ok := decodeMemberContext(b); ok {
			t.Fatalf("context %x accepted", b)
		}
	}
}

// FuzzPeersFile feeds arbitrary bytes to the address book and member context decoders: they
// must never panic, and a book they accept must encode and decode to the same members.
func FuzzPeersFile(f *testing.F) {
	b, _ := openAddrBook(fsx.OS, "", 1, []Member{{ID: 1, PeerAddr: "h:1", ClientAddr: "c:1"}, {ID: 2, PeerAddr: "h:2"}})
	_, _ = b.remove(3)
	f.Add(b.encode())
	f.Add(EncodeMemberContext("127.0.0.1:7104", "127.0.0.1:7004"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = decodeMemberContext(data)
		b := &addrBook{members: map[raft.NodeID]Member{}, removed: map[raft.NodeID]bool{}}
		if b.decode(data) != nil {
			return
		}
		again := &addrBook{members: map[raft.NodeID]Member{}, removed: map[raft.NodeID]bool{}}
		if err := again.decode(b.encode()); err != nil {
			t.Fatalf("re-decoding an accepted book: %v", err)
		}
		if !reflect.DeepEqual(again.members, b.members) || !reflect.DeepEqual(again.removed, b.removed) {
			t.Fatalf("round trip changed the book: %v %v, then %v %v", b.members, b.removed, again.members, again.removed)
		}
	})
}
