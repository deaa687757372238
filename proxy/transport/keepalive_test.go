package transport

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections an http.Server opens and closes.
type connCounter struct{ opened, closed atomic.Int64 }

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

func countingBackend(t *testing.T, cc *connCounter, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnState: cc.track}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestKeepalivePool: keepalive_pool.requests bounds the requests per upstream connection,
// keepalive_pool.size the idle connections kept per node.
func TestKeepalivePool(t *testing.T) {
	t.Run("requests", func(t *testing.T) {
		var cc connCounter
		addr := countingBackend(t, &cc, echo)
		tr := New(Options{})
		h := serveFront(t, tr, newPool(t, tr, nil, `"keepalive_pool":{"size":2,"idle_timeout":60,"requests":3}`, addr))
		for i := 0; i < 7; i++ {
			if resp, body := get(t, h.base+"/"); resp.StatusCode != 200 {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
		}
		if got := cc.opened.Load(); got != 3 {
			t.Errorf("7 requests took %d upstream connections, want 3 (3 requests each)", got)
		}
	})
	t.Run("default reuses one connection", func(t *testing.T) {
		var cc connCounter
		addr := countingBackend(t, &cc, echo)
		tr := New(Options{})
		h := serveFront(t, tr, newPool(t, tr, nil, "", addr))
		for i := 0; i < 20; i++ {
			if resp, body := get(t, h.base+"/"); resp.StatusCode != 200 {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
		}
		if got := cc.opened.Load(); got != 1 {
			t.Errorf("20 sequential requests took %d upstream connections, want 1", got)
		}
	})
	t.Run("size", func(t *testing.T) {
		const n = 6
		var cc connCounter
		var arrived sync.WaitGroup
		arrived.Add(n)
		release := make(chan struct{})
		addr := countingBackend(t, &cc, func(w http.ResponseWriter, r *http.Request) {
			arrived.Done()
			select {
			case <-release:
			case <-time.After(waitFor):
			}
			_, _ = w.Write([]byte("ok"))
		})
		tr := New(Options{})
		h := serveFront(t, tr, newPool(t, tr, nil, `"keepalive_pool":{"size":2,"idle_timeout":60,"requests":1000}`, addr))
		var done sync.WaitGroup
		for i := 0; i < n; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				resp, err := (&http.Client{Timeout: waitFor}).Get(h.base + "/")
				if err == nil {
					resp.Body.Close()
				}
			}()
		}
		arrived.Wait() // n connections open at once
		close(release)
		done.Wait()
		poll(t, "the surplus connections to close", func() bool { return cc.closed.Load() == n-2 })
		idle := h.pool.Nodes()[0].Client().IdleConnsCount()
		if idle != 2 {
			t.Errorf("%d idle connections kept, want 2", idle)
		}
	})
}
