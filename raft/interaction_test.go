package raft_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/raftchat/raftchat/raft"
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

// TestStaleAppendAckAfterTruncation is the regression test for a raft bug found by
// TestPropertySafety (fixed in d00df61). A follower appended a term-1 entry from the old
// leader and queued its MsgAppResp; before the driver took the Ready, a term-2 leader's
// MsgApp truncated that entry. The Ready persisted only the term-2 log yet still sent the
// term-1 acknowledgement of index 2, so the old leader counted a replica of 1/2 that existed
// nowhere (Figure 2: a follower replies success only if it stored the entries).
func TestStaleAppendAckAfterTruncation(t *testing.T) {
	c := rafttest.NewCluster(rafttest.Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.AddNodes(5, rafttest.NodeSetup{}))
	must(c.Campaign(2))
	must(c.Stabilize(100))
	// Leader 2 replicates 1/2 to node 4 only; node 4 does not process its Ready yet.
	must(c.Propose(2, []byte("x")))
	_, err := c.ProcessReady(2)
	must(err)
	_, err = c.Deliver(rafttest.Filter{From: 2, To: 4})
	must(err)
	c.Drop(rafttest.Filter{From: 2})
	// Node 3 wins term 2 with the votes of 1 and 5 and sends its no-op 2/2 to node 4.
	must(c.Campaign(3))
	_, err = c.ProcessReady(3)
	must(err)
	c.Drop(rafttest.Filter{From: 3, To: 2})
	c.Drop(rafttest.Filter{From: 3, To: 4})
	_, err = c.Deliver(rafttest.Filter{From: 3})
	must(err)
	for _, id := range []raft.NodeID{1, 5} {
		_, err = c.ProcessReady(id)
		must(err)
	}
	_, err = c.Deliver(rafttest.Filter{To: 3})
	must(err)
	_, err = c.ProcessReady(3)
	must(err)
	_, err = c.Deliver(rafttest.Filter{From: 3, To: 4, Types: []raft.MessageType{raft.MsgApp}})
	must(err)
	// Node 4's Ready persists [1/1, 2/2] and must not acknowledge index 2 of term 1.
	_, err = c.ProcessReady(4)
	must(err)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestInteractionCatchesPlantedBugs runs every scenario script with each planted bug
// switched on: a script catches the bug when it reports a safety violation or its output
// departs from the golden output of the correct implementation.
func TestInteractionCatchesPlantedBugs(t *testing.T) {
	if f := flag.Lookup("rewrite"); f != nil && f.Value.String() == "true" {
		t.Skip("golden files are being rewritten")
	}
	scripts, err := filepath.Glob("testdata/interaction/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scenario scripts found: %v", err)
	}
	for _, knob := range (raft.TestingKnobs{}).Names() {
		t.Run(knob, func(t *testing.T) {
			if why, ok := notForScripts[knob]; ok {
				t.Skip(why)
			}
			var caught []string
			for _, path := range scripts {
				if how := runWithBug(t, path, knob); how != "" {
					caught = append(caught, filepath.Base(path)+": "+how)
				}
			}
			if len(caught) == 0 {
				t.Errorf("no scenario script notices planted bug %s", knob)
			}
			t.Logf("caught by:\n  %s", strings.Join(caught, "\n  "))
		})
	}
}

// notForScripts lists the planted bugs the scenario scripts cannot reach, and why.
var notForScripts = map[string]string{
	"AcceptConfChangeWhilePending": "no script makes two membership changes at once; TestKnobAcceptConfChangeWhilePending " +
		"and chatsim --membership (sim/bugs) catch it",
}

// runWithBug replays one script with knob on and says how the bug showed, or "".
func runWithBug(t *testing.T, path, knob string) string {
	it := rafttest.NewInteraction()
	if err := it.PlantBug(knob); err != nil {
		t.Fatal(err)
	}
	diverged := ""
	t.Run(filepath.Base(path), func(t *testing.T) {
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if out := it.Handle(t, td); diverged == "" && out != td.Expected {
				diverged = fmt.Sprintf("output differs at %s", td.Pos)
			}
			return td.Expected // keep datadriven itself from failing
		})
	})
	if vs := it.Violations(); len(vs) > 0 {
		return "violation: " + vs[0]
	}
	return diverged
}
