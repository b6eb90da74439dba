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
