package transport

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// normalize maps empty slices to nil so that encoded and decoded messages compare equal: the
// wire cannot tell an empty slice from a missing one.
func normalize(m raft.Message) raft.Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	}
	for i := range m.Entries {
		if len(m.Entries[i].Data) == 0 {
			m.Entries[i].Data = nil
		}
	}
	if len(m.Context) == 0 {
		m.Context = nil
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		if len(s.Data) == 0 {
			s.Data = nil
		}
		if len(s.Metadata.ConfState.Voters) == 0 {
			s.Metadata.ConfState.Voters = nil
		}
		if len(s.Metadata.ConfState.Learners) == 0 {
			s.Metadata.ConfState.Learners = nil
		}
		if len(s.Metadata.ConfState.Removed) == 0 {
			s.Metadata.ConfState.Removed = nil
		}
		m.Snapshot = &s
	}
	return m
}

func roundTrip(t testing.TB, m raft.Message) raft.Message {
	b, err := proto.Marshal(ToProto(m))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var pm raftpb.Message
	if err := proto.Unmarshal(b, &pm); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	got, err := FromProto(&pm)
	if err != nil {
		t.Fatalf("from proto: %v", err)
	}
	return got
}

func TestConvertRoundTrip(t *testing.T) {
	cases := []raft.Message{
		{Type: raft.MsgHeartbeat, To: 2, From: 1, Term: 3, Commit: 9},
		{Type: raft.MsgApp, To: 3, From: 1, Term: 4, LogTerm: 3, Index: 10, Commit: 8,
			Entries: []raft.Entry{{Term: 4, Index: 11, Data: []byte("x")}, {Term: 4, Index: 12, Type: raft.EntryConfChange}}},
		{Type: raft.MsgAppResp, To: 1, From: 2, Term: 4, Index: 7, Reject: true, RejectHint: 5, HintTerm: 2},
		{Type: raft.MsgReadIndex, To: 1, From: 3, Term: 2, Context: []byte{1, 2, 3}},
		{Type: raft.MsgSnap, To: 2, From: 1, Term: 5, Snapshot: &raft.Snapshot{
			Metadata: raft.SnapshotMetadata{Index: 100, Term: 4, ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}},
			Data:     []byte("state")}},
		{Type: raft.MsgSnap, To: 4, From: 1, Term: 6, Snapshot: &raft.Snapshot{
			Metadata: raft.SnapshotMetadata{Index: 120, Term: 6,
				ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{4}, Removed: []raft.NodeID{5}}},
			Data: []byte("state")}},
	}
	for _, m := range cases {
		t.Run(m.Type.String(), func(t *testing.T) {
			if got := roundTrip(t, m); !reflect.DeepEqual(normalize(got), normalize(m)) {
				t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestFromProtoRejectsLocalAndUnknown(t *testing.T) {
	for _, typ := range []uint32{uint32(raft.MsgHup), uint32(raft.MsgBeat), uint32(raft.MsgUnreachable),
		uint32(raft.MsgSnapStatus), 200} {
		if _, err := FromProto(&raftpb.Message{Type: typ}); err == nil {
			t.Errorf("type %d accepted", typ)
		}
	}
	bad := &raftpb.Message{Type: uint32(raft.MsgApp), Entries: []*raftpb.Entry{{Type: 9}}}
	if _, err := FromProto(bad); err == nil {
		t.Error("unknown entry type accepted")
	}
	if _, err := FromProto(nil); err == nil {
		t.Error("nil message accepted")
	}
}

// genMessage draws a network message with every field populated at random.
func genMessage(t *rapid.T) raft.Message {
	wire := []raft.MessageType{raft.MsgProp, raft.MsgApp, raft.MsgAppResp, raft.MsgVote, raft.MsgVoteResp,
		raft.MsgPreVote, raft.MsgPreVoteResp, raft.MsgSnap, raft.MsgHeartbeat, raft.MsgHeartbeatResp,
		raft.MsgTransferLeader, raft.MsgTimeoutNow, raft.MsgReadIndex, raft.MsgReadIndexResp}
	m := raft.Message{
		Type: rapid.SampledFrom(wire).Draw(t, "type"),
		To:   raft.NodeID(rapid.Uint64().Draw(t, "to")), From: raft.NodeID(rapid.Uint64().Draw(t, "from")),
		Term: raft.Term(rapid.Uint64().Draw(t, "term")), LogTerm: raft.Term(rapid.Uint64().Draw(t, "logterm")),
		Index: raft.Index(rapid.Uint64().Draw(t, "index")), Commit: raft.Index(rapid.Uint64().Draw(t, "commit")),
		Reject: rapid.Bool().Draw(t, "reject"), RejectHint: raft.Index(rapid.Uint64().Draw(t, "hint")),
		HintTerm: raft.Term(rapid.Uint64().Draw(t, "hintterm")),
		Context:  rapid.SliceOf(rapid.Byte()).Draw(t, "ctx"),
	}
	n := rapid.IntRange(0, 5).Draw(t, "entries")
	for i := 0; i < n; i++ {
		m.Entries = append(m.Entries, raft.Entry{
			Term: raft.Term(rapid.Uint64().Draw(t, "eterm")), Index: raft.Index(rapid.Uint64().Draw(t, "eindex")),
			Type: raft.EntryType(rapid.IntRange(0, 1).Draw(t, "etype")), Data: rapid.SliceOf(rapid.Byte()).Draw(t, "edata"),
		})
	}
	if rapid.Bool().Draw(t, "snap") {
		voters := rapid.SliceOf(rapid.Uint64()).Draw(t, "voters")
		s := raft.Snapshot{Data: rapid.SliceOf(rapid.Byte()).Draw(t, "sdata")}
		s.Metadata.Index = raft.Index(rapid.Uint64().Draw(t, "sindex"))
		s.Metadata.Term = raft.Term(rapid.Uint64().Draw(t, "sterm"))
		for _, v := range voters {
			s.Metadata.ConfState.Voters = append(s.Metadata.ConfState.Voters, raft.NodeID(v))
		}
		for _, v := range rapid.SliceOf(rapid.Uint64()).Draw(t, "learners") {
			s.Metadata.ConfState.Learners = append(s.Metadata.ConfState.Learners, raft.NodeID(v))
		}
		for _, v := range rapid.SliceOf(rapid.Uint64()).Draw(t, "removed") {
			s.Metadata.ConfState.Removed = append(s.Metadata.ConfState.Removed, raft.NodeID(v))
		}
		m.Snapshot = &s
	}
	return m
}

func TestConvertRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := genMessage(rt)
		if got := roundTrip(t, m); !reflect.DeepEqual(normalize(got), normalize(m)) {
			rt.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
		}
	})
}

// FuzzDecode feeds arbitrary bytes to the wire decoder: it must never panic, and whatever it
// accepts must survive an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, m := range []raft.Message{
		{Type: raft.MsgApp, To: 2, From: 1, Term: 1, Entries: []raft.Entry{{Term: 1, Index: 1, Data: []byte("a")}}},
		{Type: raft.MsgSnap, To: 2, From: 1, Snapshot: &raft.Snapshot{Data: []byte("s"),
			Metadata: raft.SnapshotMetadata{Index: 3, ConfState: raft.ConfState{Voters: []raft.NodeID{1}}}}},
		{Type: raft.MsgSnap, To: 3, From: 1, Snapshot: &raft.Snapshot{Data: []byte("s"),
			Metadata: raft.SnapshotMetadata{Index: 5, ConfState: raft.ConfState{Voters: []raft.NodeID{1}, Learners: []raft.NodeID{3}, Removed: []raft.NodeID{2}}}}},
	} {
		b, _ := proto.Marshal(ToProto(m))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pm raftpb.Message
		if err := proto.Unmarshal(b, &pm); err != nil {
			return
		}
		m, err := FromProto(&pm)
		if err != nil {
			return
		}
		if got := roundTrip(t, m); !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
		}
	})
}
