package statemachine

import (
	"github.com/raftchat/raftchat/proto/commandpb"
)

const (
	minUsernameLen   = 3
	maxUsernameLen   = 32
	minSigningKeyLen = 32
	maxSigningKeyLen = 1024
	maxHashLen       = 512
	maxTokenIDLen    = 128
)

// ValidUsername reports whether name is an acceptable username: 3 to 32 bytes of lowercase
// ASCII letters, digits, '_', '.' or '-', starting with a letter. Usernames are immutable
// identifiers, so the rule keeps them unambiguous and safe in conversation ids.
func ValidUsername(name string) bool {
	if len(name) < minUsernameLen || len(name) > maxUsernameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkUsername(name string) *Error {
	if !ValidUsername(name) {
		return errorf(CodeInvalidArgument,
			"invalid username %q: 3-32 of a-z 0-9 _ . - starting with a letter", name)
	}
	return nil
}

func checkHash(h string) *Error {
	if h == "" {
		return errorf(CodeInvalidArgument, "empty password hash")
	}
	if len(h) > maxHashLen {
		return errorf(CodeTooLarge, "password hash longer than %d bytes", maxHashLen)
	}
	return nil
}

func isAdmin(u *user) bool { return u != nil && u.role == RoleAdmin }

func (m *Machine) bootstrap(x *applyCtx, op *commandpb.Bootstrap) *Error {
	if m.st.bootstrapped {
		return errorf(CodeFailedPrecondition, "cluster already bootstrapped")
	}
	if x.actor != nil {
		return errorf(CodePermissionDenied, "bootstrap is a system command")
	}
	if n := len(op.GetSigningKey()); n < minSigningKeyLen || n > maxSigningKeyLen {
		return errorf(CodeInvalidArgument, "signing key of %d bytes, want %d to %d",
			n, minSigningKeyLen, maxSigningKeyLen)
	}
	if err := checkUsername(op.GetAdminUsername()); err != nil {
		return err
	}
	if err := checkHash(op.GetAdminPasswordHash()); err != nil {
		return err
	}
	m.st.bootstrapped = true
	m.st.signingKey = append([]byte(nil), op.GetSigningKey()...)
	m.addUser(x, op.GetAdminUsername(), op.GetAdminPasswordHash(), RoleAdmin)
	userResult(x, op.GetAdminUsername())
	return nil
}

func (m *Machine) addUser(x *applyCtx, name, hash string, role Role) {
	m.st.users[name] = &user{
		id:        uint32(len(m.st.names)),
		name:      name,
		hash:      hash,
		role:      role,
		createdMs: x.nowMs,
		convs:     map[string]struct{}{},
	}
	m.st.names = append(m.st.names, name)
}

func (m *Machine) createUser(x *applyCtx, op *commandpb.CreateUser) *Error {
	role := op.GetRole()
	if role == commandpb.Role_ROLE_UNSPECIFIED {
		role = RoleUser
	}
	if role != RoleUser && role != RoleAdmin {
		return errorf(CodeInvalidArgument, "unknown role %d", role)
	}
	if (role == RoleAdmin || m.cfg.SignupRequiresAdmin) && !isAdmin(x.actor) {
		return errorf(CodePermissionDenied, "only an admin may create this user")
	}
	if err := checkUsername(op.GetUsername()); err != nil {
		return err
	}
	if err := checkHash(op.GetPasswordHash()); err != nil {
		return err
	}
	if m.st.users[op.GetUsername()] != nil {
		return errorf(CodeAlreadyExists, "username %q is taken", op.GetUsername())
	}
	m.addUser(x, op.GetUsername(), op.GetPasswordHash(), role)
	userResult(x, op.GetUsername())
	return nil
}

// target finds the user a user-management command acts on.
func (m *Machine) target(name string) (*user, *Error) {
	u := m.st.users[name]
	if u == nil {
		return nil, errorf(CodeNotFound, "no user %q", name)
	}
	return u, nil
}

func (m *Machine) changePassword(x *applyCtx, op *commandpb.ChangePassword) *Error {
	if err := requireActor(x); err != nil {
		return err
	}
	u, err := m.target(op.GetUsername())
	if err != nil {
		return err
	}
	if u != x.actor && !isAdmin(x.actor) {
		return errorf(CodePermissionDenied, "only %q or an admin may change this password", u.name)
	}
	if err := checkHash(op.GetPasswordHash()); err != nil {
		return err
	}
	u.hash = op.GetPasswordHash()
	u.tokensNotBeforeMs = x.nowMs
	userResult(x, u.name)
	return nil
}

// enabledAdmins counts the admins that can still log in.
func (m *Machine) enabledAdmins() int {
	n := 0
	for _, u := range m.st.users {
		if u.role == RoleAdmin && !u.disabled {
			n++
		}
	}
	return n
}

func (m *Machine) setRole(x *applyCtx, op *commandpb.SetRole) *Error {
	if err := requireActor(x); err != nil {
		return err
	}
	if !isAdmin(x.actor) {
		return errorf(CodePermissionDenied, "only an admin may change roles")
	}
	u, err := m.target(op.GetUsername())
	if err != nil {
		return err
	}
	role := op.GetRole()
	if role != RoleUser && role != RoleAdmin {
		return errorf(CodeInvalidArgument, "unknown role %d", role)
	}
	if u.role == RoleAdmin && role != RoleAdmin && !u.disabled && m.enabledAdmins() == 1 {
		return errorf(CodeFailedPrecondition, "cannot demote the last admin")
	}
	u.role = role
	userResult(x, u.name)
	return nil
}

func (m *Machine) disableUser(x *applyCtx, op *commandpb.DisableUser) *Error {
	if err := requireActor(x); err != nil {
		return err
	}
	if !isAdmin(x.actor) {
		return errorf(CodePermissionDenied, "only an admin may disable users")
	}
	u, err := m.target(op.GetUsername())
	if err != nil {
		return err
	}
	if op.GetDisabled() && u.role == RoleAdmin && !u.disabled && m.enabledAdmins() == 1 {
		return errorf(CodeFailedPrecondition, "cannot disable the last admin")
	}
	if op.GetDisabled() && !u.disabled {
		u.tokensNotBeforeMs = x.nowMs
	}
	u.disabled = op.GetDisabled()
	userResult(x, u.name)
	return nil
}

func (m *Machine) revokeToken(x *applyCtx, op *commandpb.RevokeToken) *Error {
	if err := requireActor(x); err != nil {
		return err
	}
	id := op.GetTokenId()
	if id == "" || len(id) > maxTokenIDLen {
		return errorf(CodeInvalidArgument, "token id must have 1 to %d bytes", maxTokenIDLen)
	}
	if op.GetUsername() != x.actor.name && !isAdmin(x.actor) {
		return errorf(CodePermissionDenied, "only the token's owner or an admin may revoke it")
	}
	exp := op.GetExpiresUnixMs()
	if exp > x.nowMs+m.cfg.MaxTokenTTLMs {
		return errorf(CodeInvalidArgument, "revocation expires more than %d ms ahead", m.cfg.MaxTokenTTLMs)
	}
	if exp <= x.nowMs {
		return nil // the token has expired already: nothing to remember
	}
	if _, ok := m.st.revoked[id]; !ok && len(m.st.revoked) >= m.cfg.MaxRevokedTokens {
		return errorf(CodeResourceExhausted, "revocation list full (%d)", m.cfg.MaxRevokedTokens)
	}
	m.st.revoked[id] = max(exp, m.st.revoked[id])
	return nil
}

func (m *Machine) heartbeat(x *applyCtx, op *commandpb.Heartbeat) *Error {
	names := op.GetUsernames()
	if len(names) > m.cfg.MaxHeartbeatUsers {
		return errorf(CodeTooLarge, "heartbeat names %d users, max %d", len(names), m.cfg.MaxHeartbeatUsers)
	}
	for _, n := range names {
		if m.st.users[n] == nil {
			return errorf(CodeNotFound, "no user %q", n)
		}
		if x.actor != nil && n != x.actor.name && !isAdmin(x.actor) {
			return errorf(CodePermissionDenied, "heartbeat for another user")
		}
	}
	for _, n := range names {
		u := m.st.users[n]
		u.lastSeenMs = x.nowMs
		u.offline = op.GetOffline()
	}
	return nil
}
