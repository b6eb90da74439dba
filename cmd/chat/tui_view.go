package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/raftchat/raftchat/proto/chatpb"
)

var (
	tuiFaint    = lipgloss.NewStyle().Faint(true)
	tuiBold     = lipgloss.NewStyle().Bold(true)
	tuiSelected = lipgloss.NewStyle().Reverse(true)
	tuiOnline   = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	tuiMe       = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("6"))
	tuiOther    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("5"))
	tuiErr      = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	tuiBar      = lipgloss.NewStyle().Reverse(true)
	tuiNote     = lipgloss.NewStyle().Faint(true).Italic(true)
)

// listWidth is the width of the conversation list, separator not included.
func (m *tuiModel) listWidth() int {
	return min(28, max(12, m.width/4))
}

// layout sizes the panes for the window and the suggestions shown.
func (m *tuiModel) layout() {
	mainW := max(1, m.width-m.listWidth()-1)
	m.vp.Width = mainW
	// Header, input line and status bar around the messages, plus the suggestions.
	m.vp.Height = max(1, m.height-3-len(m.suggestions))
	m.input.Width = max(1, mainW-len(m.input.Prompt)-1)
	m.render()
}

// render rebuilds the message pane's content, keeping to the newest message when following.
func (m *tuiModel) render() {
	if m.vp.Width <= 0 {
		return
	}
	var lines []string
	faint := func(s string) string { return lipgloss.NewStyle().Width(m.vp.Width).Render(tuiFaint.Render(s)) }
	switch tl := m.timelines[m.cur]; {
	case m.help:
		help := lipgloss.NewStyle().Width(m.vp.Width).Render(strings.TrimRight(tuiHelp, "\n"))
		lines = strings.Split(help, "\n")
	case m.pendingDM != "":
		lines = []string{faint("no messages with " + m.pendingDM + " yet: type the first one")}
	case m.cur == "" || tl == nil:
		lines = []string{faint("no conversation selected")}
	default:
		if tl.loading && len(tl.entries) == 0 {
			lines = append(lines, faint("loading…"))
		} else if tl.more {
			lines = append(lines, faint("↑ older messages (PgUp)"))
		} else if len(tl.entries) == 0 {
			lines = append(lines, faint("no messages yet"))
		}
		for i := range tl.entries {
			e := &tl.entries[i]
			if e.width != m.vp.Width {
				e.text, e.width = m.entryLine(*e), m.vp.Width
			}
			lines = append(lines, e.text)
		}
	}
	m.vp.SetContent(strings.Join(lines, "\n"))
	if m.follow || m.help {
		m.vp.GotoBottom()
	}
	if m.help {
		m.vp.GotoTop()
	}
}

// entryLine renders one timeline entry, wrapped to the pane.
func (m *tuiModel) entryLine(e tlEntry) string {
	if e.msg == nil {
		return m.wrap(tuiNote.Render("— " + e.note))
	}
	msg := e.msg
	author := tuiOther
	if msg.GetAuthor() == m.me {
		author = tuiMe
	}
	var b strings.Builder
	b.WriteString(tuiFaint.Render(fmt.Sprintf("#%d %s", msg.GetSeq(), clock(msg.GetSentUnixMs()))))
	b.WriteString(" " + author.Render(msg.GetAuthor()) + ": ")
	if msg.GetReplyTo() != 0 {
		b.WriteString(tuiFaint.Render(fmt.Sprintf("↪ #%d ", msg.GetReplyTo())))
	}
	if msg.GetDeleted() {
		b.WriteString(tuiNote.Render("(deleted)"))
		return m.wrap(b.String())
	}
	b.WriteString(msg.GetText())
	if f := msg.GetFile(); f != nil {
		if msg.GetText() != "" {
			b.WriteByte(' ')
		}
		b.WriteString(tuiFaint.Render(fmt.Sprintf("[file %d: %s, %d bytes]", f.GetFileId(), f.GetName(), f.GetSize())))
	}
	if msg.GetEditedUnixMs() != 0 {
		b.WriteString(tuiFaint.Render(" (edited)"))
	}
	for _, r := range msg.GetReactions() {
		fmt.Fprintf(&b, "  %s %s", r.GetEmoji(), tuiFaint.Render(strings.Join(r.GetUsers(), ",")))
	}
	return m.wrap(b.String())
}

// wrap fits s to the message pane, indenting the lines after the first.
func (m *tuiModel) wrap(s string) string {
	lines := strings.Split(lipgloss.NewStyle().Width(max(1, m.vp.Width-2)).Render(s), "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n")
}

// clock is a message time: the time of day for today's, the date too for older ones.
func clock(unixMs int64) string {
	t := time.UnixMilli(unixMs)
	if y, mo, d := time.Now().Date(); t.Year() == y && t.Month() == mo && t.Day() == d {
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// View implements tea.Model.
func (m *tuiModel) View() string {
	if m.width <= 0 || m.height <= 0 {
		return "starting…"
	}
	bodyH := m.height - 1
	list := lipgloss.NewStyle().Width(m.listWidth()).Height(bodyH).MaxHeight(bodyH).
		Render(m.listView(bodyH))
	sep := tuiFaint.Render(strings.TrimSuffix(strings.Repeat("│\n", bodyH), "\n"))
	mainW := m.vp.Width
	main := []string{
		lipgloss.NewStyle().Width(mainW).MaxWidth(mainW).Render(m.headerView()),
		m.vp.View(),
	}
	for i, s := range m.suggestions {
		line := fmt.Sprintf(" %d. %s", i+1, s)
		if i == m.suggestSel {
			line = tuiSelected.Render(line)
		}
		main = append(main, lipgloss.NewStyle().MaxWidth(mainW).Render(line))
	}
	main = append(main, lipgloss.NewStyle().MaxWidth(mainW).Render(m.input.View()))
	right := lipgloss.NewStyle().Width(mainW).Height(bodyH).MaxHeight(bodyH).
		Render(strings.Join(main, "\n"))
	body := lipgloss.JoinHorizontal(lipgloss.Top, list, sep, right)
	return body + "\n" + m.statusView()
}

// listView is the conversation list: presence dot (direct) or # (group), name, unread count.
func (m *tuiModel) listView(h int) string {
	w := m.listWidth()
	lines := []string{tuiBold.Render(truncate("Conversations", w))}
	for _, cv := range m.convs {
		mark := "#"
		if cv.GetKind() == chatpb.ConversationKind_CONVERSATION_KIND_DIRECT {
			mark = "○"
			if m.online[cv.GetName()] {
				mark = tuiOnline.Render("●")
			}
		}
		count := ""
		if cv.GetUnread() > 0 {
			count = fmt.Sprintf(" %d", cv.GetUnread())
		}
		name := truncate(cv.GetName(), max(1, w-2-lipgloss.Width(count)))
		pad := max(0, w-2-lipgloss.Width(name)-lipgloss.Width(count))
		line := " " + name + strings.Repeat(" ", pad) + tuiBold.Render(count)
		if cv.GetId() == m.cur {
			line = tuiSelected.Render(line)
		}
		lines = append(lines, mark+line)
	}
	if m.pendingDM != "" {
		lines = append(lines, tuiSelected.Render(truncate("+ "+m.pendingDM, w)))
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	return strings.Join(lines, "\n")
}

func (m *tuiModel) headerView() string {
	if m.help {
		return tuiBold.Render("help") + tuiFaint.Render(" (Esc closes)")
	}
	if m.pendingDM != "" {
		return tuiBold.Render("→ " + m.pendingDM)
	}
	cv := m.conv(m.cur)
	if cv == nil {
		return tuiBold.Render("raftchat")
	}
	if m.below > 0 {
		return tuiBold.Render(cv.GetName()) + tuiErr.Render(fmt.Sprintf(" ↓ %d new (PgDn)", m.below))
	}
	if cv.GetKind() == chatpb.ConversationKind_CONVERSATION_KIND_DIRECT {
		state := "offline"
		if m.online[cv.GetName()] {
			state = "online"
		}
		return tuiBold.Render(cv.GetName()) + tuiFaint.Render(" · "+state+" · "+cv.GetId())
	}
	return tuiBold.Render(cv.GetName()) + tuiFaint.Render(" · "+strings.Join(cv.GetMembers(), ", ")+" · "+cv.GetId())
}

// statusView is the bottom bar: who, which node and whether the live stream is up, then
// the last notice or error.
func (m *tuiModel) statusView() string {
	node := m.node
	if node == "" {
		node = m.api.Node()
	}
	state := "connected"
	switch {
	case !m.started:
		state = "connecting…"
	case !m.connected:
		state = "reconnecting…"
	case !m.quorum:
		state = "connected, no quorum (writes wait)"
	}
	left := fmt.Sprintf(" %s @ %s · %s ", m.me, node, state)
	rest := max(0, m.width-lipgloss.Width(left))
	msg := truncate(m.status, max(0, rest-1))
	if m.statusErr {
		msg = tuiErr.Render(msg)
	}
	pad := max(0, rest-1-lipgloss.Width(msg))
	return tuiBar.Render(left) + " " + msg + strings.Repeat(" ", pad)
}

// truncate cuts s to at most w cells, marking a cut with an ellipsis.
func truncate(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		rw := lipgloss.Width(string(r))
		if used+rw > w-1 {
			break
		}
		b.WriteRune(r)
		used += rw
	}
	return b.String() + "…"
}
