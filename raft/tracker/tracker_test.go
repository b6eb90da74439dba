package tracker

import "testing"

func TestInflights(t *testing.T) {
	in := NewInflights(4)
	for _, i := range []uint64{10, 20, 30} {
		in.Add(i)
	}
	if in.Full() || in.Count() != 3 {
		t.Fatalf("count %d full %v", in.Count(), in.Full())
	}
	in.Add(40)
	if !in.Full() {
		t.Fatal("not full at capacity")
	}
	for _, tc := range []struct {
		freeLE uint64
		count  int
	}{{5, 4}, {10, 3}, {25, 2}, {25, 2}, {100, 0}} {
		in.FreeLE(tc.freeLE)
		if in.Count() != tc.count {
			t.Fatalf("after FreeLE(%d): count %d, want %d", tc.freeLE, in.Count(), tc.count)
		}
	}
	// Wrap around the ring several times.
	for i := uint64(1); i <= 20; i++ {
		in.Add(100 + i)
		if in.Count() == 3 {
			in.FreeFirstOne()
		}
	}
	if in.Count() != 2 || in.at(0) != 119 || in.at(1) != 120 {
		t.Fatalf("after wrapping: count %d first %d", in.Count(), in.at(0))
	}
	in.Reset()
	if in.Count() != 0 {
		t.Fatal("reset did not empty")
	}
	in.FreeFirstOne() // no-op when empty
}

func TestInflightsPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"zero size": func() { NewInflights(0) },
		"full":      func() { in := NewInflights(1); in.Add(1); in.Add(2) },
		"decrease":  func() { in := NewInflights(3); in.Add(5); in.Add(5) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func TestProgressStateTransitions(t *testing.T) {
	pr := New(5, 4)
	if pr.State != StateProbe || pr.Next != 5 || pr.IsPaused() {
		t.Fatalf("new: %v", pr)
	}
	pr.SentEntries(7)
	if !pr.IsPaused() {
		t.Fatal("probe not paused after sending")
	}
	if !pr.MaybeUpdate(4) || pr.Match != 4 || pr.Next != 5 || pr.IsPaused() {
		t.Fatalf("after ack 4: %v paused=%v", pr, pr.IsPaused())
	}
	pr.BecomeReplicate()
	if pr.Next != 5 {
		t.Fatalf("replicate next %d", pr.Next)
	}
	for i := uint64(5); i < 9; i++ {
		pr.SentEntries(i)
	}
	if pr.Next != 9 || !pr.IsPaused() {
		t.Fatalf("replicate after 4 sends: %v paused=%v", pr, pr.IsPaused())
	}
	pr.BecomeSnapshot(20)
	if !pr.IsPaused() || pr.Next != 21 || pr.PendingSnapshot != 20 {
		t.Fatalf("snapshot: %v", pr)
	}
	pr.BecomeProbe()
	if pr.Next != 21 || pr.State != StateProbe {
		t.Fatalf("probe after snapshot: %v", pr)
	}
	if pr.MaybeUpdate(3) {
		t.Fatal("MaybeUpdate to a lower index reported progress")
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	for _, tc := range []struct {
		name           string
		state          StateType
		match, next    uint64
		rejected, hint uint64
		wantOK         bool
		wantNext       uint64
	}{
		{"replicate stale", StateReplicate, 5, 10, 5, 5, false, 10},
		{"replicate rewind", StateReplicate, 5, 10, 9, 9, true, 6},
		{"probe stale", StateProbe, 0, 10, 5, 5, false, 10},
		{"probe hint", StateProbe, 0, 10, 9, 3, true, 4},
		{"probe hint beyond", StateProbe, 0, 10, 9, 20, true, 9},
		{"probe not below match", StateProbe, 5, 10, 9, 2, true, 6},
		{"probe to start", StateProbe, 0, 2, 1, 0, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &Progress{State: tc.state, Match: tc.match, Next: tc.next, Inflights: *NewInflights(4)}
			if ok := pr.MaybeDecrTo(tc.rejected, tc.hint); ok != tc.wantOK || pr.Next != tc.wantNext {
				t.Fatalf("MaybeDecrTo(%d, %d) = %v next %d, want %v next %d", tc.rejected, tc.hint, ok, pr.Next, tc.wantOK, tc.wantNext)
			}
		})
	}
}

func TestProgressIsPaused(t *testing.T) {
	for _, tc := range []struct {
		state     StateType
		probeSent bool
		full      bool
		want      bool
	}{
		{StateProbe, false, false, false},
		{StateProbe, true, false, true},
		{StateReplicate, false, false, false},
		{StateReplicate, false, true, true},
		{StateSnapshot, false, false, true},
	} {
		in := NewInflights(1)
		if tc.full {
			in.Add(1)
		}
		pr := &Progress{State: tc.state, ProbeSent: tc.probeSent, Inflights: *in}
		if got := pr.IsPaused(); got != tc.want {
			t.Errorf("%+v: IsPaused = %v", tc, got)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[StateType]string{StateProbe: "StateProbe", StateReplicate: "StateReplicate",
		StateSnapshot: "StateSnapshot", StateType(7): "StateType(7)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
	if New(1, 1).String() == "" {
		t.Fatal("empty progress string")
	}
}

func TestSentEntriesInSnapshotPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	pr := New(1, 1)
	pr.BecomeSnapshot(5)
	pr.SentEntries(6)
}
