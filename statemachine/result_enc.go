package statemachine

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// encodeResult returns res's deterministic protobuf encoding, the bytes a session keeps.
// The results the machine builds have a handful of scalar fields, so they are encoded by
// hand (a reflective proto.Marshal of every applied command's result on every replica was a
// visible share of the simulator's time); the output is byte for byte what
// proto.MarshalOptions{Deterministic: true}.Marshal gives (fields in number order, zero
// scalars omitted, a set oneof message always present), which a test checks over every
// shape. A result this encoder does not know (a oneof case added later) goes through
// proto.Marshal. Results the machine builds carry no unknown fields.
func encodeResult(res *commandpb.Result) []byte {
	return appendEncodedResult(make([]byte, 0, resultSizeHint(res)), res)
}

// appendEncodedResult appends encodeResult(res) to b.
func appendEncodedResult(b []byte, res *commandpb.Result) []byte {
	out, ok := appendResult(b, res)
	if ok {
		return out
	}
	// appendResult left b's bytes as they were, whatever it appended after them.
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(b, res)
	mustf(err == nil, "marshal result: %v", err)
	return out
}

func resultSizeHint(res *commandpb.Result) int {
	return 24 + len(res.GetError()) + 2*len(res.GetMessage().GetConversationId()) +
		len(res.GetConversation().GetConversationId()) + len(res.GetUser().GetUsername())
}

// appendResult appends res's encoding to b; false means res has a shape it does not handle.
func appendResult(b []byte, res *commandpb.Result) ([]byte, bool) {
	if c := res.GetCode(); c != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(c)))
	}
	b = appendString(b, 2, res.GetError())
	b = appendUint(b, 3, res.GetIndex())
	switch v := res.GetValue().(type) {
	case nil:
	case *commandpb.Result_Message:
		if v.Message == nil {
			return b, false
		}
		var sub [64]byte
		s := appendString(sub[:0], 1, v.Message.GetConversationId())
		s = appendUint(s, 2, v.Message.GetSeq())
		s = appendUint(s, 3, uint64(v.Message.GetTimeUnixMs()))
		b = appendSub(b, 10, s)
	case *commandpb.Result_Conversation:
		if v.Conversation == nil {
			return b, false
		}
		var sub [64]byte
		b = appendSub(b, 11, appendString(sub[:0], 1, v.Conversation.GetConversationId()))
	case *commandpb.Result_File:
		if v.File == nil {
			return b, false
		}
		var sub [32]byte
		s := appendUint(sub[:0], 1, v.File.GetFileId())
		s = appendUint(s, 2, uint64(v.File.GetChunksReceived()))
		if v.File.GetComplete() {
			s = appendUint(s, 3, 1)
		}
		b = appendSub(b, 12, s)
	case *commandpb.Result_User:
		if v.User == nil {
			return b, false
		}
		var sub [64]byte
		b = appendSub(b, 13, appendString(sub[:0], 1, v.User.GetUsername()))
	default:
		return b, false
	}
	return b, true
}

// appendUint appends a varint field, omitted when zero (proto3 scalars).
func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendString appends a string field, omitted when empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendSub appends an embedded message field; a set oneof message is encoded even empty.
func appendSub(b []byte, num protowire.Number, sub []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, sub)
}
