package statemachine

import (
	"slices"
	"strings"
)

// user is one registered user.
type user struct {
	id                uint32 // index in state.names; assigned at creation, renumbered by Restore
	name              string
	hash              string
	role              Role
	disabled          bool
	createdMs         int64
	tokensNotBeforeMs int64
	lastSeenMs        int64
	offline           bool // explicitly went offline after lastSeenMs

	// Derived, rebuilt on Restore (not in snapshots).
	convs   map[string]struct{} // conversations the user is a member of
	pending []uint64            // ids of unfinished uploads, ascending
}

// member is a user's membership of a conversation.
type member struct {
	admin     bool
	readSeq   uint64
	joinedIdx uint64 // log index of joining: earlier events stay hidden
}

// reaction is one (emoji, user) pair. Invariant: a message's reactions are sorted by (emoji,
// user) with no duplicates.
type reaction struct {
	emoji string
	user  string
}

// message is one stored message; its seq is its position in conversation.msgs plus one. It
// holds no pointers (see textArena): reactions live in conversation.reactions.
type message struct {
	timeMs   int64
	editedMs int64
	index    uint64
	replyTo  uint64
	fileID   uint64
	text     textRef
	author   uint32 // user id
	deleted  bool
	// reacted tells whether the message has an entry in conversation.reactions, so that
	// Snapshot and the message's readers look the map up only for the few that do (and
	// Snapshot need not collect and sort its keys).
	reacted bool
}

// conversation is a direct conversation or a group.
type conversation struct {
	id        string
	kind      ConversationKind
	name      string // group name; empty for direct conversations
	createdBy string
	createdMs int64
	members   map[string]*member
	// byName lists members' entries sorted by name, the order snapshots and queries list
	// them in. It is kept as members join and leave (join, leave, Restore) rather than sorted
	// when needed: Snapshot runs often (the simulator snapshots every replica every few
	// hundred entries) and may not modify the machine, as it runs under a read lock.
	// Invariant: the entries of members, sorted by name.
	byName []namedMember
	msgs   []message // Invariant: msgs[i] has seq i+1
	texts  textArena
	// reactions of the messages that have any, by seq. Invariant: each slice is non-empty,
	// sorted by (emoji, user) without duplicates, and belongs to a message that is not deleted.
	reactions map[uint64][]reaction
	// reactionBytes is the sum of 2+len(emoji)+len(user) over reactions, kept as they change,
	// for sizeEstimate.
	reactionBytes int
}

// namedMember is one entry of conversation.members.
type namedMember struct {
	name string
	*member
}

// file is one upload.
type file struct {
	id        uint64
	conv      string
	name      string
	uploader  string
	size      int64
	sha       []byte
	chunkSize int64
	createdMs int64
	chunks    [][]byte // received chunk hashes, in order
	hashState []byte   // marshaled streaming SHA-256 of the received chunks; nil when complete
	complete  bool
}

// session remembers the first results (successes and rejections) of one client's recent
// requests. Invariant: ids is strictly increasing, every id is at or above floor, and results
// is as long as ids.
type session struct {
	lastActiveMs int64
	// floor: every request id below it was answered and forgotten; such a retry is refused
	// with SESSION_EXPIRED rather than applied twice.
	floor uint64
	ids   []uint64 // strictly increasing
	// results[k] locates in buf the encoded first result of request ids[k] (session.result).
	results []resultRef
	// encSize is the length of the snapshot encoding of ids and results (entryEncSize
	// summed), kept as they change so that sizeEstimate need not walk every session's results.
	encSize int
	// buf holds the encoded results back to back in the order they were recorded, rather than
	// one allocation per result (every replica records one per applied command) that the
	// garbage collector must track. An evicted result's bytes stay until buf is full, when
	// the live ones are copied to a new buffer (session.makeRoom). Each result is stored as
	// its whole snapshot entry, its request id and length before it: clients number their
	// requests in increasing order, so the live entries usually lie back to back in id order
	// up to the end of buf, and Snapshot copies them at once (session.appendEntries).
	buf []byte
	// scattered is set when the live entries may not lie so: a request was recorded after a
	// higher id. makeRoom, which copies them in id order, clears it.
	scattered bool
}

// resultRef locates one encoded result (not its entry's header) in session.buf.
type resultRef struct {
	off, n uint32
}

// state is everything a snapshot carries. Derived fields live in user and Machine.
type state struct {
	applied      uint64
	clockMs      int64 // log time: max time_unix_ms of the applied commands
	nextSweepMs  int64
	nextGroup    uint64
	nextFile     uint64
	bootstrapped bool
	signingKey   []byte
	users        map[string]*user
	names        []string // user id -> name (derived)
	convs        map[string]*conversation
	// convList lists convs sorted by id, for Snapshot, which may not sort (see
	// conversation.byName). Derived: addConv keeps it, Restore rebuilds it.
	convList []*conversation
	files    map[uint64]*file
	revoked  map[string]int64 // token id -> expiry
	sessions map[string]*session
	events   eventLog
}

func newState() state {
	return state{
		nextGroup: 1,
		nextFile:  1,
		users:     map[string]*user{},
		convs:     map[string]*conversation{},
		files:     map[uint64]*file{},
		revoked:   map[string]int64{},
		sessions:  map[string]*session{},
	}
}

func chunkCount(size, chunkSize int64) int64 {
	if chunkSize <= 0 || size <= 0 {
		return 0
	}
	return (size + chunkSize - 1) / chunkSize
}

func (c *conversation) lastSeq() uint64 { return uint64(len(c.msgs)) }

// msg returns the message with seq, or nil.
func (c *conversation) msg(seq uint64) *message {
	if seq == 0 || seq > uint64(len(c.msgs)) {
		return nil
	}
	return &c.msgs[seq-1]
}

// addConv adds a new conversation.
func (st *state) addConv(c *conversation) {
	st.convs[c.id] = c
	i, _ := slices.BinarySearchFunc(st.convList, c.id, func(c *conversation, id string) int {
		return strings.Compare(c.id, id)
	})
	st.convList = slices.Insert(st.convList, i, c)
}

// setMember adds or replaces member name of c.
func (c *conversation) setMember(name string, mb *member) {
	c.members[name] = mb
	i, found := c.memberPos(name)
	if found {
		c.byName[i].member = mb
		return
	}
	c.byName = slices.Insert(c.byName, i, namedMember{name: name, member: mb})
}

// deleteMember removes member name of c, if any.
func (c *conversation) deleteMember(name string) {
	delete(c.members, name)
	if i, found := c.memberPos(name); found {
		c.byName = slices.Delete(c.byName, i, i+1)
	}
}

// memberPos finds name in c.byName, or where it would go.
func (c *conversation) memberPos(name string) (int, bool) {
	return slices.BinarySearchFunc(c.byName, name, func(e namedMember, name string) int {
		return strings.Compare(e.name, name)
	})
}

func (c *conversation) adminCount() int {
	n := 0
	for _, mb := range c.members {
		if mb.admin {
			n++
		}
	}
	return n
}
