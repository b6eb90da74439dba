package rafttest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/raftchat/raftchat/raft"
)

// Interaction runs datadriven scenario scripts against a Cluster. Create one per script file
// and pass every directive to Handle. The commands are documented on Handle.
type Interaction struct {
	// Cluster is created by the first add-nodes directive.
	Cluster *Cluster
	out     strings.Builder
	knobs   raft.TestingKnobs
	// allowViolations is set by the allow-violations directive (scripts that demonstrate a
	// planted bug); otherwise a safety violation fails the test.
	allowViolations bool
	reported        int
}

// NewInteraction returns an Interaction with no cluster yet.
func NewInteraction() *Interaction { return &Interaction{} }

// PlantBug switches on the testing knob called name for the cluster the script will create;
// call it before the first directive. It also allows violations, which are then only
// printed, so a test can run a correct script against a buggy raft and look at the result.
func (it *Interaction) PlantBug(name string) error {
	if it.Cluster != nil {
		return fmt.Errorf("plant bug %s: the cluster already exists", name)
	}
	it.allowViolations = true
	return it.setKnob(name)
}

// Violations returns the safety violations seen so far.
func (it *Interaction) Violations() []string {
	if it.Cluster == nil {
		return nil
	}
	return it.Cluster.Checker.Violations()
}

// Handle runs one directive and returns its output. Node IDs are bare arguments ("campaign 1").
// Directives:
//
//	add-nodes N [voters=(1,2,3)] [log-terms=(1,1,2)] [term=T] [vote=V] [commit=C]
//	          [snap-index=I snap-term=T]   (first call only:) [election=10] [heartbeat=1]
//	          [prevote=true] [checkquorum=true] [max-msg-bytes=B] [max-inflight=K]
//	          [max-uncommitted-bytes=B] [seed=S] [bug=KnobField...] [auto-report-snapshot=true]
//	          [report-unreachable=true] [background-writes=true]
//	campaign ID | tick ID [n=K] | tick-heartbeat ID | tick-election ID
//	propose ID DATA | read-index ID CTX | transfer-leadership from=ID to=ID
//	process-ready [ID...] | stabilize | deliver-msgs [from=ID] [to=ID] [type=(MsgApp,...)]
//	drop-msgs [from=ID] [to=ID] [type=(...)] | pending
//	partition ID... | cut from=ID to=ID | heal | crash ID | crash-after-persist ID | restart ID
//	compact ID | complete-writes ID   (background writes: finish node ID's pending writes)
//	raft-log ID... | raft-state | read-states ID | check | allow-violations
//
// After every directive the whole-cluster checks run and any new violation is printed.
func (it *Interaction) Handle(t testing.TB, td *datadriven.TestData) string {
	t.Helper()
	it.out.Reset()
	if err := it.handle(td); err != nil {
		fmt.Fprintf(&it.out, "error: %v\n", err)
	}
	if it.Cluster != nil {
		it.Cluster.CheckNow()
		vs := it.Cluster.Checker.Violations()
		for _, v := range vs[it.reported:] {
			fmt.Fprintf(&it.out, "VIOLATION: %s\n", v)
			if !it.allowViolations {
				t.Errorf("%s: %s", td.Pos, v)
			}
		}
		it.reported = len(vs)
	}
	if it.out.Len() == 0 {
		return "ok\n"
	}
	return it.out.String()
}

func (it *Interaction) handle(td *datadriven.TestData) error {
	if td.Cmd == "add-nodes" {
		return it.addNodes(td)
	}
	if td.Cmd == "allow-violations" {
		it.allowViolations = true
		return nil
	}
	if it.Cluster == nil {
		return fmt.Errorf("%s before add-nodes", td.Cmd)
	}
	if h, ok := directives[td.Cmd]; ok {
		return h(it, it.Cluster, td)
	}
	return fmt.Errorf("unknown directive %q", td.Cmd)
}

type directive func(it *Interaction, c *Cluster, td *datadriven.TestData) error

// directives maps every directive except add-nodes and allow-violations to its handler.
var directives = map[string]directive{
	"campaign":            idsDirective(func(c *Cluster, id raft.NodeID) error { return c.Campaign(id) }),
	"tick":                tickN,
	"tick-heartbeat":      tickHeartbeat,
	"tick-election":       idsDirective(func(c *Cluster, id raft.NodeID) error { return c.TickElection(id) }),
	"propose":             propose,
	"read-index":          readIndex,
	"transfer-leadership": transferLeadership,
	"process-ready":       processReady,
	"stabilize":           func(_ *Interaction, c *Cluster, _ *datadriven.TestData) error { return c.Stabilize(1000) },
	"deliver-msgs":        deliverMsgs,
	"drop-msgs":           dropMsgs,
	"pending":             pending,
	"partition":           partition,
	"cut":                 cut,
	"heal":                func(_ *Interaction, c *Cluster, _ *datadriven.TestData) error { c.Heal(); return nil },
	"crash":               idsDirective(func(c *Cluster, id raft.NodeID) error { return c.Crash(id) }),
	"crash-after-persist": idsDirective(func(c *Cluster, id raft.NodeID) error { return c.CrashAfterPersist(id) }),
	"restart":             idsDirective(func(c *Cluster, id raft.NodeID) error { return c.Restart(id) }),
	"compact":             idsDirective(func(c *Cluster, id raft.NodeID) error { return c.Compact(id) }),
	"complete-writes":     idsDirective(func(c *Cluster, id raft.NodeID) error { return c.CompleteWrites(id) }),
	"raft-log":            raftLog,
	"raft-state": func(_ *Interaction, c *Cluster, _ *datadriven.TestData) error {
		c.logf("%s", c.DescribeState())
		return nil
	},
	"read-states": readStates,
	"check":       check,
	"conf-change": confChange,
	"conf-state":  confState,
}

// nodeIDs returns the bare numeric arguments of td, in order.
func nodeIDs(td *datadriven.TestData) ([]raft.NodeID, error) {
	var ids []raft.NodeID
	for _, a := range td.CmdArgs {
		if len(a.Vals) > 0 {
			continue
		}
		v, err := strconv.ParseUint(a.Key, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("argument %q is not a node id", a.Key)
		}
		ids = append(ids, raft.NodeID(v))
	}
	return ids, nil
}

func idsDirective(f func(c *Cluster, id raft.NodeID) error) directive {
	return func(_ *Interaction, c *Cluster, td *datadriven.TestData) error {
		ids, err := nodeIDs(td)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return fmt.Errorf("%s needs a node id", td.Cmd)
		}
		for _, id := range ids {
			if err := f(c, id); err != nil {
				return err
			}
		}
		return nil
	}
}

// argUint returns the single unsigned value of key, or def when absent.
func argUint(td *datadriven.TestData, key string, def uint64) (uint64, error) {
	a, ok := td.Arg(key)
	if !ok {
		return def, nil
	}
	if len(a.Vals) != 1 {
		return 0, fmt.Errorf("%s wants one value", key)
	}
	v, err := strconv.ParseUint(a.Vals[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// argUints returns all unsigned values of key.
func argUints(td *datadriven.TestData, key string) ([]uint64, error) {
	a, ok := td.Arg(key)
	if !ok {
		return nil, nil
	}
	vs := make([]uint64, 0, len(a.Vals))
	for _, s := range a.Vals {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func argBool(td *datadriven.TestData, key string) bool {
	a, ok := td.Arg(key)
	return ok && (len(a.Vals) == 0 || a.Vals[0] == "true")
}

// singleID returns the one node id argument of td plus the remaining bare words.
func singleID(td *datadriven.TestData) (raft.NodeID, []string, error) {
	if len(td.CmdArgs) == 0 {
		return 0, nil, fmt.Errorf("%s needs a node id", td.Cmd)
	}
	v, err := strconv.ParseUint(td.CmdArgs[0].Key, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: first argument %q is not a node id", td.Cmd, td.CmdArgs[0].Key)
	}
	var rest []string
	for _, a := range td.CmdArgs[1:] {
		rest = append(rest, a.String())
	}
	return raft.NodeID(v), rest, nil
}

func (it *Interaction) setKnob(name string) error {
	if !it.knobs.Set(name) {
		return fmt.Errorf("no testing knob %q (have %v)", name, it.knobs.Names())
	}
	return nil
}

func (it *Interaction) clusterOptions(td *datadriven.TestData) (Options, error) {
	o := Options{Out: &it.out, Knobs: &it.knobs}
	vals := map[string]*uint64{}
	var et, hb, mib, maxInflight, seed uint64
	vals["election"], vals["heartbeat"], vals["max-msg-bytes"] = &et, &hb, &mib
	vals["max-inflight"], vals["max-uncommitted-bytes"], vals["seed"] = &maxInflight, &o.MaxUncommittedBytes, &seed
	for _, k := range []string{"election", "heartbeat", "max-msg-bytes", "max-inflight", "max-uncommitted-bytes", "seed"} {
		v, err := argUint(td, k, 0)
		if err != nil {
			return o, err
		}
		*vals[k] = v
	}
	o.ElectionTimeoutTicks, o.HeartbeatIntervalTicks = int(et), int(hb)
	o.MaxMessageBytes, o.MaxInflightMessages, o.Seed = mib, int(maxInflight), seed
	o.PreVote, o.CheckQuorum = argBool(td, "prevote"), argBool(td, "checkquorum")
	o.AutoReportSnapshot = argBool(td, "auto-report-snapshot")
	o.ReportUnreachable = argBool(td, "report-unreachable")
	o.BackgroundWrites = argBool(td, "background-writes")
	if a, ok := td.Arg("bug"); ok {
		for _, name := range a.Vals {
			if err := it.setKnob(name); err != nil {
				return o, err
			}
		}
	}
	return o, nil
}

func (it *Interaction) addNodes(td *datadriven.TestData) error {
	if it.Cluster == nil {
		o, err := it.clusterOptions(td)
		if err != nil {
			return err
		}
		it.Cluster = NewCluster(o)
	}
	n, _, err := singleID(td)
	if err != nil {
		return err
	}
	setup, err := nodeSetup(td)
	if err != nil {
		return err
	}
	return it.Cluster.AddNodes(int(n), setup)
}

func nodeSetup(td *datadriven.TestData) (NodeSetup, error) {
	var s NodeSetup
	voters, err := argUints(td, "voters")
	if err != nil {
		return s, err
	}
	for _, v := range voters {
		s.Voters = append(s.Voters, raft.NodeID(v))
	}
	var snapIndex, snapTerm, term, vote, commit uint64
	for _, a := range []struct {
		key string
		dst *uint64
	}{{"snap-index", &snapIndex}, {"snap-term", &snapTerm}, {"term", &term}, {"vote", &vote}, {"commit", &commit}} {
		if *a.dst, err = argUint(td, a.key, 0); err != nil {
			return s, err
		}
	}
	if snapIndex > 0 {
		s.Snapshot.Metadata = raft.SnapshotMetadata{Index: raft.Index(snapIndex), Term: raft.Term(snapTerm)}
	}
	terms, err := argUints(td, "log-terms")
	if err != nil {
		return s, err
	}
	for i, lt := range terms {
		idx := raft.Index(snapIndex) + raft.Index(i) + 1
		s.Entries = append(s.Entries, raft.Entry{Term: raft.Term(lt), Index: idx, Data: fmt.Appendf(nil, "t%d.%d", lt, idx)})
	}
	s.Join = argBool(td, "join")
	s.HardState = raft.HardState{Term: raft.Term(term), Vote: raft.NodeID(vote), Commit: raft.Index(commit)}
	if s.HardState.Term == 0 && len(terms) > 0 {
		s.HardState.Term = raft.Term(slices.Max(terms))
	}
	return s, nil
}
