package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// holdSizes are response bodies around fasthttp's 4 KiB write buffer and the hold's limits, up
// to one past ResponseBufferSize (streamed, not held).
var holdSizes = []int{0, 100, holdMinBody - 1, holdMinBody, 3500, 3900, 4000, 4096, 4097, 5000,
	8192, 16385, 64 << 10, 64<<10 + 1, 70000}

// heldBody is a 16 KiB body: larger than fasthttp's write buffer, held in memory by the proxy.
func heldBody() []byte { return bytes.Repeat([]byte("0123456789abcdef"), 1024) }

// sizedBody is the body /size/N answers: N bytes that differ with N and position.
func sizedBody(n int) []byte { return seededBody(0, n) }

// seededBody is the body /size/N/SEED answers: sizedBody's pattern shifted by the seed, which
// its first bytes spell, so that a response carrying another request's bytes shows.
func seededBody(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7+seed*3+n)%26)
	}
	if seed != 0 {
		copy(b, fmt.Sprintf("%08d", seed))
	}
	return b
}

// sizedBackend answers /size/N with sizedBody(N) and /size/N/SEED with seededBody(SEED, N),
// their length declared.
func sizedBackend(t testing.TB) string {
	t.Helper()
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, seed, seeded := strings.Cut(strings.TrimPrefix(r.URL.Path, "/size/"), "/")
		n, err := strconv.Atoi(size)
		s := 0
		if err == nil && seeded {
			s, err = strconv.Atoi(seed)
		}
		if err != nil {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(seededBody(s, n))
	}))
}

// readSized reads one response to GET (or HEAD) /size/n from br and checks it.
func readSized(t *testing.T, br *bufio.Reader, method string, n int) {
	t.Helper()
	readSeeded(t, br, method, 0, n)
}

// readSeeded reads one response to GET (or HEAD) /size/n/seed from br and checks it.
func readSeeded(t *testing.T, br *bufio.Reader, method string, seed, n int) {
	t.Helper()
	path := fmt.Sprintf("%s /size/%d/%d", method, n, seed)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: reading the response: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: reading the body: %v", path, err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", path, resp.StatusCode)
	}
	want := seededBody(seed, n)
	if method == http.MethodHead {
		want = nil
		if resp.ContentLength != int64(n) {
			t.Errorf("%s: Content-Length %d", path, resp.ContentLength)
		}
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("%s: %d bytes starting %q differ from the upstream's %d", path, len(b), b[:min(len(b), 8)], len(want))
	}
}

func sizedRequest(method string, n int, close bool) string {
	s := fmt.Sprintf("%s /size/%d HTTP/1.1\r\nHost: h\r\n", method, n)
	if close {
		s += "Connection: close\r\n"
	}
	return s + "\r\n"
}

// TestHeldResponses: responses around the write buffer's size, whose head and body the hold
// sends in one write, reach the client byte for byte: one after another on a keep-alive
// connection, pipelined, as answers to HEAD, before a close, and over TLS.
func TestHeldResponses(t *testing.T) {
	be := sizedBackend(t)
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/size/*", "", "", be))

	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(waitFor))
		return c, bufio.NewReader(c)
	}
	t.Run("keep-alive", func(t *testing.T) {
		c, br := dial(t)
		for _, n := range holdSizes {
			if _, err := io.WriteString(c, sizedRequest("GET", n, false)); err != nil {
				t.Fatal(err)
			}
			readSized(t, br, "GET", n)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		c, br := dial(t)
		var all strings.Builder
		for _, n := range holdSizes {
			all.WriteString(sizedRequest("GET", n, false))
			all.WriteString(sizedRequest("HEAD", n, false))
		}
		go func() { _, _ = io.WriteString(c, all.String()) }()
		for _, n := range holdSizes {
			readSized(t, br, "GET", n)
			readSized(t, br, "HEAD", n)
		}
	})
	t.Run("close", func(t *testing.T) {
		for _, n := range []int{holdMinBody, 3900, 5000, 64 << 10} {
			c, br := dial(t)
			if _, err := io.WriteString(c, sizedRequest("GET", n, true)); err != nil {
				t.Fatal(err)
			}
			readSized(t, br, "GET", n)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the response to a close: %v, want EOF", err)
			}
		}
	})
	t.Run("tls", func(t *testing.T) {
		cert, key := tu.Cert(t, tu.ECDSA, "a.example")
		th := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, cert, key),
			"/apisix/routes/1", route("/size/*", "", "", be))
		cl := th.client(true)
		for _, n := range holdSizes {
			code, body, _ := httpsGet(t, cl, "https://a.example/size/"+strconv.Itoa(n))
			if code != 200 || body != string(sizedBody(n)) {
				t.Fatalf("GET /size/%d over TLS = %d and %d bytes, want 200 and the upstream's body", n, code, len(body))
			}
		}
	})
}

// TestHoldKeepsOrder: held bytes go out before whatever the connection sends or does next.
func TestHoldKeepsOrder(t *testing.T) {
	ops := map[string]func(c *lazyConn) error{
		"write": func(c *lazyConn) error { _, err := c.Write([]byte("<next>")); return err },
		"large write": func(c *lazyConn) error {
			_, err := c.Write(bytes.Repeat([]byte("L"), 100<<10))
			return err
		},
		"ReadFrom":   func(c *lazyConn) error { _, err := c.ReadFrom(strings.NewReader("<from>")); return err },
		"CloseWrite": func(c *lazyConn) error { return c.CloseWrite() },
		"Close":      func(c *lazyConn) error { return c.Close() },
		"Read": func(c *lazyConn) error {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = c.Read(make([]byte, 1)) // nothing comes: it times out, having sent the held bytes
			return nil
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			client, server := tu.TCPPair(t)
			defer client.Close()
			c := &lazyConn{TCPConn: server.(*net.TCPConn)}
			defer c.TCPConn.Close()
			got := make(chan []byte, 1)
			go func() {
				_ = client.SetReadDeadline(time.Now().Add(waitFor))
				var b []byte
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					b = append(b, buf[:n]...)
					if err != nil || (name == "Read" && len(b) >= 4000) {
						break
					}
				}
				got <- b
			}()
			c.hold.Store(holdArmed)
			held := bytes.Repeat([]byte("H"), 4000)
			if n, err := c.Write(held); n != len(held) || err != nil {
				t.Fatalf("held write = %d, %v", n, err)
			}
			if c.hold.Load() != holdPending {
				t.Fatalf("hold state %d after the held write, want pending", c.hold.Load())
			}
			if err := op(c); err != nil {
				t.Fatal(err)
			}
			if c.hold.Load() != holdNone || c.held != nil {
				t.Errorf("hold state %d after %s, want none and nothing held", c.hold.Load(), name)
			}
			if name != "Read" && name != "CloseWrite" && name != "Close" {
				_ = c.TCPConn.CloseWrite()
			}
			b := <-got
			if !bytes.HasPrefix(b, held) {
				t.Fatalf("the peer got %d bytes not starting with the held %d", len(b), len(held))
			}
			switch name {
			case "write":
				if string(b[len(held):]) != "<next>" {
					t.Errorf("after the held bytes %q, want %q", b[len(held):], "<next>")
				}
			case "ReadFrom":
				if string(b[len(held):]) != "<from>" {
					t.Errorf("after the held bytes %q, want %q", b[len(held):], "<from>")
				}
			case "large write":
				if len(b) != len(held)+100<<10 {
					t.Errorf("the peer got %d bytes, want %d", len(b), len(held)+100<<10)
				}
			}
		})
	}
	t.Run("too large to hold", func(t *testing.T) {
		client, server := tu.TCPPair(t)
		defer client.Close()
		c := &lazyConn{TCPConn: server.(*net.TCPConn)}
		defer c.TCPConn.Close()
		c.hold.Store(holdArmed)
		if _, err := c.Write(bytes.Repeat([]byte("x"), holdMax+1)); err != nil {
			t.Fatal(err)
		}
		if c.hold.Load() != holdNone {
			t.Errorf("hold state %d after a write over holdMax, want none (sent at once)", c.hold.Load())
		}
		_ = client.SetReadDeadline(time.Now().Add(waitFor))
		if _, err := io.ReadFull(client, make([]byte, holdMax+1)); err != nil {
			t.Fatalf("the write over holdMax did not arrive: %v", err)
		}
	})
}
