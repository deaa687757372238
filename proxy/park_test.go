//go:build linux

package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// parkedCount is how many connections the lot holds.
func (l *lot) parkedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}

// counts is how many connections the lot has parked, ever, and how many it had parked when it
// last handed memory back.
func (l *lot) counts() (parks, released int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.parks, l.released
}

// openCount is how many connections the lot knows (every open one of the proxy's listeners).
func (l *lot) openCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func parks(l *lot) int64 { n, _ := l.counts(); return n }

// dialKeepAlive opens a client connection to addr, closed when the test ends.
func dialKeepAlive(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// keepAliveGet sends GET path on c and reads the whole response.
func keepAliveGet(t testing.TB, c net.Conn, br *bufio.Reader, path string) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: parked\r\n\r\n", path); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	if resp.Close {
		t.Fatalf("the proxy closed the connection after %s", path)
	}
	return resp.StatusCode, string(b)
}

// TestParkIdleConnection: a keep-alive connection idle for ParkIdleAfter is parked, and served
// again, on the same socket, when its next request comes; again and again, with the connection
// counted as waiting throughout.
func TestParkIdleConnection(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := backend(t, echo("b"))
	h := start(t, Options{ParkIdleAfter: 40 * time.Millisecond, Metrics: m}, upstream.Options{},
		"/apisix/routes/1", route("/*", "", "", addr))
	c, br := dialKeepAlive(t, h.addr)
	gauge := func(state string) float64 {
		return metricValue(t, m, "apisix_http_current_connections", "state", state)
	}
	for i := range 3 {
		if code, body := keepAliveGet(t, c, br, fmt.Sprintf("/r%d", i)); code != 200 || !strings.HasPrefix(body, "b GET /r") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		poll(t, "the connection is parked", func() bool { return h.p.lot.parkedCount() == 1 })
		if w, a, act := gauge("waiting"), gauge("accepted"), gauge("active"); w != 1 || a != 1 || act != 1 {
			t.Fatalf("parked: waiting %v accepted %v active %v, want 1 1 1", w, a, act)
		}
	}
	_ = c.Close()
	poll(t, "the closed connection leaves the lot", func() bool { return h.p.lot.openCount() == 0 })
	poll(t, "the closed connection is counted", func() bool { return gauge("active") == 0 && gauge("waiting") == 0 })
}

// TestParkIdleTimeout: a parked connection still ends at its idle timeout (keepalive_timeout),
// closed by the proxy without an answer.
func TestParkIdleTimeout(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{ParkIdleAfter: 40 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}, upstream.Options{},
		"/apisix/routes/1", route("/*", "", "", addr))
	c, br := dialKeepAlive(t, h.addr)
	began := time.Now()
	if code, _ := keepAliveGet(t, c, br, "/"); code != 200 {
		t.Fatalf("status %d", code)
	}
	poll(t, "the connection is parked", func() bool { return h.p.lot.parkedCount() == 1 })
	rest, err := io.ReadAll(br)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the idle timeout: %q, %v; want a silent close", rest, err)
	}
	if d := time.Since(began); d < 400*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
	poll(t, "the lot lets it go", func() bool { return h.p.lot.openCount() == 0 })
}

// TestParkShutdown: Shutdown closes parked connections at once, as fasthttp closes idle ones.
func TestParkShutdown(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{ParkIdleAfter: 40 * time.Millisecond}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	c, br := dialKeepAlive(t, h.addr)
	keepAliveGet(t, c, br, "/")
	poll(t, "the connection is parked", func() bool { return h.p.lot.parkedCount() == 1 })
	if err := h.p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after Shutdown: %q, %v; want a silent close", rest, err)
	}
}

// TestParkTLS: an HTTPS keep-alive connection parks and is served again on the same TLS session.
func TestParkTLS(t *testing.T) {
	cert, key := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{ParkIdleAfter: 40 * time.Millisecond},
		"/apisix/ssls/1", sslJSON(`"sni":"a.example"`, cert, key),
		"/apisix/routes/1", route("/*", "", "", echoBackend(t)))
	c, err := tls.Dial("tcp", h.addr, &tls.Config{ServerName: "a.example", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		if code, _ := keepAliveGet(t, c, br, "/"); code != 200 {
			t.Fatalf("request %d: status %d", i, code)
		}
		poll(t, "the connection is parked", func() bool { return h.p.lot.parkedCount() == 1 })
	}
}

// TestParkRace: requests that come just as the lot cuts the idle wait, on many connections at
// once, are all served: the cut either parks the connection or is taken back.
func TestParkRace(t *testing.T) {
	addr := backend(t, echo("b"))
	const after = 8 * time.Millisecond
	h := start(t, Options{ParkIdleAfter: after}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := range 40 {
				// Idle around the cut: before it, at it, after it (parked).
				time.Sleep(time.Duration(rand.Int64N(int64(3 * after))))
				_ = c.SetDeadline(time.Now().Add(waitFor))
				if _, err := fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "b GET /") || resp.Close {
					errs <- fmt.Errorf("request %d: %d %q close=%v", i, resp.StatusCode, b, resp.Close)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if parks(h.p.lot) == 0 {
		t.Error("no connection was parked")
	}
	t.Logf("parked %d times, %d cuts taken back", parks(h.p.lot), h.p.lot.takenBack.Load())
}

// TestParkOff: with ParkIdleAfter negative there is no lot.
func TestParkOff(t *testing.T) {
	if p := New(Options{ParkIdleAfter: -1}); p.lot != nil {
		t.Fatal("a lot with parking off")
	}
}

// waitSweeps waits until the lot has swept enough times to cut a connection that went idle now.
func waitSweeps(t *testing.T, l *lot) {
	t.Helper()
	from := l.tick.Load()
	poll(t, "the lot sweeps past the idle limit", func() bool { return l.tick.Load() > from+idleTicks+1 })
}

// TestParkLeavesTunnelsAndH2: a WebSocket tunnel and an HTTP/2 connection that idle longer than
// ParkIdleAfter are not parked: the tunnel keeps relaying, the h2 connection serves its next
// stream.
func TestParkLeavesTunnelsAndH2(t *testing.T) {
	t.Run("websocket", func(t *testing.T) {
		h := start(t, Options{ParkIdleAfter: 20 * time.Millisecond}, upstream.Options{},
			"/apisix/routes/ws", route("/ws", `"enable_websocket":true`, "", wsBackend(t, nil)))
		c, br, head := dialWS(t, h.addr, "/ws")
		if !strings.HasPrefix(head, "HTTP/1.1 101") {
			t.Fatalf("handshake: %q", head)
		}
		got := make([]byte, len("hi!EARLY"))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		waitSweeps(t, h.p.lot)
		if _, err := io.WriteString(c, "late"); err != nil {
			t.Fatal(err)
		}
		got = make([]byte, 4)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "LATE" {
			t.Fatalf("after idling: %q, %v", got, err)
		}
		if n := parks(h.p.lot); n != 0 {
			t.Fatalf("%d parked", n)
		}
	})
	t.Run("h2", func(t *testing.T) {
		cert, key := tu.Cert(t, tu.ECDSA, "a.example")
		h := startTLS(t, Options{ParkIdleAfter: 20 * time.Millisecond},
			"/apisix/ssls/1", sslJSON(`"sni":"a.example"`, cert, key),
			"/apisix/routes/1", route("/*", "", "", bodyBackend(t)))
		client := h.h2Client()
		defer client.CloseIdleConnections() // TestH2Hostile counts every h2 connection of the process
		for i := range 2 {
			resp, err := client.Get("https://a.example/x")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Fatalf("request %d: %d over %s", i, resp.StatusCode, resp.Proto)
			}
			waitSweeps(t, h.p.lot)
		}
		if n := parks(h.p.lot); n != 0 {
			t.Fatalf("%d parked", n)
		}
		if n := metricValue(t, h.m, "apisix_http_current_connections", "state", "accepted"); n != 1 {
			t.Fatalf("%v connections accepted, want the one h2 connection", n)
		}
	})
}

// TestParkManyConnections: after a wave of parking (more than releaseAfterParks connections),
// the lot hands memory back once it is quiet; and parked connections whose clients all close
// leave nothing behind (each is served again, finds the end of the stream and closes).
func TestParkManyConnections(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{ParkIdleAfter: 20 * time.Millisecond}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	const n = releaseAfterParks + 44
	conns := make([]net.Conn, n)
	for i := range conns {
		c, br := dialKeepAlive(t, h.addr)
		if code, _ := keepAliveGet(t, c, br, "/"); code != 200 {
			t.Fatalf("connection %d: status %d", i, code)
		}
		conns[i] = c
	}
	poll(t, "every connection is parked", func() bool { return h.p.lot.parkedCount() == n })
	poll(t, "the memory of the wave is handed back", func() bool {
		parks, released := h.p.lot.counts()
		return released == parks
	})
	for _, c := range conns {
		c.Close()
	}
	poll(t, "the lot lets every connection go", func() bool {
		return h.p.lot.openCount() == 0 && h.p.lot.parkedCount() == 0
	})
}

// TestLazyOfEveryStack: connState finds the lazyConn under each stack the listeners build — alone,
// under the metrics' wrapper, and under TLS over either — and nothing under a connection of
// another kind.
func TestLazyOfEveryStack(t *testing.T) {
	var conns metrics.Conns
	for _, withMetrics := range []bool{false, true} {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var ln net.Listener = lazyListener{Listener: raw}
		if withMetrics {
			ln = conns.Listener(ln)
		}
		dialed, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		var want *lazyConn
		if withMetrics {
			in := metrics.Inner(nc)
			if in == nil {
				t.Fatal("metrics.Inner found nothing under the metrics' wrapper")
			}
			want = in.(*lazyConn)
		} else {
			want = nc.(*lazyConn)
			if metrics.Inner(nc) != nil {
				t.Fatal("metrics.Inner found a wrapper where there is none")
			}
		}
		if got := lazyOf(nc); got != want {
			t.Errorf("metrics %v: lazyOf = %p, want %p", withMetrics, got, want)
		}
		if got := lazyOf(tls.Server(nc, &tls.Config{})); got != want {
			t.Errorf("metrics %v, under TLS: lazyOf = %p, want %p", withMetrics, got, want)
		}
		if got := lazyOf(dialed); got != nil {
			t.Errorf("a dialled TCP connection: lazyOf = %p, want nil", got)
		}
		nc.Close()
		dialed.Close()
		raw.Close()
	}
}
