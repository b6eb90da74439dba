//go:build invariants

package storage

// checkInvariants switches on the costlier self-checks; the simulator and CI build with
// the invariants tag.
const checkInvariants = true
