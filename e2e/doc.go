// Package e2e holds end-to-end tests that build cmd/chatd and run three real chatd
// processes on 127.0.0.1: the leader is killed with SIGKILL and restarted while clients
// post through every node, a node restarts on a torn log tail, and a node catches up from
// a snapshot. `go test ./e2e/` runs a short version; RAFTCHAT_E2E_CYCLES sets the number of
// leader kills (make e2e runs more).
package e2e
