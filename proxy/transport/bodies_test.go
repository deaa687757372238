package transport

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestBodyClasses(t *testing.T) {
	p := newBodyPool(64 << 10)
	if len(p.classes) != 5 {
		t.Fatalf("%d classes for bodies up to 64 KiB, want 5 (4 to 64 KiB)", len(p.classes))
	}
	for _, tc := range []struct{ n, capacity int }{
		{1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {8 << 10, 8 << 10},
		{40000, 64 << 10}, {64 << 10, 64 << 10},
	} {
		b := p.get(tc.n)
		if len(b) != 0 || cap(b) != tc.capacity {
			t.Errorf("get(%d): len %d cap %d, want 0 and %d", tc.n, len(b), cap(b), tc.capacity)
		}
		if !p.put(b) {
			t.Errorf("put of a buffer of %d bytes from get was refused", cap(b))
		}
	}
	for _, capacity := range []int{0, 100, 4<<10 - 1, 5000, 12 << 10, 128 << 10} {
		if p.put(make([]byte, 0, capacity)) {
			t.Errorf("put kept a buffer of %d bytes, not a class's size", capacity)
		}
	}
	if small := newBodyPool(1000); len(small.classes) != 1 || cap(small.get(1000)) != 4<<10 {
		t.Errorf("a pool for bodies up to 1000 bytes has %d classes, want one of 4 KiB", len(small.classes))
	}
}

// TestBodyPoolStack: the buffers given back are taken again last first, by any goroutine (a
// sync.Pool would keep the last one for the P that put it); past stackBodies they overflow.
func TestBodyPoolStack(t *testing.T) {
	p := newBodyPool(64 << 10)
	bufs := make([][]byte, stackBodies+1)
	for i := range bufs {
		bufs[i] = p.get(64 << 10)
	}
	for _, b := range bufs {
		p.put(b)
	}
	if n := len(p.classes[bodyClass(64<<10)].stack); n != stackBodies {
		t.Fatalf("the stack holds %d buffers after %d puts, want %d", n, len(bufs), stackBodies)
	}
	got := make(chan []byte)
	go func() { got <- p.get(40000) }() // another goroutine, perhaps another P
	if b := <-got; &b[:1][0] != &bufs[stackBodies-1][:1][0] {
		t.Error("get did not return the last buffer the stack kept")
	}
}

// TestTakeBody: a body of minPooledBody or more gets a pooled buffer unless the response's
// own already holds it; a smaller one stays in the response's own buffer.
func TestTakeBody(t *testing.T) {
	p := newBodyPool(64 << 10)
	var resp fasthttp.Response
	p.takeBody(&resp, 100)
	if c := cap(resp.Body()); c >= minPooledBody {
		t.Errorf("a 100-byte body took a buffer of %d bytes", c)
	}
	p.takeBody(&resp, 20000)
	if c := cap(resp.Body()); c != 32<<10 {
		t.Errorf("a 20,000-byte body has a buffer of %d bytes, want the 32 KiB class", c)
	}
	resp.SwapBody(make([]byte, 0, 100000))
	p.takeBody(&resp, 50000)
	if c := cap(resp.Body()); c != 100000 {
		t.Errorf("a buffer that holds the body was replaced by one of %d bytes", c)
	}
}

// TestReleaseBody: ReleaseBody empties a response whose buffer is of a class's size and leaves
// any other as it was.
func TestReleaseBody(t *testing.T) {
	tr := New(Options{})
	var resp fasthttp.Response
	resp.SwapBody(append(make([]byte, 0, 8<<10), "pooled"...))
	tr.ReleaseBody(&resp)
	if b := resp.Body(); len(b) != 0 || cap(b) != 0 {
		t.Errorf("after ReleaseBody the body is %q, room %d: want no buffer", b, cap(b))
	}
	resp.SwapBody(append(make([]byte, 0, 5000), "own"...))
	tr.ReleaseBody(&resp)
	if b := resp.Body(); string(b) != "own" || cap(b) != 5000 {
		t.Errorf("a buffer of no class's size became %q, room %d", b, cap(b))
	}
	resp.SetBodyStream(bytes.NewReader([]byte("stream")), 6)
	tr.ReleaseBody(&resp)
	if !resp.IsBodyStream() {
		t.Error("ReleaseBody dropped a body stream")
	}
}

// TestPooledBodiesArriveWhole: bodies read into pooled buffers, at and around the classes'
// sizes, one after the other on one upstream connection, arrive as the upstream sent them.
func TestPooledBodiesArriveWhole(t *testing.T) {
	sizes := []int{100, 4<<10 - 1, 4 << 10, 4<<10 + 1, 8 << 10, 30000, 64<<10 - 1, 64 << 10, 5000, 100}
	var cc connCounter
	addr := countingBackend(t, &cc, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(patterned(n))
	})
	tr := New(Options{})
	f := serveFront(t, tr, newPool(t, tr, nil, "", addr))
	for _, n := range sizes {
		resp, body := get(t, fmt.Sprintf("%s/?n=%d", f.base, n))
		if resp.StatusCode != 200 || body != string(patterned(n)) {
			t.Errorf("n=%d: status %d, %d bytes: not the upstream's body", n, resp.StatusCode, len(body))
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("%d upstream connections, want the bodies one after the other on one", n)
	}
}

// patterned is n bytes that differ with n and position.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*5+n)%26)
	}
	return b
}
