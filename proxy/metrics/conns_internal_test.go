package metrics

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestConnsTallyUnderChurn: many connections open, make keep-alive requests and close while a
// collector sums them. The request total never goes back (a closing connection's count moves to
// its shard under the shard's lock, so no collection sees it twice or not at all), every request
// is counted once, and once every connection is closed no shard holds one and every gauge is 0.
func TestConnsTallyUnderChurn(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Conns()
	addr := ServeCounted(t, c, func(ctx *fasthttp.RequestCtx) {
		c.Enter(ctx)
		ctx.SetBodyString("ok")
	})

	const clients, connsEach, requestsEach = 8, 20, 5
	stop := make(chan struct{})
	collected := make(chan error, 1)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				collected <- nil
				return
			default:
			}
			tl := c.tally()
			if tl.requests < last {
				collected <- fmt.Errorf("request total went back from %d to %d", last, tl.requests)
				return
			}
			if tl.reading < 0 || tl.writing < 0 || tl.waiting < 0 {
				collected <- fmt.Errorf("a negative gauge: %+v", tl)
				return
			}
			last = tl.requests
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range connsEach {
				if err := keepAliveRequests(addr, requestsEach); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	testutil.WaitForState(t, "every connection closed and uncounted", 10*time.Second, func() (bool, string) {
		tl := c.tally()
		open := 0
		for i := range c.shards {
			s := &c.shards[i]
			s.mu.Lock()
			for cc := s.head; cc != nil; cc = cc.next {
				open++
			}
			s.mu.Unlock()
		}
		accepted, closed := c.accepted.Load(), c.closed.Load()
		ok := open == 0 && accepted == clients*connsEach && closed == accepted &&
			tl == connTally{requests: clients * connsEach * requestsEach}
		return ok, fmt.Sprintf("%d in shards, accepted %d, closed %d, tally %+v", open, accepted, closed, tl)
	})
}

// ServeCounted serves handler with fasthttp on a loopback listener whose connections c counts,
// with c's ConnState hook and fasthttp's logs discarded, until the test ends. It returns the
// listener's address. (Exported for the package's external tests.)
func ServeCounted(t *testing.T, c *Conns, handler fasthttp.RequestHandler) string {
	t.Helper()
	ln := testutil.Listen(t)
	testutil.Serve(t, &fasthttp.Server{Handler: handler, ConnState: c.ConnState, Logger: quietLog{}}, c.Listener(ln))
	return ln.Addr().String()
}

// CountedPair returns the two ends of a loopback TCP connection, the server's accepted through
// c's Listener, both closed when the test ends. (Exported for the package's external tests.)
func CountedPair(t *testing.T, c *Conns) (client, server net.Conn) {
	t.Helper()
	ln := c.Listener(testutil.Listen(t))
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// quietLog discards fasthttp's logs (a test's partial request makes it complain).
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}

// keepAliveRequests makes n requests on one connection to addr, then closes it.
func keepAliveRequests(addr string, n int) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	for range n {
		if _, err := fmt.Fprint(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	return nil
}

// BenchmarkTally10k: a collection's walk over 10,000 open connections (the price of keeping the
// request path off shared counters), in ns per collection.
func BenchmarkTally10k(b *testing.B) {
	m, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	c := m.Conns()
	for i := range 10000 {
		cc := &conn{c: c, shard: &c.shards[i%connShards]}
		cc.state.Store(int32(i % 4))
		cc.requests.Store(int64(i))
		cc.shard.add(cc)
	}
	b.ReportAllocs()
	var t connTally
	for b.Loop() {
		t = c.tally()
	}
	if t.requests != 10000*9999/2 || t.reading+t.writing+t.waiting != 7500 {
		b.Fatalf("tally %+v", t)
	}
}

// TestConnsStream: an HTTP/2 stream's request counts on its connection when Listener counted it
// (through the TLS connection over it), and in the shared count otherwise; closing the connection
// keeps its count in the total.
func TestConnsStream(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Conns()
	_, sc := CountedPair(t, c)
	overTLS := tls.Server(sc, &tls.Config{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()

	c.Stream(overTLS)
	c.Stream(overTLS)
	c.Stream(a) // not counted by Listener
	if got := sc.(*conn).requests.Load(); got != 2 {
		t.Errorf("the connection counted %d streams, want 2", got)
	}
	if got := c.tally().requests; got != 3 {
		t.Errorf("total %d, want 3", got)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := c.tally().requests; got != 3 {
		t.Errorf("total %d after the connection closed, want 3", got)
	}
}
