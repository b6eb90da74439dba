package statemachine

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

var (
	rUsers  = []string{"admin", "alice", "bob", "carol", "dave", "zed"}
	rTexts  = []string{"hi", "Noon talk", "  ", "noon", strings.Repeat("x", 65)}
	rEmojis = []string{"👍", "x", "a b", strings.Repeat("e", 33)}
)

// gen draws one command that is plausible for the current model, so most commands succeed but
// every kind of rejection happens.
func gen(t *rapid.T, md *model) proto.Message {
	user := func(label string) string { return rapid.SampledFrom(rUsers).Draw(t, label) }
	conv := func() string {
		ids := sortedKeys(md.convs)
		if len(ids) == 0 || rapid.IntRange(0, 9).Draw(t, "badconv") == 0 {
			return rapid.SampledFrom([]string{"g:99", "dm:alice:bob"}).Draw(t, "conv")
		}
		return rapid.SampledFrom(ids).Draw(t, "conv")
	}
	seq := func(id string) uint64 {
		n := 0
		if c := md.convs[id]; c != nil {
			n = len(c.msgs)
		}
		if n > 0 && rapid.IntRange(0, 5).Draw(t, "badseq") > 0 {
			return uint64(rapid.IntRange(1, n).Draw(t, "seq"))
		}
		return uint64(rapid.IntRange(0, n+1).Draw(t, "seq"))
	}
	text := func() string {
		if rapid.IntRange(0, 5).Draw(t, "badtext") > 0 {
			return rapid.SampledFrom(rTexts[:2]).Draw(t, "text")
		}
		return rapid.SampledFrom(rTexts).Draw(t, "text")
	}
	fileID := func() uint64 {
		if ids := sortedKeys(md.files); len(ids) > 0 && rapid.IntRange(0, 9).Draw(t, "badfile") > 0 {
			return rapid.SampledFrom(ids).Draw(t, "file")
		}
		return uint64(rapid.IntRange(1, int(md.nextFile)).Draw(t, "file"))
	}
	reply := func(id string) uint64 {
		if rapid.Bool().Draw(t, "isreply") {
			return seq(id)
		}
		return 0
	}
	op := rapid.IntRange(0, 25).Draw(t, "op")
	switch op {
	case 24:
		return &commandpb.RevokeToken{TokenId: rapid.SampledFrom([]string{"t1", "t2"}).Draw(t, "token"),
			Username: user("owner"), ExpiresUnixMs: md.now + rapid.SampledFrom([]int64{-1, 60_000, 8 * 24 * 3_600_000}).Draw(t, "ttl")}
	case 25:
		return &commandpb.ChangePassword{Username: user("target"), PasswordHash: rapid.SampledFrom([]string{"h1", "h2"}).Draw(t, "hash")}
	}
	if op >= 22 && op < 24 { // keep uploads going
		op = 20
	}
	if op == 20 && len(md.files) == 0 {
		op = 19
	}
	switch op {
	case 0:
		return &commandpb.CreateUser{Username: user("new"), PasswordHash: hash,
			Role: rapid.SampledFrom([]Role{0, RoleUser, RoleAdmin}).Draw(t, "role")}
	case 1:
		return &commandpb.SetRole{Username: user("target"), Role: rapid.SampledFrom([]Role{RoleUser, RoleAdmin}).Draw(t, "role")}
	case 2:
		return &commandpb.DisableUser{Username: user("target"), Disabled: rapid.Bool().Draw(t, "disabled")}
	case 3:
		return &commandpb.Heartbeat{Usernames: rapid.SliceOfN(rapid.SampledFrom(rUsers), 0, 3).Draw(t, "users"),
			Offline: rapid.Bool().Draw(t, "offline")}
	case 4, 5:
		return &commandpb.SendDirect{To: user("to"), Text: text(), ReplyTo: uint64(rapid.SampledFrom([]int{0, 0, 0, 1, 2}).Draw(t, "reply"))}
	case 6:
		return &commandpb.CreateGroup{Name: rapid.SampledFrom([]string{"team", " ", "x"}).Draw(t, "name"),
			Members: rapid.SliceOfN(rapid.SampledFrom(rUsers), 0, 3).Draw(t, "members")}
	case 7:
		return &commandpb.RenameGroup{ConversationId: conv(), Name: rapid.SampledFrom([]string{"crew", ""}).Draw(t, "name")}
	case 8:
		return &commandpb.AddMember{ConversationId: conv(), Username: user("member")}
	case 9:
		return &commandpb.RemoveMember{ConversationId: conv(), Username: user("member")}
	case 10:
		return &commandpb.SetGroupAdmin{ConversationId: conv(), Username: user("member"), Admin: rapid.Bool().Draw(t, "admin")}
	case 11:
		return &commandpb.LeaveGroup{ConversationId: conv()}
	case 12, 13:
		id := conv()
		return &commandpb.PostMessage{ConversationId: id, Text: text(), ReplyTo: reply(id)}
	case 14:
		id := conv()
		return &commandpb.EditMessage{ConversationId: id, Seq: seq(id), Text: text()}
	case 15:
		id := conv()
		return &commandpb.DeleteMessage{ConversationId: id, Seq: seq(id)}
	case 16:
		id := conv()
		return &commandpb.AddReaction{ConversationId: id, Seq: seq(id), Emoji: rapid.SampledFrom(rEmojis).Draw(t, "emoji")}
	case 17:
		id := conv()
		return &commandpb.RemoveReaction{ConversationId: id, Seq: seq(id), Emoji: rapid.SampledFrom(rEmojis).Draw(t, "emoji")}
	case 18:
		id := conv()
		return &commandpb.MarkRead{ConversationId: id, Seq: seq(id)}
	case 19:
		name := rapid.SampledFrom([]string{"a.txt", "b.bin"}).Draw(t, "fname")
		size := int64(rapid.IntRange(0, 40).Draw(t, "size"))
		sum := sha256.Sum256(contentFor(name, size))
		if rapid.IntRange(0, 5).Draw(t, "badsum") == 0 {
			sum[0]++
		}
		return &commandpb.BeginUpload{ConversationId: conv(), Name: name, Size: size, Sha256: sum[:],
			ChunkSize: int64(rapid.SampledFrom([]int{7, 16}).Draw(t, "chunk"))}
	case 20:
		id := fileID()
		op := &commandpb.UploadChunk{FileId: id}
		if f := md.files[id]; f != nil {
			i := rapid.IntRange(0, f.chunks+1).Draw(t, "index")
			lo, hi := min(int64(i)*f.chunk, f.size), min(int64(i+1)*f.chunk, f.size)
			op.Index, op.Data = int64(i), f.content[lo:hi]
			if rapid.IntRange(0, 5).Draw(t, "corrupt") == 0 && len(op.Data) > 0 {
				op.Data = append([]byte{op.Data[0] + 1}, op.Data[1:]...)
			}
		}
		s := sha256.Sum256(op.Data)
		op.Sha256 = s[:]
		return op
	default:
		if rapid.Bool().Draw(t, "complete") {
			return &commandpb.CompleteUpload{FileId: fileID()}
		}
		return &commandpb.ShareFile{FileId: fileID(), Text: rapid.SampledFrom([]string{"", "see"}).Draw(t, "caption")}
	}
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.MaxTextBytes = 64
		cfg.MaxPendingUploadsPerUser = 2
		m, _ := New(cfg)
		now := t0
		md := newModel(cfg, now)
		index := uint64(1)
		boot := mustWrap(t, "", &commandpb.Bootstrap{SigningKey: make([]byte, 32), AdminUsername: "admin", AdminPasswordHash: hash})
		boot.TimeUnixMs = now
		if r := m.ApplyCommand(index, boot); r.GetCode() != CodeOK {
			t.Fatal(r)
		}
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			index++
			c := mustWrap(t, "", &commandpb.CreateUser{Username: u, PasswordHash: hash})
			c.TimeUnixMs = now
			m.ApplyCommand(index, c)
			md.apply(index, now, c)
		}
		for _, c := range []*commandpb.Command{
			mustWrap(t, "alice", &commandpb.CreateGroup{Name: "team", Members: []string{"bob", "carol"}}),
			mustWrap(t, "bob", &commandpb.PostMessage{ConversationId: "g:1", Text: "noon?"}),
			mustWrap(t, "alice", &commandpb.SendDirect{To: "bob", Text: "hi"}),
		} {
			index++
			c.TimeUnixMs = now
			m.ApplyCommand(index, c)
			md.apply(index, now, c)
		}
		var sent, rejected []*commandpb.Command // rejected: session commands first rejected
		first := map[string][]byte{}            // "client/req" -> the machine's first result
		steps := rapid.IntRange(1, 120).Draw(t, "steps")
		for range steps {
			index++
			now += int64(rapid.IntRange(0, 40_000).Draw(t, "dt"))
			var cmd *commandpb.Command
			switch {
			case len(rejected) > 0 && rapid.IntRange(0, 6).Draw(t, "dupreject") == 0:
				// A duplicate log entry of a rejected request (a client retry whose first
				// attempt was applied after all): it must get the same rejection even when
				// the commands in between made it valid.
				cmd = proto.Clone(rapid.SampledFrom(rejected).Draw(t, "redo")).(*commandpb.Command)
			case len(sent) > 0 && rapid.IntRange(0, 9).Draw(t, "retry") == 0:
				cmd = proto.Clone(rapid.SampledFrom(sent).Draw(t, "resend")).(*commandpb.Command)
			case rapid.IntRange(0, 19).Draw(t, "restore") == 0:
				snap, err := m.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				m, _ = New(cfg)
				if err := m.Restore(snap); err != nil {
					t.Fatal(err)
				}
				index--
				continue
			default:
				actor := rapid.SampledFrom(rUsers[:5]).Draw(t, "actor")
				if rapid.IntRange(0, 9).Draw(t, "oddactor") == 0 {
					actor = rapid.SampledFrom([]string{"", "zed"}).Draw(t, "actor")
				}
				md.now = now
				op := gen(t, md)
				if up, ok := op.(*commandpb.UploadChunk); ok && md.files[up.FileId] != nil && rapid.IntRange(0, 4).Draw(t, "uploader") > 0 {
					actor = md.files[up.FileId].uploader
				}
				cmd = mustWrap(t, actor, op)
				cmd.ClientId = rapid.SampledFrom([]string{"", "c1", "c2"}).Draw(t, "client")
				cmd.RequestId = uint64(len(sent) + 1)
				sent = append(sent, cmd)
			}
			cmd.TimeUnixMs = now
			data, err := proto.Marshal(cmd)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Apply(index, data)
			want := md.apply(index, now, cmd)
			if got.GetCode() != want.GetCode() || !proto.Equal(withoutError(got), withoutError(want)) {
				t.Fatalf("index %d %v by %q:\n got  %v\n want %v", index, cmd.OpMessage(), cmd.GetActor(), got, want)
			}
			checkFirstResult(t, first, &rejected, cmd, got, md.replayed)
			compareQueries(t, m, md, now)
		}
	})
}

// checkFirstResult keeps the machine's first result of every session request and checks that
// a duplicate the model answers from its session gets those very bytes (error text and index
// included), and remembers first rejections in *rejected for duplicating.
func checkFirstResult(t *rapid.T, first map[string][]byte, rejected *[]*commandpb.Command,
	cmd *commandpb.Command, got *commandpb.Result, replayed bool) {
	if cmd.GetClientId() == "" || cmd.GetRequestId() == 0 {
		return
	}
	key := fmt.Sprintf("%s/%d", cmd.GetClientId(), cmd.GetRequestId())
	b := detBytes(t, got)
	if replayed {
		if !bytes.Equal(b, first[key]) {
			t.Fatalf("duplicate of %s (%v) got %v, not its first result byte for byte", key, cmd.OpMessage(), got)
		}
		return
	}
	first[key] = b
	if got.GetCode() != CodeOK {
		*rejected = append(*rejected, proto.Clone(cmd).(*commandpb.Command))
	}
}

func withoutError(r *commandpb.Result) *commandpb.Result {
	c := proto.Clone(r).(*commandpb.Result)
	c.Error = ""
	return c
}

func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeOK
}

func same(t *rapid.T, what string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func compareQueries(t *rapid.T, m *Machine, md *model, now int64) {
	compareUsers(t, m, md, now)
	for _, u := range rUsers {
		compareConversations(t, m, md, u)
		for _, id := range append(sortedKeys(md.convs), "g:99") {
			got, err := m.History(u, id, HistoryQuery{BeforeSeq: math.MaxUint64})
			same(t, "history code "+u+" "+id, codeOf(err), md.viewCode(u, id))
			if err == nil {
				same(t, "history "+u+" "+id, got, md.history(id))
			}
		}
		for id := uint64(1); id <= md.nextFile; id++ {
			got, err := m.File(u, id)
			same(t, fmt.Sprintf("file code %s %d", u, id), codeOf(err), md.fileCode(u, id, now))
			if err == nil {
				f := md.files[id]
				same(t, "file", []any{got.Complete, len(got.ChunkHashes), got.ConversationID}, []any{f.complete, f.chunks, f.conv})
			}
		}
		hits, err := m.Search(u, "NOON", 0)
		same(t, "search code "+u, codeOf(err), md.userCode(u))
		if err == nil {
			same(t, "search "+u, refs(hits), md.search(u, "noon"))
		}
		evs, err := m.RecentEvents(u, 0, 0)
		same(t, "events code "+u, codeOf(err), md.userCode(u))
		if err == nil {
			same(t, "events "+u, eventKeys(evs), md.visibleEvents(u))
		}
	}
	groups, err := m.Groups("admin", true)
	if err == nil {
		same(t, "groups", groups, md.groups())
	}
	for _, g := range md.groups() {
		for _, u := range rUsers {
			_, err := m.Group(u, g.ID)
			want := md.userCode(u)
			if want == CodeOK && md.convs[g.ID].members[u] == nil && md.users[u].role != RoleAdmin {
				want = CodeNotMember
			}
			same(t, "group code "+u+" "+g.ID, codeOf(err), want)
		}
	}
	for _, id := range []string{"t1", "t2"} {
		if exp, ok := md.revoked[id]; ok && exp > now && !m.IsTokenRevoked(id) {
			t.Fatalf("token %s revoked until %d is not revoked at %d", id, exp, now)
		} else if !ok && m.IsTokenRevoked(id) {
			t.Fatalf("token %s was never revoked", id)
		}
	}
	same(t, "signing key", m.SigningKey(), make([]byte, 32))
}

func compareUsers(t *rapid.T, m *Machine, md *model, now int64) {
	var want []Presence
	for _, n := range sortedKeys(md.users) {
		u := md.users[n]
		online := !u.disabled && !u.offline && u.lastSeen > 0 && now-u.lastSeen < md.cfg.OnlineWindowMs
		want = append(want, Presence{Name: n, Role: u.role, Disabled: u.disabled, Online: online, LastSeenUnixMs: u.lastSeen})
		info, err := m.LookupUser(n)
		same(t, "lookup "+n, []any{info, err}, []any{UserInfo{Name: n, PasswordHash: u.hash, Role: u.role,
			Disabled: u.disabled, CreatedUnixMs: u.created, TokensNotBeforeUnixMs: u.notBef}, nil})
	}
	same(t, "users", m.Users(now), want)
}

func (md *model) userCode(name string) Code {
	switch u := md.users[name]; {
	case u == nil:
		return CodeUnauthenticated
	case u.disabled:
		return CodePermissionDenied
	}
	return CodeOK
}

func (md *model) viewCode(viewer, id string) Code {
	if c := md.userCode(viewer); c != CodeOK {
		return c
	}
	c := md.convs[id]
	if c == nil {
		return CodeNotFound
	}
	if c.members[viewer] == nil {
		return CodeNotMember
	}
	return CodeOK
}

func (md *model) fileCode(viewer string, id uint64, now int64) Code {
	if c := md.userCode(viewer); c != CodeOK {
		return c
	}
	f := md.files[id]
	if f == nil || (!f.complete && now-f.created >= md.cfg.UploadTTLMs) {
		return CodeNotFound
	}
	if md.convs[f.conv].members[viewer] == nil {
		return CodeNotMember
	}
	return CodeOK
}

func (md *model) message(id string, seq uint64) Message {
	msg := md.convs[id].msgs[seq-1]
	out := Message{ConversationID: id, Seq: seq, Author: msg.author, Text: msg.text, TimeUnixMs: msg.time,
		EditedUnixMs: msg.edited, Deleted: msg.deleted, ReplyTo: msg.replyTo, FileID: msg.fileID, Index: msg.index}
	byEmoji := map[string][]string{}
	for _, r := range msg.reactions {
		byEmoji[r[0]] = append(byEmoji[r[0]], r[1])
	}
	for _, e := range sortedKeys(byEmoji) {
		users := byEmoji[e]
		slices.Sort(users)
		out.Reactions = append(out.Reactions, Reaction{Emoji: e, Users: users})
	}
	return out
}

func (md *model) history(id string) []Message {
	out := []Message{}
	for s := range md.convs[id].msgs {
		out = append(out, md.message(id, uint64(s+1)))
	}
	if len(out) > md.cfg.MaxPageSize {
		out = out[len(out)-md.cfg.MaxPageSize:]
	}
	return out
}

func compareConversations(t *rapid.T, m *Machine, md *model, viewer string) {
	got, err := m.Conversations(viewer)
	same(t, "conversations code "+viewer, codeOf(err), md.userCode(viewer))
	if err != nil {
		return
	}
	type row struct {
		id, name   string
		members    []string
		last, read uint64
		lastText   string
		activity   int64
	}
	var want []row
	for _, id := range sortedKeys(md.convs) {
		c := md.convs[id]
		mb := c.members[viewer]
		if mb == nil {
			continue
		}
		r := row{id: id, name: c.name, members: sortedKeys(c.members), last: uint64(len(c.msgs)), read: mb.read, activity: c.created}
		if c.kind == KindDirect {
			r.name = strings.Replace(strings.Replace(strings.TrimPrefix(id, "dm:"), viewer, "", 1), ":", "", 1)
		}
		if r.last > 0 {
			r.lastText, r.activity = c.msgs[r.last-1].text, c.msgs[r.last-1].time
		}
		want = append(want, r)
	}
	slices.SortStableFunc(want, func(a, b row) int {
		if a.activity != b.activity {
			return int(b.activity - a.activity)
		}
		return strings.Compare(a.id, b.id)
	})
	var have []row
	for _, s := range got {
		r := row{id: s.ID, name: s.Name, members: s.Members, last: s.LastSeq, read: s.ReadSeq}
		if s.Unread != s.LastSeq-s.ReadSeq {
			t.Fatalf("unread %d of %v", s.Unread, s)
		}
		if s.Last != nil {
			r.lastText, r.activity = s.Last.Text, s.Last.TimeUnixMs
		} else {
			r.activity = md.convs[s.ID].created
		}
		have = append(have, r)
	}
	same(t, "conversations "+viewer, have, want)
}

func refs(msgs []Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%s/%d", m.ConversationID, m.Seq))
	}
	return out
}

func (md *model) search(viewer, needle string) []string {
	out := []string{}
	for _, id := range sortedKeys(md.convs) {
		c := md.convs[id]
		if c.members[viewer] == nil {
			continue
		}
		for s := len(c.msgs); s >= 1; s-- {
			if msg := c.msgs[s-1]; !msg.deleted && strings.Contains(strings.ToLower(msg.text), needle) {
				out = append(out, fmt.Sprintf("%s/%d", id, s))
			}
		}
	}
	return out
}

func eventKeys(evs []Event) []mEvent {
	out := []mEvent{}
	for _, e := range evs {
		out = append(out, mEvent{e.Index, e.Kind, e.ConversationID, e.Actor, e.Target})
	}
	return out
}

func (md *model) visibleEvents(viewer string) []mEvent {
	out := []mEvent{}
	for _, e := range md.events {
		var ok bool
		switch c := md.convs[e.conv]; {
		case e.kind == EventRead:
			ok = e.actor == viewer
		case (e.kind == EventMemberAdded || e.kind == EventMemberRemoved || e.kind == EventAdminChanged) && e.t == viewer:
			ok = true
		default:
			mb := c.members[viewer]
			ok = mb != nil && mb.joined <= e.index
		}
		if ok {
			out = append(out, e)
		}
	}
	if len(out) > md.cfg.MaxPageSize {
		out = out[:md.cfg.MaxPageSize]
	}
	return out
}

func (md *model) groups() []GroupInfo {
	out := []GroupInfo{}
	for n := 1; n < md.nextGroup; n++ {
		id := fmt.Sprintf("g:%d", n)
		c := md.convs[id]
		g := GroupInfo{ID: id, Name: c.name, CreatedBy: c.by, CreatedUnixMs: c.created, LastSeq: uint64(len(c.msgs))}
		for _, name := range sortedKeys(c.members) {
			mb := c.members[name]
			g.Members = append(g.Members, Member{Name: name, Admin: mb.admin, ReadSeq: mb.read})
		}
		out = append(out, g)
	}
	return out
}
