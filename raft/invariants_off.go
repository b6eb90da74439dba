//go:build !invariants

package raft

// invariantsOn is false in normal builds: the sweeps compile away.
const invariantsOn = false
