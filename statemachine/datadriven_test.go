package statemachine

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/raftchat/raftchat/proto/commandpb"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestScripts runs the scenario scripts in testdata/*.txt. Regenerate the expected output with
// `go test ./statemachine -run TestScripts -rewrite` and review the diff.
//
// Commands:
//
//	apply                      one command per input line: ACTOR[/CLIENT/REQ] OP {json of OP}
//	                           (ACTOR "-" is none); each entry is 1000 ms after the previous one
//	advance ms=N               moves the proposers' clock forward
//	upload actor= conv= name= data= chunk=   begin, all chunks, complete
//	history viewer= conv= [after=] [before=] [limit=]
//	conversations viewer=      users      group viewer= id=      file viewer= id=
//	search viewer= q=          events viewer= [after=]          restore
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &script{h: newHarness(t, DefaultConfig())}
		s.h.verify = true
		datadriven.RunTest(t, path, s.run)
	})
}

type script struct{ h *harness }

func (s *script) arg(t *testing.T, td *datadriven.TestData, key string) string {
	var v string
	td.ScanArgs(t, key, &v)
	return v
}

func (s *script) optUint(td *datadriven.TestData, key string) uint64 {
	var v uint64
	if td.HasArg(key) {
		td.ScanArgs(s.h.t, key, &v)
	}
	return v
}

func (s *script) run(t *testing.T, td *datadriven.TestData) string {
	m := s.h.m
	switch td.Cmd {
	case "apply":
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
			fmt.Fprintf(&out, "%s\n", fmtResult(s.applyLine(t, line)))
		}
		return out.String()
	case "advance":
		s.h.nowMs += int64(s.optUint(td, "ms"))
		return ""
	case "upload":
		return s.upload(t, td)
	case "history":
		msgs, err := m.History(s.arg(t, td, "viewer"), s.arg(t, td, "conv"), HistoryQuery{
			AfterSeq: s.optUint(td, "after"), BeforeSeq: s.optUint(td, "before"), Limit: int(s.optUint(td, "limit"))})
		return fmtMessages(msgs, err)
	case "search":
		msgs, err := m.Search(s.arg(t, td, "viewer"), s.arg(t, td, "q"), 0)
		return fmtMessages(msgs, err)
	case "conversations":
		list, err := m.Conversations(s.arg(t, td, "viewer"))
		if err != nil {
			return err.Error() + "\n"
		}
		var out strings.Builder
		for _, c := range list {
			fmt.Fprintf(&out, "%s %q members=%s unread=%d last=%d\n", c.ID, c.Name, strings.Join(c.Members, ","), c.Unread, c.LastSeq)
		}
		return out.String()
	default:
		return s.runMore(t, td)
	}
}

func (s *script) runMore(t *testing.T, td *datadriven.TestData) string {
	m := s.h.m
	switch td.Cmd {
	case "users":
		var out strings.Builder
		for _, u := range m.Users(s.h.nowMs) {
			fmt.Fprintf(&out, "%s %s disabled=%v online=%v\n", u.Name, strings.ToLower(strings.TrimPrefix(u.Role.String(), "ROLE_")), u.Disabled, u.Online)
		}
		return out.String()
	case "group":
		g, err := m.Group(s.arg(t, td, "viewer"), s.arg(t, td, "id"))
		if err != nil {
			return err.Error() + "\n"
		}
		var out strings.Builder
		fmt.Fprintf(&out, "%s %q by %s\n", g.ID, g.Name, g.CreatedBy)
		for _, mb := range g.Members {
			fmt.Fprintf(&out, "  %s admin=%v read=%d\n", mb.Name, mb.Admin, mb.ReadSeq)
		}
		return out.String()
	case "file":
		f, err := m.File(s.arg(t, td, "viewer"), s.optUint(td, "id"))
		if err != nil {
			return err.Error() + "\n"
		}
		return fmt.Sprintf("file %d %q in %s by %s size=%d chunks=%d/%d complete=%v\n",
			f.ID, f.Name, f.ConversationID, f.Uploader, f.Size, len(f.ChunkHashes), f.Chunks(), f.Complete)
	case "events":
		evs, err := m.RecentEvents(s.arg(t, td, "viewer"), s.optUint(td, "after"), 0)
		if err != nil {
			return err.Error() + "\n"
		}
		var out strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&out, "%d %s %s seq=%d by=%s target=%s\n", e.Index, e.Kind, e.ConversationID, e.Seq, e.Actor, e.Target)
		}
		return out.String()
	case "restore":
		snap := s.h.snapshot()
		fresh, _ := New(DefaultConfig())
		if err := fresh.Restore(snap); err != nil {
			return err.Error() + "\n"
		}
		if again, _ := fresh.Snapshot(); !bytes.Equal(again, snap) {
			t.Fatal("restore is not exact")
		}
		s.h.m = fresh
		return "ok\n"
	default:
		t.Fatalf("unknown command %q", td.Cmd)
		return ""
	}
}

// applyLine parses "ACTOR[/CLIENT/REQ] OP {json}" and applies it.
func (s *script) applyLine(t *testing.T, line string) *commandpb.Result {
	who, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	op, js, _ := strings.Cut(rest, " ")
	if js == "" {
		js = "{}"
	}
	parts := strings.Split(who, "/")
	actor := parts[0]
	if actor == "-" {
		actor = ""
	}
	cmd := &commandpb.Command{}
	if err := protojson.Unmarshal([]byte(fmt.Sprintf(`{"actor":%q,%q:%s}`, actor, op, js)), cmd); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if len(parts) == 3 {
		cmd.ClientId = parts[1]
		cmd.RequestId, _ = strconv.ParseUint(parts[2], 10, 64)
	}
	s.h.nowMs += 999 // applyCmd adds 1
	return s.h.applyCmd(cmd)
}

func (s *script) upload(t *testing.T, td *datadriven.TestData) string {
	actor, data := s.arg(t, td, "actor"), []byte(s.arg(t, td, "data"))
	chunk := int(s.optUint(td, "chunk"))
	whole := sha256.Sum256(data)
	var out strings.Builder
	r := s.h.do(actor, &commandpb.BeginUpload{ConversationId: s.arg(t, td, "conv"), Name: s.arg(t, td, "name"),
		Size: int64(len(data)), Sha256: whole[:], ChunkSize: int64(chunk)})
	fmt.Fprintf(&out, "%s\n", fmtResult(r))
	id := r.GetFile().GetFileId()
	for i, c := range chunksOf(data, chunk) {
		fmt.Fprintf(&out, "%s\n", fmtResult(s.h.do(actor, &commandpb.UploadChunk{FileId: id, Index: int64(i), Data: c, Sha256: sum(c)})))
	}
	fmt.Fprintf(&out, "%s\n", fmtResult(s.h.do(actor, &commandpb.CompleteUpload{FileId: id})))
	return out.String()
}

func fmtResult(r *commandpb.Result) string {
	if r.GetCode() != CodeOK {
		return fmt.Sprintf("%s: %s", r.GetCode(), r.GetError())
	}
	switch v := r.GetValue().(type) {
	case *commandpb.Result_Message:
		return fmt.Sprintf("ok #%d %s/%d", r.GetIndex(), v.Message.GetConversationId(), v.Message.GetSeq())
	case *commandpb.Result_Conversation:
		return fmt.Sprintf("ok #%d %s", r.GetIndex(), v.Conversation.GetConversationId())
	case *commandpb.Result_File:
		return fmt.Sprintf("ok #%d file %d chunks=%d complete=%v", r.GetIndex(), v.File.GetFileId(), v.File.GetChunksReceived(), v.File.GetComplete())
	case *commandpb.Result_User:
		return fmt.Sprintf("ok #%d user %s", r.GetIndex(), v.User.GetUsername())
	default:
		return fmt.Sprintf("ok #%d", r.GetIndex())
	}
}

func fmtMessages(msgs []Message, err error) string {
	if err != nil {
		return err.Error() + "\n"
	}
	var out strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&out, "%s/%d %s: %q", m.ConversationID, m.Seq, m.Author, m.Text)
		if m.ReplyTo != 0 {
			fmt.Fprintf(&out, " reply=%d", m.ReplyTo)
		}
		if m.FileID != 0 {
			fmt.Fprintf(&out, " file=%d", m.FileID)
		}
		if m.EditedUnixMs != 0 && !m.Deleted {
			out.WriteString(" (edited)")
		}
		if m.Deleted {
			out.WriteString(" (deleted)")
		}
		for _, r := range m.Reactions {
			fmt.Fprintf(&out, " %s:%s", r.Emoji, strings.Join(r.Users, ","))
		}
		out.WriteString("\n")
	}
	return out.String()
}
