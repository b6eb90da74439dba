package storage

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/storage/fsx"
)

// logModel is the obviously correct in-memory log the DiskLog is compared against.
type logModel struct {
	hs       raft.HardState
	snap     raft.SnapshotMetadata
	base     raft.Index
	baseTerm raft.Term
	ents     []raft.Entry
}

func (m *logModel) last() raft.Index { return m.base + raft.Index(len(m.ents)) }

func (m *logModel) term(i raft.Index) (raft.Term, bool) {
	if i == m.base {
		return m.baseTerm, true
	}
	if i < m.base || i > m.last() {
		return 0, false
	}
	return m.ents[i-m.base-1].Term, true
}

func (m *logModel) save(hs raft.HardState, es []raft.Entry) {
	if len(es) > 0 {
		m.ents = append(m.ents[:es[0].Index-m.base-1], es...)
	}
	if !hs.IsEmpty() {
		m.hs = hs
	}
}

func (m *logModel) saveSnapshot(md raft.SnapshotMetadata) {
	if t, ok := m.term(md.Index); ok && t == md.Term {
		m.ents = append([]raft.Entry(nil), m.ents[md.Index-m.base:]...)
	} else {
		m.ents = nil
	}
	m.base, m.baseTerm, m.snap = md.Index, md.Term, md
}

func (m *logModel) clone() logModel {
	c := *m
	c.ents = append([]raft.Entry(nil), m.ents...)
	return c
}

// diff describes how a loaded state differs from the model, or returns "".
func (m *logModel) diff(hs raft.HardState, sn raft.Snapshot, got []raft.Entry) string {
	wantData := ""
	if m.snap.Index > 0 {
		wantData = fmt.Sprint("snap", m.snap.Index)
	}
	if hs != m.hs || sn.Metadata.Index != m.snap.Index || sn.Metadata.Term != m.snap.Term || string(sn.Data) != wantData {
		return fmt.Sprintf("hs %+v snap %+v, model hs %+v snap %+v", hs, sn.Metadata, m.hs, m.snap)
	}
	if len(got) != len(m.ents) {
		return fmt.Sprintf("%d entries (%s), model %d (%s)", len(got), span(got), len(m.ents), span(m.ents))
	}
	for i := range got {
		if got[i].Index != m.ents[i].Index || got[i].Term != m.ents[i].Term || !bytes.Equal(got[i].Data, m.ents[i].Data) {
			return fmt.Sprintf("entry %d differs from model", got[i].Index)
		}
	}
	return ""
}

// TestDiskLogMatchesModel runs random sequences of saves (with overwrites), local and
// received snapshots, Loads, reopens and crashes against small segments on a file system
// that loses everything unsynced in a crash. Every Load must match the model; after a
// crash the log must hold exactly the state as of some Save since the last one known to
// be durable: everything acknowledged survives, nothing half-done appears.
func TestDiskLogMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir() // holds only the LOCK file; the log lives in mfs
		mfs := fsx.NewMemFS()
		opts := testOptions(nil)
		opts.FS = mfs
		opts.Preallocate = rapid.Bool().Draw(rt, "prealloc")
		l := mustOpen(t, dir, opts)
		defer func() { _ = l.Close() }()
		m := &logModel{}
		// since holds the model after each write since the last known fsync; the first
		// element is durable, a crash may leave any of them.
		since := []logModel{m.clone()}
		wrote := func(synced bool) {
			if synced {
				since = since[:0]
			}
			since = append(since, m.clone())
		}
		check := func() {
			hs, sn, got, err := l.Load()
			if err != nil {
				rt.Fatalf("load: %v", err)
			}
			if d := m.diff(hs, sn, got); d != "" {
				rt.Fatalf("load: %s", d)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"save": func(rt *rapid.T) {
				first := rapid.Uint64Range(uint64(m.base)+1, uint64(m.last())+1).Draw(rt, "first")
				n := rapid.IntRange(0, 5).Draw(rt, "n")
				term := raft.Term(rapid.Uint64Range(1, 4).Draw(rt, "term"))
				size := rapid.IntRange(0, 700).Draw(rt, "size")
				es := ents(raft.Index(first), n, term, size)
				var hs raft.HardState
				if rapid.Bool().Draw(rt, "hs") {
					hs = raft.HardState{Term: term, Vote: 1, Commit: raft.Index(rapid.Uint64Range(0, first).Draw(rt, "commit"))}
				}
				sync := rapid.Bool().Draw(rt, "sync")
				if err := l.Save(hs, es, sync); err != nil {
					rt.Fatalf("save: %v", err)
				}
				m.save(hs, es)
				wrote(sync)
			},
			"snapshot": func(rt *rapid.T) {
				lo := uint64(m.snap.Index) + 1
				idx := raft.Index(rapid.Uint64Range(lo, max(lo, uint64(m.last()))+3).Draw(rt, "index"))
				term, ok := m.term(idx)
				if !ok || rapid.Bool().Draw(rt, "received") {
					term = raft.Term(rapid.Uint64Range(1, 4).Draw(rt, "snapterm"))
				}
				md := raft.SnapshotMetadata{Index: idx, Term: term}
				if err := l.SaveSnapshot(raft.Snapshot{Metadata: md, Data: []byte(fmt.Sprint("snap", idx))}); err != nil {
					rt.Fatalf("save snapshot: %v", err)
				}
				m.saveSnapshot(md)
				wrote(true)
			},
			"sync": func(rt *rapid.T) {
				if err := l.Sync(); err != nil {
					rt.Fatalf("sync: %v", err)
				}
				wrote(true)
			},
			"load": func(*rapid.T) { check() },
			"reopen": func(rt *rapid.T) {
				if err := l.Close(); err != nil {
					rt.Fatalf("close: %v", err)
				}
				l = mustOpen(t, dir, opts)
				check()
				wrote(true)
			},
			"crash": func(rt *rapid.T) {
				mfs.Crash()
				_ = l.closeFiles() // releases the lock; nothing is flushed
				l = mustOpen(t, dir, opts)
				hs, sn, got, err := l.Load()
				if err != nil {
					rt.Fatalf("load after crash: %v", err)
				}
				var diffs []string
				for i := len(since) - 1; i >= 0; i-- {
					d := since[i].diff(hs, sn, got)
					if d == "" {
						*m = since[i].clone()
						since = []logModel{m.clone()}
						return
					}
					diffs = append(diffs, d)
				}
				rt.Fatalf("after crash the log matches no state since the last fsync: %q", diffs)
			},
		})
		check()
	})
}
