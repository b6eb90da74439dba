package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/raftchat/raftchat/proto/chatpb"
)

const tuiHelp = `keys
  Tab, Ctrl-N, Down       next conversation (marks it read)
  Shift-Tab, Ctrl-P, Up   previous conversation
  PgUp, PgDn, wheel       scroll the messages; scrolling past the top loads older ones
  click                   select the conversation clicked in the list
  Enter                   send the line
  Esc                     close this help, the suggestions or the status message
  Ctrl-C                  quit

commands
  /edit SEQ TEXT          replace the text of your message SEQ
  /delete SEQ             delete message SEQ
  /react SEQ EMOJI        react to message SEQ (/unreact SEQ EMOJI takes it back)
  /reply SEQ TEXT         answer message SEQ
  /dm USER [TEXT]         open the direct conversation with USER
  /group NAME USER...     create a group with these members
  /suggest                suggest replies; choose one with Up/Down and Enter
  /help                   this text
  /quit                   leave; //text sends "/text"
`

func (m *tuiModel) onKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	key := k.String()
	if k.Type == tea.KeyRunes {
		key = "runes" // typed text, even when it spells "down" or "tab"
	}
	if key == "ctrl+c" {
		return m, tea.Quit
	}
	if m.help && key != "ctrl+c" {
		m.help = false
		m.render()
		if key == "esc" || key == "enter" {
			return m, nil
		}
	}
	if len(m.suggestions) > 0 {
		switch key {
		case "up", "ctrl+p":
			m.suggestSel = (m.suggestSel + len(m.suggestions) - 1) % len(m.suggestions)
			return m, nil
		case "down", "ctrl+n":
			m.suggestSel = (m.suggestSel + 1) % len(m.suggestions)
			return m, nil
		case "enter":
			m.input.SetValue(m.suggestions[m.suggestSel])
			m.input.CursorEnd()
			m.closeSuggestions()
			return m, nil
		case "esc":
			m.closeSuggestions()
			return m, nil
		}
	}
	switch key {
	case "tab", "ctrl+n", "down":
		return m, m.cycle(1)
	case "shift+tab", "ctrl+p", "up":
		return m, m.cycle(-1)
	case "pgup":
		m.vp.PageUp()
		return m, m.scrolled()
	case "pgdown":
		m.vp.PageDown()
		return m, m.scrolled()
	case "esc":
		m.setStatus("", false)
		return m, nil
	case "enter":
		return m.submit()
	}
	if k.Type == tea.KeyRunes {
		// textinput matches its bindings on the key's name, and typed runes are named by
		// their text: the word "down" would move a completion instead of being inserted.
		// Pasted runes are named "[down]", which matches no binding.
		k.Paste = true
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return m, cmd
}

func (m *tuiModel) onMouse(ev tea.MouseMsg) tea.Cmd {
	if ev.Action != tea.MouseActionPress {
		return nil
	}
	switch ev.Button {
	case tea.MouseButtonWheelUp:
		m.vp.ScrollUp(3)
		return m.scrolled()
	case tea.MouseButtonWheelDown:
		m.vp.ScrollDown(3)
		return m.scrolled()
	case tea.MouseButtonLeft:
		// A click on the list selects; its first line is the title.
		if i := ev.Y - 1; ev.X < m.listWidth() && i >= 0 && i < len(m.convs) {
			return m.selectConv(m.convs[i].GetId())
		}
		return nil
	default:
		return nil
	}
}

func (m *tuiModel) closeSuggestions() {
	m.suggestions = nil
	m.setStatus("", false)
	m.layout()
}

// scrolled follows the newest message again once the pane is back at the bottom, and
// loads the page before the oldest message once it reaches the top.
func (m *tuiModel) scrolled() tea.Cmd {
	m.follow = m.vp.AtBottom()
	if m.follow {
		m.below = 0
	}
	tl := m.timelines[m.cur]
	if tl == nil || !m.vp.AtTop() || !tl.loaded || !tl.more || tl.loading {
		return nil
	}
	first := tl.firstSeq()
	if first <= 1 {
		return nil
	}
	tl.loading = true
	m.setStatus("loading older messages…", false)
	return m.loadPage(m.cur, first, true)
}

// cycle selects the conversation step places down the list (up when negative).
func (m *tuiModel) cycle(step int) tea.Cmd {
	if len(m.convs) == 0 {
		return nil
	}
	i := 0
	for j, cv := range m.convs {
		if cv.GetId() == m.cur {
			i = (j + step + len(m.convs)) % len(m.convs)
		}
	}
	if m.cur == "" && step < 0 {
		i = len(m.convs) - 1
	}
	return m.selectConv(m.convs[i].GetId())
}

// submit runs the input line: a command, or a message to the selected conversation.
func (m *tuiModel) submit() (tea.Model, tea.Cmd) {
	line := strings.TrimSpace(m.input.Value())
	if line == "" {
		return m, nil
	}
	m.input.SetValue("")
	if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
		quit, cmd, err := m.command(line)
		if err != nil {
			m.setErr("", err)
			m.input.SetValue(line)
			m.input.CursorEnd()
		}
		if quit {
			return m, tea.Quit
		}
		return m, cmd
	}
	return m, m.post(strings.TrimPrefix(line, "/"), 0)
}

// post sends text to the selected conversation, or opens the pending direct one with it.
func (m *tuiModel) post(text string, replyTo uint64) tea.Cmd {
	api, conv, dm := m.api, m.cur, m.pendingDM
	if conv == "" && dm == "" {
		m.setErr("", errNoConv)
		m.input.SetValue(text)
		return nil
	}
	m.setStatus("sending…", false)
	return m.call(func(ctx context.Context) tea.Msg {
		if dm != "" {
			msg, err := api.SendDirect(ctx, dm, text)
			return postedMsg{m: msg, dm: dm, txt: text, err: err}
		}
		msg, err := api.Post(ctx, conv, text, replyTo)
		return postedMsg{m: msg, txt: text, err: err}
	})
}

// command runs a slash command line; it reports whether the user asked to quit, and
// refuses a malformed command before anything is sent.
func (m *tuiModel) command(line string) (bool, tea.Cmd, error) {
	name, rest, _ := strings.Cut(line[1:], " ")
	rest = strings.TrimSpace(rest)
	api, conv := m.api, m.cur
	switch name {
	case "quit", "exit", "q":
		return true, nil, nil
	case "help":
		m.help = true
		m.render()
		return false, nil, nil
	case "edit", "delete", "react", "unreact", "reply":
		cmd, err := m.messageCommand(name, rest)
		return false, cmd, err
	case "dm":
		return false, m.openDM(rest), nil
	case "group":
		f := strings.Fields(rest)
		if len(f) < 2 {
			return false, nil, errors.New("usage: /group NAME USER [USER ...]")
		}
		return false, m.call(func(ctx context.Context) tea.Msg {
			cv, err := api.CreateGroup(ctx, f[0], f[1:]...)
			return groupMsg{cv: cv, err: err}
		}), nil
	case "suggest":
		if conv == "" {
			return false, nil, errNoConv
		}
		m.setStatus("asking for suggestions…", false)
		return false, m.call(func(ctx context.Context) tea.Msg {
			resp, err := api.Suggest(ctx, conv, 3)
			return suggestMsg{resp: resp, err: err}
		}), nil
	default:
		return false, nil, fmt.Errorf("unknown command /%s (/help lists them)", name)
	}
}

// messageCommand runs a command on one message of the selected conversation, given as
// "SEQ ARG": edit, delete, react, unreact or reply. Its effect shows when the event comes
// back through the stream.
func (m *tuiModel) messageCommand(name, args string) (tea.Cmd, error) {
	usage := map[string]string{"edit": "/edit SEQ TEXT", "delete": "/delete SEQ", "react": "/react SEQ EMOJI",
		"unreact": "/unreact SEQ EMOJI", "reply": "/reply SEQ TEXT"}[name]
	a, arg, _ := strings.Cut(args, " ")
	arg = strings.TrimSpace(arg)
	seq, err := parseSeq(a)
	if err != nil || (arg == "") != (name == "delete") {
		return nil, fmt.Errorf("usage: %s", usage)
	}
	api, conv := m.api, m.cur
	if conv == "" {
		return nil, errNoConv
	}
	if name == "reply" {
		return m.post(arg, seq), nil
	}
	return m.call(func(ctx context.Context) tea.Msg {
		var err error
		switch name {
		case "edit":
			_, err = api.Edit(ctx, conv, seq, arg)
		case "delete":
			_, err = api.Delete(ctx, conv, seq)
		default:
			_, err = api.React(ctx, conv, seq, arg, name == "unreact")
		}
		if err != nil {
			return doneMsg{what: fmt.Sprintf("%s #%d", name, seq), err: err}
		}
		return doneMsg{}
	}), nil
}

// openDM selects the direct conversation with the user named in args, or when there is
// none yet, makes the next line (or the text after the name) its first message.
func (m *tuiModel) openDM(args string) tea.Cmd {
	user, text, _ := strings.Cut(args, " ")
	text = strings.TrimSpace(text)
	if user == "" {
		m.setErr("", errors.New("usage: /dm USER [TEXT]"))
		return nil
	}
	if user == m.me {
		m.setErr("", errors.New("that is you"))
		return nil
	}
	for _, cv := range m.convs {
		if cv.GetKind() == chatpb.ConversationKind_CONVERSATION_KIND_DIRECT && cv.GetName() == user {
			cmd := m.selectConv(cv.GetId())
			if text != "" {
				cmd = tea.Batch(cmd, m.post(text, 0))
			}
			return cmd
		}
	}
	if _, known := m.online[user]; !known && len(m.online) > 0 {
		m.setErr("", fmt.Errorf("no user %q", user))
		return nil
	}
	m.cur, m.pendingDM = "", user
	m.help, m.suggestions = false, nil
	m.layout()
	if text != "" {
		return m.post(text, 0)
	}
	m.setStatus("type the first message to "+user, false)
	return nil
}
