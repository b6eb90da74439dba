package raft

import (
	"slices"
	"testing"
)

// A follower that steps several appends before its next Ready answers with one
// acknowledgement, of the highest index, when CoalesceMessages is on; and with one per
// append when it is off.
func TestCoalesceFollowerAcks(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := storageWithTerms(1)
		rn := newTestRawNode(t, 2, 3, st, func(c *Config) { c.CoalesceMessages = on })
		drain(t, rn, st)
		for i := Index(1); i <= 3; i++ {
			m := Message{From: 1, To: 2, Type: MsgApp, Term: 2, Index: i, LogTerm: termAt(i),
				Entries: []Entry{{Index: i + 1, Term: 2, Data: []byte{byte(i)}}}, Commit: i}
			if err := rn.Step(m); err != nil {
				t.Fatal(err)
			}
		}
		// A commit-only append on top.
		if err := rn.Step(Message{From: 1, To: 2, Type: MsgApp, Term: 2, Index: 4, LogTerm: 2, Commit: 4}); err != nil {
			t.Fatal(err)
		}
		d := drain(t, rn, st)
		var acks []Index
		for _, m := range d.msgs {
			if m.Type == MsgAppResp {
				if m.Reject {
					t.Fatalf("coalesce=%v: unexpected rejection %+v", on, m)
				}
				acks = append(acks, m.Index)
			}
		}
		want := []Index{2, 3, 4, 4}
		if on {
			want = []Index{4}
		}
		if !slices.Equal(acks, want) {
			t.Fatalf("coalesce=%v: acks %v, want %v", on, acks, want)
		}
	}
}

// termAt is the term of the entry at i in TestCoalesceFollowerAcks: 1 at index 1, 2 after.
func termAt(i Index) Term {
	if i == 1 {
		return 1
	}
	return 2
}

// A rejection is never folded into a later acknowledgement.
func TestCoalesceKeepsRejections(t *testing.T) {
	st := storageWithTerms(1)
	rn := newTestRawNode(t, 2, 3, st, func(c *Config) { c.CoalesceMessages = true })
	drain(t, rn, st)
	// An append from a position the follower does not hold is rejected; the next one fits.
	steps := []Message{
		{From: 1, To: 2, Type: MsgApp, Term: 2, Index: 5, LogTerm: 2, Entries: []Entry{{Index: 6, Term: 2}}},
		{From: 1, To: 2, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Index: 2, Term: 2}}},
	}
	for _, m := range steps {
		if err := rn.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	d := drain(t, rn, st)
	if len(d.msgs) != 2 || !d.msgs[0].Reject || d.msgs[1].Reject || d.msgs[1].Index != 2 {
		t.Fatalf("messages %+v, want a rejection then an acknowledgement of 2", d.msgs)
	}
}
