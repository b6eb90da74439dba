package sim

import (
	"bytes"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// decodeSlots is the size of the decode cache (a power of two). Every replica applies an
// entry within a short window, so a small cache serves nearly every lookup.
const decodeSlots = 1024

// decodeCache decodes each entry payload once for the whole cluster
// (node.Config.DecodeCommand): the replicas only read commands, and a payload's bytes
// determine its decoding, so sharing the command changes nothing but the cost. Replicas
// hold the very payload the leader proposed (messages, logs and the simulated disk share
// entry data, never modify it), so slots are found by the payload's address; a hit is
// confirmed by comparing the bytes (immediate for the same array, which the slot keeps
// alive, so the address cannot be reused meanwhile). A torn or corrupted copy therefore
// never matches another payload, and an undecodable one is never cached: every replica
// gets the decoder's error.
type decodeCache struct {
	slots [decodeSlots]decoded
}

type decoded struct {
	data []byte
	cmd  *commandpb.Command
}

func (c *decodeCache) decode(data []byte) (*commandpb.Command, error) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	s := &c.slots[(p>>4^p>>14^uintptr(len(data)))%decodeSlots]
	if s.cmd != nil && bytes.Equal(s.data, data) {
		return s.cmd, nil
	}
	cmd := &commandpb.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, err
	}
	*s = decoded{data: data, cmd: cmd}
	return cmd, nil
}
