package bugs

import (
	"os"
	"slices"
	"testing"

	"github.com/raftchat/raftchat/sim"
)

// TestTable: every Table entry names a planted bug (a bug not in Table yet is still tested,
// by search).
func TestTable(t *testing.T) {
	var names []string
	for _, c := range Table {
		if !sim.ValidBug(c.Bug) {
			t.Errorf("Table names unknown bug %s", c.Bug)
		}
		if slices.Contains(names, c.Bug) {
			t.Errorf("Table lists %s twice", c.Bug)
		}
		names = append(names, c.Bug)
	}
	if len(Cases()) != len(sim.BugNames()) {
		t.Errorf("%d cases for %d bugs", len(Cases()), len(sim.BugNames()))
	}
}

// TestEveryBugIsCaught checks each bug's pinned seed fails with the bug on and passes with
// it off; an unpinned or stale case falls back to scanning 1..MaxSeed, except a known gap,
// which is skipped with its reason.
func TestEveryBugIsCaught(t *testing.T) {
	for _, c := range Cases() {
		t.Run(c.Bug, func(t *testing.T) {
			if c.Seed != 0 {
				v, err := Try(c, c.Seed)
				if err != nil {
					t.Fatal(err)
				}
				if v.Caught() {
					checkReplay(t, c, v)
					t.Logf("seed %d: %s", c.Seed, FirstViolation(v.On))
					return
				}
				t.Logf("pinned seed %d does not catch the bug", c.Seed)
			}
			v, ok, err := Find(c, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Fatalf("no seed in 1..%d catches %s with %+v", MaxSeed, c.Bug, c.Params.Flags)
			}
			checkReplay(t, c, v)
			// The workload and harness change often; a moved seed is not a failure.
			t.Logf("caught by seed %d; pin it in Table (%s): %s", v.Seed, ReplayCommand(c, v.Seed), FirstViolation(v.On))
		})
	}
}

// checkReplay runs the catching seed again, as its printed replay command would: the
// failure must come back bit for bit (same trace digest, same violations).
func checkReplay(t *testing.T, c Case, v Verdict) {
	t.Helper()
	again, err := Try(c, v.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if again.On.TraceDigest != v.On.TraceDigest || FirstViolation(again.On) != FirstViolation(v.On) {
		t.Fatalf("seed %d does not replay: digest %s then %s", v.Seed, v.On.TraceDigest, again.On.TraceDigest)
	}
}

// TestSearch rescans every bug from seed 1 and prints a fresh table; it runs only with
// RAFTCHAT_BUGS_SEARCH set.
func TestSearch(t *testing.T) {
	if os.Getenv("RAFTCHAT_BUGS_SEARCH") == "" {
		t.Skip("set RAFTCHAT_BUGS_SEARCH=1 to rescan seeds")
	}
	for _, c := range Cases() {
		v, ok, err := Find(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Logf("%s: NOT CAUGHT in seeds 1..%d", c.Bug, MaxSeed)
			continue
		}
		t.Logf("%s: seed %d (%s): %s", c.Bug, v.Seed, ReplayCommand(c, v.Seed), FirstViolation(v.On))
	}
}
