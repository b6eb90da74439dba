//go:build invariants

package raft

// invariantsOn enables the expensive invariant sweeps after every RawNode call. The
// simulator and CI build with -tags invariants.
const invariantsOn = true
