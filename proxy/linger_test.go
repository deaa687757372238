package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestLingerHalfCloses: a refused upload is answered, then the proxy half-closes the connection
// (nginx's lingering close: shutdown(SHUT_WR), then drain), so a client that stopped sending
// but keeps its end open reads the answer and an end of file at once, not after
// lingerTimeout. With metrics on, the connection is wrapped twice (counted, lazy deadlines);
// the half-close must find the socket under them.
func TestLingerHalfCloses(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, withMetrics := range []bool{false, true} {
		opts := Options{MaxRequestBodySize: 1 << 10}
		name := "plain"
		if withMetrics {
			opts.Metrics, name = m, "metrics"
		}
		t.Run(name, func(t *testing.T) {
			addr := backend(t, echo("b"))
			h := start(t, opts, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Well before lingerTimeout: an end of file only the half-close can bring.
			_ = c.SetDeadline(time.Now().Add(lingerTimeout - time.Second))
			head := "PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			if _, err := io.WriteString(c, head+"800\r\n"+strings.Repeat("a", 2048)+"\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("got %d, want 413", resp.StatusCode)
			}
			_, err = br.ReadByte()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("no end of file after the answer: the proxy did not half-close")
			}
			if err != io.EOF {
				t.Fatalf("after the answer: %v, want an end of file", err)
			}
		})
	}
}
