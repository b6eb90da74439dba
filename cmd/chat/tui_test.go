package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

// tuiDriver runs a tuiModel the way bubbletea does, without a terminal: commands run on
// goroutines, their messages are fed back into Update on the test's goroutine.
type tuiDriver struct {
	t    *testing.T
	ctx  context.Context
	m    *tuiModel
	msgs chan tea.Msg
	quit bool
}

func newTUIDriver(t *testing.T, api tuiAPI, width, height int) *tuiDriver {
	t.Helper()
	d := startTUIDriver(t, api, "", width, height)
	d.waitFor("the UI started", func() bool { return d.m.started })
	return d
}

func startTUIDriver(t *testing.T, api tuiAPI, first string, width, height int) *tuiDriver {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &tuiDriver{t: t, ctx: ctx, m: newTUIModel(ctx, api, first), msgs: make(chan tea.Msg, 1024)}
	d.send(tea.WindowSizeMsg{Width: width, Height: height})
	d.exec(d.m.Init())
	return d
}

func (d *tuiDriver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		select {
		case d.msgs <- msg:
		case <-d.ctx.Done():
		}
	}()
}

// send delivers msg to the model and runs the command it returns.
func (d *tuiDriver) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
		return
	case tea.QuitMsg:
		d.quit = true
		return
	}
	_, cmd := d.m.Update(msg)
	d.exec(cmd)
}

// waitFor delivers messages until cond holds.
func (d *tuiDriver) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-tick.C:
		case <-deadline:
			d.t.Fatalf("never %s; status %q; view:\n%s", what, d.m.status, d.m.View())
		}
	}
}

// waitView waits until the screen shows every one of wants.
func (d *tuiDriver) waitView(wants ...string) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf("showed %q", wants), func() bool {
		v := d.m.View()
		for _, w := range wants {
			if !strings.Contains(v, w) {
				return false
			}
		}
		return true
	})
}

func (d *tuiDriver) key(k tea.KeyType) { d.send(tea.KeyMsg{Type: k}) }

// typeLine types text and presses Enter. Like a terminal's input, the words come as
// runes and the spaces as keys.
func (d *tuiDriver) typeLine(text string) {
	for i, w := range strings.Split(text, " ") {
		if i > 0 {
			d.send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		}
		if w != "" {
			d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(w)})
		}
	}
	d.key(tea.KeyEnter)
}

// loginClient returns a client logged in as a user signup created.
func loginClient(t *testing.T, addr, name string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, name, name+"-password"); err != nil {
		t.Fatal(err)
	}
	return c
}

// unreadRE matches a line of the conversation list: name, then the unread count.
func unreadRE(name string, n int) *regexp.Regexp {
	return regexp.MustCompile(`[#●○] ` + regexp.QuoteMeta(name) + ` +` + fmt.Sprint(n) + `│`)
}

func unreadOf(t *testing.T, c *client.Client, conv string) uint64 {
	t.Helper()
	cv, err := c.GetConversation(context.Background(), conv, false)
	if err != nil {
		t.Fatal(err)
	}
	return cv.GetUnread()
}

func TestTUI(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice", "bob", "carol", "dave")
	alice := u["alice"]
	g := createGroup(t, alice, "team", "bob")
	mustRun(t, as(alice, "send", "--to", "bob", "hello bob")...)
	time.Sleep(5 * time.Millisecond) // the group's message is the newest one
	for _, text := range []string{"one", "two", "three"} {
		mustRun(t, as(alice, "send", "--conv", g, text)...)
	}
	dm := firstConv(mustRun(t, as(alice, "groups")...), "direct")
	bob := loginClient(t, addr, "bob")

	d := newTUIDriver(t, bob, 100, 30)
	// The newest conversation is selected and read; the other shows its unread message.
	d.waitView("alice: three", "team")
	d.waitFor("the unread count of the other", func() bool { return unreadRE("alice", 1).MatchString(d.m.View()) })
	d.waitFor("team marked read", func() bool { return unreadOf(t, bob, g) == 0 })
	if unreadOf(t, bob, dm) != 1 {
		t.Fatal("the direct conversation was marked read before it was opened")
	}
	if v := d.m.View(); !strings.Contains(v, "bob @ "+addr+" · connected") {
		t.Fatalf("status bar without user, node and state:\n%s", v)
	}

	// Switching marks read.
	d.key(tea.KeyTab)
	d.waitView("alice: hello bob", "alice · online")
	d.waitFor("the direct conversation marked read", func() bool { return unreadOf(t, bob, dm) == 0 })
	if unreadRE("alice", 1).MatchString(d.m.View()) {
		t.Fatalf("unread count still shown:\n%s", d.m.View())
	}
	d.key(tea.KeyShiftTab)
	d.waitView("alice: three")
	d.send(tea.MouseMsg{X: 3, Y: 2, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	d.waitView("alice: hello bob")
	d.send(tea.MouseMsg{X: 3, Y: 1, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	d.waitView("alice: three")

	// Sending posts; another user's message appears live. Typed words are text even when
	// they name a key.
	d.typeLine("hi from bob")
	d.waitView("#4 ", "bob: hi from bob")
	d.typeLine("up down tab enter esc delete home end left right")
	d.waitView("bob: up down tab enter esc delete home end left right")
	mustRun(t, as(alice, "send", "--conv", g, "live from alice")...)
	d.waitView("alice: live from alice")
	wantContains(t, "history", mustRun(t, as(alice, "history", g)...), "bob: hi from bob")

	// Edits and reactions come back through the stream.
	d.typeLine("/edit 4 hi, edited")
	d.waitView("bob: hi, edited (edited)")
	d.typeLine("/react 1 👍")
	d.waitView("alice: one  👍 bob")
	d.typeLine("/react 1 🎉")
	d.waitView("alice: one  🎉 bob  👍 bob")
	d.typeLine("/unreact 1 🎉")
	d.waitFor("the reaction taken back", func() bool { return !strings.Contains(d.m.View(), "🎉") })
	d.typeLine("/reply 1 answering one")
	d.waitView("bob: ↪ #1 answering one")
	mustRun(t, as(alice, "delete", g, "2")...)
	d.waitView("#2 ", "alice: (deleted)")
	if strings.Contains(d.m.View(), "alice: two") {
		t.Fatalf("deleted text still shown:\n%s", d.m.View())
	}

	// Errors show in the status bar and leave the input to fix.
	d.typeLine("/edit 1 not mine")
	d.waitFor("the refusal shown", func() bool { return d.m.statusErr && strings.Contains(d.m.status, "permission denied") })
	d.typeLine("/bogus")
	d.waitFor("the unknown command refused", func() bool { return strings.Contains(d.m.status, "unknown command /bogus") })
	if d.m.input.Value() != "/bogus" {
		t.Fatalf("input after a refused command: %q", d.m.input.Value())
	}
	for line, want := range map[string]string{
		"/edit x y": "usage: /edit SEQ TEXT", "/delete 2 more": "usage: /delete SEQ",
		"/react 1": "usage: /react SEQ EMOJI", "/group solo": "usage: /group NAME USER",
	} {
		d.send(tea.KeyMsg{Type: tea.KeyCtrlU})
		d.typeLine(line)
		if !d.m.statusErr || !strings.Contains(d.m.status, want) {
			t.Fatalf("%s: status %q, want %q", line, d.m.status, want)
		}
	}
	d.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	d.typeLine(strings.Repeat("x", 17<<10))
	d.waitFor("the oversized message refused", func() bool {
		return d.m.statusErr && strings.Contains(d.m.status, "invalid argument") && strings.Contains(d.m.status, "text")
	})
	if !strings.Contains(d.m.statusView(), "invalid argument") {
		t.Fatalf("status bar %q", d.m.statusView())
	}
	d.send(tea.KeyMsg{Type: tea.KeyCtrlU})

	// Suggestions fill the input.
	d.typeLine("/suggest")
	d.waitFor("suggestions", func() bool { return len(d.m.suggestions) > 0 })
	want := d.m.suggestions[0]
	d.key(tea.KeyEnter)
	if d.m.input.Value() != want || len(d.m.suggestions) != 0 {
		t.Fatalf("input %q after choosing suggestion %q", d.m.input.Value(), want)
	}
	d.send(tea.KeyMsg{Type: tea.KeyCtrlU})

	// A group and a direct conversation opened by others appear live, with unread counts.
	g2 := createGroup(t, u["carol"], "carols", "bob")
	d.waitView("carols")
	mustRun(t, as(u["carol"], "send", "--to", "bob", "psst")...)
	d.waitFor("carol's unread message", func() bool { return unreadRE("carol", 1).MatchString(d.m.View()) })
	mustRun(t, as(u["carol"], "send", "--conv", g2, "welcome")...)
	d.waitFor("the unread message in carols", func() bool { return unreadRE("carols", 1).MatchString(d.m.View()) })

	// /dm selects the existing conversation; /group creates one.
	d.typeLine("/dm carol")
	d.waitView("carol: psst", "carol · ")
	d.typeLine("/group crew alice carol")
	d.waitView("crew · alice, bob, carol", "bob created the group")
	if !strings.Contains(strings.Split(d.m.View(), "\n")[1], "crew") {
		t.Fatalf("the new group is not first:\n%s", d.m.View())
	}

	// /dm with someone new opens the conversation with the first message.
	d.typeLine("/dm dave")
	d.waitView("→ dave", "no messages with dave yet")
	d.typeLine("hello dave")
	d.waitView("bob: hello dave", "dave · ")
	wantContains(t, "dave's history", mustRun(t, as(u["dave"], "history", "dm:bob:dave")...), "bob: hello dave")

	// Presence shows on the direct partners.
	alicec := loginClient(t, addr, "alice")
	if err := alicec.SetPresence(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	d.waitView("○ alice")
	if err := alicec.SetPresence(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	d.waitFor("alice online again", func() bool { return strings.Contains(d.m.View(), "● alice") })

	// Resize redraws to the new size.
	for _, size := range [][2]int{{60, 15}, {140, 40}} {
		d.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(d.m.View(), "\n")
		if len(lines) != size[1] {
			t.Fatalf("%dx%d: view has %d lines:\n%s", size[0], size[1], len(lines), d.m.View())
		}
		for _, l := range lines {
			if lipgloss.Width(l) > size[0] {
				t.Fatalf("%dx%d: line wider than the window: %q", size[0], size[1], l)
			}
		}
	}

	d.typeLine("/quit")
	d.waitFor("quit", func() bool { return d.quit })
	d.quit = false
	d.key(tea.KeyCtrlC)
	d.waitFor("quit on Ctrl-C", func() bool { return d.quit })
}

// TestTUIScrollLoadsOlder: scrolling up past the oldest message held loads the page before it.
func TestTUIScrollLoadsOlder(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice", "bob")
	g := createGroup(t, u["alice"], "team", "bob")
	alice := loginClient(t, addr, "alice")
	for i := 1; i <= tuiPageSize+10; i++ {
		if _, err := alice.Post(context.Background(), g, fmt.Sprintf("message %d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	d := newTUIDriver(t, loginClient(t, addr, "bob"), 80, 20)
	d.waitView(fmt.Sprintf("alice: message %d", tuiPageSize+10))
	tl := d.m.timelines[g]
	if tl.firstSeq() != 11 || !tl.more {
		t.Fatalf("first page starts at #%d, more %v", tl.firstSeq(), tl.more)
	}
	for range 40 {
		d.key(tea.KeyPgUp)
		if tl.firstSeq() == 1 {
			break
		}
		d.waitFor("the page loaded", func() bool { return !tl.loading })
	}
	d.waitView("alice: message 1 ")
	if tl.more || len(tl.entries) != tuiPageSize+10 {
		t.Fatalf("after scrolling: %d entries, more %v", len(tl.entries), tl.more)
	}
	// A message arriving while scrolled up is counted, not jumped to.
	if _, err := alice.Post(context.Background(), g, "while scrolled up", 0); err != nil {
		t.Fatal(err)
	}
	d.waitView("↓ 1 new")
	if !d.m.vp.AtTop() {
		t.Fatal("the pane moved when a message arrived")
	}
	// The wheel scrolls back down; the pane follows new messages again at the bottom.
	for range 40 {
		d.send(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	}
	if !d.m.follow || d.m.below != 0 || strings.Contains(d.m.View(), "↓") {
		t.Fatalf("not following at the bottom:\n%s", d.m.View())
	}
	if _, err := alice.Post(context.Background(), g, "newest", 0); err != nil {
		t.Fatal(err)
	}
	d.waitView("alice: newest")
}

// chat ui CONVERSATION opens that one first; one not the user's is reported.
func TestTUIOpensTheGivenConversation(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice", "bob")
	older := createGroup(t, u["alice"], "older", "bob")
	mustRun(t, as(u["alice"], "send", "--conv", older, "old news")...)
	time.Sleep(5 * time.Millisecond)
	newer := createGroup(t, u["alice"], "newer", "bob")
	mustRun(t, as(u["alice"], "send", "--conv", newer, "fresh")...)
	bob := loginClient(t, addr, "bob")
	for _, tc := range []struct{ first, want, status string }{
		{older, "alice: old news", ""},
		{"", "alice: fresh", ""},
		{"g:99", "alice: fresh", "no conversation g:99"},
	} {
		d := startTUIDriver(t, bob, tc.first, 80, 20)
		d.waitView(tc.want)
		if !strings.Contains(d.m.status, tc.status) {
			t.Fatalf("first %q: status %q", tc.first, d.m.status)
		}
	}
}

// A session the cluster does not accept ends the UI with the reason, instead of retrying.
func TestTUIQuitsWhenNotLoggedIn(t *testing.T) {
	c, err := client.New(client.Config{Addrs: []string{serve(t)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	c.SetTokens("bob", "not-a-token", "")
	d := startTUIDriver(t, c, "", 80, 20)
	d.waitFor("quit", func() bool { return d.quit })
	if d.m.fatal == nil || !strings.Contains(d.m.fatal.Error(), "chat login") {
		t.Fatalf("fatal %v", d.m.fatal)
	}
}

func TestTUIRefusesWithoutTerminal(t *testing.T) {
	for _, name := range []string{"ui", "tui"} {
		_, errOut, code := runChat(t, name)
		if code != exitUsage || !strings.Contains(errOut, "chat open") {
			t.Fatalf("chat %s without a terminal: exit %d, %q", name, code, errOut)
		}
	}
}

// A history page and the live events overlap in any order; each change shows once, and
// the newest state of a message wins.
func TestTimelineUpsert(t *testing.T) {
	msg := func(seq uint64, text string) *chatpb.Message { return &chatpb.Message{Seq: seq, Text: text} }
	var tl timeline
	tl.upsert(msg(5, "five"), 50)        // a live event
	tl.upsert(msg(3, "three"), 40)       // the page, read at 40 ...
	tl.upsert(msg(4, "four"), 40)        //
	tl.upsert(msg(3, "three old"), 30)   // an older event for #3 arriving late: ignored
	tl.upsert(msg(4, "four edited"), 45) // a newer edit
	tl.upsert(msg(5, "five"), 50)        // replayed
	tl.entries = append(tl.entries, tlEntry{note: "alice added carol"})
	tl.upsert(msg(6, "six"), 60)
	tl.upsert(msg(1, "one"), 40) // an older page
	var got []string
	for _, e := range tl.entries {
		if e.msg == nil {
			got = append(got, e.note)
		} else {
			got = append(got, e.msg.GetText())
		}
	}
	want := "one,three,four edited,five,alice added carol,six"
	if strings.Join(got, ",") != want {
		t.Fatalf("timeline %q, want %q", strings.Join(got, ","), want)
	}
	if tl.firstSeq() != 1 || tl.lastSeq() != 6 {
		t.Fatalf("first %d last %d", tl.firstSeq(), tl.lastSeq())
	}
}

// resumeRefusedAPI refuses the first resumption of the event stream as too old, as a node
// does once the position has been compacted away.
type resumeRefusedAPI struct {
	*client.Client
	refused atomic.Bool
}

func (a *resumeRefusedAPI) Subscribe(ctx context.Context, from client.Position, fn func(*chatpb.Event) error) error {
	if from.Index != 0 && a.refused.CompareAndSwap(false, true) {
		return status.Error(codes.OutOfRange, "position compacted")
	}
	return a.Client.Subscribe(ctx, from, fn)
}

// When the stream cannot resume from where the UI read, it follows from now and reloads,
// so a message sent meanwhile still shows, once.
func TestTUIResyncsWhenTheStreamCannotResume(t *testing.T) {
	addr := serve(t)
	u := signup(t, addr, "alice", "bob")
	g := createGroup(t, u["alice"], "team", "bob")
	mustRun(t, as(u["alice"], "send", "--conv", g, "before")...)
	api := &resumeRefusedAPI{Client: loginClient(t, addr, "bob")}
	d := newTUIDriver(t, api, 80, 20)
	d.waitView("alice: before")
	d.waitFor("the resync", func() bool { return api.refused.Load() && !d.m.timelines[g].loading })
	mustRun(t, as(u["alice"], "send", "--conv", g, "after")...)
	d.waitView("alice: after")
	if v := d.m.View(); strings.Count(v, "alice: before") != 1 || strings.Count(v, "alice: after") != 1 {
		t.Fatalf("a message shown twice:\n%s", v)
	}
}
