package service

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/statemachine"
)

// wholeEntry is the ordinal of a heartbeat: every event of its index was seen.
const wholeEntry = math.MaxUint32

// eventBatch bounds the events read from the state machine under one lock.
const eventBatch = 256

// heartbeatEvery is how often an idle stream tells the client its position, so a resumed
// stream starts close to where it broke.
const heartbeatEvery = 5 * time.Second

var errWake = errors.New("wake")

// position is a place in the event stream: after event (index, ordinal).
type position struct {
	index   uint64
	ordinal uint32
}

// Subscribe streams the caller's events from the state machine's recent-events feed, which
// is keyed by log index and identical on every replica: a client that resumes on another
// node after (index, ordinal) gets exactly the events after it.
func (h *handler) Subscribe(r *chatpb.SubscribeRequest, stream chatpb.ChatService_SubscribeServer) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	pos := position{index: r.GetAfterIndex(), ordinal: r.GetAfterOrdinal()}
	if pos.index == 0 {
		// From now: tell the client where "now" is, so a failover before the first event
		// resumes from here rather than from a later "now".
		err := h.s.read(ctx, true, func(m *statemachine.Machine) error {
			pos = position{index: m.AppliedIndex(), ordinal: wholeEntry}
			return nil
		})
		if err != nil {
			return err
		}
		if err := sendHeartbeat(stream, pos); err != nil {
			return err
		}
	}
	lastSend := time.Now()
	var presence []*chatpb.Event
	for {
		next, applied, sent, err := h.sendEvents(ctx, p.Username, pos, presence, stream)
		if err != nil {
			return err
		}
		pos = next
		if sent {
			lastSend = time.Now()
		} else if applied > pos.index && time.Since(lastSend) >= heartbeatEvery {
			pos = position{index: applied, ordinal: wholeEntry}
			if err := sendHeartbeat(stream, pos); err != nil {
				return err
			}
			lastSend = time.Now()
		}
		if presence, err = h.waitApplied(ctx, max(applied, pos.index)); err != nil {
			return err
		}
	}
}

// presenceEvents turns an applied Heartbeat into presence events. They are best effort:
// only heartbeats seen while waiting are reported, and a resumed stream does not replay
// them (presence is a current state, which ListUsers gives).
func presenceEvents(index uint64, cmd *commandpb.Command, res *commandpb.Result) []*chatpb.Event {
	hb := cmd.GetHeartbeat()
	if hb == nil || res.GetCode() != commandpb.ErrorCode_OK {
		return nil
	}
	var out []*chatpb.Event
	for i, u := range hb.GetUsernames() {
		out = append(out, &chatpb.Event{Index: index, Ordinal: uint32(i), TimeUnixMs: cmd.GetTimeUnixMs(),
			Kind: &chatpb.Event_Presence{Presence: &chatpb.User{Username: u, Online: !hb.GetOffline(),
				LastSeenUnixMs: cmd.GetTimeUnixMs()}}})
	}
	return out
}

func sendHeartbeat(stream chatpb.ChatService_SubscribeServer, pos position) error {
	return stream.Send(&chatpb.Event{Index: pos.index, Ordinal: pos.ordinal, Kind: &chatpb.Event_Heartbeat{Heartbeat: &chatpb.Empty{}}})
}

// sendEvents sends the visible events after pos that the local replica holds, batch by
// batch, and returns the new position, the applied index seen and whether it sent any.
// Pending presence events are merged in log order (heartbeat entries carry no feed events,
// so their positions never collide with feed events).
func (h *handler) sendEvents(ctx context.Context, user string, pos position, presence []*chatpb.Event,
	stream chatpb.ChatService_SubscribeServer) (position, uint64, bool, error) {
	sent := false
	flush := func(through uint64) error {
		for len(presence) > 0 && presence[0].GetIndex() <= through {
			ev := presence[0]
			presence = presence[1:]
			if ev.GetIndex() <= pos.index {
				continue
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
			pos, sent = position{index: ev.GetIndex(), ordinal: ev.GetOrdinal()}, true
		}
		return nil
	}
	for {
		var evs []statemachine.Event
		var applied uint64
		var convs map[string]*chatpb.Conversation
		var files map[uint64]fileLabel
		// Events of pos.index not yet seen are re-read: read from the entry before it.
		from := pos.index
		if pos.ordinal != wholeEntry && from > 0 {
			from--
		}
		err := h.s.read(ctx, true, func(m *statemachine.Machine) (err error) {
			applied = m.AppliedIndex()
			evs, err = m.RecentEvents(user, from, eventBatch)
			convs = membershipViews(m, user, evs)
			files = fileLabels(m, evs)
			return err
		})
		if err != nil {
			return pos, applied, sent, err
		}
		ord, idx := uint32(0), uint64(0)
		for i := range evs {
			ev := &evs[i]
			if ev.Index != idx {
				idx, ord = ev.Index, 0
			} else {
				ord++
			}
			if idx < pos.index || (idx == pos.index && (pos.ordinal == wholeEntry || ord <= pos.ordinal)) {
				continue
			}
			if err := flush(idx - 1); err != nil {
				return pos, applied, sent, err
			}
			if err := stream.Send(eventPB(ev, ord, convs, files)); err != nil {
				return pos, applied, sent, err
			}
			pos, sent = position{index: idx, ordinal: ord}, true
		}
		if len(evs) < eventBatch {
			err := flush(applied)
			return pos, applied, sent, err
		}
	}
}

// waitApplied returns once the local replica applied an entry after index, or after
// heartbeatEvery, or with ctx's error.
// The entry that woke it, if a heartbeat, comes back as presence events.
func (h *handler) waitApplied(ctx context.Context, index uint64) ([]*chatpb.Event, error) {
	wctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
	defer cancel()
	var presence []*chatpb.Event
	err := h.s.b.Subscribe(wctx, index, func(i uint64, cmd *commandpb.Command, res *commandpb.Result) error {
		presence = presenceEvents(i, cmd, res)
		return errWake
	})
	switch {
	case errors.Is(err, errWake):
		return presence, nil
	case errors.Is(err, ErrEventsCompacted), errors.Is(err, ErrSubscriberTooSlow):
		return nil, nil
	case ctx.Err() != nil:
		return nil, toStatus(ctx.Err())
	case wctx.Err() != nil:
		return nil, nil
	}
	return nil, toStatus(err)
}

// membershipViews reads the current view of every group a membership event names, when
// user may still see it.
func membershipViews(m *statemachine.Machine, user string, evs []statemachine.Event) map[string]*chatpb.Conversation {
	var out map[string]*chatpb.Conversation
	for i := range evs {
		ev := &evs[i]
		if ev.Message != nil || ev.Kind == statemachine.EventRead {
			continue
		}
		if out == nil {
			out = map[string]*chatpb.Conversation{}
		}
		if _, done := out[ev.ConversationID]; done {
			continue
		}
		out[ev.ConversationID] = nil
		if c, err := m.Conversation(user, ev.ConversationID); err == nil {
			view := summaryPB(&c)
			if g, err := m.Group(user, ev.ConversationID); err == nil {
				groupPB(view, &g)
			}
			out[ev.ConversationID] = view
		}
	}
	return out
}

type fileLabel struct {
	name string
	size int64
}

// fileLabels reads the name and size of the files the events' messages share.
func fileLabels(m *statemachine.Machine, evs []statemachine.Event) map[uint64]fileLabel {
	var out map[uint64]fileLabel
	for i := range evs {
		if msg := evs[i].Message; msg != nil && msg.FileID != 0 {
			if name, size, ok := m.FileLabel(msg.FileID); ok {
				if out == nil {
					out = map[uint64]fileLabel{}
				}
				out[msg.FileID] = fileLabel{name, size}
			}
		}
	}
	return out
}

func eventPB(ev *statemachine.Event, ord uint32, convs map[string]*chatpb.Conversation, files map[uint64]fileLabel) *chatpb.Event {
	out := &chatpb.Event{Index: ev.Index, Ordinal: ord, TimeUnixMs: ev.TimeUnixMs}
	msg := messagePB(ev.Message)
	if f := msg.GetFile(); f != nil {
		if l, ok := files[f.GetFileId()]; ok {
			f.Name, f.Size = l.name, uint64(max(l.size, 0))
		}
	}
	switch ev.Kind {
	case statemachine.EventMessagePosted:
		out.Kind = &chatpb.Event_Message{Message: msg}
	case statemachine.EventMessageEdited:
		out.Kind = &chatpb.Event_Edited{Edited: msg}
	case statemachine.EventMessageDeleted:
		out.Kind = &chatpb.Event_Deleted{Deleted: msg}
	case statemachine.EventReactionAdded, statemachine.EventReactionRemoved:
		out.Kind = &chatpb.Event_Reaction{Reaction: msg}
	case statemachine.EventRead:
		out.Kind = &chatpb.Event_Read{Read: &chatpb.ReadMarker{ConversationId: ev.ConversationID, Seq: ev.Seq}}
	default:
		out.Kind = &chatpb.Event_Membership{Membership: &chatpb.Membership{
			ConversationId: ev.ConversationID, Change: ev.Kind.String(), Actor: ev.Actor,
			Target: ev.Target, Conversation: convs[ev.ConversationID]}}
	}
	return out
}
