//go:build !invariants

package statemachine

// checkInvariants is free without the invariants build tag.
func (m *Machine) checkInvariants() {}
