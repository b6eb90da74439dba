package statemachine

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// TestMarshalResultMatchesProto: the hand encoder gives proto.Marshal's deterministic bytes
// for every result shape, including zero, negative and extreme values and empty oneof
// messages.
func TestMarshalResultMatchesProto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	u := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return math.MaxUint64 - rng.Uint64N(3)
		default:
			return rng.Uint64N(1 << (1 + rng.IntN(40)))
		}
	}
	i := func() int64 { return int64(u()) * int64(1-2*rng.IntN(2)) }
	s := func() string {
		return []string{"", "a", "dm:alice:bob", "g:17", "ü✓", string(bytes.Repeat([]byte("x"), 200))}[rng.IntN(6)]
	}
	values := []func() any{
		func() any { return nil },
		func() any { return &commandpb.Result_Message{} },
		func() any {
			return &commandpb.Result_Message{Message: &commandpb.MessageRef{ConversationId: s(), Seq: u(), TimeUnixMs: i()}}
		},
		func() any { return &commandpb.Result_Conversation{} },
		func() any {
			return &commandpb.Result_Conversation{Conversation: &commandpb.ConversationRef{ConversationId: s()}}
		},
		func() any { return &commandpb.Result_File{} },
		func() any {
			return &commandpb.Result_File{File: &commandpb.FileRef{FileId: u(), ChunksReceived: i(), Complete: rng.IntN(2) == 0}}
		},
		func() any { return &commandpb.Result_User{} },
		func() any { return &commandpb.Result_User{User: &commandpb.UserRef{Username: s()}} },
	}
	for n := 0; n < 20000; n++ {
		res := &commandpb.Result{Error: s(), Index: u()}
		switch rng.IntN(3) {
		case 0:
		case 1:
			res.Code = commandpb.ErrorCode(rng.IntN(20))
		default:
			res.Code = commandpb.ErrorCode(int32(rng.Uint32()))
		}
		if v := values[rng.IntN(len(values))](); v != nil {
			switch v := v.(type) {
			case *commandpb.Result_Message:
				res.Value = v
			case *commandpb.Result_Conversation:
				res.Value = v
			case *commandpb.Result_File:
				res.Value = v
			case *commandpb.Result_User:
				res.Value = v
			}
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeResult(res); !bytes.Equal(got, want) {
			t.Fatalf("result %v:\n got %x\nwant %x", res, got, want)
		}
	}
}
