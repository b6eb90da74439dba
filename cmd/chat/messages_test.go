package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// signup signs up each user against addr and returns the global flags of each one's
// session, for appending to a command line.
func signup(t *testing.T, addr string, names ...string) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	flags := map[string][]string{}
	for _, n := range names {
		f := []string{"--addrs", addr, "--session", filepath.Join(dir, n+".json")}
		mustRun(t, append([]string{"signup", n, "--password", n + "-password"}, f...)...)
		flags[n] = f
	}
	return flags
}

// as is the command line args run by the user whose session flags are f.
func as(f []string, args ...string) []string { return append(args, f...) }

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runChat(t, args...)
	if code != 0 {
		t.Fatalf("chat %v: exit %d, out %q, err %q", args, code, out, errOut)
	}
	return out
}

// mustFail runs a command that must fail with exit status code and a one-line error
// message containing want.
func mustFail(t *testing.T, code int, want string, args ...string) {
	t.Helper()
	out, errOut, got := runChat(t, args...)
	if got != code || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 ||
		strings.Contains(errOut, "rpc error") {
		t.Fatalf("chat %v: exit %d, out %q, err %q; want exit %d and a one-line error with %q", args, got, out, errOut, code, want)
	}
}

func wantContains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: %q does not contain %q", what, out, w)
		}
	}
}

// createGroup creates a group as the user with flags f and returns its id.
func createGroup(t *testing.T, f []string, name string, members ...string) string {
	t.Helper()
	out := mustRun(t, as(f, append([]string{"groups", "create", name}, members...)...)...)
	fs := strings.Fields(out)
	if len(fs) < 2 || fs[0] != "created" {
		t.Fatalf("groups create: %q", out)
	}
	return fs[1]
}

func TestMessageCommands(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob")
	alice, bob := u["alice"], u["bob"]
	g := createGroup(t, alice, "team", "bob")
	mustRun(t, as(alice, "send", "--conv", g, "first")...)
	mustRun(t, as(alice, "send", "--conv", g, "second")...)
	mustRun(t, as(alice, "send", "--conv", g, "--reply-to", "1", "third")...)

	wantContains(t, "edit", mustRun(t, as(alice, "edit", g, "1", "first", "edited")...), "edited "+g+" #1")
	wantContains(t, "react", mustRun(t, as(bob, "react", g, "1", "👍")...), "[👍 bob]")
	wantContains(t, "react", mustRun(t, as(alice, "react", g, "1", "👍")...), "[👍 alice,bob]")
	mustRun(t, as(bob, "react", g, "2", "🎉")...)
	if out := mustRun(t, as(bob, "react", "--remove", g, "2", "🎉")...); strings.Contains(out, "🎉") {
		t.Fatalf("react --remove left the reaction: %q", out)
	}
	wantContains(t, "delete", mustRun(t, as(alice, "delete", g, "2")...), "deleted "+g+" #2")

	h := mustRun(t, as(bob, "history", g)...)
	wantContains(t, "history", h,
		"#1 ", "alice: first edited (edited) [👍 alice,bob]\n",
		"alice: (deleted)\n",
		"alice: (reply to #1) third\n")
	if strings.Contains(h, "second") {
		t.Fatalf("history shows a deleted message's text: %q", h)
	}

	// alice posted everything, so only bob has unread messages.
	wantContains(t, "groups", mustRun(t, as(bob, "groups")...), "unread 3")
	wantContains(t, "read", mustRun(t, as(bob, "read", g, "1")...), "read "+g+" up to #1")
	wantContains(t, "groups", mustRun(t, as(bob, "groups")...), "unread 2")
	wantContains(t, "read", mustRun(t, as(bob, "read", g)...), "read "+g+" up to #3")
	wantContains(t, "groups", mustRun(t, as(bob, "groups")...), "unread 0")

	mustFail(t, exitUsage, "SEQ must be a message number", as(alice, "edit", g, "one", "x")...)
	mustFail(t, exitUsage, "SEQ must be a message number", as(alice, "delete", g, "0")...)
	mustFail(t, exitUsage, "SEQ must be a message number", as(bob, "read", g, "1.5")...)
	mustFail(t, exitUsage, "accepts between 1 and 2 arg(s)", as(bob, "read", g, "1", "2")...)
	mustFail(t, exitUsage, "SEQ must be a message number", as(bob, "react", g, "x", "👍")...)
	mustFail(t, exitFail, "not found", as(alice, "edit", "g:999", "1", "x")...)
	mustFail(t, exitFail, "not found", as(bob, "read", "g:999")...)
	mustFail(t, exitFail, "permission denied", as(bob, "edit", g, "1", "not mine")...)
	mustFail(t, exitFail, "not found", as(alice, "react", g, "99", "👍")...)
}
