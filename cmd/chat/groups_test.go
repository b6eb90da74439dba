package main

import (
	"strings"
	"testing"
)

func TestGroupCommands(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob", "carol")
	alice, bob, carol := u["alice"], u["bob"], u["carol"]
	g := createGroup(t, alice, "team")

	wantContains(t, "groups add", mustRun(t, as(alice, "groups", "add", g, "bob", "carol")...),
		"added bob to "+g, "added carol to "+g+" (members alice,bob,carol)")
	wantContains(t, "carol's groups", mustRun(t, as(carol, "groups")...), g+"\tgroup\tteam\t")

	mustFail(t, exitFail, "permission denied", as(bob, "groups", "rename", g, "crew")...)
	wantContains(t, "groups admin", mustRun(t, as(alice, "groups", "admin", g, "bob")...), g+" admins alice,bob\n")
	wantContains(t, "groups rename", mustRun(t, as(bob, "groups", "rename", g, "crew")...), "renamed "+g+" to crew")
	wantContains(t, "groups admin --revoke", mustRun(t, as(alice, "groups", "admin", "--revoke", g, "bob")...), g+" admins alice\n")
	mustFail(t, exitFail, "permission denied", as(bob, "groups", "remove", g, "carol")...)

	wantContains(t, "groups remove", mustRun(t, as(alice, "groups", "remove", g, "carol")...),
		"removed carol from "+g+" (members alice,bob)")
	if out := mustRun(t, as(carol, "groups")...); strings.Contains(out, g+"\t") {
		t.Fatalf("carol still lists %s after removal: %q", g, out)
	}
	wantContains(t, "groups leave", mustRun(t, as(bob, "groups", "leave", g)...), "left "+g)
	if out := mustRun(t, as(bob, "groups")...); strings.Contains(out, g+"\t") {
		t.Fatalf("bob still lists %s after leaving: %q", g, out)
	}
	wantContains(t, "alice's groups", mustRun(t, as(alice, "groups")...), g+"\tgroup\tcrew\t", "members alice\n")

	mustFail(t, exitFail, "not found", as(alice, "groups", "add", "g:999", "bob")...)
	mustFail(t, exitFail, "add nobody", as(alice, "groups", "add", g, "nobody")...)
	mustFail(t, exitFail, "", as(bob, "groups", "leave", g)...)
	mustFail(t, exitUsage, "accepts 2 arg(s)", as(alice, "groups", "remove", g)...)
	mustFail(t, exitUsage, "requires at least 2 arg(s)", as(alice, "groups", "add", g)...)
}
