// Package raft is a pure implementation of the Raft consensus algorithm: a step function with
// no I/O, no clock and no goroutines. The driver feeds it ticks, messages and proposals and
// carries out the work each Ready describes.
package raft
