//go:build unix

package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// connPair is a countedConn (as ConfigureClient dials them) and the peer's end of it.
func connPair(t *testing.T) (*countedConn, net.Conn) {
	c, peer := tu.TCPPair(t)
	_ = peer.SetDeadline(time.Now().Add(waitFor))
	return &countedConn{Conn: c}, peer
}

// TestSendWait: sendWait writes the whole request, returns once the response can be read (never
// before, never much after), honours the read deadline, and steps aside where it cannot help.
func TestSendWait(t *testing.T) {
	const request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		// peer plays the upstream after sendWait started; answered is set just before it writes.
		peer     func(peer net.Conn, answered *atomic.Bool)
		deadline time.Duration
		// want: "response" (a read finds it at once), "timeout", "eof".
		want string
	}{
		{"late answer", func(peer net.Conn, answered *atomic.Bool) {
			readFull(peer, len(request))
			// A slow upstream: the wait must last until the answer.
			time.Sleep(50 * time.Millisecond)
			answered.Store(true)
			_, _ = io.WriteString(peer, "HTTP/1.1 204 No Content\r\n\r\n")
		}, waitFor, "response"},
		{"immediate answer", func(peer net.Conn, answered *atomic.Bool) {
			readFull(peer, len(request))
			answered.Store(true)
			_, _ = io.WriteString(peer, "HTTP/1.1 204 No Content\r\n\r\n")
		}, waitFor, "response"},
		{"no answer", func(peer net.Conn, _ *atomic.Bool) {
			readFull(peer, len(request))
		}, 100 * time.Millisecond, "timeout"},
		{"upstream closes", func(peer net.Conn, answered *atomic.Bool) {
			readFull(peer, len(request))
			answered.Store(true)
			_ = peer.Close()
		}, waitFor, "eof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := connPair(t)
			var answered atomic.Bool
			done := make(chan struct{})
			go func() { defer close(done); tt.peer(peer, &answered) }()
			_ = c.SetReadDeadline(time.Now().Add(tt.deadline))
			began := time.Now()
			n, ok, werr, rerr := sendWait(c, []byte(request))
			if !ok || werr != nil || n != len(request) {
				t.Fatalf("sendWait = %d, %v, %v; want %d bytes written", n, ok, werr, len(request))
			}
			switch tt.want {
			case "timeout":
				if !IsTimeout(rerr) {
					t.Fatalf("wait error %v, want a timeout", rerr)
				}
				if d := time.Since(began); d > waitFor/2 {
					t.Errorf("waited %v for a deadline of %v", d, tt.deadline)
				}
				<-done
				return
			case "response", "eof":
				if rerr != nil {
					t.Fatalf("wait error %v", rerr)
				}
				if !answered.Load() {
					t.Fatal("sendWait returned before the upstream answered")
				}
			}
			<-done
			buf := make([]byte, 64)
			m, err := c.Read(buf)
			switch tt.want {
			case "response":
				if err != nil || !strings.HasPrefix(string(buf[:m]), "HTTP/1.1 204") {
					t.Errorf("read %q, %v after the wait", buf[:m], err)
				}
			case "eof":
				if !errors.Is(err, io.EOF) {
					t.Errorf("read %q, %v after the wait, want EOF", buf[:m], err)
				}
			}
		})
	}
}

// TestSendWaitNoLostWakeup: an upstream that answers at once, many times over one connection,
// while the scheduler polls the network all the time. Were a response able to arrive before the
// wait began (a write, then a wait-first raw read: the runtime's poller may consume the
// readiness in between, and the raw read resets it), one of them would hang until the deadline.
func TestSendWaitNoLostWakeup(t *testing.T) {
	c, peer := connPair(t)
	const rounds = 2000
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// Keeps the scheduler polling the network, as a busy proxy's does.
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Microsecond):
			}
		}
	}()
	go func() {
		buf := make([]byte, 1)
		for i := 0; i < rounds; i++ {
			if _, err := io.ReadFull(peer, buf); err != nil {
				return
			}
			if _, err := peer.Write(buf); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	in := make([]byte, 1)
	for i := 0; i < rounds; i++ {
		n, ok, werr, rerr := sendWait(c, []byte{byte(i)})
		if !ok || n != 1 || werr != nil || rerr != nil {
			t.Fatalf("round %d: sendWait = %d, %v, %v, %v", i, n, ok, werr, rerr)
		}
		if _, err := io.ReadFull(c, in); err != nil || in[0] != byte(i) {
			t.Fatalf("round %d: read %v, %v", i, in, err)
		}
	}
}

// TestSendWaitFallbacks: what sendWait leaves to the ordinary way.
func TestSendWaitFallbacks(t *testing.T) {
	t.Run("socket buffer full", func(t *testing.T) {
		c, peer := connPair(t)
		// The upstream reads nothing until the request is written in full.
		big := bytes.Repeat([]byte("x"), 64<<20)
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		n, ok, werr, rerr := sendWait(c, big)
		if !ok || werr != nil || rerr != nil || n <= 0 || n >= len(big) {
			t.Fatalf("sendWait = %d, %v, %v, %v; want part of %d bytes written, no error", n, ok, werr, rerr, len(big))
		}
		go func() { _, _ = c.Write(big[n:]) }()
		if got := readFull(peer, len(big)); !bytes.Equal(got, big) {
			t.Errorf("the upstream got %d bytes, not the %d sent", len(got), len(big))
		}
	})
	t.Run("not dialled by the proxy", func(t *testing.T) {
		c, _ := connPair(t)
		if n, ok, _, _ := sendWait(c.Conn, []byte("x")); ok || n != 0 {
			t.Errorf("sendWait on a plain connection = %d, %v; want nothing done", n, ok)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, _ := connPair(t)
		_ = c.Close()
		if n, ok, _, _ := sendWait(c, []byte("x")); ok || n != 0 {
			t.Errorf("sendWait on a closed connection = %d, %v; want nothing done", n, ok)
		}
	})
	t.Run("upstream gone", func(t *testing.T) {
		c, peer := connPair(t)
		_ = peer.(*net.TCPConn).SetLinger(0)
		_ = peer.Close() // a reset
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		// The first write may still be accepted; the reset ends the wait or fails the next one.
		for i := 0; i < 3; i++ {
			_, ok, werr, rerr := sendWait(c, []byte("GET / HTTP/1.1\r\n\r\n"))
			if !ok {
				return
			}
			if werr != nil || rerr != nil {
				return
			}
			buf := make([]byte, 8)
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
		t.Error("no error after the upstream reset the connection")
	})
}

// readFull reads n bytes from c, or what came before an error.
func readFull(c net.Conn, n int) []byte {
	buf := make([]byte, n)
	m, _ := io.ReadFull(c, buf)
	return buf[:m]
}
