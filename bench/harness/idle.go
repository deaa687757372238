package harness

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// IdleResult is what holding idle keep-alive connections cost a server: its RSS before any of them
// was opened, with all of them open (each after one request), and the difference per connection.
type IdleResult struct {
	Conns      int     `json:"conns"`
	BeforeMiB  float64 `json:"rss_before_mib"`
	AfterMiB   float64 `json:"rss_after_mib"`
	KiBPerConn float64 `json:"kib_per_conn"`
}

// idleOpeners open the idle connections concurrently.
const idleOpeners = 32

// idleFor is how long the connections idle before the server's RSS is read: an idle connection
// is one that has been idle a while. zoneproxy parks a connection idle for 1 s (no goroutine, no
// buffers) and hands the memory back once no connection has been parked for 5 s; nginx keeps no
// buffer for an idle connection from the start.
const idleFor = 8 * time.Second

// measureIdle opens n connections to s (over TLS when its URL is https), sends the scenario's request on each and reads the response,
// keeps them all open and idle for idleFor and while the server's RSS settles, and closes them.
func measureIdle(ctx context.Context, s *server, path string, headers []string, n int) (IdleResult, error) {
	u, err := url.Parse(s.url)
	if err != nil {
		return IdleResult{}, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, u.Host)
	for _, h := range headers {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	raw := []byte(req.String())

	before := settledRSS(ctx, s)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var mu sync.Mutex
	next := 0
	g, gctx := errgroup.WithContext(ctx)
	for range idleOpeners {
		g.Go(func() error {
			var d net.Dialer
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return nil
				}
				c, err := d.DialContext(gctx, "tcp", u.Host)
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				if u.Scheme == "https" {
					tc := tls.Client(c, &tls.Config{ServerName: benchSNI, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
					if err := tc.HandshakeContext(gctx); err != nil {
						c.Close()
						return fmt.Errorf("connection %d: %w", i, err)
					}
					c = tc
				}
				conns[i] = c
				if err := oneRequest(c, raw); err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return IdleResult{}, err
	}
	select {
	case <-ctx.Done():
		return IdleResult{}, ctx.Err()
	case <-time.After(idleFor):
	}
	after := settledRSS(ctx, s)
	r := IdleResult{Conns: n, BeforeMiB: float64(before) / 1024, AfterMiB: float64(after) / 1024}
	r.KiBPerConn = float64(after-before) / float64(n)
	return r, nil
}

// oneRequest writes raw on c and reads one whole response, leaving c open.
func oneRequest(c net.Conn, raw []byte) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(raw); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Close {
		return fmt.Errorf("the server closed the connection after the request")
	}
	return nil
}

// settledRSS samples s's RSS (KiB) every 200 ms until two samples in a row differ by less than 1 %,
// for at most 5 s, and returns the last.
func settledRSS(ctx context.Context, s *server) int64 {
	last := memKiB(s.pids()).rss
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last
		case <-time.After(200 * time.Millisecond):
		}
		cur := memKiB(s.pids()).rss
		if d := cur - last; d*100 < cur && -d*100 < cur {
			return cur
		}
		last = cur
	}
	return last
}
