package service

import (
	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/statemachine"
)

func messagePB(m *statemachine.Message) *chatpb.Message {
	if m == nil {
		return nil
	}
	out := &chatpb.Message{
		ConversationId: m.ConversationID, Seq: m.Seq, Author: m.Author, Text: m.Text,
		ReplyTo: m.ReplyTo, SentUnixMs: m.TimeUnixMs, EditedUnixMs: m.EditedUnixMs,
		Deleted: m.Deleted, LogIndex: m.Index,
	}
	for _, r := range m.Reactions {
		out.Reactions = append(out.Reactions, &chatpb.Reaction{Emoji: r.Emoji, Users: r.Users})
	}
	if m.FileID != 0 {
		out.File = &chatpb.FileRef{FileId: m.FileID}
	}
	return out
}

// labelFiles fills in the name and size of the files the messages share, which the
// messages themselves hold only by id.
func labelFiles(m *statemachine.Machine, msgs ...*chatpb.Message) {
	for _, msg := range msgs {
		if f := msg.GetFile(); f != nil && f.GetName() == "" {
			if name, size, ok := m.FileLabel(f.GetFileId()); ok {
				f.Name, f.Size = name, uint64(max(size, 0))
			}
		}
	}
}

func messagesPB(ms []statemachine.Message) []*chatpb.Message {
	out := make([]*chatpb.Message, len(ms))
	for i := range ms {
		out[i] = messagePB(&ms[i])
	}
	return out
}

func kindPB(k statemachine.ConversationKind) chatpb.ConversationKind {
	switch k {
	case statemachine.KindDirect:
		return chatpb.ConversationKind_CONVERSATION_KIND_DIRECT
	case statemachine.KindGroup:
		return chatpb.ConversationKind_CONVERSATION_KIND_GROUP
	}
	return chatpb.ConversationKind_CONVERSATION_KIND_UNSPECIFIED
}

func summaryPB(c *statemachine.ConversationSummary) *chatpb.Conversation {
	return &chatpb.Conversation{
		Id: c.ID, Kind: kindPB(c.Kind), Name: c.Name, Members: c.Members,
		LastSeq: c.LastSeq, Unread: c.Unread, LastMessage: messagePB(c.Last),
	}
}

// groupPB fills in what only the group view has: admins and creation time.
func groupPB(c *chatpb.Conversation, g *statemachine.GroupInfo) *chatpb.Conversation {
	c.CreatedUnixMs = g.CreatedUnixMs
	c.Admins = nil
	for _, m := range g.Members {
		if m.Admin {
			c.Admins = append(c.Admins, m.Name)
		}
	}
	return c
}

func presencePB(p *statemachine.Presence) *chatpb.User {
	return &chatpb.User{Username: p.Name, Role: chatpb.Role(p.Role), Disabled: p.Disabled,
		Online: p.Online, LastSeenUnixMs: p.LastSeenUnixMs}
}

func fileRefPB(f *statemachine.FileInfo) *chatpb.FileRef {
	return &chatpb.FileRef{FileId: f.ID, Name: f.Name, Size: uint64(max(f.Size, 0)), Sha256: f.SHA256}
}
