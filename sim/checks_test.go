package sim

import (
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/sim/check"
)

func TestDigestEntryMatchesChecker(t *testing.T) {
	for _, e := range []raft.Entry{
		{}, {Type: raft.EntryNormal, Data: []byte("hello")}, {Type: 1, Data: []byte{0, 1, 2, 255}},
	} {
		if got, want := digestEntry(&e), check.DigestEntry(e); got != want {
			t.Fatalf("digestEntry(%v) = %x, check.DigestEntry = %x", e, got, want)
		}
	}
}

// TestDigestCache: the cache answers digestEntry for payloads that share an array with a
// cached one but differ in length or type, or are equal copies in another array.
func TestDigestCache(t *testing.T) {
	var c digestCache
	buf := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for round := 0; round < 2; round++ {
		for _, e := range []raft.Entry{
			{Data: buf}, {Data: buf[:20]}, {Type: 1, Data: buf}, {Data: buf[4:]},
			{Data: append([]byte(nil), buf...)}, {Data: buf[:3]}, {Type: 1},
		} {
			if got, want := c.of(&e), check.DigestEntry(e); got != want {
				t.Fatalf("round %d: of(%q type %d) = %x, want %x", round, e.Data, e.Type, got, want)
			}
		}
	}
}

// TestLogViewFollowsStorage: after appends, a truncation, a compaction and a snapshot the
// view shows exactly what the storage holds, with the checker's digests.
func TestLogViewFollowsStorage(t *testing.T) {
	ms := raft.NewMemoryStorage()
	var l logView
	l.reset(ms)
	ent := func(term raft.Term, i raft.Index, data string) raft.Entry {
		return raft.Entry{Term: term, Index: i, Data: []byte(data)}
	}
	lastVersion, lastLineage := uint64(0), l.Lineage()
	verify := func(step string, newLineage bool) {
		t.Helper()
		l.sync()
		if got := l.Lineage() != lastLineage; got != newLineage {
			t.Fatalf("%s: new lineage %v, want %v", step, got, newLineage)
		}
		lastLineage = l.Lineage()
		if step != "empty" && l.Version() == lastVersion {
			t.Fatalf("%s: version %d did not change", step, lastVersion)
		}
		lastVersion = l.Version()
		if l.sync(); l.Version() != lastVersion {
			t.Fatalf("%s: a sync with nothing new changed the version", step)
		}
		first, _ := ms.FirstIndex()
		last, _ := ms.LastIndex()
		if l.FirstIndex() != first || l.LastIndex() != last {
			t.Fatalf("%s: view [%d, %d], storage [%d, %d]", step, l.FirstIndex(), l.LastIndex(), first, last)
		}
		if _, ok := l.Entry(first - 1); ok {
			t.Fatalf("%s: entry %d before the first is visible", step, first-1)
		}
		if _, ok := l.Entry(last + 1); ok {
			t.Fatalf("%s: entry %d after the last is visible", step, last+1)
		}
		for i := first; i <= last; i++ {
			ents, err := ms.Entries(i, i+1, 1<<62)
			if err != nil {
				t.Fatal(err)
			}
			want := check.EntryView{Index: i, Term: ents[0].Term, Digest: check.DigestEntry(ents[0])}
			if got, ok := l.Entry(i); !ok || got != want {
				t.Fatalf("%s: entry %d = %+v %v, want %+v", step, i, got, ok, want)
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	verify("empty", false)
	must(ms.Append([]raft.Entry{ent(1, 1, "a"), ent(1, 2, "b"), ent(1, 3, "c")}))
	verify("append", false)
	must(ms.Append([]raft.Entry{ent(1, 4, "d")}))
	verify("append one", false)
	must(ms.Append([]raft.Entry{ent(2, 3, "x"), ent(2, 4, "y"), ent(2, 5, "z")}))
	verify("truncate", true)
	must(ms.Append([]raft.Entry{ent(3, 3, "x")}))
	verify("same data, new term", true)
	if _, err := ms.CreateSnapshot(2, nil, nil); err != nil {
		t.Fatal(err)
	}
	must(ms.Compact(2))
	verify("compact", false)
	must(ms.Append([]raft.Entry{ent(3, 4, "p"), ent(3, 5, "q"), ent(3, 6, "r")}))
	verify("append after compact", false)
	must(ms.ApplySnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 10, Term: 3}}))
	verify("snapshot", false)
	must(ms.Append([]raft.Entry{ent(3, 11, "s")}))
	verify("append after snapshot", false)
	must(ms.Append([]raft.Entry{ent(3, 12, "t"), ent(3, 13, "u")}))
	verify("append two", false)
	must(ms.ApplySnapshot(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 12, Term: 3}}))
	verify("snapshot below the last entry", true)
}
