package service

import (
	"context"
	"strings"
	"testing"
)

func TestOfflineSuggester(t *testing.T) {
	cases := []struct {
		recent []SuggestInput
		want   string // the first suggestion
	}{
		{nil, "Hi!"},
		{[]SuggestInput{{"alice", "Thanks a lot"}}, "You're welcome!"},
		{[]SuggestInput{{"alice", "hello bob, how are you?"}}, "Doing well, thanks! And you?"},
		{[]SuggestInput{{"alice", "Hey"}}, "Hi!"},
		{[]SuggestInput{{"alice", "is the build green?"}}, "Yes."},
		{[]SuggestInput{{"alice", "see you tomorrow"}, {"me", "ok"}}, "Bye!"}, // my own message is skipped
		{[]SuggestInput{{"alice", "the weather"}}, "Sounds good."},
	}
	for _, tc := range cases {
		got, err := OfflineSuggester{}.Suggest(context.Background(), "me", tc.recent, 2)
		if err != nil || len(got) != 2 || got[0] != tc.want {
			t.Errorf("Suggest(%v) = %v, %v; want first %q", tc.recent, got, err, tc.want)
		}
	}
	// Deterministic and not aliasing the rule table.
	a, _ := OfflineSuggester{}.Suggest(context.Background(), "me", nil, 3)
	a[0] = strings.ToUpper(a[0])
	b, _ := OfflineSuggester{}.Suggest(context.Background(), "me", nil, 3)
	if b[0] != "Hi!" {
		t.Fatalf("suggestions alias shared state: %v", b)
	}
}

// FuzzParseSuggestions: whatever the model answers, the parser returns an error or between
// one and max distinct, non-empty suggestions of at most 200 characters, with no runs of
// white space.
func FuzzParseSuggestions(f *testing.F) {
	for _, s := range []string{`["` + strings.Repeat("a", 199) + ` b"]`, `["a","b"]`, `[]`, `["x","x"," "]`, `not json`, `["` + strings.Repeat("é", 300) + `"]`, `[1,2]`, `null`} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, text string, max int) {
		if max < 1 || max > 10 {
			return
		}
		out, err := parseSuggestions(text, max)
		if err != nil {
			return
		}
		if len(out) == 0 || len(out) > max {
			t.Fatalf("%d suggestions for max %d", len(out), max)
		}
		seen := map[string]bool{}
		for _, s := range out {
			if s == "" || seen[s] || len([]rune(s)) > geminiMaxSuggestRunes || strings.Join(strings.Fields(s), " ") != s {
				t.Fatalf("bad suggestion %q in %q", s, out)
			}
			seen[s] = true
		}
	})
}
