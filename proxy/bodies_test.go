package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// dialSmallWindow connects to addr with a receive buffer of a few KiB, set before the
// handshake so that the window the proxy sees is that small: a response the client does not
// read blocks the proxy's write to it.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestPooledBodiesStayWithTheirResponse: the buffer a large body was read into goes back to the
// pool only once the response is written. A client that does not read leaves the proxy's write
// to it blocked halfway; meanwhile another client's responses of the same sizes go through, and
// would take that buffer if it were given back early. The waiting client must still get its
// own bytes.
func TestPooledBodiesStayWithTheirResponse(t *testing.T) {
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/size/*", "", "", sizedBackend(t)))
	slow := dialSmallWindow(t, h.addr)
	fast, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slowR, fastR := bufio.NewReader(slow), bufio.NewReader(fast)
	get := func(c net.Conn, seed, n int) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET /size/%d/%d HTTP/1.1\r\nHost: h\r\n\r\n", n, seed); err != nil {
			t.Fatal(err)
		}
	}
	seed := 0
	for _, n := range []int{5000, 16 << 10, 40000, 64 << 10} {
		for range 3 {
			seed++
			slowSeed := seed
			get(slow, slowSeed, n) // its answer waits in the proxy, unread
			for range 4 {
				seed++
				get(fast, seed, n)
				readSeeded(t, fastR, http.MethodGet, seed, n)
			}
			readSeeded(t, slowR, http.MethodGet, slowSeed, n)
		}
	}
	// The connections stay usable for small bodies, which stay in each connection's buffer.
	seed++
	get(slow, seed, 100)
	readSeeded(t, slowR, http.MethodGet, seed, 100)
}

// TestLargeBodiesShareBuffers: the buffers of large bodies are shared by the client
// connections, not kept by each (proxy/transport/bodies.go). Eight keep-alive connections, each
// after a small request, get a 64 KiB body one after the other: the process allocates for one
// buffer at most, where each connection would otherwise have grown its own (512 KiB). It runs
// under the race detector too: the pool's stack is no sync.Pool.
func TestLargeBodiesShareBuffers(t *testing.T) {
	const size = 64 << 10
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/api/*", "", "", fixedBackend(t, "", body)),
		"/apisix/routes/2", route("/small", "", "", fixedBackend(t, "", []byte("small"))))
	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	buf := make([]byte, size)
	get := func(cl client, path string, n int) {
		t.Helper()
		if _, err := io.WriteString(cl.c, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		length := -1
		for {
			line, err := cl.br.ReadSlice('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if length != n {
			t.Fatalf("GET %s: Content-Length %d, want %d", path, length, n)
		}
		if _, err := io.ReadFull(cl.br, buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	clients := make([]client, 9)
	for i := range clients {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = client{c, bufio.NewReaderSize(c, 4096)}
	}
	for _, cl := range clients {
		get(cl, "/small", 5)
	}
	get(clients[0], "/api/large", size) // the pool's first buffer, and the upstream connection's
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, cl := range clients[1:] {
		get(cl, "/api/large", size)
	}
	runtime.ReadMemStats(&after)
	// Under the race detector sync.Pools drop some of what is put in them (the upstream
	// connection's reader among them): room for that, well below the eight buffers.
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("8 large responses on 8 connections allocated %d bytes", got)
	if got > 4*size {
		t.Errorf("8 connections allocated %d bytes for one 64 KiB body each, want at most %d", got, 4*size)
	}
	if !bytes.Equal(buf, body) {
		t.Error("the last body differs from the upstream's")
	}
}
