package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftchat/raftchat/sim/linearize"
)

// Artifact file names inside an artifact folder.
const (
	ArtifactSchedule = "schedule.json"
	ArtifactResult   = "result.json"
	ArtifactTimeline = "timeline.txt"
	ArtifactOps      = "ops.txt"
	ArtifactHTML     = "linearizability.html"
	ArtifactReadme   = "README.txt"
)

// WriteArtifact writes a run's artifact folder: the schedule (replayable with `chatsim
// replay DIR`), the result, a per-node timeline, the client operations and Porcupine's
// visualization annotated with faults and leader changes.
func WriteArtifact(dir string, res *Result, replay string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create artifact folder: %w", err)
	}
	if err := WriteSchedule(filepath.Join(dir, ArtifactSchedule), res.Schedule); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	files := map[string]string{
		ArtifactResult:   string(b) + "\n",
		ArtifactTimeline: res.TimelineText(),
		ArtifactOps:      res.OpsText(),
		ArtifactReadme: fmt.Sprintf("seed %d: %s\nreplay: %s\n   or: chatsim replay %s\n\nviolations:\n  %s\n",
			res.Seed, verdict(res), replay, dir, strings.Join(res.Violations, "\n  ")),
	}
	for _, name := range []string{ArtifactResult, ArtifactTimeline, ArtifactOps, ArtifactReadme} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if res.Recorder != nil {
		if err := res.Recorder.Visualize(filepath.Join(dir, ArtifactHTML), linearize.Options{}); err != nil {
			return err
		}
	}
	return nil
}

func verdict(r *Result) string {
	if r.OK() {
		return "all checks passed"
	}
	return "FAILED"
}

// TimelineText renders the per-node timelines side by side in time order.
func (r *Result) TimelineText() string {
	var b strings.Builder
	for i, tl := range r.Timelines {
		fmt.Fprintf(&b, "=== node %d ===\n", i+1)
		for _, line := range tl {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// OpsText renders the client operations, one a line.
func (r *Result) OpsText() string {
	var b strings.Builder
	for i, o := range r.Ops {
		ret := "unknown"
		if o.ReturnNs >= 0 {
			ret = fmtTime(o.ReturnNs)
		}
		fmt.Fprintf(&b, "%5d client %d %-12s %-18s call %s return %s node %d attempts %d %s index %d %s\n",
			i, o.Client, o.Kind, o.Conv, fmtTime(o.CallNs), ret, o.Node+1, o.Attempts, o.Code, o.Index, o.Detail)
	}
	return b.String()
}

// LoadArtifact reads the schedule of an artifact folder, or a schedule file itself.
func LoadArtifact(path string) (Schedule, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Schedule{}, fmt.Errorf("open artifact: %w", err)
	}
	if st.IsDir() {
		path = filepath.Join(path, ArtifactSchedule)
	}
	return ReadSchedule(path)
}
