package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startChatd runs the command line in the background until the test ends, and waits for
// stdout to contain ready.
func startChatd(t *testing.T, ready string, args ...string) (stdout *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, stdout, stderr) }()
	var once sync.Once
	var exit int
	stop = func() int {
		once.Do(func() {
			cancel()
			exit = <-code
		})
		return exit
	}
	t.Cleanup(func() { stop() })
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), ready) {
		select {
		case c := <-code:
			t.Fatalf("chatd exited with %d before it was ready:\n%s\n%s", c, stdout, stderr)
		case <-deadline:
			t.Fatalf("chatd not ready:\n%s\n%s", stdout, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return stdout, stop
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// healthStatus reads the server's overall health through the Watch stream. (Check would do,
// but the ChatService's unary request validator currently rejects every non-chat request.)
func healthStatus(t *testing.T, conn *grpc.ClientConn) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("health watch: %v", err)
	}
	return resp.GetStatus()
}

// listServices asks the server's reflection service what it serves, as grpcurl list does.
func listServices(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: ""}}
	if err := st.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

func TestDevClusterServesHealthAndReflection(t *testing.T) {
	out, stop := startChatd(t, "Ctrl-C", "dev", "--base-port", "0", "--admin-password", "correct-horse")
	addrs := regexp.MustCompile(`client (127\.0\.0\.1:\d+)`).FindAllStringSubmatch(out.String(), -1)
	if len(addrs) != 3 {
		t.Fatalf("want 3 client addresses in:\n%s", out)
	}
	dir := regexp.MustCompile(`data in (\S+)`).FindStringSubmatch(out.String())[1]
	for _, a := range addrs {
		conn := dial(t, a[1])
		if st := healthStatus(t, conn); st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %s: %v", a[1], st)
		}
		names := listServices(t, conn)
		for _, want := range []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
			if !slices.Contains(names, want) {
				t.Fatalf("%s does not list %s: %v", a[1], want, names)
			}
		}
		if !slices.ContainsFunc(names, func(s string) bool { return strings.HasSuffix(s, ".ChatService") }) {
			t.Fatalf("%s does not list the ChatService: %v", a[1], names)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("dev exited with %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir %s left behind: %v", dir, err)
	}
}

func TestRunSingleNode(t *testing.T) {
	dir := t.TempDir()
	out, stop := startChatd(t, "metrics: ", "run", "--id", "1", "--data-dir", dir,
		"--client-addr", "127.0.0.1:0", "--cluster", "1=127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--admin-password", "correct-horse", "--log-level", "error")
	addr := regexp.MustCompile(`clients (127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())[1]
	if st := healthStatus(t, dial(t, addr)); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v", st)
	}
	// The single node elects itself and bootstraps; the metrics say so.
	metrics := regexp.MustCompile(`metrics: (\S+)`).FindStringSubmatch(out.String())[1]
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(scrape(t, metrics), `raftchat_is_leader{node="1"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("node never reported leadership:\n%s", scrape(t, metrics))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"raftchat_term", "raftchat_commit_index", "raftchat_applied_index",
		"raftchat_fsync_seconds_bucket", "raftchat_apply_lag_entries", "raftchat_proposals_total"} {
		if !strings.Contains(scrape(t, metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("run exited with %d", code)
	}
	if _, err := os.Stat(dir + "/LOCK"); err != nil {
		t.Fatalf("data dir not used: %v", err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "")
	for _, args := range [][]string{
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "1=a:1", "--suggester", "psychic"},
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "1=a:1", "--suggester", "gemini"}, // no key
		{"run"},
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "1=a:1,1=b:2"},
		{"run", "--id", "2", "--data-dir", "d", "--cluster", "1=a:1"},
		{"run", "--id", "2", "--join", "--data-dir", "d", "--cluster", "1=a:1"}, // --join needs --peer-addr then
		{"run", "--id", "2", "--join", "--data-dir", "d", "--peer-addr", "b:2"}, // and --cluster
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "x"},
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "1=a:1", "--tls-cert", "only-a-cert.pem"},
		{"run", "--id", "1", "--data-dir", "d", "--cluster", "1=a:1", "--log-format", "xml"},
		{"dev", "--nodes", "0"},
		{"dev", "--user-rate", "0"},
		{"dev", "--user-rate", "-5"},
		{"dev", "--election-ticks", "2", "--heartbeat-ticks", "2"}, // the election timeout must exceed the heartbeat
		{"bogus"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut.String())
		}
	}
}
