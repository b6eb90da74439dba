package sim

import (
	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// maxDecoded bounds the decode cache; it is cleared when full (every replica applies an
// entry within a short window, so a small cache serves nearly every lookup).
const maxDecoded = 4096

// decodeCache decodes each distinct entry payload once for the whole cluster
// (node.Config.DecodeCommand): the replicas only read commands, and a payload's bytes
// determine its decoding, so sharing the command changes nothing but the cost. It is keyed
// by the bytes themselves, so a torn or corrupted copy of an entry is decoded on its own
// (and an undecodable one is never cached: every replica gets the decoder's error).
type decodeCache struct {
	m map[string]*commandpb.Command
}

func (c *decodeCache) decode(data []byte) (*commandpb.Command, error) {
	if cmd, ok := c.m[string(data)]; ok {
		return cmd, nil
	}
	cmd := &commandpb.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) >= maxDecoded {
		c.m = make(map[string]*commandpb.Command, 256)
	}
	c.m[string(data)] = cmd
	return cmd, nil
}
