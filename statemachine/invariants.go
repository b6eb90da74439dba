//go:build invariants

package statemachine

// checkInvariants verifies the cross-references of the whole state after every applied command
// and restore. It is O(state), so it only runs with the invariants build tag (tests, simulator).
// A violation is a bug in this package: it panics.
func (m *Machine) checkInvariants() {
	if err := m.invariantError(); err != "" {
		mustf(false, "invariant violated at index %d: %s", m.st.applied, err)
	}
}
