package rafttest

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/raftchat/raftchat/raft"
)

// DescribeEntry renders an entry as term/index, its type if not normal, and its data quoted.
func DescribeEntry(e raft.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d", e.Term, e.Index)
	if e.Type == raft.EntryConfChange {
		if cc, cs, err := raft.DecodeConfChange(e.Data); err == nil {
			fmt.Fprintf(&b, " conf %s %d", cc.Type, cc.NodeID)
			if len(cs.Voters) > 0 {
				fmt.Fprintf(&b, " -> %s", DescribeConf(cs))
			}
			return b.String()
		}
	}
	if e.Type != raft.EntryNormal {
		fmt.Fprintf(&b, " type=%d", e.Type)
	}
	if len(e.Data) > 0 {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(string(e.Data)))
	}
	return b.String()
}

// DescribeConf renders a configuration: voters, then learners and removed nodes if any.
func DescribeConf(cs raft.ConfState) string {
	s := fmt.Sprintf("voters=%v", cs.Voters)
	if len(cs.Learners) > 0 {
		s += fmt.Sprintf(" learners=%v", cs.Learners)
	}
	if len(cs.Removed) > 0 {
		s += fmt.Sprintf(" removed=%v", cs.Removed)
	}
	return s
}

// DescribeEntries renders entries separated by commas, in brackets.
func DescribeEntries(ents []raft.Entry) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		parts[i] = DescribeEntry(e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// DescribeHardState renders a hard state.
func DescribeHardState(hs raft.HardState) string {
	return fmt.Sprintf("Term:%d Vote:%d Commit:%d", hs.Term, hs.Vote, hs.Commit)
}

// DescribeSnapshot renders a snapshot's metadata.
func DescribeSnapshot(s raft.Snapshot) string {
	return fmt.Sprintf("Index:%d Term:%d Voters:%v", s.Metadata.Index, s.Metadata.Term, s.Metadata.ConfState.Voters)
}

// DescribeMessage renders a message on one line, showing only the fields that matter for
// its type (and any unexpected non-zero ones).
func DescribeMessage(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s Term:%d", m.From, m.To, m.Type, m.Term)
	if m.LogTerm != 0 || m.Index != 0 {
		fmt.Fprintf(&b, " Log:%d/%d", m.LogTerm, m.Index)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	if m.Reject {
		b.WriteString(" Rejected")
		if m.HintTerm != 0 || m.RejectHint != 0 {
			fmt.Fprintf(&b, " (Hint: %d/%d)", m.HintTerm, m.RejectHint)
		}
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Context:%q", m.Context)
	}
	if len(m.Entries) > 0 {
		fmt.Fprintf(&b, " Entries:%s", DescribeEntries(m.Entries))
	}
	if m.Snapshot != nil {
		fmt.Fprintf(&b, " Snapshot:{%s}", DescribeSnapshot(*m.Snapshot))
	}
	return b.String()
}

// describeReady renders everything a Ready asks of node id, one item per line.
func describeReady(id raft.NodeID, rd raft.Ready) string {
	var b strings.Builder
	fmt.Fprintf(&b, "> %d handling Ready\n", id)
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "  Lead:%d State:%s\n", rd.Lead, rd.RaftState)
	}
	if !rd.HardState.IsEmpty() {
		fmt.Fprintf(&b, "  HardState %s\n", DescribeHardState(rd.HardState))
	}
	if !rd.Snapshot.IsEmpty() {
		fmt.Fprintf(&b, "  Snapshot %s\n", DescribeSnapshot(rd.Snapshot))
	}
	if len(rd.Entries) > 0 {
		fmt.Fprintf(&b, "  Entries:\n")
		for _, e := range rd.Entries {
			fmt.Fprintf(&b, "  %s\n", DescribeEntry(e))
		}
	}
	if len(rd.CommittedEntries) > 0 {
		fmt.Fprintf(&b, "  CommittedEntries:\n")
		for _, e := range rd.CommittedEntries {
			fmt.Fprintf(&b, "  %s\n", DescribeEntry(e))
		}
	}
	if len(rd.ReadStates) > 0 {
		fmt.Fprintf(&b, "  ReadStates:\n")
		for _, rs := range rd.ReadStates {
			fmt.Fprintf(&b, "  Index:%d Context:%q\n", rs.Index, rs.RequestCtx)
		}
	}
	if len(rd.Messages) > 0 {
		fmt.Fprintf(&b, "  Messages:\n")
		for _, m := range rd.Messages {
			fmt.Fprintf(&b, "  %s\n", DescribeMessage(m))
		}
	}
	if rd.MustSync {
		fmt.Fprintf(&b, "  (must sync)\n")
	}
	return b.String()
}

// DescribeLog renders node n's durable log: its snapshot, if any, and its entries.
func DescribeLog(n *Node) string {
	l := readDurableLog(n)
	var b strings.Builder
	if l.snapIndex > 0 {
		fmt.Fprintf(&b, "snapshot %d/%d\n", l.snapTerm, l.snapIndex)
	}
	if len(l.entries) == 0 {
		b.WriteString("log is empty\n")
	}
	for _, e := range l.entries {
		fmt.Fprintf(&b, "%s\n", DescribeEntry(e))
	}
	return b.String()
}
