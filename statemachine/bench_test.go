package statemachine

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// BenchmarkApplyPost measures Apply of encoded PostMessage entries (decode, session lookup,
// validation, append, session record) into one group.
func BenchmarkApplyPost(b *testing.B) {
	for _, withSession := range []bool{false, true} {
		b.Run(fmt.Sprintf("session=%v", withSession), func(b *testing.B) {
			h := fixture(b)
			h.verify = false
			const batch = 4096
			entries := make([][]byte, batch)
			next := uint64(1)
			fill := func() {
				for i := range entries {
					c := mustWrap(b, "alice", &commandpb.PostMessage{ConversationId: "g:1",
						Text: "a message of about sixty-four bytes, typical for a chat line.."})
					c.TimeUnixMs = t0 + int64(next)
					if withSession {
						c.ClientId, c.RequestId = fmt.Sprintf("client-%d", next%64), next
					}
					next++
					entries[i] = encode(b, c)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
				if r := h.m.Apply(h.m.AppliedIndex()+1, entries[i%batch]); r.GetCode() != CodeOK {
					b.Fatal(r)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

var (
	bigOnce sync.Once
	big     *Machine
)

const bigMessages = 1_000_000

// bigMachine holds one group with a million messages (built once, through ApplyCommand).
func bigMachine(b *testing.B) *Machine {
	bigOnce.Do(func() {
		h := fixture(b)
		h.verify = false
		cmd := mustWrap(b, "bob", &commandpb.PostMessage{ConversationId: "g:1", Text: "the quick brown fox jumps over the lazy dog"})
		for i := 1; i < bigMessages; i++ {
			cmd.TimeUnixMs = t0 + int64(i)
			if r := h.m.ApplyCommand(h.m.AppliedIndex()+1, cmd); r.GetCode() != CodeOK {
				b.Fatal(r)
			}
		}
		h.post("alice", "g:1", "needle in the haystack")
		big = h.m
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("%d messages: heap in use %d MiB", bigMessages, ms.HeapInuse>>20)
	})
	return big
}

// BenchmarkHistory1M pages through a conversation of one million messages.
func BenchmarkHistory1M(b *testing.B) {
	m := bigMachine(b)
	queries := map[string]HistoryQuery{
		"latest50":  {BeforeSeq: math.MaxUint64, Limit: 50},
		"middle50":  {AfterSeq: bigMessages / 2, Limit: 50},
		"oldest500": {Limit: 500},
	}
	for _, name := range []string{"latest50", "middle50", "oldest500"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if msgs, err := m.History("alice", "g:1", queries[name]); err != nil || len(msgs) == 0 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// BenchmarkSearch1M scans a million messages for a rare word (the worst case of Search).
func BenchmarkSearch1M(b *testing.B) {
	m := bigMachine(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if hits, err := m.Search("alice", "NEEDLE", 10); err != nil || len(hits) != 1 {
			b.Fatal(hits, err)
		}
	}
}

// BenchmarkSnapshot1M encodes the million-message state.
func BenchmarkSnapshot1M(b *testing.B) {
	m := bigMachine(b)
	b.ReportAllocs()
	var n int
	for i := 0; i < b.N; i++ {
		snap, err := m.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		n = len(snap)
	}
	b.ReportMetric(float64(n), "bytes")
}

// BenchmarkRestore1M decodes the million-message snapshot into a fresh machine.
func BenchmarkRestore1M(b *testing.B) {
	snap, err := bigMachine(b).Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, _ := New(DefaultConfig())
		if err := m.Restore(snap); err != nil {
			b.Fatal(err)
		}
	}
}

// The size estimate must not fall short of the snapshot: a short estimate makes the encoder
// grow, and so copy, the whole buffer. Long user names and reactions are what the fixed
// per-message allowance misses.
func TestSnapshotSizeEstimateCoversLongNames(t *testing.T) {
	long := "a-user-with-a-rather-long-name-32"[:32]
	h := boot(t, long, "bob")
	g := h.group(long, "team", "bob")
	for i := range 2000 {
		seq := h.post(long, g, "x")
		if i%10 == 0 {
			h.ok("bob", &commandpb.AddReaction{ConversationId: g, Seq: seq, Emoji: "👍"})
		}
	}
	if est, got := h.m.sizeEstimate(), len(h.snapshot()); est < got {
		t.Fatalf("size estimate %d is short of the snapshot's %d bytes", est, got)
	}
}
