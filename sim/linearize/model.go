package linearize

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind names a chat operation the model understands.
type Kind uint8

// The operations. Each acts on one conversation.
const (
	Post  Kind = iota // append a message; the output carries its sequence number
	Edit              // replace the text of the author's own message
	React             // add (or with Remove, take back) the author's reaction to a message
	Read              // read the conversation's history
)

var kindNames = [...]string{"post", "edit", "react", "read"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Input is one operation as a client issued it.
type Input struct {
	Kind Kind
	Conv string
	// Author is the acting user: the poster, editor or reacting user.
	Author string
	// Text is the posted or new text.
	Text string
	// Seq is the target message of Edit and React.
	Seq uint64
	// Emoji and Remove describe a React.
	Emoji  string
	Remove bool
	// Limit, for Read, asks for only the last Limit messages (0 = all).
	Limit int
}

// Status is the definite outcome of an operation. Operations whose outcome the client does
// not know (timed out, connection lost, leader changed mid-flight) must not be returned at
// all: the recorder leaves them pending, which porcupine reads as "may have happened at any
// point after the call, or never".
type Status uint8

// The outcomes.
const (
	// OK: the operation took effect (for Read: the messages are the history).
	OK Status = iota
	// NotFound: Edit or React named a sequence number that does not exist.
	NotFound
	// Denied: Edit of another user's message.
	Denied
	// Rejected: refused for a reason that does not depend on the conversation's state
	// (invalid argument, not authenticated). Always legal, no effect.
	Rejected
	// unknown marks an operation that never returned.
	unknown
)

var statusNames = [...]string{"ok", "not-found", "denied", "rejected", "unknown"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Reaction is one user's emoji on a message.
type Reaction struct {
	Emoji string
	User  string
}

// Message is one message as Read returns it.
type Message struct {
	Seq    uint64
	Author string
	Text   string
	Edited bool
	// Reactions in any order; the recorder sorts them.
	Reactions []Reaction
}

// Output is an operation's definite outcome.
type Output struct {
	Status Status
	// Seq is the sequence number Post assigned.
	Seq uint64
	// Messages is Read's answer, oldest first.
	Messages []Message
}

// state is one conversation's history. It is never mutated once built: steps copy.
type state struct {
	msgs []Message
	hash uint64
}

// newState returns the state holding msgs. Its hash is FNV-1a over, per message,
// "seq\x00author\x00text\x00edited\x00" then "emoji\x00user\x00" per reaction then 0xff
// (computed without fmt or allocation: porcupine builds a state per step).
func newState(msgs []Message) *state {
	h := fnvHash(fnvOffset)
	for i := range msgs {
		h = h.message(&msgs[i])
	}
	return &state{msgs: msgs, hash: uint64(h)}
}

// message continues the hash over m.
func (h fnvHash) message(m *Message) fnvHash {
	var num [20]byte
	h = h.bytes(strconv.AppendUint(num[:0], m.Seq, 10)).byte(0)
	h = h.str(m.Author).byte(0).str(m.Text).byte(0)
	h = h.str(strconv.FormatBool(m.Edited)).byte(0)
	for _, r := range m.Reactions {
		h = h.str(r.Emoji).byte(0).str(r.User).byte(0)
	}
	return h.byte(0xff)
}

// fnvHash is a running FNV-1a 64 hash (hash/fnv's New64a, without the interface).
type fnvHash uint64

const (
	fnvOffset fnvHash = 14695981039346656037
	fnvPrime  fnvHash = 1099511628211
)

func (h fnvHash) byte(b byte) fnvHash { return (h ^ fnvHash(b)) * fnvPrime }

func (h fnvHash) str(s string) fnvHash {
	for i := 0; i < len(s); i++ {
		h = (h ^ fnvHash(s[i])) * fnvPrime
	}
	return h
}

func (h fnvHash) bytes(b []byte) fnvHash {
	for _, c := range b {
		h = (h ^ fnvHash(c)) * fnvPrime
	}
	return h
}

func (s *state) find(seq uint64) int {
	for i := range s.msgs {
		if s.msgs[i].Seq == seq {
			return i
		}
	}
	return -1
}

// with returns a copy of s whose message at i is replaced by m.
func (s *state) with(i int, m Message) *state {
	msgs := slices.Clone(s.msgs)
	msgs[i] = m
	return newState(msgs)
}

func messagesEqual(a, b Message) bool {
	return a.Seq == b.Seq && a.Author == b.Author && a.Text == b.Text && a.Edited == b.Edited &&
		slices.Equal(a.Reactions, b.Reactions)
}

func sortReactions(rs []Reaction) {
	slices.SortFunc(rs, func(a, b Reaction) int {
		if c := strings.Compare(a.Emoji, b.Emoji); c != 0 {
			return c
		}
		return strings.Compare(a.User, b.User)
	})
}

// Model returns the porcupine model of the chat service: one conversation per partition,
// sequence numbers 1, 2, 3... in each conversation in the order posts are applied. An
// operation's Input is an *Input and its Output an *Output (see Recorder.operations).
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByConv,
		Init:      func() any { return newState(nil) },
		Step: func(st, in, out any) (bool, any) {
			return step(st.(*state), in.(*Input), out.(*Output))
		},
		Equal: func(a, b any) bool {
			x, y := a.(*state), b.(*state)
			return x.hash == y.hash && slices.EqualFunc(x.msgs, y.msgs, messagesEqual)
		},
		Hash:              func(st any) uint64 { return st.(*state).hash },
		DescribeOperation: func(in, out any) string { return describe(in.(*Input), out.(*Output)) },
		DescribeState:     func(st any) string { return describeState(st.(*state)) },
	}
}

func step(s *state, in *Input, out *Output) (bool, *state) {
	switch in.Kind {
	case Post:
		return stepPost(s, in, out)
	case Edit, React:
		return stepChange(s, in, out)
	case Read:
		return stepRead(s, in, out), s
	}
	return false, s
}

func stepPost(s *state, in *Input, out *Output) (bool, *state) {
	next := uint64(1)
	if n := len(s.msgs); n > 0 {
		next = s.msgs[n-1].Seq + 1
	}
	switch out.Status {
	case Rejected:
		return true, s
	case OK, unknown:
		if out.Status == OK && out.Seq != next {
			return false, s
		}
		// One exact-size copy (porcupine builds a state per step it tries).
		msgs := make([]Message, len(s.msgs)+1)
		copy(msgs, s.msgs)
		msgs[len(s.msgs)] = Message{Seq: next, Author: in.Author, Text: in.Text}
		// The hash runs over the messages in order: s's, continued over the new one, is
		// newState(msgs)'s.
		return true, &state{msgs: msgs, hash: uint64(fnvHash(s.hash).message(&msgs[len(s.msgs)]))}
	default:
		// NotFound and Denied make no sense for a post.
		return false, s
	}
}

// stepChange handles Edit and React, whose legal outcome depends on the target message.
func stepChange(s *state, in *Input, out *Output) (bool, *state) {
	i := s.find(in.Seq)
	var want Status
	switch {
	case i < 0:
		want = NotFound
	case in.Kind == Edit && s.msgs[i].Author != in.Author:
		want = Denied
	default:
		want = OK
	}
	switch out.Status {
	case Rejected:
		return true, s
	case unknown:
		if want != OK {
			return true, s
		}
	default:
		if out.Status != want {
			return false, s
		}
		if want != OK {
			return true, s
		}
	}
	return true, s.with(i, applyChange(s.msgs[i], in))
}

func applyChange(m Message, in *Input) Message {
	if in.Kind == Edit {
		m.Text, m.Edited = in.Text, true
		return m
	}
	r := Reaction{Emoji: in.Emoji, User: in.Author}
	rs := slices.DeleteFunc(slices.Clone(m.Reactions), func(x Reaction) bool { return x == r })
	if !in.Remove {
		rs = append(rs, r)
		sortReactions(rs)
	}
	m.Reactions = rs
	return m
}

func stepRead(s *state, in *Input, out *Output) bool {
	switch out.Status {
	case Rejected, unknown:
		return true
	case OK:
	default:
		return false
	}
	msgs := s.msgs
	if in.Limit > 0 && len(msgs) > in.Limit {
		msgs = msgs[len(msgs)-in.Limit:]
	}
	return slices.EqualFunc(msgs, out.Messages, messagesEqual)
}

// partitionByConv splits the history by conversation, in order of first appearance. It
// counts first so that every partition is a slice of one exact-size array.
func partitionByConv(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var sizes []int
	keys := make([]int, len(history))
	for i := range history {
		conv := history[i].Input.(*Input).Conv
		k, ok := index[conv]
		if !ok {
			k = len(sizes)
			index[conv] = k
			sizes = append(sizes, 0)
		}
		sizes[k]++
		keys[i] = k
	}
	all := make([]porcupine.Operation, len(history))
	parts := make([][]porcupine.Operation, len(sizes))
	off := 0
	for k, n := range sizes {
		parts[k] = all[off : off : off+n]
		off += n
	}
	for i := range history {
		parts[keys[i]] = append(parts[keys[i]], history[i])
	}
	return parts
}

func describe(in *Input, out *Output) string {
	var b strings.Builder
	switch in.Kind {
	case Post:
		fmt.Fprintf(&b, "post(%s, %q)", in.Author, in.Text)
	case Edit:
		fmt.Fprintf(&b, "edit(%s, #%d, %q)", in.Author, in.Seq, in.Text)
	case React:
		verb := "react"
		if in.Remove {
			verb = "unreact"
		}
		fmt.Fprintf(&b, "%s(%s, #%d, %s)", verb, in.Author, in.Seq, in.Emoji)
	case Read:
		fmt.Fprintf(&b, "read(limit %d)", in.Limit)
	}
	switch {
	case out.Status != OK:
		fmt.Fprintf(&b, " -> %s", out.Status)
	case in.Kind == Post:
		fmt.Fprintf(&b, " -> #%d", out.Seq)
	case in.Kind == Read:
		fmt.Fprintf(&b, " -> %s", describeMessages(out.Messages))
	default:
		b.WriteString(" -> ok")
	}
	return b.String()
}

func describeState(s *state) string { return describeMessages(s.msgs) }

func describeMessages(msgs []Message) string {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		p := fmt.Sprintf("#%d %s: %q", m.Seq, m.Author, m.Text)
		if m.Edited {
			p += " (edited)"
		}
		for _, r := range m.Reactions {
			p += fmt.Sprintf(" %s/%s", r.Emoji, r.User)
		}
		parts = append(parts, p)
	}
	return "[" + strings.Join(parts, "; ") + "]"
}
