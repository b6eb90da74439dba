package main

import (
	"testing"
)

// Bad input to the cluster commands is a usage error (exit 2) before anything is sent;
// the membership calls are for admins; a node without membership support says so. The
// changes themselves are tested against real nodes in server.TestMembershipReplaceNode.
func TestClusterCommands(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice")
	alice := u["alice"]
	for _, c := range []struct {
		want string
		args []string
	}{
		{"accepts 2 arg(s)", []string{"cluster", "add", "4"}},
		{"bad node id \"x\"", []string{"cluster", "add", "x", "127.0.0.1:7104"}},
		{"bad node id \"0\"", []string{"cluster", "remove", "0"}},
		{"bad peer address \"127.0.0.1\"", []string{"cluster", "add", "4", "127.0.0.1"}},
		{"port must be 1-65535", []string{"cluster", "add", "4", "127.0.0.1:99999"}},
		{"bad --client-addr", []string{"cluster", "add", "4", "127.0.0.1:7104", "--client-addr", "nope"}},
		{"accepts 1 arg(s)", []string{"cluster", "remove"}},
		{"unknown flag", []string{"cluster", "members", "--bogus"}},
		{"unknown command \"1\"", []string{"cluster", "members", "1"}},
	} {
		mustFail(t, exitUsage, c.want, as(alice, c.args...)...)
	}
	mustFail(t, exitFail, "permission denied: admins only", as(alice, "cluster", "members")...)
	admin := []string{"--addrs", addr, "--session", t.TempDir() + "/admin.json"}
	mustRun(t, as(admin, "login", "admin", "--password", testAdminPassword)...)
	mustFail(t, exitFail, "does not support membership changes", as(admin, "cluster", "members")...)
	mustFail(t, exitFail, "does not support membership changes", as(admin, "cluster", "remove", "3")...)
	mustFail(t, exitFail, "does not support membership changes", as(admin, "cluster", "add", "4", "127.0.0.1:7104")...)
}
