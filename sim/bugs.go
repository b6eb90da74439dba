package sim

import (
	"fmt"
	"slices"

	"github.com/raftchat/raftchat/raft"
	"github.com/raftchat/raftchat/statemachine"
)

// smBugDropSessions is the state machine's planted bug.
const smBugDropSessions = "DropSessionsFromSnapshot"

// BugNames lists every planted bug that --bug accepts: the Raft testing knobs and the state
// machine's, in a stable order.
func BugNames() []string {
	return append(raft.TestingKnobs{}.Names(), smBugDropSessions)
}

// knobsFor returns the knobs that switch on bug ("" means none).
func knobsFor(bug string) (*raft.TestingKnobs, *statemachine.TestingKnobs, error) {
	if bug == "" {
		return nil, nil, nil
	}
	if bug == smBugDropSessions {
		return nil, &statemachine.TestingKnobs{DropSessionsFromSnapshot: true}, nil
	}
	k := &raft.TestingKnobs{}
	if !k.Set(bug) {
		return nil, nil, fmt.Errorf("unknown bug %q (known: %v)", bug, BugNames())
	}
	return k, nil, nil
}

// ValidBug reports whether name is a planted bug.
func ValidBug(name string) bool { return slices.Contains(BugNames(), name) }
