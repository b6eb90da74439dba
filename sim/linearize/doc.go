// Package linearize checks a simulated client history of the chat service for
// linearizability with Porcupine (github.com/anishathalye/porcupine).
//
// The model covers four operations on one conversation: Post (appends a message and returns
// its sequence number; numbers run 1, 2, 3... per conversation in apply order), Edit (the
// author's own message only), React (add or remove one user's emoji on a message) and Read
// (the history, or its last Limit messages, with seq, author, text, edited flag and
// reactions). The history is partitioned by conversation, so each partition is checked on
// its own and the number of operations per conversation is bounded (Options.MaxOpsPerConv).
//
// The simulator records calls and returns in virtual nanoseconds:
//
//	rec := linearize.NewRecorder()
//	id := rec.Call(clientID, linearize.Input{Kind: linearize.Post, Conv: "g1", Author: "ann", Text: "hi"}, nowNs)
//	...
//	rec.Return(id, linearize.Output{Status: linearize.OK, Seq: 7}, laterNs)
//	rec.Annotate(linearize.Annotation{Tag: "faults", StartNs: t0, EndNs: t1, Description: "partition {1,2}|{3}"})
//	res := rec.Check(linearize.Options{})   // res.OK false on Illegal, on Unknown (timeout) and on too big a partition
//	if !res.OK { rec.Visualize(dir+"/linearizability.html", linearize.Options{}) }
//
// Only definite outcomes are returned. An operation whose fate the client cannot know (a
// timeout, a lost connection, a retry that gave up) is never returned: porcupine then treats
// it the standard way, as returning at the end of time, so its effect may appear anywhere
// after its call or not at all. Retries of one command (same client id and request id) are
// one operation.
//
// Porcupine runs its search in goroutines and bounds it with a wall-clock timeout; the
// verdict is deterministic except that a timeout gives Unknown, which counts as a failure.
package linearize
