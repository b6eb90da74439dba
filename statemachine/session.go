package statemachine

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
)

// Exactly-once execution (Raft dissertation §6.3, adapted).
//
// A command with a non-empty client_id and a non-zero request_id belongs to that client's
// session. Its first result, success or rejection, is stored deterministically marshaled
// (encodeResult); a later entry with the same pair returns exactly those bytes (decoded),
// without being evaluated.
//
// Rejections must be remembered too. A client retries a write whose answer it did not get, so
// the log can hold two entries of the same request. If the first was rejected (say NOT_FOUND,
// a direct conversation not created yet) and the client was told so, evaluating the second
// afresh could apply it after its precondition became true: a write reported as failed would
// take effect. So a rejected command changes exactly one thing, its session record, and
// nothing else (no chat state, not even the log time or the sweep schedule). Not recorded:
//   - an entry whose data does not decode: it names no session;
//   - SESSION_EXPIRED: it is the session's answer about a forgotten request, not a result of
//     the command. It is stable anyway (the floor never goes down), and recording it would put
//     an id below the floor;
//   - a duplicate answered from the session: its first result is already there;
//   - an entry at an index already applied: Apply refuses it before looking at it.
//
// Every other rejection is recorded, MALFORMED for a decoded command without a known operation
// included: it names its session, and a duplicate must not get a different answer either.
//
// A client numbers its requests in increasing order (any gaps allowed): the per-session bound
// evicts the lowest ids first, so an id below every remembered one is taken for an old retry.
//
// Bounds and expiry, all decided by log time (the commands' time_unix_ms), never a local clock,
// apply to rejections exactly as to successes:
//   - per session, at most MaxResultsPerSession results; the lowest request id is evicted first
//     and raises the session's floor. A retry of a request id below the floor that is no longer
//     remembered is refused with SESSION_EXPIRED and not applied: it may have been applied.
//   - at most MaxSessions sessions; a new session evicts the least recently active one.
//   - a session idle for SessionTTLMs of log time expires. A retry arriving after its session
//     expired (or was evicted) is indistinguishable from a new request and IS evaluated again.
//     Clients must therefore stop retrying a request well within SessionTTLMs (default one
//     hour), and keep fewer than MaxResultsPerSession requests outstanding.
//
// A session's lastActiveMs is the latest log time of a command recorded in it. For a rejected
// command that time (max(log time, command time)) is not adopted as the machine's log time, so
// lastActiveMs may run ahead of it; expiry only compares times, so nothing depends on that.

// lookupSession returns the remembered result of a retried command, or an error for a retry
// that can no longer be answered; nowMs is the command's log time. Both nil means: evaluate
// the command. It also returns cmd's live (unexpired) session, or nil, for recordSession:
// evaluating a command never adds or removes sessions, so the one map lookup serves both.
func (m *Machine) lookupSession(cmd *commandpb.Command, nowMs int64) (*session, *commandpb.Result, *Error) {
	id, req := cmd.GetClientId(), cmd.GetRequestId()
	if id == "" || req == 0 {
		return nil, nil, nil
	}
	s := m.st.sessions[id]
	if s == nil || m.expired(s, nowMs) {
		return nil, nil, nil
	}
	if k, ok := slices.BinarySearch(s.ids, req); ok {
		res := &commandpb.Result{}
		if err := proto.Unmarshal(s.result(k), res); err != nil {
			return nil, nil, errorf(CodeMalformed, "stored result of %s/%d: %v", id, req, err)
		}
		return nil, res, nil
	}
	if req < s.floor {
		return nil, nil, errorf(CodeSessionExpired,
			"request %d of client %q is older than the remembered window", req, id)
	}
	return s, nil, nil
}

func (m *Machine) expired(s *session, nowMs int64) bool {
	return nowMs-s.lastActiveMs >= m.cfg.SessionTTLMs
}

// recordSession remembers res, the first result (success or rejection) of cmd, evaluated at
// log time nowMs. lookupSession found no result for cmd's key, so none is overwritten; s is
// the live session it found for cmd (nil: none, or an expired one, which is replaced).
func (m *Machine) recordSession(s *session, cmd *commandpb.Command, res *commandpb.Result, nowMs int64) {
	id, req := cmd.GetClientId(), cmd.GetRequestId()
	if id == "" || req == 0 {
		return
	}
	if s == nil {
		delete(m.st.sessions, id) // an expired one, if any: lookupSession passes live ones only
		if len(m.st.sessions) >= m.cfg.MaxSessions {
			m.evictOldestSession()
		}
		s = &session{}
		m.st.sessions[id] = s
	}
	// max: a rejection recorded at a command time ahead of the log time may precede a command
	// stamped earlier (proposers' clocks differ); activity never moves backwards.
	s.lastActiveMs = max(s.lastActiveMs, nowMs)
	if n := len(s.ids); n == 0 || req > s.ids[n-1] {
		// Clients number their requests in increasing order, so this is the common case:
		// append, with no search and no shifting. (req is at or above floor: above every
		// remembered id, or else lookupSession refused it with SESSION_EXPIRED.)
		s.insert(len(s.ids), req, s.store(req, res))
	} else {
		pos, found := slices.BinarySearch(s.ids, req)
		if found || req < s.floor {
			// Tested here, not by mustf's first argument: mustf's arguments are boxed into
			// interfaces (two allocations) whether or not it panics, on every recorded command.
			mustf(false, "session %q: request %d recorded twice or below floor %d", id, req, s.floor)
		}
		s.insert(pos, req, s.store(req, res))
		s.scattered = true
	}
	for len(s.ids) > m.cfg.MaxResultsPerSession {
		old := s.ids[0]
		s.encSize -= entryEncSize(old, s.results[0])
		s.ids, s.results = s.ids[1:], s.results[1:]
		s.floor = max(s.floor, old+1)
	}
}

// insert puts request req with result r at position pos of ids and results.
func (s *session) insert(pos int, req uint64, r resultRef) {
	if pos == len(s.ids) {
		s.ids = append(s.ids, req)
		s.results = append(s.results, r)
	} else {
		s.ids = slices.Insert(s.ids, pos, req)
		s.results = slices.Insert(s.results, pos, r)
	}
	s.encSize += entryEncSize(req, r)
}

// entryEncSize is the length of the snapshot encoding of request req and its result r.
func entryEncSize(req uint64, r resultRef) int {
	return uvarintLen(req) + uvarintLen(uint64(r.n)) + int(r.n)
}

// uvarintLen is the length of binary.AppendUvarint's encoding of v.
func uvarintLen(v uint64) int {
	return max(1, (bits.Len64(v)+6)/7)
}

// result returns the encoded result of request ids[k]; the caller must not modify it.
func (s *session) result(k int) []byte {
	r := s.results[k]
	return s.buf[r.off : r.off+r.n : r.off+r.n]
}

// store appends the entry of request req with result res to buf and returns the result's
// reference.
func (s *session) store(req uint64, res *commandpb.Result) resultRef {
	s.makeRoom(uvarintLen(req) + 1 + resultSizeHint(res))
	s.buf = binary.AppendUvarint(s.buf, req)
	// The result's length goes before it but is known after it: room for a one-byte length
	// (the results the machine builds are short) is left, and the result moved along when
	// its length takes more.
	at := len(s.buf)
	s.buf = appendEncodedResult(append(s.buf, 0), res)
	n := len(s.buf) - at - 1
	if w := uvarintLen(uint64(n)); w > 1 {
		s.buf = append(s.buf, make([]byte, w-1)...)
		copy(s.buf[at+w:], s.buf[at+1:at+1+n])
	}
	binary.AppendUvarint(s.buf[:at], uint64(n))
	return resultRef{off: uint32(len(s.buf) - n), n: uint32(n)}
}

// storeEncoded appends the entry of request req with encoded result b to buf and returns the
// result's reference.
func (s *session) storeEncoded(req uint64, b []byte) resultRef {
	s.makeRoom(uvarintLen(req) + uvarintLen(uint64(len(b))) + len(b))
	s.buf = binary.AppendUvarint(s.buf, req)
	s.buf = binary.AppendUvarint(s.buf, uint64(len(b)))
	off := len(s.buf)
	s.buf = append(s.buf, b...)
	return resultRef{off: uint32(off), n: uint32(len(b))}
}

// entryStart is the offset in buf of the entry of ids[k].
func (s *session) entryStart(k int) int {
	r := s.results[k]
	return int(r.off) - uvarintLen(uint64(r.n)) - uvarintLen(s.ids[k])
}

// makeRoom makes room in buf for about n more bytes (more is only a cost: append grows buf,
// and references are offsets). When buf is full, the entries still referenced are copied to a
// new buffer with as much room again for new ones: the bytes of evicted results are dropped
// then, and buf stays within about twice the live bytes plus the sizes of the new results.
// The entries are copied in id order, so that they lie back to back even if some were
// recorded out of order.
func (s *session) makeRoom(n int) {
	if len(s.buf)+n <= cap(s.buf) {
		return
	}
	buf := make([]byte, 0, max(2*(s.encSize+n), 64))
	for k, r := range s.results {
		start := s.entryStart(k)
		s.results[k].off = uint32(len(buf) + int(r.off) - start)
		buf = append(buf, s.buf[start:r.off+r.n]...)
	}
	s.buf = buf
	s.scattered = false
}

// appendEntries appends the snapshot encoding of the session's entries, in id order.
func (s *session) appendEntries(e enc) enc {
	if len(s.ids) == 0 {
		return e
	}
	if !s.scattered {
		return append(e, s.buf[s.entryStart(0):]...)
	}
	for k, r := range s.results {
		e = append(e, s.buf[s.entryStart(k):r.off+r.n]...)
	}
	return e
}

// evictOldestSession drops the least recently active session (ties: smallest client id).
func (m *Machine) evictOldestSession() {
	var victim string
	var oldest int64
	found := false
	for id, s := range m.st.sessions {
		if !found || s.lastActiveMs < oldest || (s.lastActiveMs == oldest && id < victim) {
			victim, oldest, found = id, s.lastActiveMs, true
		}
	}
	delete(m.st.sessions, victim)
}

// maybeSweep frees expired sessions, revocations and uploads once per SweepIntervalMs of log
// time. Lookups check expiry exactly, so the sweep's timing only affects memory, and it is
// deterministic because it depends on log time alone.
func (m *Machine) maybeSweep() {
	now := m.st.clockMs
	if now < m.st.nextSweepMs {
		return
	}
	m.st.nextSweepMs = now + m.cfg.SweepIntervalMs
	for id, s := range m.st.sessions {
		if m.expired(s, now) {
			delete(m.st.sessions, id)
		}
	}
	for id, exp := range m.st.revoked {
		if exp <= now {
			delete(m.st.revoked, id)
		}
	}
	for id, f := range m.st.files {
		if !f.complete && now-f.createdMs >= m.cfg.UploadTTLMs {
			m.dropUpload(f)
			delete(m.st.files, id)
		}
	}
}

// dropUpload forgets that f is pending for its uploader.
func (m *Machine) dropUpload(f *file) {
	if u := m.st.users[f.uploader]; u != nil {
		if i, ok := slices.BinarySearch(u.pending, f.id); ok {
			u.pending = slices.Delete(u.pending, i, i+1)
		}
	}
}
