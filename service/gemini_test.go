package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftchat/raftchat/service"
)

// fakeGemini is a loopback stand-in for the Gemini API's generateContent method. reply
// gives the model's text for a request body; status, if not 200, fails the call instead.
type fakeGemini struct {
	t      *testing.T
	srv    *httptest.Server
	calls  atomic.Int32
	status atomic.Int32
	delay  time.Duration
	reply  func(body string) string
	last   atomic.Value // the last request body, as a string
}

func newFakeGemini(t *testing.T, reply func(body string) string) *fakeGemini {
	f := &fakeGemini{t: t, reply: reply}
	f.status.Store(http.StatusOK)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGemini) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.last.Store(string(body))
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/models/test-model:generateContent") {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Header.Get("x-goog-api-key") != "test-key" {
		http.Error(w, `{"error":{"code":403,"message":"bad key","status":"PERMISSION_DENIED"}}`, http.StatusForbidden)
		return
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if code := int(f.status.Load()); code != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`)
		return
	}
	resp := map[string]any{"candidates": []any{map[string]any{
		"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": f.reply(string(body))}}},
	}}}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeGemini) suggester(t *testing.T, timeout time.Duration) *service.GeminiSuggester {
	t.Helper()
	g, err := service.NewGeminiSuggester(context.Background(), service.GeminiConfig{
		APIKey: "test-key", Model: "test-model", BaseURL: f.srv.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGeminiSuggester(t *testing.T) {
	f := newFakeGemini(t, func(string) string { return `["Yes, at 3", "Yes, at 3", "  ", "Sure,   why not", "Later?"]` })
	g := f.suggester(t, 0)
	recent := []service.SuggestInput{{Author: "bob", Text: "are we\nmeeting today?"}, {Author: "alice", Text: "let me check"}}
	got, err := g.Suggest(context.Background(), "alice", recent, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Duplicates and blanks are dropped, spaces folded, and no more than asked for.
	if want := []string{"Yes, at 3", "Sure, why not"}; !slices.Equal(got, want) {
		t.Fatalf("suggestions %q, want %q", got, want)
	}
	body, _ := f.last.Load().(string)
	var req struct {
		Contents []struct {
			Parts []struct{ Text string } `json:"parts"`
		} `json:"contents"`
		SystemInstruction struct {
			Parts []struct{ Text string } `json:"parts"`
		} `json:"systemInstruction"`
		GenerationConfig struct {
			ResponseMimeType string `json:"responseMimeType"`
		} `json:"generationConfig"`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil || len(req.Contents) != 1 || len(req.SystemInstruction.Parts) != 1 {
		t.Fatalf("request %s: %v", body, err)
	}
	prompt := req.Contents[0].Parts[0].Text
	if !strings.Contains(prompt, "bob: are we meeting today?\nalice: let me check\n") {
		t.Fatalf("prompt does not hold the conversation in order: %q", prompt)
	}
	if sys := req.SystemInstruction.Parts[0].Text; !strings.Contains(sys, `"alice"`) || !strings.Contains(sys, "2 short") {
		t.Fatalf("instruction does not name the user and the count: %q", sys)
	}
	if req.GenerationConfig.ResponseMimeType != "application/json" {
		t.Fatalf("response MIME type %q", req.GenerationConfig.ResponseMimeType)
	}
	if g.Name() != "gemini" {
		t.Fatalf("name %q", g.Name())
	}
}

func TestGeminiSuggesterFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		setup func(f *fakeGemini)
		want  string
	}{
		{"server error", `["x"]`, func(f *fakeGemini) { f.status.Store(http.StatusServiceUnavailable) }, "overloaded"},
		{"prose instead of JSON", "Sure! Here are some ideas: ...", nil, "not a JSON array"},
		{"empty list", `[]`, nil, "no suggestion"},
		{"too slow", `["x"]`, func(f *fakeGemini) { f.delay = 2 * time.Second }, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGemini(t, func(string) string { return tc.reply })
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := f.suggester(t, 200*time.Millisecond).Suggest(context.Background(), "alice", nil, 3)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := service.NewGeminiSuggester(context.Background(), service.GeminiConfig{}); err == nil {
		t.Fatal("a suggester without an API key was built")
	}
}

// While Gemini fails the offline suggester answers, and Gemini is not asked again until the
// backoff has passed.
func TestFallbackSuggester(t *testing.T) {
	f := newFakeGemini(t, func(string) string { return `["From Gemini"]` })
	f.status.Store(http.StatusServiceUnavailable)
	now := time.Unix(1_800_000_000, 0)
	fs := &service.FallbackSuggester{Primary: f.suggester(t, 0), Fallback: service.OfflineSuggester{},
		Backoff: time.Minute, Now: func() time.Time { return now }}
	recent := []service.SuggestInput{{Author: "bob", Text: "thanks!"}}
	suggest := func() ([]string, string) {
		t.Helper()
		out, source, err := fs.SuggestFrom(context.Background(), "alice", recent, 1)
		if err != nil {
			t.Fatal(err)
		}
		return out, source
	}
	if out, source := suggest(); source != "offline" || out[0] != "You're welcome!" || f.calls.Load() != 1 {
		t.Fatalf("with Gemini down: %q from %s after %d calls", out, source, f.calls.Load())
	}
	f.status.Store(http.StatusOK)
	now = now.Add(30 * time.Second)
	if _, source := suggest(); source != "offline" || f.calls.Load() != 1 {
		t.Fatalf("within the backoff: from %s after %d calls", source, f.calls.Load())
	}
	now = now.Add(31 * time.Second)
	if out, source := suggest(); source != "gemini" || out[0] != "From Gemini" || f.calls.Load() != 2 {
		t.Fatalf("after the backoff: %q from %s after %d calls", out, source, f.calls.Load())
	}
	// A caller that gave up gets its own error, not a fallback answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := fs.SuggestFrom(ctx, "alice", recent, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
}

// Through the gRPC service: the response names which suggester answered.
func TestSuggestFromGemini(t *testing.T) {
	f := newFakeGemini(t, func(body string) string {
		if strings.Contains(body, "lunch?") {
			return `["Yes, 12:30?", "Can't today"]`
		}
		return `["?"]`
	})
	fs := &service.FallbackSuggester{Primary: f.suggester(t, 0), Fallback: service.OfflineSuggester{}}
	e := newEnv(t, func(c *service.Config) { c.Suggester = fs })
	alice, bob := e.client("alice"), e.client("bob")
	c := ctx(t)
	m, err := alice.SendDirect(c, "bob", "lunch?")
	if err != nil {
		t.Fatal(err)
	}
	s, err := bob.Suggest(c, m.GetConversationId(), 2)
	if err != nil || s.GetSource() != "gemini" || !slices.Equal(s.GetSuggestions(), []string{"Yes, 12:30?", "Can't today"}) {
		t.Fatalf("suggest: %v %v", s, err)
	}
	f.status.Store(http.StatusServiceUnavailable)
	s, err = bob.Suggest(c, m.GetConversationId(), 2)
	if err != nil || s.GetSource() != "offline" || len(s.GetSuggestions()) != 2 {
		t.Fatalf("suggest with Gemini down: %v %v", s, err)
	}
}
