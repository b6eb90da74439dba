package sim

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
)

func TestDecodeCacheSharesAndRejects(t *testing.T) {
	cmd := &commandpb.Command{ClientId: "c", RequestId: 7, Actor: "alice"}
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var c decodeCache
	a, err := c.decode(data)
	if err != nil || !proto.Equal(a, cmd) {
		t.Fatalf("decode = %v, %v; want %v", a, err, cmd)
	}
	if b, err := c.decode(data); err != nil || b != a {
		t.Fatalf("the same payload decoded again to %p, want the shared %p", b, a)
	}
	if b, err := c.decode(append([]byte(nil), data...)); err != nil || !proto.Equal(b, cmd) {
		t.Fatalf("a copy of the payload decoded to %v, %v; want %v", b, err, cmd)
	}
	torn := data[:len(data)-1]
	want := proto.Unmarshal(torn, &commandpb.Command{})
	if _, err := c.decode(torn); (err == nil) != (want == nil) {
		t.Fatalf("torn payload: error %v, proto.Unmarshal says %v", err, want)
	}
	if _, err := c.decode([]byte{0xff}); err == nil {
		t.Fatal("garbage decoded without error")
	}
}
