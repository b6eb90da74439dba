package statemachine

import (
	"slices"
	"strings"
)

// Queries are pure: they never modify the machine and return copies the caller may keep.
// Every query that shows conversation content takes the viewing user and checks membership.

func (m *Machine) viewer(name string) (*user, *Error) {
	u := m.st.users[name]
	if u == nil {
		return nil, errorf(CodeUnauthenticated, "unknown user %q", name)
	}
	if u.disabled {
		return nil, errorf(CodePermissionDenied, "user %q is disabled", name)
	}
	return u, nil
}

func (m *Machine) clampLimit(limit int) int {
	if limit <= 0 || limit > m.cfg.MaxPageSize {
		return m.cfg.MaxPageSize
	}
	return limit
}

// viewConv finds a conversation viewer is a member of.
func (m *Machine) viewConv(viewer, id string) (*user, *conversation, *member, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return nil, nil, nil, err
	}
	c := m.st.convs[id]
	if c == nil {
		return nil, nil, nil, errorf(CodeNotFound, "no conversation %q", id)
	}
	mb := c.members[viewer]
	if mb == nil {
		return nil, nil, nil, errorf(CodeNotMember, "%q is not a member of %q", viewer, id)
	}
	return u, c, mb, nil
}

// exportMessage returns message seq of c as queries show it, with copies of its text and
// reactions.
func (m *Machine) exportMessage(c *conversation, seq uint64) Message {
	return m.exportMessageText(c, seq, c.texts.str(c.msg(seq).text))
}

// exportMessageText is exportMessage with the message's text supplied by a caller that has it
// as a string already: a substring of one copy of a whole page's texts (History). Strings are immutable, so sharing one is as good as
// a copy, and it saves allocating one per message.
func (m *Machine) exportMessageText(c *conversation, seq uint64, text string) Message {
	msg := c.msg(seq)
	return Message{
		ConversationID: c.id,
		Seq:            seq,
		Author:         m.st.names[msg.author],
		Text:           text,
		TimeUnixMs:     msg.timeMs,
		EditedUnixMs:   msg.editedMs,
		Deleted:        msg.deleted,
		ReplyTo:        msg.replyTo,
		FileID:         msg.fileID,
		Index:          msg.index,
		Reactions:      exportReactions(c.reactionsOf(seq)),
	}
}

// exportReactions groups rs, sorted by (emoji, user), by emoji; nil when there are none. It
// counts the groups first and then allocates once for the groups and once for all their users,
// rather than once per group plus each growth (every reaction event exports its message).
// Each group's Users has its capacity cut to its length, so that appending to one group's
// users cannot overwrite the next group's.
func exportReactions(rs []reaction) []Reaction {
	if len(rs) == 0 {
		return nil
	}
	groups := 1
	for i := 1; i < len(rs); i++ {
		if rs[i].emoji != rs[i-1].emoji {
			groups++
		}
	}
	out := make([]Reaction, 0, groups)
	users := make([]string, len(rs))
	start := 0
	for i, r := range rs {
		users[i] = r.user
		if i+1 == len(rs) || rs[i+1].emoji != r.emoji {
			out = append(out, Reaction{Emoji: r.emoji, Users: users[start : i+1 : i+1]})
			start = i + 1
		}
	}
	return out
}

// History returns a page of conversation id as seen by viewer, in ascending seq order. Cost:
// O(page) whatever the conversation's length, since messages are indexed by seq.
func (m *Machine) History(viewer, id string, q HistoryQuery) ([]Message, error) {
	_, c, _, err := m.viewConv(viewer, id)
	if err != nil {
		return nil, err
	}
	limit := uint64(m.clampLimit(q.Limit))
	last := c.lastSeq()
	var lo, hi uint64 // seqs in [lo, hi]
	if q.BeforeSeq != 0 {
		hi = min(q.BeforeSeq-1, last)
		lo = 1
		if hi > limit {
			lo = hi - limit + 1
		}
	} else {
		lo = q.AfterSeq + 1
		hi = last
		if lo <= last && last-lo+1 > limit {
			hi = lo + limit - 1
		}
	}
	if lo > hi {
		return []Message{}, nil
	}
	// The page's texts are copied out of the arena into one string, and each message's Text is
	// a substring of it: one allocation per page rather than per message. (A caller that keeps
	// one of the texts keeps the page's texts alive; a page is bounded by MaxPageSize.)
	size := 0
	for s := lo; s <= hi; s++ {
		size += int(c.msg(s).text.n)
	}
	var texts strings.Builder
	texts.Grow(size)
	for s := lo; s <= hi; s++ {
		texts.Write(c.texts.bytes(c.msg(s).text))
	}
	all := texts.String()
	out := make([]Message, 0, hi-lo+1)
	for s := lo; s <= hi; s++ {
		n := int(c.msg(s).text.n)
		out = append(out, m.exportMessageText(c, s, all[:n]))
		all = all[n:]
	}
	return out, nil
}

// Message returns message seq of conversation id as seen by viewer.
func (m *Machine) Message(viewer, id string, seq uint64) (Message, error) {
	_, c, _, err := m.viewConv(viewer, id)
	if err != nil {
		return Message{}, err
	}
	if c.msg(seq) == nil {
		return Message{}, errorf(CodeNotFound, "no message %d in %q", seq, id)
	}
	return m.exportMessage(c, seq), nil
}

func (m *Machine) summary(viewer string, c *conversation) ConversationSummary {
	mb := c.members[viewer]
	s := ConversationSummary{
		ID: c.id, Kind: c.kind, Name: c.name, Members: c.memberNames(),
		LastSeq: c.lastSeq(), ReadSeq: mb.readSeq, Unread: c.lastSeq() - mb.readSeq,
	}
	if c.kind == KindDirect {
		for _, n := range s.Members {
			if n != viewer {
				s.Name = n
			}
		}
	}
	if s.LastSeq > 0 {
		last := m.exportMessage(c, s.LastSeq)
		s.Last = &last
	}
	return s
}

// Conversation returns the summary of one conversation of viewer.
func (m *Machine) Conversation(viewer, id string) (ConversationSummary, error) {
	_, c, _, err := m.viewConv(viewer, id)
	if err != nil {
		return ConversationSummary{}, err
	}
	return m.summary(viewer, c), nil
}

// Conversations lists viewer's conversations, most recently active first (last message time,
// then creation time, then id).
func (m *Machine) Conversations(viewer string) ([]ConversationSummary, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return nil, err
	}
	out := make([]ConversationSummary, 0, len(u.convs))
	for _, id := range sortedKeys(u.convs) {
		out = append(out, m.summary(viewer, m.st.convs[id]))
	}
	activity := func(s *ConversationSummary) int64 {
		if s.Last != nil {
			return s.Last.TimeUnixMs
		}
		return m.st.convs[s.ID].createdMs
	}
	slices.SortStableFunc(out, func(a, b ConversationSummary) int {
		ta, tb := activity(&a), activity(&b)
		switch {
		case ta > tb:
			return -1
		case ta < tb:
			return 1
		default:
			return strings.Compare(a.ID, b.ID)
		}
	})
	return out, nil
}

// Users lists every user with presence as of nowUnixMs (the caller's clock): online when seen
// within Config.OnlineWindowMs before now and not gone offline since. Sorted by name.
func (m *Machine) Users(nowUnixMs int64) []Presence {
	out := make([]Presence, 0, len(m.st.users))
	for _, n := range sortedKeys(m.st.users) {
		out = append(out, m.presence(m.st.users[n], nowUnixMs))
	}
	return out
}

// User returns one user's presence as of nowUnixMs.
func (m *Machine) User(name string, nowUnixMs int64) (Presence, error) {
	u := m.st.users[name]
	if u == nil {
		return Presence{}, errorf(CodeNotFound, "no user %q", name)
	}
	return m.presence(u, nowUnixMs), nil
}

func (m *Machine) presence(u *user, now int64) Presence {
	online := !u.disabled && !u.offline && u.lastSeenMs > 0 && now-u.lastSeenMs < m.cfg.OnlineWindowMs
	return Presence{Name: u.name, Role: u.role, Disabled: u.disabled, Online: online, LastSeenUnixMs: u.lastSeenMs}
}

// LookupUser returns what login needs: hash, role, disabled, token cut-off.
func (m *Machine) LookupUser(name string) (UserInfo, error) {
	u := m.st.users[name]
	if u == nil {
		return UserInfo{}, errorf(CodeNotFound, "no user %q", name)
	}
	return UserInfo{Name: u.name, PasswordHash: u.hash, Role: u.role, Disabled: u.disabled,
		CreatedUnixMs: u.createdMs, TokensNotBeforeUnixMs: u.tokensNotBeforeMs}, nil
}

// Bootstrapped reports whether the cluster was initialised.
func (m *Machine) Bootstrapped() bool { return m.st.bootstrapped }

// SigningKey returns a copy of the token signing key; nil before bootstrap.
func (m *Machine) SigningKey() []byte {
	if m.st.signingKey == nil {
		return nil
	}
	return append([]byte(nil), m.st.signingKey...)
}

// IsTokenRevoked reports whether token id was revoked and its revocation has not expired
// (a revocation outlives the token, so an expired entry only matters to an expired token).
func (m *Machine) IsTokenRevoked(tokenID string) bool {
	_, ok := m.st.revoked[tokenID]
	return ok
}

func (m *Machine) groupInfo(c *conversation) GroupInfo {
	g := GroupInfo{ID: c.id, Name: c.name, CreatedBy: c.createdBy, CreatedUnixMs: c.createdMs,
		LastSeq: c.lastSeq()}
	for _, mb := range c.byName {
		g.Members = append(g.Members, Member{Name: mb.name, Admin: mb.admin, ReadSeq: mb.readSeq})
	}
	return g
}

// Group describes group id to a member, or to a cluster admin.
func (m *Machine) Group(viewer, id string) (GroupInfo, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return GroupInfo{}, err
	}
	c := m.st.convs[id]
	if c == nil || c.kind != KindGroup {
		return GroupInfo{}, errorf(CodeNotFound, "no group %q", id)
	}
	if c.members[viewer] == nil && !isAdmin(u) {
		return GroupInfo{}, errorf(CodeNotMember, "%q is not a member of %q", viewer, id)
	}
	return m.groupInfo(c), nil
}

// Groups lists the groups viewer belongs to, or every group when all is set (cluster admins
// only), sorted by id.
func (m *Machine) Groups(viewer string, all bool) ([]GroupInfo, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return nil, err
	}
	if all && !isAdmin(u) {
		return nil, errorf(CodePermissionDenied, "only an admin may list every group")
	}
	ids := sortedKeys(u.convs)
	if all {
		ids = sortedKeys(m.st.convs)
	}
	out := []GroupInfo{}
	for _, id := range ids {
		if c := m.st.convs[id]; c.kind == KindGroup {
			out = append(out, m.groupInfo(c))
		}
	}
	slices.SortFunc(out, func(a, b GroupInfo) int { return cmpGroupID(a.ID, b.ID) })
	return out, nil
}

// cmpGroupID orders "g:2" before "g:10".
func cmpGroupID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// FileLabel returns the name and size of file id, for a message that shares it: whoever may
// see the message may see what it shares, so there is no viewer check.
func (m *Machine) FileLabel(id uint64) (name string, size int64, ok bool) {
	f := m.st.files[id]
	if f == nil {
		return "", 0, false
	}
	return f.name, f.size, true
}

// File returns the metadata of file id to a member of its conversation.
func (m *Machine) File(viewer string, id uint64) (FileInfo, error) {
	if _, err := m.viewer(viewer); err != nil {
		return FileInfo{}, err
	}
	f := m.st.files[id]
	if f == nil || (!f.complete && m.st.clockMs-f.createdMs >= m.cfg.UploadTTLMs) {
		return FileInfo{}, errorf(CodeNotFound, "no file %d", id)
	}
	if c := m.st.convs[f.conv]; c == nil || c.members[viewer] == nil {
		return FileInfo{}, errorf(CodeNotMember, "%q is not a member of %q", viewer, f.conv)
	}
	out := FileInfo{ID: f.id, ConversationID: f.conv, Name: f.name, Uploader: f.uploader,
		Size: f.size, SHA256: append([]byte(nil), f.sha...), ChunkSize: f.chunkSize,
		Complete: f.complete, CreatedUnixMs: f.createdMs}
	for _, h := range f.chunks {
		out.ChunkHashes = append(out.ChunkHashes, append([]byte(nil), h...))
	}
	return out, nil
}

// Search returns up to limit messages containing query (case-insensitive for ASCII letters,
// exact otherwise) in the conversations viewer belongs to, newest first within each
// conversation, conversations in id order. It keeps no index: memory cost zero, time cost
// O(total text bytes of viewer's conversations) per query in the worst case, so the service
// should rate-limit it. Deleted messages never match.
func (m *Machine) Search(viewer, query string, limit int) ([]Message, error) {
	u, err := m.viewer(viewer)
	if err != nil {
		return nil, err
	}
	if query == "" {
		return nil, errorf(CodeInvalidArgument, "empty search query")
	}
	limit = m.clampLimit(limit)
	needle := asciiLower(query)
	out := []Message{}
	for _, id := range sortedKeys(u.convs) {
		c := m.st.convs[id]
		for seq := c.lastSeq(); seq >= 1 && len(out) < limit; seq-- {
			msg := c.msg(seq)
			if !msg.deleted && containsFold(c.texts.bytes(msg.text), needle) {
				out = append(out, m.exportMessage(c, seq))
			}
		}
	}
	return out, nil
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// containsFold reports whether needle (already ASCII-lowercased) occurs in s, ignoring ASCII
// case, without allocating.
func containsFold(s []byte, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// memberNames returns the names of c's members, sorted.
func (c *conversation) memberNames() []string {
	names := make([]string, len(c.byName))
	for i, mb := range c.byName {
		names[i] = mb.name
	}
	return names
}

func sortedKeys[K ~string | ~uint64, V any](mp map[K]V) []K {
	return appendSortedKeys(make([]K, 0, len(mp)), mp)
}

// appendSortedKeys appends mp's keys, sorted, to dst (a scratch slice to reuse).
func appendSortedKeys[K ~string | ~uint64, V any](dst []K, mp map[K]V) []K {
	n := len(dst)
	for k := range mp {
		dst = append(dst, k)
	}
	slices.Sort(dst[n:])
	return dst
}

// LogTimeUnixMs returns the log time: the largest time_unix_ms of the applied commands.
func (m *Machine) LogTimeUnixMs() int64 { return m.st.clockMs }

// Stats counts what the machine holds, for metrics and status pages.
type Stats struct {
	AppliedIndex  uint64
	Users         int
	Conversations int
	Messages      int
	Files         int
	Sessions      int
	RevokedTokens int
	RecentEvents  int
}

// Stats returns the current counts; it costs O(conversations).
func (m *Machine) Stats() Stats {
	s := Stats{AppliedIndex: m.st.applied, Users: len(m.st.users), Conversations: len(m.st.convs),
		Files: len(m.st.files), Sessions: len(m.st.sessions), RevokedTokens: len(m.st.revoked),
		RecentEvents: m.st.events.len()}
	for _, c := range m.st.convs {
		s.Messages += len(c.msgs)
	}
	return s
}
