package service

import (
	"context"
	"strings"
)

// Suggester proposes short replies to the latest messages of a conversation. The offline
// suggester is the default; a Gemini-backed one (google.golang.org/genai, when
// GEMINI_API_KEY is set) plugs in here later.
type Suggester interface {
	// Suggest returns up to max reply suggestions for recent, oldest first, as seen by the
	// user named me.
	Suggest(ctx context.Context, me string, recent []SuggestInput, max int) ([]string, error)
}

// SuggestInput is one recent message given to a Suggester.
type SuggestInput struct {
	Author string
	Text   string
}

// OfflineSuggester is a small deterministic rule-based suggester: it looks at the last
// message not written by the user and matches keyword rules in order.
type OfflineSuggester struct{}

type suggestRule struct {
	keywords []string
	replies  []string
}

// suggestRules are checked in order; the first rule with a matching keyword wins.
var suggestRules = []suggestRule{
	{[]string{"thank"}, []string{"You're welcome!", "Any time.", "Glad to help."}},
	{[]string{"how are you", "how's it going"}, []string{"Doing well, thanks! And you?", "All good here.", "Busy but fine."}},
	{[]string{"hello", "hi ", "hey", "good morning"}, []string{"Hi!", "Hello, how are you?", "Hey there!"}},
	{[]string{"meeting", "call", "sync"}, []string{"Sounds good, I'll be there.", "Can we move it a bit later?", "Could you send the invite?"}},
	{[]string{"bye", "see you", "good night"}, []string{"Bye!", "See you soon.", "Take care!"}},
	{[]string{"sorry"}, []string{"No worries.", "It's fine, really.", "Don't worry about it."}},
	{[]string{"file", "upload", "attach"}, []string{"Got it, thanks for the file.", "I'll take a look.", "Could you resend it?"}},
	{[]string{"when", "what time"}, []string{"How about tomorrow?", "Later today works for me.", "Let me check and get back to you."}},
}

var defaultReplies = []string{"Sounds good.", "Okay!", "Tell me more."}
var questionReplies = []string{"Yes.", "No, I don't think so.", "Let me check and get back to you."}

// Name identifies the suggester in SuggestResponse.source.
func (OfflineSuggester) Name() string { return "offline" }

// Suggest implements Suggester.
func (OfflineSuggester) Suggest(_ context.Context, me string, recent []SuggestInput, max int) ([]string, error) {
	last := ""
	for i := len(recent) - 1; i >= 0; i-- {
		if recent[i].Author != me {
			last = strings.ToLower(recent[i].Text)
			break
		}
	}
	replies := defaultReplies
	switch {
	case last == "":
		replies = []string{"Hi!", "How is everyone?", "Any news?"}
	case matchRule(last) != nil:
		replies = matchRule(last)
	case strings.HasSuffix(strings.TrimSpace(last), "?"):
		replies = questionReplies
	}
	if max > 0 && max < len(replies) {
		replies = replies[:max]
	}
	return append([]string(nil), replies...), nil
}

func matchRule(text string) []string {
	padded := text + " "
	for _, r := range suggestRules {
		for _, k := range r.keywords {
			if strings.Contains(padded, k) {
				return r.replies
			}
		}
	}
	return nil
}
