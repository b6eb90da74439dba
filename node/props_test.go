package node

import (
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// TestPropsList checks the per-request list of waiting proposals: order kept, any element
// removable, removal idempotent, completion runs every waiting callback in order.
func TestPropsList(t *testing.T) {
	r := &Replica{props: map[propKey]*pendingProp{}}
	key := propKey{"c", 1}
	var got []int
	mk := func(i int) *pendingProp {
		return &pendingProp{done: func(*commandpb.Result, error) { got = append(got, i) }}
	}
	ps := []*pendingProp{mk(0), mk(1), mk(2), mk(3)}
	for _, p := range ps {
		r.addProp(key, p)
	}
	r.dropProp(key, ps[2]) // middle
	r.dropProp(key, ps[2]) // again: no effect
	r.dropProp(key, ps[0]) // head
	r.completeProps(key, nil)
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("completed %v, want [1 3]", got)
	}
	if len(r.props) != 0 {
		t.Fatalf("%d requests still waiting", len(r.props))
	}
	r.addProp(key, ps[0])
	r.dropProp(key, ps[0])
	if len(r.props) != 0 {
		t.Fatal("the only proposal was dropped but the request is still waiting")
	}
}
