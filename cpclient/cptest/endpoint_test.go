package cptest

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// quiet is how long a test watches for bytes that must not arrive.
const quiet = 300 * time.Millisecond

func TestEndpointFaults(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, ep *Endpoint, b *backend)
	}{
		{"forwards both ways and counts connections", func(t *testing.T, ep *Endpoint, b *backend) {
			c := dial(t, ep)
			s := b.next(t)
			write(t, c, "ping")
			readExactly(t, s, "ping")
			write(t, s, "pong")
			readExactly(t, c, "pong")
			if got := ep.Conns(); got != 1 {
				t.Errorf("Conns() = %d, want 1", got)
			}
			if got := ep.Accepted(); got != 1 {
				t.Errorf("Accepted() = %d, want 1", got)
			}
			c.Close()
			eventually(t, "Conns() == 0 after the client closed", func() bool { return ep.Conns() == 0 })
			if err := readErr(t, s); err != io.EOF {
				t.Errorf("backend saw %v after a clean client close, want EOF", err)
			}
		}},
		{"stop refuses and resets, restore reuses the port", func(t *testing.T, ep *Endpoint, b *backend) {
			c := dial(t, ep)
			b.next(t)
			ep.Stop()
			if err := readErr(t, c); !isReset(err) {
				t.Errorf("open connection after Stop: %v, want ECONNRESET", err)
			}
			addr := strings.TrimPrefix(ep.URL(), "https://")
			if _, err := net.DialTimeout("tcp", addr, waitTimeout); !isRefused(err) {
				t.Fatalf("dial after Stop: %v, want ECONNREFUSED", err)
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			c2 := dial(t, ep)
			if got := c2.RemoteAddr().String(); got != addr {
				t.Errorf("restored endpoint at %s, want %s", got, addr)
			}
			s2 := b.next(t)
			write(t, c2, "again")
			readExactly(t, s2, "again")
		}},
		{"blackhole holds bytes both ways and restore releases them", func(t *testing.T, ep *Endpoint, b *backend) {
			c := dial(t, ep)
			s := b.next(t)
			write(t, c, "a")
			readExactly(t, s, "a")
			if err := ep.Blackhole(); err != nil {
				t.Fatal(err)
			}
			write(t, c, "to-server")
			write(t, s, "to-client")
			readNothing(t, s, quiet)
			readNothing(t, c, quiet)
			c2 := dial(t, ep) // accepted, never answered
			write(t, c2, "new")
			readNothing(t, c2, quiet)
			if got := ep.Conns(); got != 2 {
				t.Errorf("Conns() while blackholed = %d, want 2 (nothing closed)", got)
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			readExactly(t, s, "to-server")
			readExactly(t, c, "to-client")
			s2 := b.next(t)
			readExactly(t, s2, "new")
		}},
		{"a client leaving a blackhole is no longer counted", func(t *testing.T, ep *Endpoint, b *backend) {
			if err := ep.Blackhole(); err != nil {
				t.Fatal(err)
			}
			c := dial(t, ep)
			eventually(t, "Conns() == 1", func() bool { return ep.Conns() == 1 })
			c.Close()
			eventually(t, "Conns() == 0", func() bool { return ep.Conns() == 0 })
		}},
		{"blackhole after stop listens again", func(t *testing.T, ep *Endpoint, b *backend) {
			ep.Stop()
			if err := ep.Blackhole(); err != nil {
				t.Fatal(err)
			}
			c := dial(t, ep)
			write(t, c, "x")
			readNothing(t, c, quiet)
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			readExactly(t, b.next(t), "x")
		}},
		{"reset sends RST to both sides, new connections work", func(t *testing.T, ep *Endpoint, b *backend) {
			c := dial(t, ep)
			s := b.next(t)
			write(t, c, "a")
			readExactly(t, s, "a")
			ep.Reset()
			if err := readErr(t, c); !isReset(err) {
				t.Errorf("client after Reset: %v, want ECONNRESET", err)
			}
			if err := readErr(t, s); !isReset(err) {
				t.Errorf("backend after Reset: %v, want ECONNRESET", err)
			}
			eventually(t, "Conns() == 0", func() bool { return ep.Conns() == 0 })
			c2 := dial(t, ep)
			write(t, c2, "b")
			readExactly(t, b.next(t), "b")
		}},
		{"reset all resets open and new connections until restore", func(t *testing.T, ep *Endpoint, b *backend) {
			c := dial(t, ep)
			s := b.next(t)
			write(t, c, "a")
			readExactly(t, s, "a")
			ep.ResetAll()
			if err := readErr(t, c); !isReset(err) {
				t.Errorf("open client after ResetAll: %v, want ECONNRESET", err)
			}
			// The RST may come before the dialler looks at its socket: the dial or the first
			// read fails with it.
			if err := dialAndRead(t, ep); !isReset(err) {
				t.Errorf("new client after ResetAll: %v, want ECONNRESET", err)
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			c3 := dial(t, ep)
			write(t, c3, "b")
			readExactly(t, b.next(t), "b")
		}},
		{"slow delays every chunk", func(t *testing.T, ep *Endpoint, b *backend) {
			const d = 150 * time.Millisecond
			c := dial(t, ep)
			s := b.next(t)
			ep.Slow(d)
			start := time.Now()
			write(t, c, "slow")
			readExactly(t, s, "slow")
			write(t, s, "back")
			readExactly(t, c, "back")
			if took := time.Since(start); took < 2*d {
				t.Errorf("round trip took %v, want >= %v", took, 2*d)
			}
			if err := ep.Restore(); err != nil {
				t.Fatal(err)
			}
			write(t, c, "fast")
			readExactly(t, s, "fast")
		}},
		{"a member that is down resets new connections", func(t *testing.T, ep *Endpoint, b *backend) {
			ep.target.down.Store(true)
			if err := dialAndRead(t, ep); !isReset(err) {
				t.Errorf("got %v, want ECONNRESET", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			ep := newTestEndpoint(t, b.addr())
			tt.run(t, ep, b)
		})
	}
}

func TestEndpointUnreachableTargetResets(t *testing.T) {
	r, err := reservePort(0) // bound, never listening: refused
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ep := newTestEndpoint(t, net.JoinHostPort(loopback, strconv.Itoa(r.port)))
	if err := dialAndRead(t, ep); !isReset(err) {
		t.Errorf("got %v, want ECONNRESET", err)
	}
}

func TestEndpointCloseStopsEverything(t *testing.T) {
	b := newBackend(t)
	r, err := reservePort(0)
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(0, r.port, &target{addr: b.addr()}, discardLogger())
	if err := ep.start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ep)
	b.next(t)
	c2 := dial(t, ep)
	if err := ep.Blackhole(); err != nil {
		t.Fatal(err)
	}
	write(t, c2, "held")
	ep.close()
	for _, c := range []net.Conn{c, c2} {
		if err := readErr(t, c); !isReset(err) {
			t.Errorf("read after close: %v, want ECONNRESET", err)
		}
	}
	if err := ep.Restore(); err != ErrClosed {
		t.Errorf("Restore after close: %v, want ErrClosed", err)
	}
	if err := ep.Blackhole(); err != ErrClosed {
		t.Errorf("Blackhole after close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no goroutine of this package left", func() bool { return len(ownGoroutines()) == 0 })
}
