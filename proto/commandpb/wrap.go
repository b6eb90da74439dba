// Package commandpb holds the commands replicated through the Raft log and their results
// (commands.proto), plus helpers to build them.
package commandpb

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Wrap returns a Command whose op oneof holds op (one of the operation messages, such as
// *PostMessage); the envelope fields are left for the caller to fill in.
func Wrap(op proto.Message) (*Command, error) {
	c := &Command{}
	r := c.ProtoReflect()
	name := op.ProtoReflect().Descriptor().FullName()
	fields := r.Descriptor().Oneofs().ByName("op").Fields()
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Get(i); f.Message() != nil && f.Message().FullName() == name {
			r.Set(f, protoreflect.ValueOfMessage(op.ProtoReflect()))
			return c, nil
		}
	}
	return nil, fmt.Errorf("wrap command: %s is not an operation", name)
}

// OpMessage returns the operation message held by c, or nil.
func (c *Command) OpMessage() proto.Message {
	r := c.ProtoReflect()
	f := r.WhichOneof(r.Descriptor().Oneofs().ByName("op"))
	if f == nil {
		return nil
	}
	return r.Get(f).Message().Interface()
}
