package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestChatBenchAgainstCluster runs `chat bench --json` briefly against three chatd
// processes: every field of the DESIGN.md contract is there, messages were acknowledged and
// none failed.
func TestChatBenchAgainstCluster(t *testing.T) {
	c := startCluster(t, 3)
	cmd := exec.Command(chatBin, "bench", "--addrs", strings.Join(c.addrs(), ","), "--clients", "8",
		"--duration", "2s", "--size", "256", "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat bench: %v (stdout %q, stderr %q)", err, out, stderr.String())
	}
	var r struct {
		Clients      *int     `json:"clients"`
		Messages     *int     `json:"messages"`
		MessagesPerS *float64 `json:"messages_per_s"`
		P50Ms        *float64 `json:"p50_ms"`
		P99Ms        *float64 `json:"p99_ms"`
		Errors       *int     `json:"errors"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if r.Clients == nil || r.Messages == nil || r.MessagesPerS == nil || r.P50Ms == nil || r.P99Ms == nil || r.Errors == nil {
		t.Fatalf("missing fields in %s", out)
	}
	if *r.Clients != 8 || *r.Messages == 0 || *r.Errors != 0 || *r.P50Ms > *r.P99Ms {
		t.Fatalf("unexpected result %s", out)
	}
	t.Logf("chat bench (8 clients, 2s, loaded test machine): %s", strings.TrimSpace(string(out)))
}
