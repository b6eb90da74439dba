package storage

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/raftchat/raftchat/raft"
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

// TestDiskLogMatchesModel runs random sequences of saves (with overwrites), local and
// received snapshots, Loads and reopens against small segments, comparing every Load with
// the model.
func TestDiskLogMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		l := mustOpen(t, dir, testOptions(nil))
		defer func() { _ = l.Close() }()
		m := &logModel{}
		check := func() {
			hs, sn, got, err := l.Load()
			if err != nil {
				rt.Fatalf("load: %v", err)
			}
			wantData := ""
			if m.snap.Index > 0 {
				wantData = fmt.Sprint("snap", m.snap.Index)
			}
			if hs != m.hs || sn.Metadata.Index != m.snap.Index || sn.Metadata.Term != m.snap.Term || string(sn.Data) != wantData {
				rt.Fatalf("load: hs %+v snap %+v, model hs %+v snap %+v", hs, sn.Metadata, m.hs, m.snap)
			}
			if len(got) != len(m.ents) {
				rt.Fatalf("load: %d entries (%s), model %d (%s)", len(got), span(got), len(m.ents), span(m.ents))
			}
			for i := range got {
				if got[i].Index != m.ents[i].Index || got[i].Term != m.ents[i].Term || !bytes.Equal(got[i].Data, m.ents[i].Data) {
					rt.Fatalf("entry %d differs from model", got[i].Index)
				}
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
				if err := l.Save(hs, es, rapid.Bool().Draw(rt, "sync")); err != nil {
					rt.Fatalf("save: %v", err)
				}
				m.save(hs, es)
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
			},
			"load": func(*rapid.T) { check() },
			"reopen": func(rt *rapid.T) {
				if err := l.Close(); err != nil {
					rt.Fatalf("close: %v", err)
				}
				l = mustOpen(t, dir, testOptions(nil))
				check()
			},
		})
		check()
	})
}
