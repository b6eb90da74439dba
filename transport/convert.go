package transport

import (
	"fmt"

	"github.com/raftchat/raftchat/proto/raftpb"
	"github.com/raftchat/raftchat/raft"
)

// maxMessageType is the highest raft.MessageType that may cross the network. Local-only
// types are rejected separately in FromProto.
const maxMessageType = raft.MsgSnapStatus

// ToProto converts a raft message to its wire form. Byte slices are shared, not copied.
func ToProto(m raft.Message) *raftpb.Message {
	pm := &raftpb.Message{
		Type:       uint32(m.Type),
		To:         uint64(m.To),
		From:       uint64(m.From),
		Term:       uint64(m.Term),
		LogTerm:    uint64(m.LogTerm),
		Index:      uint64(m.Index),
		Commit:     uint64(m.Commit),
		Reject:     m.Reject,
		RejectHint: uint64(m.RejectHint),
		HintTerm:   uint64(m.HintTerm),
		Context:    m.Context,
	}
	if len(m.Entries) > 0 {
		pm.Entries = make([]*raftpb.Entry, len(m.Entries))
		for i, e := range m.Entries {
			pm.Entries[i] = &raftpb.Entry{
				Term: uint64(e.Term), Index: uint64(e.Index), Type: uint32(e.Type), Data: e.Data,
			}
		}
	}
	if m.Snapshot != nil {
		pm.Snapshot = snapshotToProto(*m.Snapshot)
	}
	return pm
}

func snapshotToProto(s raft.Snapshot) *raftpb.Snapshot {
	cs := s.Metadata.ConfState
	return &raftpb.Snapshot{
		Metadata: &raftpb.SnapshotMetadata{
			Index: uint64(s.Metadata.Index),
			Term:  uint64(s.Metadata.Term),
			ConfState: &raftpb.ConfState{Voters: idsToProto(cs.Voters), Learners: idsToProto(cs.Learners),
				Removed: idsToProto(cs.Removed)},
		},
		Data: s.Data,
	}
}

func idsToProto(ids []raft.NodeID) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	out := make([]uint64, len(ids))
	for i, v := range ids {
		out[i] = uint64(v)
	}
	return out
}

func idsFromProto(ids []uint64) []raft.NodeID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]raft.NodeID, len(ids))
	for i, v := range ids {
		out[i] = raft.NodeID(v)
	}
	return out
}

// FromProto converts a wire message to a raft message, rejecting what no correct peer sends:
// unknown or local-only types, and entry types raft does not know. Byte slices are shared.
func FromProto(pm *raftpb.Message) (raft.Message, error) {
	if pm == nil {
		return raft.Message{}, fmt.Errorf("decode message: nil")
	}
	t := raft.MessageType(pm.Type)
	if pm.Type > uint32(maxMessageType) {
		return raft.Message{}, fmt.Errorf("decode message: unknown type %d", pm.Type)
	}
	if isLocal(t) {
		return raft.Message{}, fmt.Errorf("decode message: local type %v on the wire", t)
	}
	m := raft.Message{
		Type:       t,
		To:         raft.NodeID(pm.To),
		From:       raft.NodeID(pm.From),
		Term:       raft.Term(pm.Term),
		LogTerm:    raft.Term(pm.LogTerm),
		Index:      raft.Index(pm.Index),
		Commit:     raft.Index(pm.Commit),
		Reject:     pm.Reject,
		RejectHint: raft.Index(pm.RejectHint),
		HintTerm:   raft.Term(pm.HintTerm),
		Context:    pm.Context,
	}
	if len(pm.Entries) > 0 {
		m.Entries = make([]raft.Entry, len(pm.Entries))
		for i, pe := range pm.Entries {
			if pe == nil || pe.Type > uint32(raft.EntryConfChange) {
				return raft.Message{}, fmt.Errorf("decode message: bad entry %d", i)
			}
			m.Entries[i] = raft.Entry{
				Term: raft.Term(pe.Term), Index: raft.Index(pe.Index),
				Type: raft.EntryType(pe.Type), Data: pe.Data,
			}
		}
	}
	if pm.Snapshot != nil {
		s := snapshotFromProto(pm.Snapshot)
		m.Snapshot = &s
	}
	return m, nil
}

func snapshotFromProto(ps *raftpb.Snapshot) raft.Snapshot {
	var s raft.Snapshot
	s.Data = ps.Data
	if md := ps.Metadata; md != nil {
		s.Metadata.Index = raft.Index(md.Index)
		s.Metadata.Term = raft.Term(md.Term)
		if cs := md.ConfState; cs != nil {
			s.Metadata.ConfState.Voters = idsFromProto(cs.Voters)
			s.Metadata.ConfState.Learners = idsFromProto(cs.Learners)
			s.Metadata.ConfState.Removed = idsFromProto(cs.Removed)
		}
	}
	return s
}

// isLocal reports whether t names a message that must never cross the network.
func isLocal(t raft.MessageType) bool {
	switch t {
	case raft.MsgHup, raft.MsgBeat, raft.MsgUnreachable, raft.MsgSnapStatus:
		return true
	default:
		return false
	}
}
