package accesslog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

// waitTimeout bounds every wait for the logger's goroutine.
const waitTimeout = 10 * time.Second

// start runs l until the test ends.
func start(t *testing.T, l *accesslog.Logger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

var fixedTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// TestRequests sends a sequence of requests to a fasthttp server whose handler logs each one, and
// checks the lines in both formats.
func TestRequests(t *testing.T) {
	type request struct {
		method, uri, body string
		headers           map[string]string
	}
	reqs := []request{
		{"GET", "/a?x=1", "", map[string]string{"User-Agent": "ua/1", "Referer": "http://r/", "X-Request-Id": "id-1",
			"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw"))}},
		{"POST", "/b", "hello", map[string]string{"User-Agent": "ua/2"}},
		{"HEAD", "/a", "", map[string]string{"User-Agent": "ua/3"}},
		{"GET", "/missing", "", map[string]string{"User-Agent": "ua/4"}},
	}
	tests := []struct {
		name  string
		opts  accesslog.Options
		lines []string
	}{
		{"combined", accesslog.Options{Location: time.UTC}, []string{
			`127.0.0.1 - alice [04/Mar/2026:05:06:07 +0000] "GET /a?x=1 HTTP/1.1" 200 5 "http://r/" "ua/1"`,
			`127.0.0.1 - - [04/Mar/2026:05:06:07 +0000] "POST /b HTTP/1.1" 201 10 "-" "ua/2"`,
			`127.0.0.1 - - [04/Mar/2026:05:06:07 +0000] "HEAD /a HTTP/1.1" 200 0 "-" "ua/3"`,
			`127.0.0.1 - - [04/Mar/2026:05:06:07 +0000] "GET /missing HTTP/1.1" 404 19 "-" "ua/4"`,
		}},
		{"json", accesslog.Options{Format: accesslog.FormatJSON, Location: time.UTC}, []string{
			`{"time":"2026-03-04T05:06:07.000Z","remote_addr":"127.0.0.1","method":"GET","uri":"/a?x=1","status":200,"bytes":5,` +
				`"request_time":0.003,"upstream_addr":"10.0.0.1:80","upstream_status":200,"upstream_response_time":0.002,"route_id":"r1","request_id":"id-1"}`,
			`{"time":"2026-03-04T05:06:07.000Z","remote_addr":"127.0.0.1","method":"POST","uri":"/b","status":201,"bytes":10,` +
				`"request_time":0.003,"upstream_addr":"10.0.0.1:80","upstream_status":201,"upstream_response_time":0.002,"route_id":"r1","request_id":null}`,
			`{"time":"2026-03-04T05:06:07.000Z","remote_addr":"127.0.0.1","method":"HEAD","uri":"/a","status":200,"bytes":0,` +
				`"request_time":0.003,"upstream_addr":"10.0.0.1:80","upstream_status":200,"upstream_response_time":0.002,"route_id":"r1","request_id":null}`,
			`{"time":"2026-03-04T05:06:07.000Z","remote_addr":"127.0.0.1","method":"GET","uri":"/missing","status":404,"bytes":19,` +
				`"request_time":0.003,"upstream_addr":null,"upstream_status":null,"upstream_response_time":null,"route_id":null,"request_id":null}`,
		}},
		{"json fields", accesslog.Options{Format: accesslog.FormatJSON, Fields: []string{"status", "uri", "remote_user"}}, []string{
			`{"status":200,"uri":"/a?x=1","remote_user":"alice"}`,
			`{"status":201,"uri":"/b","remote_user":null}`,
			`{"status":200,"uri":"/a","remote_user":null}`,
			`{"status":404,"uri":"/missing","remote_user":null}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out testutil.Buffer
			opts := tt.opts
			opts.Writer = &out
			l, err := accesslog.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			start(t, l)
			addr := serveLogged(t, l)
			for _, r := range reqs {
				do(t, addr, r.method, r.uri, r.body, r.headers)
			}
			testutil.WaitFor(t, "every line", waitTimeout, func() bool { return l.Written() == uint64(len(reqs)) })
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(got) != len(tt.lines) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tt.lines), out.String())
			}
			for i := range got {
				if got[i] != tt.lines[i] {
					t.Errorf("line %d:\ngot  %s\nwant %s", i, got[i], tt.lines[i])
				}
				if opts.Format == accesslog.FormatJSON && !json.Valid([]byte(got[i])) {
					t.Errorf("line %d is not JSON", i)
				}
			}
			if l.Dropped() != 0 {
				t.Errorf("%d lines dropped", l.Dropped())
			}
		})
	}
}

// serveLogged serves requests on a loopback port: /missing gets 404 without an upstream, anything
// else echoes its body twice as if proxied, with status 201 for a POST; each is logged.
func serveLogged(t *testing.T, l *accesslog.Logger) string {
	t.Helper()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var rec accesslog.Record
		if string(ctx.Path()) == "/missing" {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			ctx.SetBodyString("404 Route Not Found")
		} else {
			if ctx.IsPost() {
				ctx.SetStatusCode(fasthttp.StatusCreated)
			}
			ctx.SetBodyString("hello" + string(ctx.PostBody()))
			rec.UpstreamAddr = []byte("10.0.0.1:80")
			rec.UpstreamStatus = ctx.Response.StatusCode()
			rec.UpstreamTime = 2 * time.Millisecond
			rec.RouteID = "r1"
		}
		rec.FromCtx(ctx)
		rec.Time = fixedTime
		rec.RequestTime = 3 * time.Millisecond
		l.Log(&rec)
	}}
	ln := testutil.Listen(t)
	testutil.Serve(t, srv, ln)
	return ln.Addr().String()
}

// do sends one request on its own connection and reads the answer.
func do(t *testing.T, addr, method, uri, body string, headers map[string]string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\nConnection: close\r\n", method, uri, len(body))
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n" + body)
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	resp.SkipBody = method == "HEAD"
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
}

// blockingWriter blocks every Write until released, telling when one starts.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestDropWhenFull(t *testing.T) {
	const size = 4
	tests := []struct {
		name      string
		extra     int // lines logged while the writer is blocked, beyond what the buffers hold
		wantDrops uint64
	}{
		{"exactly full", 0, 0},
		{"overflow", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &blockingWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
			l, err := accesslog.New(accesslog.Options{Writer: w, BufferLines: size})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()

			rec := accesslog.Record{Time: fixedTime, Method: []byte("GET"), URI: []byte("/"), Status: 200}
			l.Log(&rec)
			<-w.entered // the writer holds the first line and is stuck in Write
			for range size + tt.extra {
				l.Log(&rec) // must not block
			}
			if got := l.Dropped(); got != tt.wantDrops {
				t.Errorf("dropped %d, want %d", got, tt.wantDrops)
			}
			close(w.release)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got, want := l.Written(), uint64(1+size); got != want {
				t.Errorf("written %d, want %d", got, want)
			}
			if got, want := strings.Count(w.buf.String(), "\n"), 1+size; got != want {
				t.Errorf("%d lines in the output, want %d", got, want)
			}
		})
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := accesslog.New(accesslog.Options{Output: path})
	if err != nil {
		t.Fatal(err)
	}
	start(t, l)
	line := func(uri string) {
		rec := accesslog.Record{Time: fixedTime, Method: []byte("GET"), URI: []byte(uri), Status: 200}
		l.Log(&rec)
	}
	contains := func(p, s string) bool {
		b, err := os.ReadFile(p)
		return err == nil && strings.Contains(string(b), s)
	}
	line("/first")
	testutil.WaitFor(t, "first line", waitTimeout, func() bool { return contains(path, "/first") })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	line("/before-reopen") // still goes to the renamed file
	testutil.WaitFor(t, "second line", waitTimeout, func() bool { return l.Written() == 2 })
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	line("/after-reopen")
	testutil.WaitFor(t, "third line", waitTimeout, func() bool { return contains(path, "/after-reopen") })

	tests := []struct {
		name, file string
		want       []string
	}{
		{"rotated file", path + ".1", []string{"/first", "/before-reopen"}},
		{"new file", path, []string{"/after-reopen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), b)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], `"GET `+w+` HTTP`) && !strings.Contains(lines[i], `"GET `+w+`"`) {
					t.Errorf("line %d = %q, want the request %s", i, lines[i], w)
				}
			}
		})
	}
	t.Run("stdout is not reopened", func(t *testing.T) {
		l, err := accesslog.New(accesslog.Options{Output: "stdout"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Reopen(); err != nil {
			t.Errorf("Reopen: %v", err)
		}
	})
}

func TestLifecycle(t *testing.T) {
	var out testutil.Buffer
	l, err := accesslog.New(accesslog.Options{Writer: &out})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	rec := accesslog.Record{Time: fixedTime, Method: []byte("GET"), URI: []byte("/"), Status: 200}
	l.Log(&rec)
	testutil.WaitFor(t, "the line to be written", waitTimeout, func() bool { return l.Written() == 1 })

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waited for Run; the goroutine around it only has its result to hand over.
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	tests := []struct {
		name  string
		check func() error
	}{
		{"second Close", l.Close},
		{"Run after Close", func() error {
			if err := l.Run(context.Background()); !errors.Is(err, accesslog.ErrClosed) {
				return fmt.Errorf("got %v, want ErrClosed", err)
			}
			return nil
		}},
		{"Log after Close drops", func() error {
			l.Log(&rec)
			if l.Dropped() != 1 {
				return fmt.Errorf("dropped %d, want 1", l.Dropped())
			}
			return nil
		}},
		{"no goroutine left", func() error {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			if strings.Contains(stacks, "accesslog.(*Logger)") {
				return fmt.Errorf("a goroutine is still in the Logger:\n%s", stacks)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestNilLogger(t *testing.T) {
	var l *accesslog.Logger
	rec := accesslog.Record{Status: 200}
	l.Log(&rec)
	tests := []struct {
		name string
		err  error
	}{
		{"Run", l.Run(context.Background())},
		{"Reopen", l.Reopen()},
		{"Close", l.Close()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil {
				t.Errorf("got %v", tt.err)
			}
		})
	}
	if l.Dropped() != 0 || l.Written() != 0 {
		t.Errorf("a nil Logger counted lines")
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts accesslog.Options
		want string // regexp the error must match
	}{
		{"unknown format", accesslog.Options{Format: "xml"}, `format "xml"`},
		{"fields with combined", accesslog.Options{Fields: []string{"status"}}, `fields`},
		{"unknown field", accesslog.Options{Format: "json", Fields: []string{"status", "colour"}}, `fields\[1\] "colour"`},
		{"duplicate field", accesslog.Options{Format: "json", Fields: []string{"uri", "uri"}}, `fields\[1\] "uri": listed twice`},
		{"negative buffer", accesslog.Options{BufferLines: -1}, `buffer_lines`},
		{"unwritable output", accesslog.Options{Output: filepath.Join(t.TempDir(), "no", "such", "dir", "a.log")}, `output ".*a\.log"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := accesslog.New(tt.opts)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("error %q does not match %q", err, tt.want)
			}
		})
	}
}

// TestConcurrentLog logs from several goroutines at once (testutil.Concurrently: none finishes
// before every other has logged its share) into a small ring, so that it wraps around many times
// and may fill up: every line is either written whole, once, or counted as dropped.
func TestConcurrentLog(t *testing.T) {
	const workers, each = 8, 500
	var out testutil.Buffer
	l, err := accesslog.New(accesslog.Options{Writer: &out, BufferLines: 64, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var logged atomic.Uint64
	testutil.Concurrently(workers, each, func(w, i int) bool {
		rec := accesslog.Record{Time: fixedTime, Method: []byte("GET"),
			URI: fmt.Appendf(nil, "/w%d/%d", w, i), Status: 200}
		l.Log(&rec)
		logged.Add(1)
		return true
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if out.String() == "" {
		lines = nil
	}
	line := regexp.MustCompile(`^- - - \[04/Mar/2026:05:06:07 \+0000\] "GET (/w\d+/\d+)" 200 0 "-" "-"$`)
	seen := make(map[string]bool)
	tests := []struct {
		name string
		ok   func() error
	}{
		{"accounted", func() error {
			if got := l.Written() + l.Dropped(); got != logged.Load() {
				return fmt.Errorf("written %d + dropped %d = %d, want the %d lines logged", l.Written(), l.Dropped(), got, logged.Load())
			}
			return nil
		}},
		{"written count", func() error {
			if uint64(len(lines)) != l.Written() {
				return fmt.Errorf("%d lines in the output, Written says %d", len(lines), l.Written())
			}
			return nil
		}},
		{"lines whole and unique", func() error {
			for _, s := range lines {
				m := line.FindStringSubmatch(s)
				if m == nil {
					return fmt.Errorf("malformed line %q", s)
				}
				if seen[m[1]] {
					return fmt.Errorf("line %q written twice", s)
				}
				seen[m[1]] = true
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ok(); err != nil {
				t.Error(err)
			}
		})
	}
}
