package statemachine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Snapshot format, version 1:
//
//	magic "RCSM" | version uvarint | body | CRC-32C (big endian, 4 bytes) of all before it
//
// The body lists every collection sorted by key (users and conversations by name/id, members
// by name, files by id, revocations by token id, sessions by client id, session results by
// request id), so equal states give equal bytes on every replica and every run. Derived indexes
// (a user's conversations, pending upload counts) are rebuilt by Restore, and nothing else is
// stored, so the size grows with live data only.
//
// A session result is a marshaled commandpb.Result, success or rejection alike: remembering
// rejections (session.go) changed what the table holds, not how it is encoded, so the version
// stayed 1. (The apply rules changed with it: every replica of a cluster must run the same
// rules over the same log, which a snapshot version cannot enforce.)

var snapshotMagic = []byte("RCSM")

const snapshotVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot returns the state as deterministic bytes; Restore(Snapshot()) is an exact round trip.
func (m *Machine) Snapshot() ([]byte, error) {
	o := &snapOut{limit: math.MaxInt} // no writer: the whole encoding stays in the buffer
	e := m.encodeSnapshot(enc(make([]byte, 0, m.sizeEstimate())), o)
	return binary.BigEndian.AppendUint32(e, crc32.Checksum(e, castagnoli)), nil
}

// SnapshotBufferBytes bounds the part of an encoding WriteSnapshot holds in memory before
// passing it to its writer (one collection element more may sit in the buffer at once).
const SnapshotBufferBytes = 1 << 20

// WriteSnapshot writes to w what Snapshot returns, byte for byte, a piece of about
// SnapshotBufferBytes at a time, so that the encoding of a large state never sits in memory
// whole. It returns the number of bytes written and the first error of w; after an error
// it writes nothing more.
func (m *Machine) WriteSnapshot(w io.Writer) (int64, error) {
	return m.writeSnapshot(w, SnapshotBufferBytes)
}

// writeSnapshot is WriteSnapshot flushing at limit bytes (tests use small ones).
func (m *Machine) writeSnapshot(w io.Writer, limit int) (int64, error) {
	o := &snapOut{w: w, limit: limit}
	e := m.encodeSnapshot(enc(make([]byte, 0, limit+64<<10)), o)
	e = o.flush(e)
	o.flush(binary.BigEndian.AppendUint32(e, o.crc))
	return o.n, o.err
}

// snapOut is where an encoding goes. Without a writer everything stays in the buffer
// (limit is then MaxInt); with one, the buffer is written out, and the checksum updated,
// whenever it reaches limit at the end of a collection element.
type snapOut struct {
	w     io.Writer
	limit int
	crc   uint32 // CRC-32C of the bytes written out so far
	n     int64  // bytes written out
	err   error  // the writer's first error; nothing is written after it
}

// check flushes e if it reached the limit. It is called after each element of the large
// collections, so it stays inline and cheap.
func (o *snapOut) check(e enc) enc {
	if len(e) < o.limit {
		return e
	}
	return o.flush(e)
}

// flush writes e out and returns it emptied. Only a snapOut with a writer flushes.
func (o *snapOut) flush(e enc) enc {
	if o.err != nil || len(e) == 0 {
		return e[:0]
	}
	o.crc = crc32.Update(o.crc, castagnoli, e)
	n, err := o.w.Write(e)
	o.n += int64(n)
	if err == nil && n < len(e) {
		err = io.ErrShortWrite
	}
	o.err = err
	return e[:0]
}

// raw appends b; a snapOut with a writer writes it straight out after the buffer, without
// copying it.
func (o *snapOut) raw(e enc, b []byte) enc {
	if o.w == nil {
		return append(e, b...)
	}
	e = o.flush(e)
	o.flush(b)
	return e
}

// encodeSnapshot appends the snapshot encoding up to its checksum to e, through o.
func (m *Machine) encodeSnapshot(e enc, o *snapOut) enc {
	e = append(e, snapshotMagic...)
	e = e.u(snapshotVersion)
	st := &m.st
	e = e.u(st.applied)
	e = e.i(st.clockMs)
	e = e.i(st.nextSweepMs)
	e = e.u(st.nextGroup)
	e = e.u(st.nextFile)
	e = e.boolean(st.bootstrapped)
	e = e.bytes(st.signingKey)
	e = m.encodeUsers(e, o)
	e = m.encodeConvs(e, o)
	e = m.encodeFiles(e, o)
	e = e.u(uint64(len(st.revoked)))
	for _, id := range sortedKeys(st.revoked) {
		e = e.str(id)
		e = e.i(st.revoked[id])
		e = o.check(e)
	}
	e = m.encodeSessions(e, o)
	return m.encodeEvents(e, o)
}

// sizeEstimate guesses the snapshot size from the dominant terms (message texts and fixed
// message fields, session results, the events' encoding), so that encoding a large state
// allocates about once.
func (m *Machine) sizeEstimate() int {
	n := 1024 + 64*len(m.st.users) + 64*len(m.st.files)
	n += len(m.st.events.encoded())
	// A message's fixed fields take up to about 24 bytes plus its author's name: bound the
	// name by the longest, since an estimate short by even a little costs a copy of the
	// whole buffer when it grows.
	longestName := 0
	for _, name := range m.st.names {
		longestName = max(longestName, len(name))
	}
	for id, s := range m.st.sessions {
		n += 32 + len(id) + s.encSize
	}
	for _, c := range m.st.convList {
		n += 64 + 24*len(c.byName) + (24+longestName)*len(c.msgs) + c.reactionBytes
		for _, ch := range c.texts.chunks {
			n += len(ch)
		}
	}
	return n
}

func (m *Machine) encodeUsers(e enc, o *snapOut) enc {
	e = e.u(uint64(len(m.st.users)))
	for _, n := range sortedKeys(m.st.users) {
		u := m.st.users[n]
		e = e.str(u.name)
		e = e.str(u.hash)
		e = e.u(uint64(u.role))
		e = e.boolean(u.disabled)
		e = e.i(u.createdMs)
		e = e.i(u.tokensNotBeforeMs)
		e = e.i(u.lastSeenMs)
		e = e.boolean(u.offline)
		e = o.check(e)
	}
	return e
}

func (m *Machine) encodeConvs(e enc, o *snapOut) enc {
	e = e.u(uint64(len(m.st.convList)))
	for _, c := range m.st.convList {
		e = e.str(c.id)
		e = e.u(uint64(c.kind))
		e = e.str(c.name)
		e = e.str(c.createdBy)
		e = e.i(c.createdMs)
		e = e.u(uint64(len(c.byName)))
		for _, mb := range c.byName {
			e = e.str(mb.name)
			e = e.boolean(mb.admin)
			e = e.u(mb.readSeq)
			e = e.u(mb.joinedIdx)
			e = o.check(e)
		}
		e = e.u(uint64(len(c.msgs)))
		for i := range c.msgs {
			e = m.encodeMessage(e, c, &c.msgs[i], c.reactionsOf(uint64(i+1)))
			e = o.check(e)
		}
	}
	return e
}

// encodeMessage appends msg, a message of c whose reactions are rs.
func (m *Machine) encodeMessage(e enc, c *conversation, msg *message, rs []reaction) enc {
	e = e.str(m.st.names[msg.author])
	e = e.bytes(c.texts.bytes(msg.text))
	e = e.i(msg.timeMs)
	e = e.i(msg.editedMs)
	e = e.u(msg.index)
	e = e.u(msg.replyTo)
	e = e.u(msg.fileID)
	e = e.boolean(msg.deleted)
	e = e.u(uint64(len(rs)))
	for _, r := range rs {
		e = e.str(r.emoji)
		e = e.str(r.user)
	}
	return e
}

func (m *Machine) encodeFiles(e enc, o *snapOut) enc {
	e = e.u(uint64(len(m.st.files)))
	for _, id := range sortedKeys(m.st.files) {
		f := m.st.files[id]
		e = e.u(f.id)
		e = e.str(f.conv)
		e = e.str(f.name)
		e = e.str(f.uploader)
		e = e.i(f.size)
		e = e.bytes(f.sha)
		e = e.i(f.chunkSize)
		e = e.i(f.createdMs)
		e = e.boolean(f.complete)
		e = e.bytes(f.hashState)
		e = e.u(uint64(len(f.chunks)))
		for _, h := range f.chunks {
			e = e.bytes(h)
		}
		e = o.check(e)
	}
	return e
}

func (m *Machine) encodeSessions(e enc, o *snapOut) enc {
	if k := m.cfg.Knobs; k != nil && k.DropSessionsFromSnapshot {
		return e.u(0) // planted bug: the session table is lost across snapshots
	}
	e = e.u(uint64(len(m.st.sessions)))
	for _, id := range sortedKeys(m.st.sessions) {
		s := m.st.sessions[id]
		e = e.str(id)
		e = e.i(s.lastActiveMs)
		e = e.u(s.floor)
		e = e.u(uint64(len(s.ids)))
		e = s.appendEntries(e)
		e = o.check(e)
	}
	return e
}

func (m *Machine) encodeEvents(e enc, o *snapOut) enc {
	l := &m.st.events
	e = e.u(l.droppedThrough)
	e = e.u(uint64(l.len()))
	return o.raw(e, l.encoded())
}

// encodeEvent appends the snapshot encoding of one event to b.
func encodeEvent(b []byte, ev *Event) []byte {
	e := encodeEventHeader(b, ev, ev.Message != nil)
	if ev.Message != nil {
		e = encodeExported(e, ev.Message)
	}
	return e
}

// encodeEventHeader appends the encoding of ev up to its message, which follows it when
// hasMessage is set.
func encodeEventHeader(b []byte, ev *Event, hasMessage bool) enc {
	e := enc(b)
	e = e.u(ev.Index)
	e = e.i(ev.TimeUnixMs)
	e = e.u(uint64(ev.Kind))
	e = e.str(ev.ConversationID)
	e = e.u(ev.Seq)
	e = e.str(ev.Actor)
	e = e.str(ev.Target)
	return e.boolean(hasMessage)
}

// eventSizeBound is at least the length of ev's encoding by encodeEvent: every varint and
// length prefix takes at most binary.MaxVarintLen64 bytes.
func eventSizeBound(ev *Event) int {
	const v = binary.MaxVarintLen64
	n := 8*v + len(ev.ConversationID) + len(ev.Actor) + len(ev.Target)
	if msg := ev.Message; msg != nil {
		n += 11*v + len(msg.ConversationID) + len(msg.Author) + len(msg.Text)
		for _, r := range msg.Reactions {
			n += 2*v + len(r.Emoji)
			for _, u := range r.Users {
				n += v + len(u)
			}
		}
	}
	return n
}

// liveMessageSizeBound is at least the length of encodeLiveMessage's encoding of message seq
// of c (eventSizeBound's terms for its Message, counting each reaction's emoji on its own).
func (m *Machine) liveMessageSizeBound(c *conversation, seq uint64) int {
	const v = binary.MaxVarintLen64
	msg := c.msg(seq)
	n := 11*v + len(c.id) + len(m.st.names[msg.author]) + int(msg.text.n)
	for _, r := range c.reactionsOf(seq) {
		n += 3*v + len(r.emoji) + len(r.user)
	}
	return n
}

// encodeLiveMessage appends encodeExported(m.exportMessage(c, seq)), byte for byte, reading
// the message from c: no Message, text copy or reaction groups are built along the way.
func (m *Machine) encodeLiveMessage(e enc, c *conversation, seq uint64) enc {
	msg := c.msg(seq)
	e = e.str(c.id)
	e = e.u(seq)
	e = e.str(m.st.names[msg.author])
	e = e.bytes(c.texts.bytes(msg.text))
	e = e.i(msg.timeMs)
	e = e.i(msg.editedMs)
	e = e.boolean(msg.deleted)
	e = e.u(msg.replyTo)
	e = e.u(msg.fileID)
	e = e.u(msg.index)
	// The reactions, sorted by (emoji, user), grouped by emoji as exportReactions groups them.
	rs := c.reactionsOf(seq)
	groups := 0
	for i := range rs {
		if i == 0 || rs[i].emoji != rs[i-1].emoji {
			groups++
		}
	}
	e = e.u(uint64(groups))
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j].emoji == rs[i].emoji {
			j++
		}
		e = e.str(rs[i].emoji)
		e = e.u(uint64(j - i))
		for _, r := range rs[i:j] {
			e = e.str(r.user)
		}
		i = j
	}
	return e
}

func encodeExported(e enc, msg *Message) enc {
	e = e.str(msg.ConversationID)
	e = e.u(msg.Seq)
	e = e.str(msg.Author)
	e = e.str(msg.Text)
	e = e.i(msg.TimeUnixMs)
	e = e.i(msg.EditedUnixMs)
	e = e.boolean(msg.Deleted)
	e = e.u(msg.ReplyTo)
	e = e.u(msg.FileID)
	e = e.u(msg.Index)
	e = e.u(uint64(len(msg.Reactions)))
	for _, r := range msg.Reactions {
		e = e.str(r.Emoji)
		e = e.u(uint64(len(r.Users)))
		for _, u := range r.Users {
			e = e.str(u)
		}
	}
	return e
}

// Restore replaces the whole state with a snapshot taken by Snapshot. On error the machine is
// unchanged.
func (m *Machine) Restore(data []byte) error {
	if len(data) < len(snapshotMagic)+4 || !bytes.Equal(data[:len(snapshotMagic)], snapshotMagic) {
		return fmt.Errorf("restore snapshot: %w: bad magic", errCorrupt)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("restore snapshot: %w: checksum mismatch", errCorrupt)
	}
	d := &dec{b: body[len(snapshotMagic):]}
	if v := d.u(); v != snapshotVersion {
		return fmt.Errorf("restore snapshot: unsupported version %d", v)
	}
	st, err := decodeState(d, m.cfg.MaxRecentEvents)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	// A snapshot is checked whole before it replaces anything, whatever the build tags: it may
	// come from another node or from disk.
	probe := Machine{cfg: m.cfg, st: st}
	if msg := probe.invariantError(); msg != "" {
		return fmt.Errorf("restore snapshot: %w: %s", errCorrupt, msg)
	}
	m.st = st
	return nil
}

func decodeState(d *dec, maxEvents int) (state, error) {
	st := newState()
	st.applied = d.u()
	st.clockMs = d.i()
	st.nextSweepMs = d.i()
	st.nextGroup = d.u()
	st.nextFile = d.u()
	st.bootstrapped = d.boolean()
	st.signingKey = d.bytes()
	if len(st.signingKey) == 0 {
		st.signingKey = nil
	}
	decodeUsers(d, &st)
	if err := decodeConvs(d, &st); err != nil {
		return state{}, err
	}
	if err := decodeFiles(d, &st); err != nil {
		return state{}, err
	}
	for n := d.count(2); n > 0; n-- {
		st.revoked[d.str()] = d.i()
	}
	decodeSessions(d, &st)
	decodeEvents(d, &st, maxEvents)
	if d.err != nil {
		return state{}, d.err
	}
	if len(d.b) != 0 {
		return state{}, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return st, nil
}

func decodeUsers(d *dec, st *state) {
	for n := d.count(8); n > 0; n-- {
		u := &user{convs: map[string]struct{}{}}
		u.name = d.str()
		u.hash = d.str()
		u.role = Role(d.u())
		u.disabled = d.boolean()
		u.createdMs = d.i()
		u.tokensNotBeforeMs = d.i()
		u.lastSeenMs = d.i()
		u.offline = d.boolean()
		if st.users[u.name] != nil {
			d.fail()
		}
		u.id = uint32(len(st.names))
		st.names = append(st.names, u.name)
		st.users[u.name] = u
	}
}

func decodeConvs(d *dec, st *state) error {
	for n := d.count(8); n > 0; n-- {
		c := &conversation{members: map[string]*member{}}
		c.id = d.str()
		c.kind = ConversationKind(d.u())
		c.name = d.str()
		c.createdBy = d.str()
		c.createdMs = d.i()
		mbs := make([]member, d.count(4))
		for k := range mbs {
			name := d.str()
			u := st.users[name]
			if u == nil {
				d.fail()
				return fmt.Errorf("%w: member %q of %q is no user", errCorrupt, name, c.id)
			}
			mb := &mbs[k]
			*mb = member{admin: d.boolean(), readSeq: d.u(), joinedIdx: d.u()}
			c.members[u.name] = mb
			u.convs[c.id] = struct{}{}
		}
		// Built from the map, not in the snapshot's order, so that no snapshot can make
		// byName disagree with members.
		c.byName = make([]namedMember, 0, len(c.members))
		for _, name := range sortedKeys(c.members) {
			c.byName = append(c.byName, namedMember{name: name, member: c.members[name]})
		}
		c.msgs = make([]message, d.count(10))
		for i := range c.msgs {
			if err := decodeMessage(d, st, c, uint64(i+1)); err != nil {
				return err
			}
		}
		st.convs[c.id] = c
	}
	st.convList = make([]*conversation, 0, len(st.convs))
	for _, id := range sortedKeys(st.convs) {
		st.convList = append(st.convList, st.convs[id])
	}
	return d.err
}

func decodeMessage(d *dec, st *state, c *conversation, seq uint64) error {
	msg := c.msg(seq)
	name := d.raw()
	u := st.users[string(name)] // no allocation: the compiler converts in place for lookups
	if u == nil && d.err == nil {
		d.fail()
		return fmt.Errorf("%w: author %q of %s/%d is no user", errCorrupt, name, c.id, seq)
	}
	if u != nil {
		msg.author = u.id
	}
	msg.text = c.texts.add(d.raw())
	msg.timeMs = d.i()
	msg.editedMs = d.i()
	msg.index = d.u()
	msg.replyTo = d.u()
	msg.fileID = d.u()
	msg.deleted = d.boolean()
	if k := d.count(2); k > 0 {
		rs := make([]reaction, k)
		for i := range rs {
			rs[i] = reaction{emoji: d.str(), user: d.str()}
		}
		c.setReactions(seq, rs)
		c.reactionBytes += reactionBytes(rs)
	}
	return nil
}

func decodeFiles(d *dec, st *state) error {
	for n := d.count(12); n > 0; n-- {
		f := &file{}
		f.id = d.u()
		f.conv = d.str()
		f.name = d.str()
		f.uploader = d.str()
		f.size = d.i()
		f.sha = d.bytes()
		f.chunkSize = d.i()
		f.createdMs = d.i()
		f.complete = d.boolean()
		f.hashState = d.bytes()
		if len(f.hashState) == 0 {
			f.hashState = nil
		}
		for k := d.count(1); k > 0; k-- {
			f.chunks = append(f.chunks, d.bytes())
		}
		u := st.users[f.uploader]
		if u == nil && d.err == nil {
			return fmt.Errorf("%w: uploader %q of file %d is no user", errCorrupt, f.uploader, f.id)
		}
		if !f.complete && u != nil {
			u.pending = append(u.pending, f.id) // files are decoded in id order
		}
		st.files[f.id] = f
	}
	return d.err
}

func decodeSessions(d *dec, st *state) {
	for n := d.count(4); n > 0; n-- {
		id := d.str()
		s := &session{}
		s.lastActiveMs = d.i()
		s.floor = d.u()
		for k := d.count(2); k > 0; k-- {
			req := d.u()
			if len(s.ids) > 0 && req <= s.ids[len(s.ids)-1] {
				d.fail() // request ids are strictly increasing
			}
			s.insert(len(s.ids), req, s.storeEncoded(req, d.raw()))
		}
		st.sessions[id] = s
	}
}

func decodeEvents(d *dec, st *state, maxEvents int) {
	l := &st.events
	l.droppedThrough = d.u()
	n := d.count(8)
	l.buf = make([]Event, 0, min(n, maxEvents)) // push would grow them to this
	l.start = make([]int64, 0, min(n, maxEvents))
	for ; n > 0; n-- {
		ev := decodeEvent(d)
		l.reserve(eventSizeBound(&ev))
		from := len(l.enc)
		l.enc = encodeEvent(l.enc, &ev)
		l.push(maxEvents, ev, from)
	}
}

// decodeEvent reads what encodeEvent wrote.
func decodeEvent(d *dec) Event {
	ev := Event{Index: d.u(), TimeUnixMs: d.i(), Kind: EventKind(d.u()), ConversationID: d.str(),
		Seq: d.u(), Actor: d.str(), Target: d.str()}
	if d.boolean() {
		ev.Message = decodeExported(d)
	}
	return ev
}

func decodeExported(d *dec) *Message {
	msg := &Message{ConversationID: d.str(), Seq: d.u(), Author: d.str(), Text: d.str(),
		TimeUnixMs: d.i(), EditedUnixMs: d.i(), Deleted: d.boolean(), ReplyTo: d.u(),
		FileID: d.u(), Index: d.u()}
	for k := d.count(2); k > 0; k-- {
		r := Reaction{Emoji: d.str()}
		for j := d.count(1); j > 0; j-- {
			r.Users = append(r.Users, d.str())
		}
		msg.Reactions = append(msg.Reactions, r)
	}
	return msg
}
