package quorum

import "testing"

func TestMajority(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3}, {7, 4}} {
		if got := Majority(tc.n); got != tc.want {
			t.Errorf("Majority(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestMajorityEmptyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Majority(0) did not panic")
		}
	}()
	Majority(0)
}

func TestVote(t *testing.T) {
	for _, tc := range []struct {
		voters, granted, rejected int
		want                      VoteResult
	}{
		{1, 1, 0, VoteWon},
		{1, 0, 1, VoteLost},
		{1, 0, 0, VotePending},
		{3, 1, 0, VotePending},
		{3, 2, 0, VoteWon},
		{3, 1, 1, VotePending},
		{3, 1, 2, VoteLost},
		{3, 0, 2, VoteLost},
		{4, 2, 2, VoteLost}, // 2 of 4 can no longer reach 3
		{4, 2, 1, VotePending},
		{4, 3, 1, VoteWon},
		{5, 2, 2, VotePending},
		{5, 3, 2, VoteWon},
		{5, 2, 3, VoteLost},
	} {
		if got := Vote(tc.voters, tc.granted, tc.rejected); got != tc.want {
			t.Errorf("Vote(%d, %d, %d) = %v, want %v", tc.voters, tc.granted, tc.rejected, got, tc.want)
		}
	}
}

func TestCommittedIndex(t *testing.T) {
	for _, tc := range []struct {
		acked []uint64
		want  uint64
	}{
		{[]uint64{5}, 5},
		{[]uint64{5, 3}, 3},
		{[]uint64{1, 2, 3}, 2},
		{[]uint64{3, 2, 1}, 2},
		{[]uint64{9, 0, 0}, 0},
		{[]uint64{9, 9, 0}, 9},
		{[]uint64{4, 1, 3, 2}, 2},
		{[]uint64{7, 7, 7, 7, 1}, 7},
		{[]uint64{10, 2, 8, 4, 6}, 6},
	} {
		in := append([]uint64(nil), tc.acked...)
		if got := CommittedIndex(in); got != tc.want {
			t.Errorf("CommittedIndex(%v) = %d, want %d", tc.acked, got, tc.want)
		}
	}
}

func TestVoteResultString(t *testing.T) {
	if VoteWon.String() != "VoteWon" || VoteLost.String() != "VoteLost" ||
		VotePending.String() != "VotePending" || VoteResult(9).String() != "VoteResult(?)" {
		t.Fatal("unexpected VoteResult names")
	}
}

func BenchmarkCommittedIndex5(b *testing.B) {
	b.ReportAllocs()
	acked := make([]uint64, 5)
	for i := 0; i < b.N; i++ {
		acked[0], acked[1], acked[2], acked[3], acked[4] = 9, 3, 7, 1, 5
		CommittedIndex(acked)
	}
}
