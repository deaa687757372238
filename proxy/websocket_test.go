package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// wsBackend accepts an upgrade: it answers 101, greets with "hi!" in the same write, then echoes
// everything upper-cased. A request without Upgrade gets a 200 saying what it saw. closed
// counts tunnels whose client side ended.
func wsBackend(t *testing.T, closed *atomic.Int64) string {
	return rawBackend(t, nil, func(c net.Conn) {
		br := bufio.NewReader(c)
		tp := textproto.NewReader(br)
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		if hdr.Get("Upgrade") == "" {
			body := fmt.Sprintf("plain %s upgrade=%q connection=%q", line, hdr.Get("Upgrade"), hdr.Get("Connection"))
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\nX-Saw-Connection: %s\r\n"+
			"X-Saw-Forwarded-For: %s\r\n\r\nhi!", hdr.Get("Upgrade"), hdr.Get("Connection"), hdr.Get("X-Forwarded-For"))
		_ = c.SetDeadline(time.Time{})
		buf := make([]byte, 1024)
		for {
			n, err := br.Read(buf)
			if n > 0 {
				if _, werr := c.Write(bytes.ToUpper(buf[:n])); werr != nil {
					return
				}
			}
			if err != nil {
				if closed != nil {
					closed.Add(1)
				}
				return
			}
		}
	})
}

const wsHandshake = "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dialWS performs the handshake, sending "early" right behind it, and returns the connection
// with the response head read.
func dialWS(t *testing.T, addr, path string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := fmt.Fprintf(c, wsHandshake+"early", path); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the handshake answer: %v (%q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return c, br, head.String()
		}
	}
}

func TestWebSocket(t *testing.T) {
	var closed atomic.Int64
	addr := wsBackend(t, &closed)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/ws", route("/ws", `"enable_websocket":true`, "", addr),
		"/apisix/routes/plain", route("/plain", "", "", addr),
		"/apisix/services/1", fmt.Sprintf(`{"enable_websocket":true,"upstream":{"nodes":{%q:1}}}`, addr),
		"/apisix/routes/svc", `{"uri":"/svc","service_id":"1"}`,
		// Issue 20 item 15: the service's enable_websocket holds for a route with its own upstream.
		"/apisix/services/2", `{"enable_websocket":true}`,
		"/apisix/routes/svc-own", route("/svc-own", `"service_id":"2"`, "", addr),
	)
	for _, path := range []string{"/ws", "/svc", "/svc-own"} {
		t.Run("tunnel "+path, func(t *testing.T) {
			c, br, head := dialWS(t, h.addr, path)
			for _, want := range []string{"HTTP/1.1 101 Switching Protocols\r\n", "Upgrade: websocket\r\n",
				"X-Saw-Connection: upgrade\r\n", "X-Saw-Forwarded-For: 127.0.0.1\r\n", "Server: zoneproxy\r\n"} {
				if !strings.Contains(head, want) {
					t.Errorf("handshake answer %q lacks %q", head, want)
				}
			}
			// The upstream's greeting came in the same packet as its 101; the client's early bytes
			// went with its handshake. Neither is lost.
			want := "hi!EARLY"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
				t.Fatalf("got %q (%v), want %q", got, err, want)
			}
			for _, msg := range []string{"hello", "again"} {
				if _, err := io.WriteString(c, msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(br, got); err != nil || string(got) != strings.ToUpper(msg) {
					t.Fatalf("got %q (%v), want %q", got, err, strings.ToUpper(msg))
				}
			}
			before := closed.Load()
			c.Close()
			poll(t, "the upstream side to end", func() bool { return closed.Load() > before })
			poll(t, "the tunnel to be forgotten", func() bool { return h.p.tr.Tunnels() == 0 })
		})
	}
	t.Run("not allowed without enable_websocket", func(t *testing.T) {
		_, br, head := dialWS(t, h.addr, "/plain")
		_, rest, _ := strings.Cut(head, "Content-Length: ")
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, '\r')])
		body := make([]byte, n)
		_, _ = io.ReadFull(br, body)
		if !strings.HasPrefix(head, "HTTP/1.1 200 ") || !strings.Contains(string(body), `upgrade=""`) {
			t.Errorf("got %q %q, want a plain 200 and no Upgrade upstream", head, body)
		}
	})
	t.Run("shutdown ends tunnels", func(t *testing.T) {
		c, br, _ := dialWS(t, h.addr, "/ws")
		if _, err := io.ReadFull(br, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := h.p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		if n, err := br.Read(make([]byte, 1)); err == nil {
			t.Errorf("read %d bytes from a tunnel after Shutdown", n)
		}
	})
}
