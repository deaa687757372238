package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// hostileOptions are small limits, so that the tests stay small.
var hostileOptions = Options{
	MaxHeaderBytes:     4096,
	MaxURILength:       1024,
	MaxHeaderCount:     20,
	MaxRequestBodySize: 1024,
	HeaderTimeout:      500 * time.Millisecond,
	BodyTimeout:        500 * time.Millisecond,
}

func TestHostileRequests(t *testing.T) {
	var hits atomic.Int64
	addr := backend(t, countRequests(&hits, echo("b")))
	h := start(t, hostileOptions, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	many := strings.Repeat("X-Many: 1\r\n", 25)
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{"identity and Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", 501},
		{"lower-case framing headers", "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"smuggled request", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"repeated equal Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400},
		{"unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"repeated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
		{"obs-fold with a space", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bad escape in the path", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n", 431},
		{"URI too long", "GET /" + strings.Repeat("u", 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"declared body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + strings.Repeat("b", 2048), 413},
		{"chunked body too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat("3e8\r\n"+strings.Repeat("b", 1000)+"\r\n", 3) + "0\r\n\r\n", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			code, resp := rawExchange(t, h.addr, tt.raw)
			if code != tt.want {
				t.Fatalf("got %q, want %d", resp, tt.want)
			}
			if got := hits.Load(); got != 0 {
				t.Errorf("the upstream saw %d requests", got)
			}
			if strings.Contains(resp, "127.0.0.1") || strings.Contains(resp, "fasthttp") || strings.Contains(resp, "error") {
				t.Errorf("the answer leaks internals: %q", resp)
			}
			if strings.Count(resp, "HTTP/1.1 ") != 1 {
				t.Errorf("more than one answer: %q", resp)
			}
		})
	}
	t.Run("within the limits", func(t *testing.T) {
		code, resp := rawExchange(t, h.addr, "POST /"+strings.Repeat("u", 1000)+" HTTP/1.1\r\nHost: x\r\n"+
			strings.Repeat("X-Many: 1\r\n", 17)+"Content-Length: 1024\r\nConnection: close\r\n\r\n"+strings.Repeat("b", 1024))
		if code != 200 || !strings.Contains(resp, "body=1024") {
			t.Errorf("got %q", resp)
		}
	})
}

// trickle writes raw to c one byte per tick until it is all written or a write fails, and
// reports when it stopped.
func trickle(c net.Conn, raw string, tick time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; i < len(raw); i++ {
			<-tk.C
			if _, err := c.Write([]byte{raw[i]}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// TestSlowClients: clients that send their head or body too slowly are cut off by the read
// timeouts, and do not keep others from being served.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	addr := backend(t, echo("b"))
	h := start(t, hostileOptions, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	tests := []struct {
		name   string
		prefix string // sent at once
		slow   string // sent a byte per tick
		want   int    // the answer, 0 for a silent close
	}{
		{"head a byte at a time", "GET / HTTP/1.1\r\n", strings.Repeat("X-Slow: 1\r\n", 100), 408},
		{"nothing at all", "", "", 408},
		{"body a byte at a time", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "", 408},
		{"streamed body stalls", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("b", 100<<10), "", 408},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := hostileOptions
			opts.MaxRequestBodySize = 0
			h := h
			if strings.Contains(tt.name, "streamed") {
				h = start(t, opts, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
			}
			// Many slow clients at once...
			var conns []net.Conn
			for i := 0; i < 20; i++ {
				c, err := net.Dial("tcp", h.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(waitFor))
				if _, err := io.WriteString(c, tt.prefix); err != nil {
					t.Fatal(err)
				}
				if tt.slow != "" {
					trickle(c, tt.slow, 100*time.Millisecond)
				}
				conns = append(conns, c)
			}
			// ...do not keep a normal one from being served.
			resp, body := get(t, h.base+"/normal")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("normal client got %d %q", resp.StatusCode, body)
			}
			// And each of them is cut off well before it is done.
			began := time.Now()
			for _, c := range conns {
				b, _ := io.ReadAll(c)
				if got := statusOf(string(b)); got != tt.want {
					t.Errorf("slow client got %q, want %d", b, tt.want)
				}
			}
			if d := time.Since(began); d > waitFor/2 {
				t.Errorf("slow clients held on for %v", d)
			}
		})
	}
}

// TestRejectWhileUploading: a client still sending a body the proxy refuses gets the refusal,
// not a reset (the connection lingers, as nginx's does).
func TestRejectWhileUploading(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{MaxRequestBodySize: 1 << 20}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	tests := []struct {
		name, head string
		body       io.Reader
	}{
		{"declared", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n", newPattern(16 << 20)},
		{"chunked", "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			io.MultiReader(strings.NewReader("1000000\r\n"), newPattern(16<<20), strings.NewReader("\r\n0\r\n\r\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitFor))
			// Like curl, send everything before reading: without lingering, the reset that
			// answers the unread body would destroy the answer waiting in the client's buffer.
			_, _ = io.WriteString(c, tt.head)
			if _, err := io.Copy(c, tt.body); err != nil {
				t.Errorf("upload cut short: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("got %d, want 413", resp.StatusCode)
			}
		})
	}
}
