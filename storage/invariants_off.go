//go:build !invariants

package storage

const checkInvariants = false
