// Package node is the driver loop shared by the simulator (chatsim) and the real node (chatd):
// a Replica owns a raft.RawNode, its raft.MemoryStorage and the chat statemachine.Machine, and
// carries out each Ready in the order Raft requires (persist, send, apply, answer reads,
// advance). It is single-threaded, starts no goroutine and reads no clock: the world (durable
// log, blob store, network, time) is behind the LogStore and BlobStore interfaces and the Send
// callback, and the caller decides when to Tick and when to call Process.
package node
