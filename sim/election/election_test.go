package election

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		in     string
		lo, hi time.Duration
		bad    bool
	}{
		{in: "150ms-300ms", lo: 150 * time.Millisecond, hi: 300 * time.Millisecond},
		{in: "150-155ms", lo: 150 * time.Millisecond, hi: 155 * time.Millisecond},
		{in: "12ms-24ms", lo: 12 * time.Millisecond, hi: 24 * time.Millisecond},
		{in: "150ms", lo: 150 * time.Millisecond, hi: 150 * time.Millisecond},
		{in: "300ms-150ms", bad: true},
		{in: "fast", bad: true},
		{in: "0ms-5ms", bad: true},
	}
	for _, tc := range cases {
		lo, hi, err := ParseRange(tc.in)
		if tc.bad != (err != nil) || lo != tc.lo || hi != tc.hi {
			t.Errorf("ParseRange(%q) = %v, %v, %v", tc.in, lo, hi, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	r := summarize(ds, 150)
	if r.Trials != 100 || r.MedianMs != 50 || r.MeanMs != 50.5 || r.P99Ms != 99 || r.MaxMs != 100 || r.MinMs != 1 || r.Elections != 1.5 {
		t.Fatalf("summary %+v", r)
	}
	if len(r.CDF) != 100 || r.CDF[99] != (Point{Ms: 100, Fraction: 1}) || r.CDF[0] != (Point{Ms: 1, Fraction: 0.01}) {
		t.Fatalf("cdf ends %v %v", r.CDF[0], r.CDF[len(r.CDF)-1])
	}
}

// TestFigure16Shape runs a reduced experiment (100 trials per line) and checks what §9.3
// reports qualitatively: the outage is at least the minimum timeout minus the heartbeat
// interval, more randomness means fewer split votes, and 150-300 ms has no multi-second tail.
func TestFigure16Shape(t *testing.T) {
	run := func(lo, hi time.Duration) Result {
		r, err := Run(Config{TimeoutMin: lo, TimeoutMax: hi, Trials: 100, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	wide := run(150*time.Millisecond, 300*time.Millisecond)
	narrow := run(150*time.Millisecond, 151*time.Millisecond)
	t.Logf("150-300ms: %+v", summaryLine(wide))
	t.Logf("150-151ms: %+v", summaryLine(narrow))
	// A follower last heard the leader at most one heartbeat interval (75 ms) before the
	// crash, so nobody can campaign earlier than 150-75 ms after it.
	if wide.MinMs < 75 || narrow.MinMs < 75 {
		t.Errorf("outage shorter than possible: %v / %v ms", wide.MinMs, narrow.MinMs)
	}
	if wide.Capped != 0 || wide.MaxMs > 1500 {
		t.Errorf("150-300ms has a long tail: max %v ms, %d capped", wide.MaxMs, wide.Capped)
	}
	if narrow.Elections <= wide.Elections {
		t.Errorf("split votes: 150-151ms needs %v elections per trial, 150-300ms %v; want more for the narrow range",
			narrow.Elections, wide.Elections)
	}
}

func summaryLine(r Result) map[string]float64 {
	return map[string]float64{"median": r.MedianMs, "mean": r.MeanMs, "p99": r.P99Ms, "max": r.MaxMs, "elections": r.Elections}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{TimeoutMin: 150 * time.Millisecond, TimeoutMax: 200 * time.Millisecond, Trials: 20, Seed: 3}
	a, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different results")
	}
	cfg.Seed = 4
	c, _ := Run(cfg)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, identical results")
	}
}

func TestWriteSVG(t *testing.T) {
	var buf bytes.Buffer
	series := []Series{
		{Label: "150-151ms", Points: []Point{{Ms: 160, Fraction: 0.5}, {Ms: 400, Fraction: 1}}},
		{Label: "150-300ms <&>", Points: []Point{{Ms: 170, Fraction: 0.2}, {Ms: 280, Fraction: 1}}},
	}
	if err := WriteSVG(&buf, Plot{Series: series}); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	if err := WriteSVG(&logBuf, Plot{Series: series, LogX: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), ">1000<") || !strings.Contains(logBuf.String(), ">200<") {
		t.Errorf("log axis lacks decade ticks")
	}
	s := buf.String()
	for _, want := range []string{"<svg", "</svg>", "150-151ms", "150-300ms &lt;&amp;&gt;", "<path", "100%"} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if strings.Count(s, "<path") != 2 {
		t.Errorf("want 2 paths")
	}
}

// TestFigure16Full runs the paper's lines with 1000 trials each and writes the JSON and SVG
// to $RAFTCHAT_ELECTION_OUT (a directory). It takes a while, so it only runs when that
// variable is set.
func TestFigure16Full(t *testing.T) {
	out := os.Getenv("RAFTCHAT_ELECTION_OUT")
	if out == "" {
		t.Skip("set RAFTCHAT_ELECTION_OUT=dir to run the full Figure 16 experiment")
	}
	var series []Series
	results := map[string]Result{}
	for _, r := range Figure16 {
		label := r.Min.String() + "-" + r.Max.String()
		res, err := Run(Config{TimeoutMin: r.Min, TimeoutMax: r.Max, Trials: 1000, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: trials %d median %.1f mean %.1f p99 %.1f max %.1f min %.1f capped %d elections %.2f",
			label, res.Trials, res.MedianMs, res.MeanMs, res.P99Ms, res.MaxMs, res.MinMs, res.Capped, res.Elections)
		series = append(series, Series{Label: label, Points: res.CDF})
		results[label] = res
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, Plot{Series: series, LogX: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "figure16.svg"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(results, "", " ")
	if err := os.WriteFile(filepath.Join(out, "figure16.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUnstableCluster: when messages take longer than the election timeout no leader ever
// settles; such trials count as capped and unstable instead of aborting the run.
func TestUnstableCluster(t *testing.T) {
	res, err := Run(Config{TimeoutMin: 10 * time.Millisecond, TimeoutMax: 12 * time.Millisecond,
		LatencyMin: 30 * time.Millisecond, LatencyMax: 40 * time.Millisecond, Trials: 3, MaxOutage: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unstable != 3 || res.Capped != 3 || res.MaxMs != 1000 {
		t.Fatalf("result %+v", res)
	}
}
