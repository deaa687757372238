package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records Fatalf instead of stopping the test, so failures of the helpers can be checked.
type fakeTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
	clean []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatal = fmt.Sprintf(format, args...)
}

func (f *fakeTB) Cleanup(fn func()) { f.clean = append(f.clean, fn) }

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name      string
		trueAfter int // cond holds from this call on; -1: never
		timeout   time.Duration
		wantFatal string // substring; "" means no failure
	}{
		{"holds at once", 0, time.Second, ""},
		{"holds at once with no time left", 0, 0, ""},
		{"holds after a few polls", 5, 5 * time.Second, ""},
		{"never holds", -1, 30 * time.Millisecond, "timed out after 30ms waiting for the thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{}
			calls := 0
			start := time.Now()
			WaitFor(f, "the thing", tt.timeout, func() bool {
				calls++
				return tt.trueAfter >= 0 && calls > tt.trueAfter
			})
			if tt.wantFatal == "" && f.fatal != "" || !strings.Contains(f.fatal, tt.wantFatal) {
				t.Fatalf("Fatalf(%q), want %q", f.fatal, tt.wantFatal)
			}
			if tt.trueAfter >= 0 && calls != tt.trueAfter+1 {
				t.Errorf("cond called %d times, want %d (it must stop once cond holds)", calls, tt.trueAfter+1)
			}
			if tt.trueAfter < 0 && time.Since(start) < tt.timeout {
				t.Errorf("gave up after %v, before the timeout %v", time.Since(start), tt.timeout)
			}
		})
	}
}

func TestWaitForState(t *testing.T) {
	tests := []struct {
		name, state string
		want        string
	}{
		{"reports the last state", "n=3", "timed out after 20ms waiting for n to be 4; last: n=3"},
		{"no state, no suffix", "", "timed out after 20ms waiting for n to be 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{}
			WaitForState(f, "n to be 4", 20*time.Millisecond, func() (bool, string) { return false, tt.state })
			if f.fatal != tt.want {
				t.Fatalf("Fatalf(%q), want %q", f.fatal, tt.want)
			}
		})
	}
	f := &fakeTB{}
	WaitForState(f, "x", time.Second, func() (bool, string) { return true, "ignored" })
	if f.fatal != "" {
		t.Fatalf("Fatalf(%q) although cond held", f.fatal)
	}
}

func TestListen(t *testing.T) {
	f := &fakeTB{}
	ln := Listen(f)
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
		t.Fatalf("Listen bound %v, want 127.0.0.1 on a chosen port", addr)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial the listener: %v", err)
	}
	c.Close()
	if len(f.clean) != 1 {
		t.Fatalf("%d cleanups registered, want 1 (closing the listener)", len(f.clean))
	}
	f.clean[0]()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Accept works after the test's cleanup: the listener was not closed")
	}
}

func TestFreePorts(t *testing.T) {
	const n = 20
	ports := FreePorts(t, n)
	if len(ports) != n {
		t.Fatalf("got %d ports, want %d", len(ports), n)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if lo, hi := minPort, ephemeralLow(); hi-lo >= 1000 && (p < lo || p >= hi) {
			t.Errorf("port %d outside [%d, %d): in the ephemeral range, or below %d", p, lo, hi, lo)
		}
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("ports %v: %d is out of range or repeated", ports, p)
		}
		seen[p] = true
		// Released on return: the caller (here, us) can bind each one.
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d not free after FreePorts returned: %v", p, err)
		}
		ln.Close()
	}
}

func TestConcurrently(t *testing.T) {
	tests := []struct {
		name         string
		workers, min int
		stopAt       int // worker 0 returns false at this call; -1: never
	}{
		{"two workers", 2, 50, -1},
		{"many workers", 8, 20, -1},
		{"one call each", 4, 1, -1},
		{"a worker that stops early holds no one back", 3, 100, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clock atomic.Int64 // orders every call of every worker
			calls := make([]int64, tt.workers)
			first := make([]int64, tt.workers)
			last := make([]int64, tt.workers)
			Concurrently(tt.workers, tt.min, func(w, i int) bool {
				now := clock.Add(1)
				if i == 0 {
					first[w] = now
				}
				last[w] = now
				calls[w]++
				return !(w == 0 && i == tt.stopAt)
			})
			for w := range calls {
				want := int64(tt.min)
				if w == 0 && tt.stopAt >= 0 {
					want = int64(tt.stopAt + 1)
				}
				if calls[w] < want {
					t.Errorf("worker %d made %d calls, want at least %d", w, calls[w], want)
				}
			}
			// Overlap: every worker still ran after every other one had begun.
			for a := range first {
				for b := range last {
					if a != b && !(w0Stopped(tt.stopAt, b)) && last[b] < first[a] {
						t.Errorf("worker %d finished (call %d) before worker %d began (call %d)", b, last[b], a, first[a])
					}
				}
			}
		})
	}
}

// w0Stopped says whether worker w was told to stop early (and so may end before others begin).
func w0Stopped(stopAt, w int) bool { return w == 0 && stopAt >= 0 }

// TestBuffer: concurrent writers lose nothing; Take returns what came since the last Take.
func TestBuffer(t *testing.T) {
	var b Buffer
	Concurrently(4, 100, func(w, i int) bool {
		_, _ = b.Write([]byte("x"))
		return i < 99
	})
	n := len(b.String())
	if n < 4*100 {
		t.Fatalf("%d bytes written by 4 writers of at least 100 each", n)
	}
	if got := b.Take(); len(got) != n {
		t.Errorf("Take returned %d bytes, want %d", len(got), n)
	}
	_, _ = b.Write([]byte("after"))
	if got := b.Take(); got != "after" {
		t.Errorf("second Take = %q, want only what came after the first", got)
	}
}

func TestRawBackend(t *testing.T) {
	var accepted atomic.Int64
	addr := RawBackend(t, &accepted, 10*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		cl, err := ReadRequestHead(br)
		if err != nil {
			return
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", cl, body)
	})
	for i := 1; i <= 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 5\r\n\r\nhello")
		resp, err := io.ReadAll(c)
		c.Close()
		if want := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"; err != nil || string(resp) != want {
			t.Fatalf("answer %q, %v; want %q", resp, err, want)
		}
		if n := accepted.Load(); n != int64(i) {
			t.Fatalf("%d connections counted after %d", n, i)
		}
	}
	if _, err := ReadRequestHead(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n"))); err == nil {
		t.Error("a head cut before its end was read without an error")
	}
}

// TestRedisOnATakenPort: a redis-server whose port (or, in cluster mode, bus port) another
// process holds is started again on the next port picked, as happens when tests of other
// packages pick the same free port at the same time.
func TestRedisOnATakenPort(t *testing.T) {
	bin := redisServerPath(t)
	for _, tt := range []struct {
		name string
		bus  int // offset of the port the other process holds
		args []string
	}{
		{"port", 0, nil},
		{"cluster bus port", 10000, []string{"--cluster-enabled", "yes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			taken := freePortBeside(t, tt.bus)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken+tt.bus)))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			picks := 0
			r := startRedisRetrying(t, func() int {
				picks++
				if picks == 1 {
					return taken
				}
				return FreePorts(t, 1)[0]
			}, bin, tt.args...)
			if picks != 2 {
				t.Fatalf("%d ports picked, want 2", picks)
			}
			if reply, err := r.Do("PING"); err != nil || reply != "+PONG" || r.Addr == net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)) {
				t.Fatalf("%s: PING %q %v", r.Addr, reply, err)
			}
		})
	}
}
