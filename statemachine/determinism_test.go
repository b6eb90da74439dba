package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// entries draws a plausible command log (driving the model to keep it plausible).
func entries(t *rapid.T) [][]byte {
	cfg := DefaultConfig()
	md := newModel(cfg, t0)
	now := t0
	var out [][]byte
	add := func(c *commandpb.Command) {
		c.TimeUnixMs = now
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		md.apply(uint64(len(out)), now, c)
	}
	add(mustWrap(t, "", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash}))
	for _, u := range []string{"alice", "bob", "carol"} {
		add(mustWrap(t, "", &commandpb.CreateUser{Username: u, PasswordHash: hash}))
	}
	add(mustWrap(t, "alice", &commandpb.CreateGroup{Name: "team", Members: []string{"bob", "carol"}}))
	n := rapid.IntRange(1, 150).Draw(t, "n")
	for i := range n {
		now += int64(rapid.IntRange(0, 30_000).Draw(t, "dt"))
		md.now = now
		c := mustWrap(t, rapid.SampledFrom(rUsers[:4]).Draw(t, "actor"), gen(t, md))
		c.ClientId, c.RequestId = "c", uint64(i+1)
		if rapid.IntRange(0, 9).Draw(t, "noop") == 0 {
			out = append(out, nil) // a leader's empty entry
			continue
		}
		add(c)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		log := entries(t)
		cut := rapid.IntRange(0, len(log)).Draw(t, "cut")
		a, _ := New(DefaultConfig())
		b, _ := New(DefaultConfig())
		var resA [][]byte
		for i, e := range log {
			r := a.Apply(uint64(i+1), e)
			resA = append(resA, detBytes(t, r))
		}
		// b snapshots at cut, is replaced by a fresh machine restored from it, and continues.
		for i, e := range log {
			if i == cut {
				snap, err := b.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b, _ = New(DefaultConfig())
				if err := b.Restore(snap); err != nil {
					t.Fatal(err)
				}
				if again, _ := b.Snapshot(); !bytes.Equal(again, snap) {
					t.Fatal("snapshot round trip is not exact")
				}
			}
			r := b.Apply(uint64(i+1), e)
			if !bytes.Equal(detBytes(t, r), resA[i]) {
				t.Fatalf("entry %d: result %v differs after restore at %d", i+1, r, cut)
			}
		}
		sa, _ := a.Snapshot()
		sb, _ := b.Snapshot()
		if !bytes.Equal(sa, sb) {
			t.Fatalf("snapshots differ (%d vs %d bytes) after restore at %d", len(sa), len(sb), cut)
		}
		// Replaying the log: every command of a session, whether it succeeded or was rejected,
		// is answered from the session with the first result, byte for byte, and changes
		// nothing.
		for i, e := range log {
			c := &commandpb.Command{}
			if err := proto.Unmarshal(e, c); err != nil || c.GetClientId() == "" {
				continue
			}
			first := &commandpb.Result{}
			_ = proto.Unmarshal(resA[i], first)
			before, _ := a.Snapshot()
			r := a.Apply(a.AppliedIndex()+1, e)
			if !bytes.Equal(detBytes(t, r), resA[i]) {
				t.Fatalf("retry of entry %d (%v) gave %v, first %v", i+1, c.OpMessage(), r, first)
			}
			after, _ := a.Snapshot()
			if !bytes.Equal(withoutApplied(before), withoutApplied(after)) {
				t.Fatalf("retry of entry %d changed the state", i+1)
			}
		}
	})
}

func detBytes(t fataler, r *commandpb.Result) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutApplied cuts the header and applied index (the first varint after the version) off a
// snapshot, so states can be compared across entries that only advance the index.
func withoutApplied(snap []byte) []byte {
	d := &dec{b: snap[5:]}
	d.u()
	return d.b[:len(d.b)-4]
}

func TestSnapshotCorruption(t *testing.T) {
	h := fixture(t)
	snap := h.snapshot()
	m, _ := New(DefaultConfig())
	reseal := func(body []byte) []byte {
		return binary.BigEndian.AppendUint32(append([]byte{}, body...), crc32.Checksum(body, castagnoli))
	}
	body := snap[:len(snap)-4]
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("XXXX"), snap[4:]...),
		"checksum":  append(append([]byte{}, body...), 0, 0, 0, 0),
		"truncated": reseal(body[:len(body)/2]),
		"trailing":  reseal(append(append([]byte{}, body...), 0)),
		"version":   reseal(append([]byte("RCSM\x02"), body[5:]...)),
	}
	for name, data := range cases {
		if err := m.Restore(data); err == nil {
			t.Errorf("%s: restored", name)
		}
		if m.AppliedIndex() != 0 {
			t.Fatalf("%s: failed restore changed the machine", name)
		}
	}
	if err := m.Restore(snap); err != nil {
		t.Fatal(err)
	}
}

// TestDropSessionsKnob shows the planted bug the simulator must catch: with the session table
// left out of snapshots, a retry applied after a restore is executed twice.
func TestDropSessionsKnob(t *testing.T) {
	for _, planted := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Knobs = &TestingKnobs{DropSessionsFromSnapshot: planted}
		h := newHarness(t, cfg)
		h.verify = false
		h.ok("", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
		h.ok("", &commandpb.CreateUser{Username: "bob", PasswordHash: hash})
		post := withSession(t, "c", 1, "admin", &commandpb.SendDirect{To: "bob", Text: "once"})
		h.applyCmd(proto.Clone(post).(*commandpb.Command))
		snap := h.snapshot()
		h.m, _ = New(cfg)
		if err := h.m.Restore(snap); err != nil {
			t.Fatal(err)
		}
		h.applyCmd(post)
		hist, _ := h.m.History("bob", DirectID("admin", "bob"), HistoryQuery{})
		want := 1
		if planted {
			want = 2
		}
		if len(hist) != want {
			t.Fatalf("planted %v: %d messages, want %d", planted, len(hist), want)
		}
	}
}

// FuzzApply feeds arbitrary entry data to a populated machine: Apply must not panic,
// undecodable data must leave exactly the state a no-op entry leaves, and a rejected command
// exactly that plus its session record (rejectedState).
func FuzzApply(f *testing.F) {
	h := fixture(f)
	base := h.snapshot()
	idx := h.m.AppliedIndex() + 1
	ref, _ := New(DefaultConfig())
	_ = ref.Restore(base)
	ref.Apply(idx, nil)
	noop, _ := ref.Snapshot()
	seed := []proto.Message{
		&commandpb.PostMessage{ConversationId: "g:1", Text: "x", ReplyTo: 1},
		&commandpb.SendDirect{To: "carol", Text: "x"},
		&commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"},
		&commandpb.BeginUpload{ConversationId: "g:1", Name: "f", Size: 3, Sha256: sum([]byte("abc")), ChunkSize: 2},
		&commandpb.RemoveMember{ConversationId: "g:1", Username: "bob"},
		&commandpb.DisableUser{Username: "alice", Disabled: true},
		&commandpb.MarkRead{ConversationId: dmAB, Seq: 1},
	}
	for _, op := range seed {
		for _, actor := range []string{"alice", "bob", "admin"} {
			c := mustWrap(f, actor, op)
			c.ClientId, c.RequestId, c.TimeUnixMs = "c", 1, t0+100
			f.Add(encode(f, c))
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _ := New(DefaultConfig())
		if err := m.Restore(base); err != nil {
			t.Fatal(err)
		}
		res := m.Apply(idx, data)
		if res.GetIndex() != idx || m.AppliedIndex() != idx {
			t.Fatalf("result index %d, applied %d, want %d", res.GetIndex(), m.AppliedIndex(), idx)
		}
		if res.GetCode() != CodeOK {
			want := noop
			if cmd := (&commandpb.Command{}); proto.Unmarshal(data, cmd) == nil {
				want = rejectedState(t, DefaultConfig(), base, idx, cmd, res)
			}
			if got, _ := m.Snapshot(); !bytes.Equal(got, want) {
				t.Fatalf("rejected command (%v) changed more than its session record", res)
			}
		}
		if m.invariantError() != "" {
			t.Fatal(m.invariantError())
		}
	})
}

// FuzzRestore decodes arbitrary (correctly sealed) snapshot bodies: no panic, and whatever is
// accepted re-encodes to a snapshot that restores to the same bytes.
func FuzzRestore(f *testing.F) {
	h := fixture(f)
	id := begin(h)
	h.ok("alice", chunk(id, 0))
	h.ok("alice", &commandpb.AddReaction{ConversationId: "g:1", Seq: 1, Emoji: "x"})
	h.applyCmd(withSession(f, "c", 3, "alice", &commandpb.PostMessage{ConversationId: "g:1", Text: "s"}))
	h.ok("alice", &commandpb.RevokeToken{TokenId: "t", Username: "alice", ExpiresUnixMs: t0 + 100_000})
	snap := h.snapshot()
	f.Add(snap[4 : len(snap)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte("RCSM"), body...)
		data = binary.BigEndian.AppendUint32(data, crc32.Checksum(data, castagnoli))
		m, _ := New(DefaultConfig())
		if err := m.Restore(data); err != nil {
			if !errors.Is(err, errCorrupt) && m.AppliedIndex() != 0 {
				t.Fatal(err)
			}
			return
		}
		s1, _ := m.Snapshot()
		m2, _ := New(DefaultConfig())
		if err := m2.Restore(s1); err != nil {
			t.Fatalf("re-encoded snapshot rejected: %v", err)
		}
		if s2, _ := m2.Snapshot(); !bytes.Equal(s1, s2) {
			t.Fatal("snapshot not stable")
		}
	})
}
