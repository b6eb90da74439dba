package statemachine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// invariantError describes the first broken invariant of the state, or returns "".
func (m *Machine) invariantError() string {
	pending := map[string][]uint64{}
	for _, f := range m.st.files {
		if !f.complete {
			pending[f.uploader] = append(pending[f.uploader], f.id)
		}
		if f.complete != (f.hashState == nil) {
			return fmt.Sprintf("file %d: complete %v with hash state %d bytes", f.id, f.complete, len(f.hashState))
		}
		if f.id >= m.st.nextFile {
			return fmt.Sprintf("file %d not below next id %d", f.id, m.st.nextFile)
		}
	}
	if len(m.st.names) != len(m.st.users) {
		return fmt.Sprintf("%d names for %d users", len(m.st.names), len(m.st.users))
	}
	for n, u := range m.st.users {
		if int(u.id) >= len(m.st.names) || m.st.names[u.id] != n {
			return fmt.Sprintf("user %q has id %d", n, u.id)
		}
		slices.Sort(pending[n])
		if !slices.Equal(u.pending, pending[n]) {
			return fmt.Sprintf("user %q: pending %v, counted %v", n, u.pending, pending[n])
		}
		for id := range u.convs {
			if c := m.st.convs[id]; c == nil || c.members[n] == nil {
				return fmt.Sprintf("user %q lists conversation %q without membership", n, id)
			}
		}
	}
	for id, c := range m.st.convs {
		if err := m.convInvariant(id, c); err != "" {
			return err
		}
	}
	if len(m.st.convList) != len(m.st.convs) {
		return fmt.Sprintf("%d conversations listed, %d held", len(m.st.convList), len(m.st.convs))
	}
	for i, c := range m.st.convList {
		if m.st.convs[c.id] != c || (i > 0 && m.st.convList[i-1].id >= c.id) {
			return fmt.Sprintf("conversation list out of order or stale at %d (%q)", i, c.id)
		}
	}
	for id, s := range m.st.sessions {
		if err := sessionInvariant(id, s); err != "" {
			return err
		}
	}
	for i := 1; i < m.st.events.len(); i++ {
		if m.st.events.at(i-1).Index > m.st.events.at(i).Index {
			return fmt.Sprintf("events out of order at %d", i)
		}
	}
	return ""
}

func (m *Machine) convInvariant(id string, c *conversation) string {
	if c.kind == KindGroup && len(c.members) > 0 && c.adminCount() == 0 {
		return fmt.Sprintf("group %q has members but no admin", id)
	}
	if c.kind == KindDirect && len(c.members) != 2 {
		return fmt.Sprintf("direct conversation %q has %d members", id, len(c.members))
	}
	if len(c.byName) != len(c.members) {
		return fmt.Sprintf("conversation %q: %d members listed, %d held", id, len(c.byName), len(c.members))
	}
	for i, mb := range c.byName {
		if c.members[mb.name] != mb.member || (i > 0 && c.byName[i-1].name >= mb.name) {
			return fmt.Sprintf("conversation %q: member list out of order or stale at %q", id, mb.name)
		}
	}
	for n, mb := range c.members {
		u := m.st.users[n]
		if u == nil {
			return fmt.Sprintf("conversation %q: member %q is no user", id, n)
		}
		if _, ok := u.convs[id]; !ok {
			return fmt.Sprintf("conversation %q: member %q does not list it", id, n)
		}
		if mb.readSeq > c.lastSeq() {
			return fmt.Sprintf("conversation %q: %q read %d beyond %d", id, n, mb.readSeq, c.lastSeq())
		}
	}
	reacted := 0
	for i := range c.msgs {
		if a := c.msgs[i].author; int(a) >= len(m.st.names) {
			return fmt.Sprintf("conversation %q message %d: author %d unknown", id, i+1, a)
		}
		if c.msgs[i].reacted {
			reacted++
		}
	}
	if reacted != len(c.reactions) {
		return fmt.Sprintf("conversation %q: %d messages marked reacted, %d with reactions", id, reacted, len(c.reactions))
	}
	size := 0
	for seq, rs := range c.reactions {
		if msg := c.msg(seq); msg == nil || msg.deleted || len(rs) == 0 || !msg.reacted {
			return fmt.Sprintf("conversation %q: reactions on missing, deleted or unmarked message %d", id, seq)
		}
		size += reactionBytes(rs)
		for j := 1; j < len(rs); j++ {
			if cmpReaction(rs[j-1], rs[j]) >= 0 {
				return fmt.Sprintf("conversation %q message %d: reactions unsorted", id, seq)
			}
		}
	}
	if size != c.reactionBytes {
		return fmt.Sprintf("conversation %q: reaction bytes %d, counted %d", id, c.reactionBytes, size)
	}
	return ""
}

func sessionInvariant(id string, s *session) string {
	if len(s.results) != len(s.ids) {
		return fmt.Sprintf("session %q: %d results for %d request ids", id, len(s.results), len(s.ids))
	}
	size := 0
	end := -1 // of the previous entry, when they must lie back to back
	if !s.scattered && len(s.ids) > 0 {
		end = s.entryStart(0)
	}
	for i, req := range s.ids {
		if req < s.floor || (i > 0 && s.ids[i-1] >= req) {
			return fmt.Sprintf("session %q: request %d below floor %d or out of order", id, req, s.floor)
		}
		r := s.results[i]
		size += entryEncSize(req, r)
		var hdr [2 * binary.MaxVarintLen64]byte
		h := binary.AppendUvarint(binary.AppendUvarint(hdr[:0], req), uint64(r.n))
		start := s.entryStart(i)
		if start < 0 || !bytes.Equal(s.buf[start:r.off], h) {
			return fmt.Sprintf("session %q: request %d: entry header missing", id, req)
		}
		if end >= 0 {
			if start != end {
				return fmt.Sprintf("session %q: request %d: entries not back to back", id, req)
			}
			end = int(r.off + r.n)
		}
	}
	if end >= 0 && end != len(s.buf) {
		return fmt.Sprintf("session %q: entries end at %d, buffer at %d", id, end, len(s.buf))
	}
	if size != s.encSize {
		return fmt.Sprintf("session %q: encoding size %d, counted %d", id, s.encSize, size)
	}
	return ""
}
