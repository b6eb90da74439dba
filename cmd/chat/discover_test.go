package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readSession(t *testing.T, path string) savedSession {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s savedSession
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func writeSession(t *testing.T, path string, s savedSession) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The session file learns the members' client addresses, and commands without --addrs use
// them: after nodes are replaced the CLI still finds the cluster.
func TestSessionLearnsMemberAddrs(t *testing.T) {
	addr := serve(t)
	session := filepath.Join(t.TempDir(), "s.json")
	if _, errOut, code := runChat(t, "--addrs", addr, "--session", session, "signup", "carol", "--password", "carolpass1"); code != 0 {
		t.Fatalf("signup: %s", errOut)
	}
	s := readSession(t, session)
	if !slices.Equal(s.Addrs, []string{addr}) || s.LearnedUnix == 0 {
		t.Fatalf("session learned %v at %d, want [%s]", s.Addrs, s.LearnedUnix, addr)
	}
	// Without --addrs, status goes to the learned address (it prints the addresses it asks).
	out, errOut, code := runChat(t, "--session", session, "status")
	if code != 0 || !strings.HasPrefix(out, addr+"\tnode 1 leader") {
		t.Fatalf("status without --addrs: exit %d, %q, %s", code, out, errOut)
	}
	// --addrs on the command line wins over the learned list, and a node that cannot be
	// reached teaches nothing: the learned list stays.
	out, _, _ = runChat(t, "--addrs", "127.0.0.1:1", "--session", session, "status")
	if !strings.HasPrefix(out, "127.0.0.1:1\tunreachable") {
		t.Fatalf("status with --addrs: %q", out)
	}
	if got := readSession(t, session).Addrs; !slices.Equal(got, []string{addr}) {
		t.Fatalf("after an unreachable --addrs the session holds %v", got)
	}
	// A stale list (a node replaced since) is relearned when the command fails over from
	// its first address.
	s = readSession(t, session)
	s.Addrs = []string{"127.0.0.1:1", addr}
	writeSession(t, session, s)
	if _, errOut, code := runChat(t, "--session", session, "users"); code != 0 {
		t.Fatalf("users over a stale list: %s", errOut)
	}
	if got := readSession(t, session).Addrs; !slices.Equal(got, []string{addr}) {
		t.Fatalf("after failing over the session holds %v, want [%s]", got, addr)
	}
}
