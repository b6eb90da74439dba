package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

func mkEnts(term raft.Term, lo, hi raft.Index) []raft.Entry {
	var out []raft.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, raft.Entry{Term: term, Index: i})
	}
	return out
}

func TestDiskSyncedWritesSurviveCrash(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		d := NewDisk(rand.New(rand.NewPCG(seed, 1)))
		_ = d.Save(raft.HardState{Term: 2, Vote: 1}, mkEnts(2, 1, 3), true)
		_ = d.Save(raft.HardState{Term: 2, Vote: 1, Commit: 3}, mkEnts(2, 4, 9), false)
		d.Crash()
		hs, _, ents, _ := d.Load()
		if hs.Term != 2 || hs.Vote != 1 {
			t.Fatalf("seed %d: lost synced hard state: %+v", seed, hs)
		}
		if len(ents) < 3 || len(ents) > 9 {
			t.Fatalf("seed %d: %d entries after crash", seed, len(ents))
		}
		for i, e := range ents {
			if e.Index != raft.Index(i+1) {
				t.Fatalf("seed %d: hole in recovered log: %v", seed, ents)
			}
		}
	}
}

func TestDiskCrashCanLoseAndTear(t *testing.T) {
	lost, torn := false, false
	for seed := uint64(0); seed < 200; seed++ {
		d := NewDisk(rand.New(rand.NewPCG(seed, 7)))
		_ = d.Save(raft.HardState{Term: 1}, mkEnts(1, 1, 1), true)
		_ = d.Save(raft.HardState{}, mkEnts(1, 2, 6), false)
		d.Crash()
		_, _, ents, _ := d.Load()
		switch len(ents) {
		case 1:
			lost = true
		case 2, 3, 4, 5:
			torn = true
		}
	}
	if !lost || !torn {
		t.Fatalf("crash never lost (%v) or never tore (%v) an unsynced write", lost, torn)
	}
}

func TestDiskSnapshotTrimsAndIsDurable(t *testing.T) {
	d := NewDisk(rand.New(rand.NewPCG(1, 1)))
	_ = d.Save(raft.HardState{Term: 1, Commit: 4}, mkEnts(1, 1, 6), false)
	_ = d.SaveSnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 4, Term: 1}, Data: []byte("x")})
	d.Crash()
	_, snap, ents, _ := d.Load()
	if snap.Metadata.Index != 4 || len(ents) != 2 || ents[0].Index != 5 {
		t.Fatalf("snap %d, ents %v", snap.Metadata.Index, ents)
	}
}
