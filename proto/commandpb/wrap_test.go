package commandpb

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestWrap(t *testing.T) {
	op := &PostMessage{ConversationId: "g:1", Text: "hi"}
	c, err := Wrap(op)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetPostMessage() != op || c.OpMessage() != proto.Message(op) {
		t.Fatalf("wrapped %v", c)
	}
	if (&Command{}).OpMessage() != nil {
		t.Fatal("empty command has an op")
	}
	if _, err := Wrap(&Result{}); err == nil {
		t.Fatal("wrapped a non-operation")
	}
}
