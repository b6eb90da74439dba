package statemachine

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// DirectID returns the id of the direct conversation of users a and b (in either order).
func DirectID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "dm:" + a + ":" + b
}

// appendDirectID appends DirectID(a, b) to dst, for looking a conversation up without
// allocating its id (a map lookup keyed by string(bytes) does not copy them).
func appendDirectID(dst []byte, a, b string) []byte {
	if b < a {
		a, b = b, a
	}
	dst = append(dst, "dm:"...)
	dst = append(dst, a...)
	dst = append(dst, ':')
	return append(dst, b...)
}

func groupID(n uint64) string { return "g:" + strconv.FormatUint(n, 10) }

// checkText validates user-visible text: valid UTF-8 without control characters other than
// newline and tab, at most maxBytes long; empty only if allowEmpty.
func checkText(what, s string, maxBytes int, allowEmpty bool) *Error {
	if len(s) > maxBytes {
		return errorf(CodeTooLarge, "%s of %d bytes, max %d", what, len(s), maxBytes)
	}
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidArgument, "%s is not valid UTF-8", what)
	}
	if !allowEmpty && strings.TrimSpace(s) == "" {
		return errorf(CodeInvalidArgument, "%s is empty", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return errorf(CodeInvalidArgument, "%s contains control character %U", what, r)
		}
	}
	return nil
}

// conv finds a conversation the actor is a member of.
func (m *Machine) memberConv(x *applyCtx, id string) (*conversation, *member, *Error) {
	c := m.st.convs[id]
	if c == nil {
		return nil, nil, errorf(CodeNotFound, "no conversation %q", id)
	}
	mb := c.members[x.actor.name]
	if mb == nil {
		return nil, nil, errorf(CodeNotMember, "%q is not a member of %q", x.actor.name, id)
	}
	return c, mb, nil
}

// manageGroup finds a group the actor may manage: its group admins and cluster admins.
func (m *Machine) manageGroup(x *applyCtx, id string) (*conversation, *Error) {
	c := m.st.convs[id]
	if c == nil || c.kind != KindGroup {
		return nil, errorf(CodeNotFound, "no group %q", id)
	}
	if mb := c.members[x.actor.name]; (mb == nil || !mb.admin) && !isAdmin(x.actor) {
		if mb == nil {
			return nil, errorf(CodeNotMember, "%q is not a member of %q", x.actor.name, id)
		}
		return nil, errorf(CodePermissionDenied, "%q is not an admin of %q", x.actor.name, id)
	}
	return c, nil
}

// activeUser finds a user that may be added to a conversation.
func (m *Machine) activeUser(name string) (*user, *Error) {
	u := m.st.users[name]
	if u == nil {
		return nil, errorf(CodeNotFound, "no user %q", name)
	}
	if u.disabled {
		return nil, errorf(CodeFailedPrecondition, "user %q is disabled", name)
	}
	return u, nil
}

// join makes u a member of c and returns the membership.
func (m *Machine) join(x *applyCtx, c *conversation, u *user, admin bool) *member {
	return joinAs(c, u, &member{admin: admin, joinedIdx: x.index})
}

// joinAs makes u a member of c with membership mb, which the caller may have allocated
// along with others (a new conversation's members come in one allocation).
func joinAs(c *conversation, u *user, mb *member) *member {
	c.setMember(u.name, mb)
	u.convs[c.id] = struct{}{}
	return mb
}

func (m *Machine) leave(c *conversation, name string) {
	c.deleteMember(name)
	if u := m.st.users[name]; u != nil {
		delete(u.convs, c.id)
	}
	if len(c.members) == 0 || c.adminCount() > 0 {
		return
	}
	// Keep the group manageable: the longest-standing member (ties: smallest name) becomes
	// its admin when the last admin goes.
	var heir string
	var best *member
	for name, mb := range c.members {
		if best == nil || mb.joinedIdx < best.joinedIdx || (mb.joinedIdx == best.joinedIdx && name < heir) {
			heir, best = name, mb
		}
	}
	best.admin = true
}

func (m *Machine) createGroup(x *applyCtx, op *commandpb.CreateGroup) *Error {
	if err := checkText("group name", op.GetName(), m.cfg.MaxGroupNameBytes, false); err != nil {
		return err
	}
	names := append([]string{x.actor.name}, op.GetMembers()...)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > m.cfg.MaxGroupMembers {
		return errorf(CodeTooLarge, "group of %d members, max %d", len(names), m.cfg.MaxGroupMembers)
	}
	users := make([]*user, 0, len(names))
	for _, n := range names {
		u, err := m.activeUser(n)
		if err != nil {
			return err
		}
		users = append(users, u)
	}
	c := &conversation{
		id:        groupID(m.st.nextGroup),
		kind:      KindGroup,
		name:      op.GetName(),
		createdBy: x.actor.name,
		createdMs: x.nowMs,
		members:   map[string]*member{},
	}
	m.st.nextGroup++
	m.st.addConv(c)
	mbs := make([]member, len(users))
	for i, u := range users {
		mbs[i] = member{admin: u == x.actor, joinedIdx: x.index}
		joinAs(c, u, &mbs[i])
	}
	m.event(x, Event{Kind: EventGroupCreated, ConversationID: c.id})
	convResult(x, c.id)
	return nil
}

func (m *Machine) renameGroup(x *applyCtx, op *commandpb.RenameGroup) *Error {
	c, err := m.manageGroup(x, op.GetConversationId())
	if err != nil {
		return err
	}
	if err := checkText("group name", op.GetName(), m.cfg.MaxGroupNameBytes, false); err != nil {
		return err
	}
	c.name = op.GetName()
	m.event(x, Event{Kind: EventGroupRenamed, ConversationID: c.id, Target: c.name})
	convResult(x, c.id)
	return nil
}

func (m *Machine) addMember(x *applyCtx, op *commandpb.AddMember) *Error {
	c, err := m.manageGroup(x, op.GetConversationId())
	if err != nil {
		return err
	}
	u, err := m.activeUser(op.GetUsername())
	if err != nil {
		return err
	}
	if c.members[u.name] != nil {
		return errorf(CodeAlreadyExists, "%q is already a member of %q", u.name, c.id)
	}
	if len(c.members) >= m.cfg.MaxGroupMembers {
		return errorf(CodeTooLarge, "group %q is full (%d members)", c.id, m.cfg.MaxGroupMembers)
	}
	// A member who joins an empty group gets to manage it.
	m.join(x, c, u, len(c.members) == 0).readSeq = c.lastSeq()
	m.event(x, Event{Kind: EventMemberAdded, ConversationID: c.id, Target: u.name})
	convResult(x, c.id)
	return nil
}

func (m *Machine) removeMember(x *applyCtx, op *commandpb.RemoveMember) *Error {
	c, err := m.manageGroup(x, op.GetConversationId())
	if err != nil {
		return err
	}
	if c.members[op.GetUsername()] == nil {
		return errorf(CodeNotFound, "%q is not a member of %q", op.GetUsername(), c.id)
	}
	m.leave(c, op.GetUsername())
	m.event(x, Event{Kind: EventMemberRemoved, ConversationID: c.id, Target: op.GetUsername()})
	convResult(x, c.id)
	return nil
}

func (m *Machine) setGroupAdmin(x *applyCtx, op *commandpb.SetGroupAdmin) *Error {
	c, err := m.manageGroup(x, op.GetConversationId())
	if err != nil {
		return err
	}
	mb := c.members[op.GetUsername()]
	if mb == nil {
		return errorf(CodeNotFound, "%q is not a member of %q", op.GetUsername(), c.id)
	}
	if mb.admin && !op.GetAdmin() && c.adminCount() == 1 {
		return errorf(CodeFailedPrecondition, "cannot revoke the last admin of %q", c.id)
	}
	mb.admin = op.GetAdmin()
	m.event(x, Event{Kind: EventAdminChanged, ConversationID: c.id, Target: op.GetUsername()})
	convResult(x, c.id)
	return nil
}

func (m *Machine) leaveGroup(x *applyCtx, op *commandpb.LeaveGroup) *Error {
	c, _, err := m.memberConv(x, op.GetConversationId())
	if err != nil {
		return err
	}
	if c.kind != KindGroup {
		return errorf(CodeFailedPrecondition, "cannot leave direct conversation %q", c.id)
	}
	m.leave(c, x.actor.name)
	m.event(x, Event{Kind: EventMemberRemoved, ConversationID: c.id, Target: x.actor.name})
	convResult(x, c.id)
	return nil
}
