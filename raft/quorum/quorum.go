// Package quorum is the vote and commit arithmetic of a majority configuration. It is pure
// and imports nothing of package raft; indexes and counts are plain integers.
package quorum

// VoteResult is the outcome of an election as far as it is known.
type VoteResult uint8

const (
	// VotePending means neither a majority of grants nor of rejections yet.
	VotePending VoteResult = iota
	// VoteLost means a majority rejected, the election cannot be won.
	VoteLost
	// VoteWon means a majority granted.
	VoteWon
)

func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(?)"
}

// Majority returns the size of a majority of n voters (n/2+1). It panics for n <= 0, since an
// empty configuration has no quorum and reaching here is a programmer error.
func Majority(n int) int {
	if n <= 0 {
		panic("quorum: majority of an empty configuration")
	}
	return n/2 + 1
}

// Vote tallies an election among voters members of which granted and rejected have answered.
func Vote(voters, granted, rejected int) VoteResult {
	q := Majority(voters)
	switch {
	case granted >= q:
		return VoteWon
	case rejected >= q, voters-rejected < q:
		return VoteLost
	}
	return VotePending
}

// CommittedIndex returns the largest index that a majority of voters have acknowledged, given
// one acknowledged (match) index per voter. It sorts acked in place; insertion sort, because
// clusters are small and this sits on the leader's hot path (no allocation).
func CommittedIndex(acked []uint64) uint64 {
	n := len(acked)
	q := Majority(n)
	for i := 1; i < n; i++ {
		for j := i; j > 0 && acked[j] < acked[j-1]; j-- {
			acked[j], acked[j-1] = acked[j-1], acked[j]
		}
	}
	// Ascending order: the q voters at positions n-q..n-1 all acknowledged acked[n-q].
	return acked[n-q]
}
