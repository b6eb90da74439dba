package storage_test

import (
	"fmt"
	"os"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage"
)

// The driver's use: Save each Ready (sync when Ready.MustSync), SaveSnapshot when the
// state machine is snapshotted, Load once at start.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "raftchat-example")
	defer func() { _ = os.RemoveAll(dir) }()

	log, err := storage.Open(dir, storage.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	ents := []raft.Entry{{Term: 1, Index: 1, Data: []byte("a")}, {Term: 1, Index: 2, Data: []byte("b")}}
	if err := log.Save(raft.HardState{Term: 1, Vote: 1, Commit: 2}, ents, true); err != nil {
		fmt.Println(err)
		return
	}
	snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 1, Term: 1}, Data: []byte("state@1")}
	if err := log.SaveSnapshot(snap); err != nil {
		fmt.Println(err)
		return
	}
	_ = log.Close()

	log, err = storage.Open(dir, storage.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = log.Close() }()
	hs, sn, rest, _ := log.Load()
	fmt.Printf("hard state %+v, snapshot at %d, %d entry after it\n", hs, sn.Metadata.Index, len(rest))
	// Output: hard state {Term:1 Vote:1 Commit:2}, snapshot at 1, 1 entry after it
}
