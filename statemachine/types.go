package statemachine

import "github.com/raftchat/raftchat/proto/commandpb"

// Role is a user's cluster-wide role (the wire enum).
type Role = commandpb.Role

// The roles.
const (
	RoleUser  = commandpb.Role_ROLE_USER
	RoleAdmin = commandpb.Role_ROLE_ADMIN
)

// ConversationKind tells direct conversations from groups.
type ConversationKind uint8

const (
	// KindDirect is the conversation of exactly two users, created by their first message.
	KindDirect ConversationKind = iota + 1
	// KindGroup is a named group with members and group admins.
	KindGroup
)

// String implements fmt.Stringer.
func (k ConversationKind) String() string {
	switch k {
	case KindDirect:
		return "direct"
	case KindGroup:
		return "group"
	default:
		return "unknown"
	}
}

// UserInfo is what login needs to know about a user.
type UserInfo struct {
	Name          string
	PasswordHash  string
	Role          Role
	Disabled      bool
	CreatedUnixMs int64
	// TokensNotBeforeUnixMs: tokens issued before this time are invalid (password change,
	// disable).
	TokensNotBeforeUnixMs int64
}

// Presence is a user as listed to other users.
type Presence struct {
	Name           string
	Role           Role
	Disabled       bool
	Online         bool
	LastSeenUnixMs int64 // zero: never seen
}

// Reaction is one emoji on a message and the users who reacted with it, sorted.
type Reaction struct {
	Emoji string
	Users []string
}

// Message is one message of a conversation as returned by queries. Deleted messages keep their
// place (Seq) with an empty Text.
type Message struct {
	ConversationID string
	Seq            uint64
	Author         string
	Text           string
	TimeUnixMs     int64
	EditedUnixMs   int64 // zero: never edited
	Deleted        bool
	ReplyTo        uint64 // zero: not a reply
	FileID         uint64 // zero: not a file share
	Index          uint64 // log index of the post
	Reactions      []Reaction
}

// ConversationSummary is one entry of a user's conversation list.
type ConversationSummary struct {
	ID   string
	Kind ConversationKind
	// Name is the group name, or the other user's name for a direct conversation.
	Name    string
	Members []string
	LastSeq uint64
	ReadSeq uint64
	// Unread is LastSeq - ReadSeq: posting marks the conversation read for the author.
	Unread uint64
	// Last is the newest message, nil when there is none.
	Last *Message
}

// Member is a member of a group.
type Member struct {
	Name    string
	Admin   bool
	ReadSeq uint64
}

// GroupInfo describes a group.
type GroupInfo struct {
	ID            string
	Name          string
	CreatedBy     string
	CreatedUnixMs int64
	LastSeq       uint64
	Members       []Member // sorted by name
}

// FileInfo is the metadata of an upload. The bytes live in the node's blob store, addressed
// by the chunk hashes.
type FileInfo struct {
	ID             uint64
	ConversationID string
	Name           string
	Uploader       string
	Size           int64
	SHA256         []byte
	ChunkSize      int64
	ChunkHashes    [][]byte // received chunks, in order
	Complete       bool
	CreatedUnixMs  int64
}

// Chunks returns how many chunks the file has when complete.
func (f *FileInfo) Chunks() int64 { return chunkCount(f.Size, f.ChunkSize) }

// EventKind says what a recent event records.
type EventKind uint8

// The event kinds.
const (
	EventMessagePosted EventKind = iota + 1
	EventMessageEdited
	EventMessageDeleted
	EventReactionAdded
	EventReactionRemoved
	EventGroupCreated
	EventGroupRenamed
	EventMemberAdded
	EventMemberRemoved
	EventAdminChanged
	EventRead
)

// String implements fmt.Stringer.
func (k EventKind) String() string {
	names := [...]string{"unknown", "posted", "edited", "deleted", "reaction_added",
		"reaction_removed", "group_created", "group_renamed", "member_added", "member_removed",
		"admin_changed", "read"}
	if int(k) < len(names) {
		return names[k]
	}
	return "unknown"
}

// Event is one entry of the recent-events feed. Events of a conversation are visible to its
// members who joined at or before the event; a member event is also visible to its Target; a
// read event only to its Actor.
type Event struct {
	Index          uint64
	TimeUnixMs     int64
	Kind           EventKind
	ConversationID string
	Seq            uint64
	Actor          string
	// Target is the member (member and admin events) or the emoji (reaction events).
	Target string
	// Message is the message as it was right after the event (message and reaction events).
	Message *Message
}

// HistoryQuery selects a page of a conversation.
type HistoryQuery struct {
	// AfterSeq pages forward: the oldest Limit messages with Seq > AfterSeq.
	AfterSeq uint64
	// BeforeSeq, when non-zero, pages backward instead: the newest Limit messages with
	// Seq < BeforeSeq, still returned in ascending order. Use math.MaxUint64 for "latest".
	BeforeSeq uint64
	// Limit is clamped to [1, Config.MaxPageSize]; zero means MaxPageSize.
	Limit int
}
