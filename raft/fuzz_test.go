package raft_test

import (
	"testing"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/raft/rafttest"
)

// byteChooser turns fuzz input into choices; once the input runs out every choice is 0
// and exhausted reports true so the schedule stops.
type byteChooser struct {
	data []byte
	pos  int
}

func (c *byteChooser) exhausted() bool { return c.pos >= len(c.data) }

func (c *byteChooser) next() byte {
	if c.exhausted() {
		return 0
	}
	b := c.data[c.pos]
	c.pos++
	return b
}

func (c *byteChooser) IntN(_ string, n int) int {
	v := int(c.next())
	if n > 256 {
		v = v<<8 | int(c.next())
	}
	return v % n
}

// forgeMessage decodes an arbitrary message, mostly well-formed enough to get past the
// first checks (known sender, small terms and indexes) so the handlers themselves run.
func forgeMessage(c *byteChooser, to raft.NodeID) raft.Message {
	m := raft.Message{
		Type:       raft.MessageType(c.IntN("type", 20)),
		To:         to,
		From:       raft.NodeID(c.IntN("from", 5)),
		Term:       raft.Term(c.IntN("term", 8)),
		LogTerm:    raft.Term(c.IntN("logterm", 8)),
		Index:      raft.Index(c.IntN("index", 16)),
		Commit:     raft.Index(c.IntN("commit", 16)),
		Reject:     c.IntN("reject", 2) == 1,
		RejectHint: raft.Index(c.IntN("hint", 16)),
		HintTerm:   raft.Term(c.IntN("hintterm", 8)),
	}
	for i, n := 0, c.IntN("entries", 4); i < n; i++ {
		m.Entries = append(m.Entries, raft.Entry{
			Term:  raft.Term(c.IntN("eterm", 8)),
			Index: m.Index + 1 + raft.Index(i),
			Data:  []byte{c.next()},
		})
	}
	if c.IntN("ctx", 4) == 0 {
		m.Context = []byte{c.next()}
	}
	if m.Type == raft.MsgSnap || c.IntN("snap", 16) == 0 {
		s := raft.Snapshot{Metadata: raft.SnapshotMetadata{
			Index:     raft.Index(c.IntN("sindex", 16)),
			Term:      raft.Term(c.IntN("sterm", 8)),
			ConfState: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}},
		}}
		s.Data = rafttest.StateMachine{Index: s.Metadata.Index}.Encode()
		m.Snapshot = &s
	}
	return m
}

// FuzzStep feeds a 3-node cluster a schedule decoded from the input. The first byte picks
// the mode. Honest mode: only real messages, delivered in any order, dropped, duplicated,
// plus ticks, proposals, crashes, partitions, compactions, reads and transfers; every
// safety property must hold after every step. Adversarial mode: forged messages with
// arbitrary fields are stepped in as well; Raft may then legitimately diverge (a forged
// leader is believed), so only the absence of panics and harness errors is required.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 3, 0, 0, 1, 2, 1, 0, 0, 5, 9, 9})
	f.Add([]byte("\x00campaign then a long schedule of ticks and deliveries to get things going"))
	f.Add([]byte("\x01forged messages everywhere: MsgApp, MsgSnap, MsgVote with odd terms!!"))
	f.Fuzz(runFuzzBody)
}

func runFuzzBody(t *testing.T, data []byte) {
	{
		ch := &byteChooser{data: data}
		// The first byte's bits pick the mode and the optional behaviours (as chatd runs
		// them), without shifting the choices the rest of the input makes.
		first := ch.next()
		adversarial := first&1 == 1
		c := rafttest.NewCluster(rafttest.Options{
			IdleHeartbeats:       first&2 != 0,
			CoalesceMessages:     first&4 != 0,
			DeferCommitBroadcast: first&8 != 0,
			ElectionTimeoutTicks: 3 + ch.IntN("election", 3),
			MaxMessageBytes:      []uint64{1, 64, 1 << 20}[ch.IntN("maxmsg", 3)],
			MaxInflightMessages:  1 + ch.IntN("inflight", 3),
			PreVote:              ch.IntN("prevote", 2) == 1,
			CheckQuorum:          ch.IntN("checkquorum", 2) == 1,
			AutoReportSnapshot:   ch.IntN("reportsnap", 2) == 1,
		})
		if err := c.AddNodes(3, rafttest.NodeSetup{}); err != nil {
			t.Fatal(err)
		}
		for seq := 0; !ch.exhausted() && seq < 2000; seq++ {
			if adversarial && ch.IntN("forge", 4) == 0 {
				to := raft.NodeID(1 + ch.IntN("to", 3))
				m := forgeMessage(ch, to)
				if n := c.Node(to); !n.Down() {
					_ = n.Raw.Step(m) // errors are fine; panics are not
				}
				continue
			}
			if _, err := c.RandomStep(ch, seq); err != nil {
				if adversarial {
					t.Fatalf("harness error after forged messages: %v", err)
				}
				t.Fatal(err)
			}
			if !adversarial {
				c.CheckNow()
				if err := c.Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
