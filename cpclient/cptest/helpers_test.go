package cptest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// waitTimeout is generous: other builds share the two cores.
const waitTimeout = 20 * time.Second

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, waitTimeout, cond)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backend is a TCP server whose accepted connections the test drives.
type backend struct {
	ln    net.Listener
	conns chan net.Conn
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, conns: make(chan net.Conn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(b.conns)
		for c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// next returns the next connection the backend accepted.
func (b *backend) next(t testing.TB) net.Conn {
	t.Helper()
	select {
	case c := <-b.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(waitTimeout):
		t.Fatal("backend accepted no connection")
		return nil
	}
}

// newTestEndpoint starts an endpoint forwarding to addr.
func newTestEndpoint(t testing.TB, addr string) *Endpoint {
	t.Helper()
	r, err := reservePort(0)
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(0, r.port, &target{addr: addr}, discardLogger())
	if err := ep.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ep.close()
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return ep
}

func dial(t testing.TB, ep *Endpoint) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(ep.URL(), "https://"), waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", ep.URL(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readExactly reads len(want) bytes and compares them.
func readExactly(t testing.TB, c net.Conn, want string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v", want, err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// readNothing checks that nothing arrives on c for d.
func readNothing(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	n, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read got %q, %v; want nothing until the deadline", buf[:n], err)
	}
}

// readErr reads until an error and returns it.
func readErr(t testing.TB, c net.Conn) error {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open")
	}
	return err
}

// dialAndRead dials ep and reads until an error, which it returns: a reset
// may come while connecting or on the first read.
func dialAndRead(t testing.TB, ep *Endpoint) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(ep.URL(), "https://"), waitTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return readErr(t, c)
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func write(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// ownGoroutines returns the stacks of live goroutines running this
// package's non-test code.
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var own []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "cptest.(*pipe)") || strings.Contains(g, "cptest.(*Endpoint)") {
			own = append(own, g)
		}
	}
	return own
}
