// Package statemachine is the chat state machine replicated by Raft: users, direct
// conversations and groups, messages with per-conversation sequence numbers, edits, deletes,
// reactions, read markers, file metadata, presence, auth state (token signing key, revoked
// tokens) and client sessions for exactly-once commands.
//
// It is pure: no I/O, no clock, no goroutines, no randomness. Apply(index, data) decodes a
// commandpb.Command and returns a commandpb.Result; the same entries give the same state and
// the same Snapshot bytes on every replica. Every input the state machine depends on — time,
// random key bytes, password hashes, upload bytes — is carried in the command by the proposer.
//
// Time. The log time of a command is max(previous log time, command time_unix_ms): it never
// goes backwards even when proposers' clocks disagree, and it stamps messages, drives session,
// upload and revocation expiry, and presence. A replica's own clock is never read.
//
// Rejections. A command is validated completely before it changes anything, so a rejected
// command leaves the state exactly as a Raft no-op entry would, except for its session record:
// the applied index moves and, for a command with a client session, the rejection is
// remembered as the request's first result, so that a duplicate entry of the same request
// gets the same rejection instead of taking effect later (session.go). Undecodable data
// changes only the applied index. Errors are *Error values with a Code; nothing panics on any
// input.
//
// Presence. A node proposes Heartbeat{usernames} at most once per user per presence interval
// (say every 30 s for users with live streams or recent requests) and Heartbeat{offline} on
// logout, so the log traffic grows with users per minute, never with requests. A user is
// online for a caller's "now" when last seen less than Config.OnlineWindowMs before it.
//
// Checking it. Two replicas at the same AppliedIndex must return identical Snapshot bytes
// (state machine safety). Linearizability of the chat service is best checked by the simulator
// against its own, separate, tiny model per conversation (an append-only list: a post returns
// the seq it got, a history read returns the list), not against this package's queries: the
// machine under test must not be its own oracle. This package's rapid test does the same at the
// unit level, comparing every query with a naive model after every command.
//
// Costs. Apply is O(1) amortised for posts (plus O(members) for group changes); History is
// O(page); Conversations is O(conversations of the user); Search scans the texts of the user's
// conversations (no index, zero extra memory); Stats is O(conversations). Messages are stored
// pointer-free (see textArena), about 60 bytes plus the text each.
//
// Concurrency. A Machine is not safe for concurrent use; its owner serialises access.
package statemachine
