package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestLazyListenerConns: an accepted connection keeps what code looks for on a *net.TCPConn
// (half-close for the lingering close, splice for tunnels, the raw socket) and its deadlines
// still fire.
func TestLazyListenerConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := lazyListener{Listener: ln}
	defer lln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c) // until the server half-closes
		}
	}()
	c, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*lazyConn); !ok {
		t.Fatalf("accepted %T, want *lazyConn", c)
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("no CloseWrite")
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("no ReadFrom")
	}
	if _, ok := c.(syscall.Conn); !ok {
		t.Error("no SyscallConn")
	}
	// The keep-alive pattern: a long deadline re-armed, then a short one, which fires.
	for range 3 {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want a deadline error", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the short read deadline never fired")
	}
}
