package storage

import (
	"fmt"
	"testing"

	"github.com/raftchat/raftchat/raft"
)

// BenchmarkSaveSync measures group commit: one Save with sync per batch of 300-byte
// entries, as the driver does once per Ready. It reports entries/s and fsyncs/s.
func BenchmarkSaveSync(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchSave(b, DefaultOptions(), batch, true) })
	}
	// The same without preallocated segments: every fdatasync also commits a size change.
	o := DefaultOptions()
	o.Preallocate = false
	b.Run("batch=1/grow", func(b *testing.B) { benchSave(b, o, 1, true) })
}

// BenchmarkSaveNoSync measures the encode-and-buffer cost of Save without fsync.
func BenchmarkSaveNoSync(b *testing.B) {
	benchSave(b, DefaultOptions(), 16, false)
}

func benchSave(b *testing.B, o Options, batch int, sync bool) {
	l := mustOpen(b, b.TempDir(), o)
	defer mustClose(b, l)
	if l.prep != nil {
		// Steady state: writing into a preallocated segment, no zero-filling under way.
		l.prep.wait()
	}
	if err := l.Save(raft.HardState{Term: 1}, ents(1, 1, 1, 300), true); err != nil {
		b.Fatal(err)
	}
	es := ents(2, batch, 1, 300)
	hs := raft.HardState{Term: 1, Vote: 1}
	next := raft.Index(2)
	b.SetBytes(int64(batch * 300))
	b.ReportAllocs()
	for b.Loop() {
		for i := range es {
			es[i].Index = next + raft.Index(i)
		}
		next += raft.Index(batch)
		hs.Commit = next - 1
		if err := l.Save(hs, es, sync); err != nil {
			b.Fatal(err)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batch)/secs, "entries/s")
	if sync {
		b.ReportMetric(float64(b.N)/secs, "fsyncs/s")
	}
}
