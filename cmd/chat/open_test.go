package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a running command and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openRun is chat open running with its stdin fed through a pipe, as without a terminal.
type openRun struct {
	t        *testing.T
	in       *io.PipeWriter
	out, err *syncBuffer
	code     chan int
}

func startOpen(t *testing.T, args ...string) *openRun {
	t.Helper()
	pr, pw := io.Pipe()
	r := &openRun{t: t, in: pw, out: &syncBuffer{}, err: &syncBuffer{}, code: make(chan int, 1)}
	go func() {
		r.code <- runWithInput(args, pr, r.out, r.err)
		_ = pr.Close() // unblock a writer if the command ended early
	}()
	t.Cleanup(func() { _ = pw.Close() })
	return r
}

// send types line.
func (r *openRun) send(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		r.t.Fatalf("type %q: %v (stderr %q)", line, err, r.err.String())
	}
}

// waitFor waits until the output shows want n times in all.
func (r *openRun) waitFor(want string, n int) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(r.out.String(), want) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("output never showed %q %d times:\n%s\nstderr: %s", want, n, r.out.String(), r.err.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exit closes stdin and returns the exit status.
func (r *openRun) exit() int {
	r.t.Helper()
	_ = r.in.Close()
	select {
	case code := <-r.code:
		return code
	case <-time.After(10 * time.Second):
		r.t.Fatalf("chat open did not end at end of input; output:\n%s", r.out.String())
		return -1
	}
}

func TestOpenInteractive(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob")
	alice, bob := u["alice"], u["bob"]
	g := createGroup(t, alice, "team", "bob")
	for _, text := range []string{"hello 1", "hello 2", "hello 3"} {
		mustRun(t, as(alice, "send", "--conv", g, text)...)
	}

	r := startOpen(t, as(bob, "open", g, "--last", "2")...)
	r.waitFor("alice: hello 3\n", 1)
	if out := r.out.String(); strings.Contains(out, "hello 1") || !strings.Contains(out, "alice: hello 2\n") {
		t.Fatalf("--last 2 printed %q", out)
	}
	r.send("hi from bob")
	r.waitFor(g+" #4 ", 1)
	r.waitFor("bob: hi from bob\n", 1)
	mustRun(t, as(alice, "send", "--conv", g, "live from alice")...)
	r.waitFor("alice: live from alice\n", 1)

	r.send("/edit 4 hi, edited")
	r.waitFor("edited: "+g+" #4 ", 1)
	r.waitFor("bob: hi, edited (edited)\n", 1)
	r.send("/react 1 👍")
	r.waitFor("alice: hello 1 [👍 bob]\n", 1)
	r.send("/reply 5 right back")
	r.waitFor("bob: (reply to #5) right back\n", 1)
	r.send("/delete 4")
	r.waitFor("deleted: "+g+" #4\n", 1)
	r.send("//slash is text")
	r.waitFor("bob: /slash is text\n", 1)

	r.send("/suggest")
	r.waitFor("/1 ", 1)
	var suggestion string
	for _, line := range strings.Split(r.out.String(), "\n") {
		if s, ok := strings.CutPrefix(line, "/1 "); ok {
			suggestion = s
		}
	}
	r.send("/1")
	r.waitFor("bob: "+suggestion+"\n", 1)

	r.send("/history 3")
	r.waitFor("bob: /slash is text\n", 2)

	r.send("/edit x y")
	r.waitFor("error: usage: /edit SEQ TEXT\n", 1)
	r.send("/history zero")
	r.waitFor("error: usage: /history N\n", 1)
	r.send("/9")
	r.waitFor("error: no suggestion 9 (run /suggest)\n", 1)
	r.send("/bogus")
	r.waitFor("error: unknown command /bogus (/help lists them)\n", 1)
	r.send("/edit 1 not mine")
	r.waitFor("error: permission denied", 1)
	r.send("/help")
	r.waitFor("/history N", 1)

	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d at end of input; stderr %q", code, r.err.String())
	}
	h := mustRun(t, as(alice, "history", g)...)
	wantContains(t, "history after open", h,
		"#4 ", "bob: (deleted)\n", "alice: hello 1 [👍 bob]\n", "bob: (reply to #5) right back\n",
		"bob: /slash is text\n", "bob: "+suggestion+"\n")
	// What open showed counts as read.
	mustRun(t, as(alice, "send", "--conv", g, "while you were away")...)
	wantContains(t, "bob's groups", mustRun(t, as(bob, "groups")...), "unread 1")
	r = startOpen(t, as(bob, "open", g)...)
	r.waitFor("alice: while you were away\n", 1)
	r.send("/quit")
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d after /quit", code)
	}
	wantContains(t, "bob's groups", mustRun(t, as(bob, "groups")...), "unread 0")
	r = startOpen(t, as(bob, "open", g)...)
	r.send("/quit")
	_, _ = io.WriteString(r.in, "after quit\n") // the command may already have stopped reading
	if code := r.exit(); code != 0 {
		t.Fatalf("exit %d after /quit", code)
	}
	if h := mustRun(t, as(alice, "history", g)...); strings.Contains(h, "after quit") {
		t.Fatal("a line after /quit was sent")
	}
	mustFail(t, exitFail, "not found", as(bob, "open", "g:999")...)
}

// TestOpenPipedInput: all input at once, as from a script; the output still shows every
// message sent before the end of input ended the session.
func TestOpenPipedInput(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob")
	g := createGroup(t, u["alice"], "team", "bob")
	out, errOut, code := runChatInput(t, "one\n/reply 1 two\nthree\n", as(u["bob"], "open", g)...)
	if code != 0 {
		t.Fatalf("exit %d: %q", code, errOut)
	}
	want := []string{g + " #1 ", "bob: one\n", g + " #2 ", "bob: (reply to #1) two\n", g + " #3 ", "bob: three\n"}
	wantContains(t, "open output", out, want...)
	wantContains(t, "history", mustRun(t, as(u["alice"], "history", g)...), want...)
}

// open follows on from where its history page was read: a change made before it opened is
// shown once, in the history, not again as a live event.
func TestOpenDoesNotReplayEarlierChanges(t *testing.T) {
	u := signup(t, serve(t), "alice", "bob")
	g := createGroup(t, u["alice"], "team", "bob")
	mustRun(t, as(u["alice"], "send", "--conv", g, "first draft")...)
	mustRun(t, as(u["alice"], "edit", g, "1", "final text")...)
	out, errOut, code := runChatInput(t, "seen\n", as(u["bob"], "open", g)...)
	if code != 0 {
		t.Fatalf("exit %d: %q", code, errOut)
	}
	wantContains(t, "open output", out, "alice: final text", "bob: seen\n")
	if strings.Contains(out, "edited: ") {
		t.Fatalf("an edit made before open was replayed as a live event:\n%s", out)
	}
}
