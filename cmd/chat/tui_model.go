package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/client"
	"github.com/raftchat/raftchat/proto/chatpb"
)

const (
	// tuiPageSize is the number of messages fetched per history page.
	tuiPageSize = 50
	// tuiCallTimeout bounds one request of the UI, failovers included.
	tuiCallTimeout = 15 * time.Second
	// tuiProbeInterval is how often the UI checks the node it is connected to.
	tuiProbeInterval = 2 * time.Second
	// tuiStartRetry is the pause before trying to start again when no node answered.
	tuiStartRetry = 2 * time.Second
)

// timeline is what the UI holds of one conversation: a window of its messages in
// sequence order (with membership notes among them), loaded from the latest page back.
type timeline struct {
	entries []tlEntry
	loading bool // a page request is in flight
	loaded  bool // the latest page has arrived
	more    bool // older messages exist than the first one held
}

// tlEntry is a message and the log index its state is as of (a page's applied index or
// an event's index), or a note about the group.
type tlEntry struct {
	msg  *chatpb.Message
	at   uint64
	note string
	// text is the entry rendered for a pane width columns wide (0: not yet).
	text  string
	width int
}

// upsert puts m, as of log index at, into the timeline: a new message goes in sequence
// order, a known one is replaced when at is newer than what is held. So a history page
// and the live events may overlap in any order and each change still shows once.
func (tl *timeline) upsert(m *chatpb.Message, at uint64) {
	pos := len(tl.entries)
	for i := len(tl.entries) - 1; i >= 0; i-- {
		e := tl.entries[i]
		if e.msg == nil {
			continue
		}
		if e.msg.GetSeq() == m.GetSeq() {
			if at > e.at {
				tl.entries[i] = tlEntry{msg: m, at: at}
			}
			return
		}
		if e.msg.GetSeq() < m.GetSeq() {
			break
		}
		pos = i
	}
	tl.entries = slices.Insert(tl.entries, pos, tlEntry{msg: m, at: at})
}

// firstSeq is the sequence number of the oldest message held, 0 when none.
func (tl *timeline) firstSeq() uint64 {
	for _, e := range tl.entries {
		if e.msg != nil {
			return e.msg.GetSeq()
		}
	}
	return 0
}

// lastSeq is the sequence number of the newest message held, 0 when none.
func (tl *timeline) lastSeq() uint64 {
	for i := len(tl.entries) - 1; i >= 0; i-- {
		if m := tl.entries[i].msg; m != nil {
			return m.GetSeq()
		}
	}
	return 0
}

// tuiModel is the bubbletea model of chat ui. Update runs on one goroutine; requests run
// as commands whose results come back as messages, and the event stream feeds events.
type tuiModel struct {
	api    tuiAPI
	ctx    context.Context
	me     string
	events chan tea.Msg

	width, height int
	convs         []*chatpb.Conversation // newest activity first
	cur           string                 // selected conversation id, "" for none
	pendingDM     string                 // user the next line opens a direct conversation with
	online        map[string]bool
	timelines     map[string]*timeline
	readSent      map[string]uint64 // highest read marker sent per conversation
	started       bool

	input  textinput.Model
	vp     viewport.Model
	follow bool // the message pane sticks to the newest message
	below  int  // messages that arrived below the pane while scrolled up

	node      string // node of the last successful probe
	connected bool
	quorum    bool // the node last probed could reach a quorum
	status    string
	statusErr bool

	suggestions []string
	suggestSel  int
	help        bool
	fatal       error  // why the UI quit by itself
	first       string // conversation to open first, "" for the most recent
}

func newTUIModel(ctx context.Context, api tuiAPI, first string) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message, /help for commands"
	in.Focus()
	in.Cursor.SetMode(cursor.CursorStatic)
	return &tuiModel{
		api: api, ctx: ctx, me: api.Username(), events: make(chan tea.Msg, 256),
		online: map[string]bool{}, timelines: map[string]*timeline{}, readSent: map[string]uint64{},
		input: in, vp: viewport.New(0, 0), follow: true, status: "connecting…", first: first,
	}
}

// Messages of the model's own commands.
type (
	startedMsg struct {
		from  client.Position // where the event stream starts
		convs []*chatpb.Conversation
		users []*chatpb.User
		err   error
	}
	retryStartMsg struct{}
	convsMsg      struct {
		convs      []*chatpb.Conversation
		err        error
		selectConv string
	}
	usersMsg struct {
		users []*chatpb.User
		err   error
	}
	historyMsg struct {
		conv  string
		older bool
		resp  *chatpb.HistoryResponse
		err   error
	}
	postedMsg struct {
		m   *chatpb.Message
		dm  string // the user of a new direct conversation
		txt string
		err error
	}
	groupMsg struct {
		cv  *chatpb.Conversation
		err error
	}
	suggestMsg struct {
		resp *chatpb.SuggestResponse
		err  error
	}
	// doneMsg ends a request whose effect comes back through the event stream.
	doneMsg struct {
		what string
		err  error
	}
	probeTickMsg struct{}
	probeMsg     struct {
		node   string
		quorum bool
		err    error
	}
)

// call runs fn as a command with the UI's request timeout.
func (m *tuiModel) call(fn func(ctx context.Context) tea.Msg) tea.Cmd {
	ctx := m.ctx
	return func() tea.Msg {
		cctx, cancel := context.WithTimeout(ctx, tuiCallTimeout)
		defer cancel()
		return fn(cctx)
	}
}

// Init starts the UI: find the log position the event stream will start from, then read
// the conversations and users, after it so no change falls in between.
func (m *tuiModel) Init() tea.Cmd {
	return tea.Batch(m.start(), m.waitEvent(), tea.Tick(tuiProbeInterval, func(time.Time) tea.Msg { return probeTickMsg{} }))
}

func (m *tuiModel) start() tea.Cmd {
	api := m.api
	return m.call(func(ctx context.Context) tea.Msg {
		st, err := api.ClusterStatus(ctx)
		if err != nil {
			return startedMsg{err: err}
		}
		// The node's applied index is at or before what the reads below see: the stream
		// may repeat a change they show, which the timelines and lists ignore, but it
		// misses none.
		from := client.Position{Index: st.GetApplied(), Ordinal: ^uint32(0)}
		convs, err := api.Conversations(ctx, false)
		if err != nil {
			return startedMsg{err: err}
		}
		users, err := api.Users(ctx, true)
		return startedMsg{from: from, convs: convs, users: users, err: err}
	})
}

// waitEvent waits for the next message of the event stream.
func (m *tuiModel) waitEvent() tea.Cmd {
	events, ctx := m.events, m.ctx
	return func() tea.Msg {
		select {
		case msg := <-events:
			return msg
		case <-ctx.Done():
			return nil
		}
	}
}

// setStatus shows text in the status bar, as an error when isErr.
func (m *tuiModel) setStatus(text string, isErr bool) {
	m.status, m.statusErr = text, isErr
}

func (m *tuiModel) setErr(what string, err error) {
	if what != "" {
		m.setStatus(what+": "+describe(err), true)
		return
	}
	m.setStatus(describe(err), true)
}

// Update implements tea.Model.
func (m *tuiModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyMsg:
		return m.onKey(msg)
	case tea.MouseMsg:
		return m, m.onMouse(msg)
	case streamMsg:
		return m, tea.Batch(m.onStream(msg), m.waitEvent())
	case startedMsg:
		return m, m.onStarted(msg)
	case retryStartMsg:
		if m.started {
			return m, nil
		}
		return m, m.start()
	case convsMsg:
		return m, m.onConvs(msg)
	case usersMsg:
		if msg.err == nil {
			m.setUsers(msg.users)
		}
		return m, nil
	case historyMsg:
		return m, m.onHistory(msg)
	case postedMsg:
		return m, m.onPosted(msg)
	case groupMsg:
		if msg.err != nil {
			m.setErr("create group", msg.err)
			return m, nil
		}
		m.upsertConv(msg.cv)
		m.sortConvs()
		cmd := m.selectConv(msg.cv.GetId())
		m.setStatus("created group "+msg.cv.GetName(), false)
		return m, cmd
	case suggestMsg:
		m.onSuggest(msg)
		return m, nil
	case doneMsg:
		if msg.err != nil {
			m.setErr(msg.what, msg.err)
		} else {
			m.setStatus("", false)
		}
		return m, nil
	case probeTickMsg:
		return m, m.probe()
	case probeMsg:
		return m, m.onProbe(msg)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *tuiModel) onStarted(msg startedMsg) tea.Cmd {
	if status.Code(msg.err) == codes.Unauthenticated || status.Code(msg.err) == codes.PermissionDenied {
		m.fatal = fmt.Errorf("%s (run chat login)", describe(msg.err))
		return tea.Quit
	}
	if msg.err != nil {
		m.setErr("cannot reach the cluster (retrying)", msg.err)
		return tea.Tick(tuiStartRetry, func(time.Time) tea.Msg { return retryStartMsg{} })
	}
	m.started, m.connected, m.quorum, m.node = true, true, true, m.api.Node()
	go followEvents(m.ctx, m.api, msg.from, m.events)
	m.setStatus("", false)
	m.setUsers(msg.users)
	m.convs = nil
	for _, cv := range msg.convs {
		m.upsertConv(cv)
	}
	m.sortConvs()
	if len(m.convs) == 0 {
		m.setStatus("no conversations yet: /dm USER or /group NAME USER... to start one", false)
		m.render()
		return nil
	}
	if m.first != "" && m.conv(m.first) != nil {
		return m.selectConv(m.first)
	}
	cmd := m.selectConv(m.convs[0].GetId())
	if m.first != "" {
		m.setErr("", fmt.Errorf("no conversation %s among yours", m.first))
	}
	return cmd
}

// onConvs replaces the conversation list with a fresh read of it.
func (m *tuiModel) onConvs(msg convsMsg) tea.Cmd {
	if msg.err != nil {
		m.setErr("list conversations", msg.err)
		return nil
	}
	m.convs = nil
	for _, cv := range msg.convs {
		if cv.GetId() == m.cur {
			cv.Unread = 0
		}
		m.upsertConv(cv)
	}
	m.sortConvs()
	if msg.selectConv != "" {
		return m.selectConv(msg.selectConv)
	}
	if m.cur != "" && m.conv(m.cur) == nil {
		m.cur = ""
		if len(m.convs) > 0 {
			return m.selectConv(m.convs[0].GetId())
		}
	}
	m.render()
	return nil
}

func (m *tuiModel) setUsers(users []*chatpb.User) {
	for _, u := range users {
		m.online[u.GetUsername()] = u.GetOnline()
	}
}

func (m *tuiModel) reloadConvs(selectConv string) tea.Cmd {
	api := m.api
	return m.call(func(ctx context.Context) tea.Msg {
		convs, err := api.Conversations(ctx, false)
		return convsMsg{convs: convs, err: err, selectConv: selectConv}
	})
}

func (m *tuiModel) reloadUsers() tea.Cmd {
	api := m.api
	return m.call(func(ctx context.Context) tea.Msg {
		users, err := api.Users(ctx, true)
		return usersMsg{users: users, err: err}
	})
}

func (m *tuiModel) conv(id string) *chatpb.Conversation {
	for _, cv := range m.convs {
		if cv.GetId() == id {
			return cv
		}
	}
	return nil
}

// upsertConv adds cv to the list or refreshes its name and members, keeping the counts
// the UI tracks.
func (m *tuiModel) upsertConv(cv *chatpb.Conversation) {
	if old := m.conv(cv.GetId()); old != nil {
		old.Name, old.Members, old.Admins, old.Kind = cv.GetName(), cv.GetMembers(), cv.GetAdmins(), cv.GetKind()
		return
	}
	m.convs = append(m.convs, cv)
}

// activity is when a conversation last saw a message (or was created).
func activity(cv *chatpb.Conversation) int64 {
	if lm := cv.GetLastMessage(); lm != nil {
		return lm.GetSentUnixMs()
	}
	return cv.GetCreatedUnixMs()
}

func (m *tuiModel) sortConvs() {
	slices.SortStableFunc(m.convs, func(a, b *chatpb.Conversation) int {
		switch x, y := activity(a), activity(b); {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return strings.Compare(a.GetId(), b.GetId())
	})
}

// selectConv shows conversation id, loads its latest page if needed and marks it read.
func (m *tuiModel) selectConv(id string) tea.Cmd {
	cv := m.conv(id)
	if cv == nil {
		return nil
	}
	m.cur, m.pendingDM = id, ""
	m.help, m.suggestions = false, nil
	m.setStatus("", false)
	m.follow, m.below = true, 0
	var cmds []tea.Cmd
	tl := m.timelines[id]
	if tl == nil {
		tl = &timeline{}
		m.timelines[id] = tl
	}
	if !tl.loaded && !tl.loading {
		tl.loading = true
		cmds = append(cmds, m.loadPage(id, ^uint64(0), false))
	}
	cmds = append(cmds, m.markRead(cv))
	m.layout()
	return tea.Batch(cmds...)
}

// markRead moves the read marker of cv to its newest message when it is not there yet.
func (m *tuiModel) markRead(cv *chatpb.Conversation) tea.Cmd {
	cv.Unread = 0
	seq := cv.GetLastSeq()
	if seq == 0 || m.readSent[cv.GetId()] >= seq {
		return nil
	}
	m.readSent[cv.GetId()] = seq
	api, id := m.api, cv.GetId()
	return m.call(func(ctx context.Context) tea.Msg {
		if err := api.MarkRead(ctx, id, seq); err != nil {
			return doneMsg{what: "mark read", err: err}
		}
		return nil
	})
}

func (m *tuiModel) loadPage(conv string, beforeSeq uint64, older bool) tea.Cmd {
	api := m.api
	return m.call(func(ctx context.Context) tea.Msg {
		resp, err := api.History(ctx, conv, 0, beforeSeq, tuiPageSize, false)
		return historyMsg{conv: conv, older: older, resp: resp, err: err}
	})
}

func (m *tuiModel) onHistory(msg historyMsg) tea.Cmd {
	tl := m.timelines[msg.conv]
	if tl == nil {
		return nil
	}
	tl.loading = false
	if msg.err != nil {
		m.setErr("history", msg.err)
		return nil
	}
	if msg.older && !m.statusErr {
		m.setStatus("", false)
	}
	before := m.vp.TotalLineCount()
	for _, mm := range msg.resp.GetMessages() {
		tl.upsert(mm, msg.resp.GetAppliedIndex())
	}
	tl.more = msg.resp.GetMore()
	tl.loaded = true
	if msg.conv != m.cur {
		return nil
	}
	m.render()
	if msg.older {
		// Keep the lines that were on screen where they were.
		m.vp.SetYOffset(m.vp.YOffset + m.vp.TotalLineCount() - before)
	}
	if cv := m.conv(msg.conv); cv != nil {
		if last := tl.lastSeq(); last > cv.GetLastSeq() {
			cv.LastSeq = last
		}
		return m.markRead(cv)
	}
	return nil
}

// onStream applies one message of the event stream.
func (m *tuiModel) onStream(msg streamMsg) tea.Cmd {
	switch {
	case msg == streamMsg{}:
		return nil // the UI is closing
	case msg.resync:
		// The stream restarted from now: reload what may have changed in between.
		m.setStatus("live updates resumed from now; reloading", false)
		for id, tl := range m.timelines {
			if id != m.cur {
				delete(m.timelines, id)
			} else {
				tl.loading = true
			}
		}
		cmds := []tea.Cmd{m.reloadConvs(""), m.reloadUsers()}
		if m.cur != "" {
			cmds = append(cmds, m.loadPage(m.cur, ^uint64(0), false))
		}
		return tea.Batch(cmds...)
	case msg.err != nil:
		m.connected = false
		m.setErr("live updates interrupted (retrying)", msg.err)
		return nil
	}
	m.connected = true
	return m.onEvent(msg.ev)
}

// onEvent applies one live event to the lists and timelines.
func (m *tuiModel) onEvent(ev *chatpb.Event) tea.Cmd {
	var cmd tea.Cmd
	switch k := ev.GetKind().(type) {
	case *chatpb.Event_Message:
		cmd = m.onNewMessage(k.Message, ev.GetIndex())
	case *chatpb.Event_Edited:
		m.onChanged(k.Edited, ev.GetIndex())
	case *chatpb.Event_Deleted:
		m.onChanged(k.Deleted, ev.GetIndex())
	case *chatpb.Event_Reaction:
		m.onChanged(k.Reaction, ev.GetIndex())
	case *chatpb.Event_Presence:
		m.online[k.Presence.GetUsername()] = k.Presence.GetOnline()
	case *chatpb.Event_Membership:
		cmd = m.onMembership(k.Membership)
	case *chatpb.Event_Read:
		if cv := m.conv(k.Read.GetConversationId()); cv != nil {
			if last, seq := cv.GetLastSeq(), k.Read.GetSeq(); last > seq {
				cv.Unread = min(cv.GetUnread(), last-seq)
			} else {
				cv.Unread = 0
			}
			m.readSent[cv.GetId()] = max(m.readSent[cv.GetId()], k.Read.GetSeq())
		}
	}
	m.render()
	return cmd
}

func (m *tuiModel) onNewMessage(msg *chatpb.Message, index uint64) tea.Cmd {
	id := msg.GetConversationId()
	cv := m.conv(id)
	if cv == nil {
		// A direct conversation someone just opened with us: list it.
		return m.reloadConvs("")
	}
	if tl := m.timelines[id]; tl != nil && (tl.loaded || tl.loading) {
		tl.upsert(msg, index)
	}
	if msg.GetSeq() <= cv.GetLastSeq() {
		return nil // seen already (a page or the stream replayed it)
	}
	cv.LastSeq, cv.LastMessage = msg.GetSeq(), msg
	m.sortConvs()
	if msg.GetAuthor() == m.me {
		m.readSent[id] = max(m.readSent[id], msg.GetSeq())
		return nil
	}
	if id == m.cur {
		if !m.follow {
			m.below++
		}
		return m.markRead(cv)
	}
	cv.Unread++
	return nil
}

func (m *tuiModel) onChanged(msg *chatpb.Message, index uint64) {
	if tl := m.timelines[msg.GetConversationId()]; tl != nil && (tl.loaded || tl.loading) {
		tl.upsert(msg, index)
	}
}

func (m *tuiModel) onMembership(mb *chatpb.Membership) tea.Cmd {
	id := mb.GetConversationId()
	tl := m.timelines[id]
	if tl == nil && m.conv(id) == nil {
		// A group new to us starts with the note; its messages load when it is opened.
		tl = &timeline{}
		m.timelines[id] = tl
	}
	if tl != nil {
		tl.entries = append(tl.entries, tlEntry{note: membershipNote(mb)})
	}
	if mb.GetChange() == "member_removed" && mb.GetTarget() == m.me {
		m.convs = slices.DeleteFunc(m.convs, func(cv *chatpb.Conversation) bool { return cv.GetId() == id })
		delete(m.timelines, id)
		if m.cur == id {
			m.cur = ""
			m.setStatus("you are no longer in "+id, false)
			if len(m.convs) > 0 {
				return m.selectConv(m.convs[0].GetId())
			}
		}
		return nil
	}
	if cv := mb.GetConversation(); cv != nil {
		if m.conv(id) == nil {
			m.convs = append(m.convs, cv)
			m.sortConvs()
			return nil
		}
		m.upsertConv(cv)
	}
	return nil
}

// membershipNote says what a membership event changed, for the conversation's timeline.
func membershipNote(mb *chatpb.Membership) string {
	actor, target := mb.GetActor(), mb.GetTarget()
	switch mb.GetChange() {
	case "group_created":
		return actor + " created the group"
	case "group_renamed":
		return actor + " renamed the group to " + mb.GetConversation().GetName()
	case "member_added":
		return actor + " added " + target
	case "member_removed":
		if actor == target {
			return target + " left"
		}
		return actor + " removed " + target
	case "admin_changed":
		return actor + " changed the admin right of " + target
	default:
		return fmt.Sprintf("%s: %s %s", mb.GetChange(), actor, target)
	}
}

func (m *tuiModel) onPosted(msg postedMsg) tea.Cmd {
	if msg.err != nil {
		m.setErr("send", msg.err)
		if m.input.Value() == "" {
			m.input.SetValue(msg.txt) // let the user fix it instead of typing it again
		}
		return nil
	}
	m.setStatus("", false)
	id := msg.m.GetConversationId()
	if m.conv(id) == nil {
		// The first message of a new direct conversation: list it, then show it.
		m.timelines[id] = &timeline{}
		return m.reloadConvs(id)
	}
	cmd := m.onNewMessage(msg.m, msg.m.GetLogIndex())
	if msg.dm != "" {
		return tea.Batch(cmd, m.selectConv(id))
	}
	m.follow = true
	m.render()
	return cmd
}

func (m *tuiModel) onSuggest(msg suggestMsg) {
	if msg.err != nil {
		m.setErr("suggest", msg.err)
		return
	}
	m.suggestions, m.suggestSel = msg.resp.GetSuggestions(), 0
	if len(m.suggestions) == 0 {
		m.setStatus("no suggestions", false)
		return
	}
	m.setStatus("↑/↓ choose a suggestion, Enter puts it in the input, Esc closes", false)
	m.layout()
}

func (m *tuiModel) probe() tea.Cmd {
	api := m.api
	return m.call(func(ctx context.Context) tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		st, err := api.ClusterStatus(ctx)
		return probeMsg{node: api.Node(), quorum: st.GetQuorum(), err: err}
	})
}

func (m *tuiModel) onProbe(msg probeMsg) tea.Cmd {
	next := tea.Tick(tuiProbeInterval, func(time.Time) tea.Msg { return probeTickMsg{} })
	if msg.err != nil {
		if m.ctx.Err() != nil {
			return nil
		}
		m.connected = false
		return next
	}
	cmds := []tea.Cmd{next}
	if !m.connected && m.started {
		// Back after an outage: presence events are not replayed, so read it again.
		cmds = append(cmds, m.reloadUsers())
	}
	m.node, m.connected, m.quorum = msg.node, true, msg.quorum
	return tea.Batch(cmds...)
}

// errNoConv is the refusal of a command that needs a conversation when none is selected.
var errNoConv = errors.New("no conversation selected (/dm USER or /group NAME USER... starts one)")
