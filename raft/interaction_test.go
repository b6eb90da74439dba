package raft_test

import (
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/raftchat/raftchat/raft/rafttest"
)

// TestInteraction runs every scenario script under testdata/interaction through the
// rafttest harness. Regenerate the expected output with
//
//	go test ./raft/ -run TestInteraction -rewrite
//
// and review the diff: the output is the whole conversation between the nodes.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		it := rafttest.NewInteraction()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return it.Handle(t, td)
		})
	})
}
