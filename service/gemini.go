package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/genai"
)

// DefaultGeminiModel is the model GeminiSuggester asks when GeminiConfig.Model is empty: a
// fast, inexpensive one, since a suggestion is only useful while the user is still typing.
const DefaultGeminiModel = "gemini-2.5-flash"

// Limits on what is sent to and taken from the model.
const (
	geminiMaxInputRunes    = 500 // of one message in the prompt
	geminiMaxSuggestRunes  = 200 // of one suggestion
	geminiMaxOutputTokens  = 256
	defaultGeminiTimeout   = 5 * time.Second
	defaultGeminiBackoff   = 30 * time.Second
	geminiSuggesterName    = "gemini"
	geminiResponseMIMEType = "application/json"
)

// GeminiConfig configures a GeminiSuggester.
type GeminiConfig struct {
	// APIKey authenticates to the Gemini API (chatd takes it from GEMINI_API_KEY).
	APIKey string
	// Model names the model; empty means DefaultGeminiModel.
	Model string
	// BaseURL replaces the API's address (a proxy, or a fake server in tests); empty means
	// Google's.
	BaseURL string
	// Timeout bounds one request; zero means 5 s.
	Timeout time.Duration
}

// GeminiSuggester asks a Gemini model for reply suggestions. It sends the model the last
// messages of the conversation (each cut to 500 characters) and who is replying, and asks
// for a JSON array of short replies.
type GeminiSuggester struct {
	client  *genai.Client
	model   string
	timeout time.Duration
}

// NewGeminiSuggester returns a GeminiSuggester for cfg. It does not contact the API.
func NewGeminiSuggester(ctx context.Context, cfg GeminiConfig) (*GeminiSuggester, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("gemini: no API key")
	}
	client, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL},
	})
	if err != nil {
		return nil, fmt.Errorf("gemini: %w", err)
	}
	g := &GeminiSuggester{client: client, model: cfg.Model, timeout: cfg.Timeout}
	if g.model == "" {
		g.model = DefaultGeminiModel
	}
	if g.timeout <= 0 {
		g.timeout = defaultGeminiTimeout
	}
	return g, nil
}

// Name identifies the suggester in SuggestResponse.source.
func (g *GeminiSuggester) Name() string { return geminiSuggesterName }

// Suggest implements Suggester.
func (g *GeminiSuggester) Suggest(ctx context.Context, me string, recent []SuggestInput, max int) ([]string, error) {
	if max <= 0 {
		max = 3
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	temperature := float32(0.7)
	cfg := &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText(geminiInstruction(me, max), genai.RoleUser),
		Temperature:       &temperature,
		CandidateCount:    1,
		MaxOutputTokens:   geminiMaxOutputTokens,
		// A schema rather than a request in words: the reply parses as a list of strings.
		ResponseMIMEType: geminiResponseMIMEType,
		ResponseSchema:   &genai.Schema{Type: genai.TypeArray, Items: &genai.Schema{Type: genai.TypeString}},
	}
	resp, err := g.client.Models.GenerateContent(ctx, g.model, genai.Text(geminiTranscript(recent)), cfg)
	if err != nil {
		return nil, fmt.Errorf("gemini %s: %w", g.model, err)
	}
	out, err := parseSuggestions(resp.Text(), max)
	if err != nil {
		return nil, fmt.Errorf("gemini %s: %w", g.model, err)
	}
	return out, nil
}

func geminiInstruction(me string, max int) string {
	return fmt.Sprintf("You suggest replies in a chat application. The user %q is about to answer the "+
		"conversation below. Propose %d short, distinct replies %q might send next, in the "+
		"conversation's language and tone, each under 100 characters. Answer with a JSON array "+
		"of strings and nothing else.", me, max, me)
}

// geminiTranscript renders the recent messages, oldest first, one per line.
func geminiTranscript(recent []SuggestInput) string {
	if len(recent) == 0 {
		return "(The conversation has no messages yet.)"
	}
	var b strings.Builder
	b.WriteString("Conversation, oldest message first:\n")
	for _, m := range recent {
		text := strings.Join(strings.Fields(truncateRunes(m.Text, geminiMaxInputRunes)), " ")
		fmt.Fprintf(&b, "%s: %s\n", m.Author, text)
	}
	return b.String()
}

// parseSuggestions takes up to max distinct, non-empty suggestions from the model's reply,
// a JSON array of strings.
func parseSuggestions(text string, max int) ([]string, error) {
	var raw []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(text)), &raw); err != nil {
		return nil, fmt.Errorf("reply is not a JSON array of strings: %q", truncateRunes(text, 80))
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range raw {
		s = strings.TrimSpace(truncateRunes(strings.Join(strings.Fields(s), " "), geminiMaxSuggestRunes))
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
		if len(out) == max {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("reply holds no suggestion")
	}
	return out, nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// FallbackSuggester asks Primary and, when it fails, Fallback. After a failure Primary is
// left alone for Backoff (30 s if zero), so an unreachable API does not add its timeout
// to every request.
type FallbackSuggester struct {
	Primary, Fallback Suggester
	Backoff           time.Duration
	Logger            *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	skipUntil time.Time
}

// Name identifies the suggester in SuggestResponse.source when the source of one answer
// is not known.
func (f *FallbackSuggester) Name() string { return suggesterName(f.Primary) }

// Suggest implements Suggester.
func (f *FallbackSuggester) Suggest(ctx context.Context, me string, recent []SuggestInput, max int) ([]string, error) {
	out, _, err := f.SuggestFrom(ctx, me, recent, max)
	return out, err
}

// SuggestFrom is Suggest that also names the suggester that answered.
func (f *FallbackSuggester) SuggestFrom(ctx context.Context, me string, recent []SuggestInput, max int) ([]string, string, error) {
	now := f.now()
	f.mu.Lock()
	skip := now.Before(f.skipUntil)
	f.mu.Unlock()
	if !skip {
		out, err := f.Primary.Suggest(ctx, me, recent, max)
		if err == nil {
			return out, suggesterName(f.Primary), nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err() // the caller gave up: not the primary's fault
		}
		backoff := f.Backoff
		if backoff <= 0 {
			backoff = defaultGeminiBackoff
		}
		f.mu.Lock()
		f.skipUntil = f.now().Add(backoff)
		f.mu.Unlock()
		if f.Logger != nil {
			f.Logger.Warn("suggester failed; using the fallback", "suggester", suggesterName(f.Primary),
				"fallback", suggesterName(f.Fallback), "retry_after", backoff, "err", err)
		}
	}
	out, err := f.Fallback.Suggest(ctx, me, recent, max)
	return out, suggesterName(f.Fallback), err
}

func (f *FallbackSuggester) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// suggesterName is s's Name, or "offline" for a suggester without one.
func suggesterName(s Suggester) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "offline"
}
