package main

import (
	"strings"
	"testing"
)

func TestPasswdCommand(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice")
	alice := u["alice"]
	mustFail(t, exitFail, "permission denied: wrong old password",
		as(alice, "passwd", "--password", "not-it", "--new-password", "new-password-1")...)

	out, errOut, code := runChatInput(t, "alice-password\nnew-password-2\n", as(alice, "passwd")...)
	if code != 0 || !strings.Contains(out, "password changed for alice") ||
		!strings.Contains(errOut, "current password: ") || !strings.Contains(errOut, "new password: ") {
		t.Fatalf("passwd from stdin: exit %d, out %q, err %q", code, out, errOut)
	}
	// The change revokes every older token; passwd saved the fresh session.
	mustRun(t, as(alice, "groups")...)
	mustFail(t, exitFail, "unauthenticated", as(alice, "login", "alice", "--password", "alice-password")...)
	mustRun(t, as(alice, "login", "alice", "--password", "new-password-2")...)
	mustRun(t, as(alice, "passwd", "--password", "new-password-2", "--new-password", "new-password-3")...)
	mustRun(t, as(alice, "login", "alice", "--password", "new-password-3")...)

	_, errOut, code = runChatInput(t, "new-password-3\n", as(alice, "passwd")...)
	if code != exitUsage || !strings.Contains(errOut, "no new password given") {
		t.Fatalf("passwd without a new password: exit %d, err %q", code, errOut)
	}
}

func TestAdminCommands(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice", "bob")
	alice, bob := u["alice"], u["bob"]
	admin := []string{"--addrs", addr, "--session", t.TempDir() + "/admin.json"}
	mustRun(t, as(admin, "login", "admin", "--password", testAdminPassword)...)
	g := createGroup(t, alice, "team", "bob")

	for _, args := range [][]string{{"admin", "users"}, {"admin", "groups"}, {"admin", "disable", "bob"}, {"admin", "role", "alice", "admin"}} {
		mustFail(t, exitFail, "permission denied: admins only", as(alice, args...)...)
	}

	wantContains(t, "admin users", mustRun(t, as(admin, "admin", "users")...),
		"admin\tadmin\tenabled\t", "alice\tuser\tenabled\t", "bob\tuser\tenabled\t")
	wantContains(t, "admin groups", mustRun(t, as(admin, "admin", "groups")...),
		g+"\tteam\tmessages 0\tmembers alice,bob\tadmins alice\n")

	wantContains(t, "admin disable", mustRun(t, as(admin, "admin", "disable", "bob")...), "disabled bob\n")
	wantContains(t, "admin users", mustRun(t, as(admin, "admin", "users")...), "bob\tuser\tdisabled\t")
	mustFail(t, exitFail, "log in bob", as(bob, "login", "bob", "--password", "bob-password")...)
	wantContains(t, "admin disable --enable", mustRun(t, as(admin, "admin", "disable", "--enable", "bob")...), "enabled bob\n")
	mustRun(t, as(bob, "login", "bob", "--password", "bob-password")...)

	wantContains(t, "admin role", mustRun(t, as(admin, "admin", "role", "alice", "admin")...), "alice is now admin\n")
	wantContains(t, "admin users as alice", mustRun(t, as(alice, "admin", "users")...), "alice\tadmin\t")
	wantContains(t, "admin role", mustRun(t, as(alice, "admin", "role", "alice", "user")...), "alice is now user\n")
	mustFail(t, exitFail, "permission denied", as(alice, "admin", "users")...)

	mustFail(t, exitUsage, "role must be admin or user", as(admin, "admin", "role", "bob", "root")...)
	mustFail(t, exitFail, "not found", as(admin, "admin", "disable", "nobody")...)
	mustFail(t, exitUsage, "accepts 1 arg(s)", as(admin, "admin", "disable")...)
}
