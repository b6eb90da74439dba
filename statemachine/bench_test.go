package statemachine

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
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

// BenchmarkWriteSnapshot1M streams the million-message state's encoding to io.Discard: it
// allocates its buffer (about SnapshotBufferBytes), not the encoding.
func BenchmarkWriteSnapshot1M(b *testing.B) {
	m := bigMachine(b)
	b.ReportAllocs()
	var n int64
	for i := 0; i < b.N; i++ {
		var err error
		if n, err = m.WriteSnapshot(io.Discard); err != nil {
			b.Fatal(err)
		}
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

var mixUsers = []string{"ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"}

// mixCommands scripts n commands shaped like the simulator's workload (its op weights, eight
// users with a client session each, about sixty conversations), resolving their targets
// against a machine that applies them as they are made. Some are rejected, as in the
// simulator. Deterministic: a fixed seed.
func mixCommands(b *testing.B, n int) []*commandpb.Command {
	var cmds []*commandpb.Command
	h := boot(b, mixUsers...)
	h.verify = false
	r := rand.New(rand.NewPCG(1, 2))
	user := func() string { return mixUsers[r.IntN(len(mixUsers))] }
	reqs := map[string]uint64{}
	pickConv := func(actor string) (string, *conversation) {
		ids := sortedKeys(h.m.st.users[actor].convs)
		if len(ids) == 0 {
			return "none", nil
		}
		id := ids[r.IntN(len(ids))]
		return id, h.m.st.convs[id]
	}
	pickSeq := func(c *conversation) uint64 {
		if c == nil || len(c.msgs) == 0 {
			return 1
		}
		return uint64(1 + r.IntN(len(c.msgs)))
	}
	emojis := []string{"+1", "ok", "heart", "tada"}
	for len(cmds) < n {
		actor := user()
		var op proto.Message
		switch x := r.IntN(100); {
		case x < 4:
			op = &commandpb.CreateGroup{Name: "team", Members: []string{user(), user()}}
		case x < 10:
			id, _ := pickConv(actor)
			op = &commandpb.AddMember{ConversationId: id, Username: user()}
		case x < 12:
			id, _ := pickConv(actor)
			op = &commandpb.LeaveGroup{ConversationId: id}
		case x < 24:
			op = &commandpb.SendDirect{To: user(), Text: "a direct message of some forty bytes.."}
		case x < 54:
			id, _ := pickConv(actor)
			op = &commandpb.PostMessage{ConversationId: id, Text: "a message of about sixty-four bytes, typical for a chat line.."}
		case x < 62:
			id, c := pickConv(actor)
			op = &commandpb.EditMessage{ConversationId: id, Seq: pickSeq(c), Text: "an edited message"}
		case x < 70:
			id, c := pickConv(actor)
			op = &commandpb.AddReaction{ConversationId: id, Seq: pickSeq(c), Emoji: emojis[r.IntN(len(emojis))]}
		case x < 73:
			id, c := pickConv(actor)
			op = &commandpb.RemoveReaction{ConversationId: id, Seq: pickSeq(c), Emoji: emojis[r.IntN(len(emojis))]}
		default:
			id, c := pickConv(actor)
			op = &commandpb.MarkRead{ConversationId: id, Seq: pickSeq(c)}
		}
		c := mustWrap(b, actor, op)
		c.ClientId = "client-" + actor
		reqs[actor]++
		c.RequestId = reqs[actor]
		h.nowMs += 50
		c.TimeUnixMs = h.nowMs
		h.m.ApplyCommand(h.m.AppliedIndex()+1, c)
		cmds = append(cmds, c)
	}
	b.Logf("%d commands, %d conversations", len(cmds), len(h.m.st.convs))
	return cmds
}

// BenchmarkMix applies the simulator-shaped commands of one run to a fresh machine, taking a
// snapshot every 200 entries and one at the end, as each replica of a simulator run does.
func BenchmarkMix(b *testing.B) {
	cmds := mixCommands(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := boot(b, mixUsers...)
		h.verify = false
		b.StartTimer()
		m := h.m
		for k, c := range cmds {
			m.ApplyCommand(m.AppliedIndex()+1, c)
			if k%200 == 199 {
				if _, err := m.Snapshot(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := m.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}
