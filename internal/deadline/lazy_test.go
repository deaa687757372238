package deadline

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// counting is a real TCP connection that counts the deadlines armed on it.
type counting struct {
	net.Conn
	reads, writes, both int
}

func (c *counting) SetReadDeadline(t time.Time) error  { c.reads++; return c.Conn.SetReadDeadline(t) }
func (c *counting) SetWriteDeadline(t time.Time) error { c.writes++; return c.Conn.SetWriteDeadline(t) }
func (c *counting) SetDeadline(t time.Time) error      { c.both++; return c.Conn.SetDeadline(t) }

// pair returns the two ends of a loopback TCP connection, the client's counting its deadlines.
func pair(t *testing.T) (client *counting, server net.Conn) {
	c, s := tu.TCPPair(t)
	return &counting{Conn: c}, s
}

// readTimesOut reads from c and reports whether it failed with a deadline error within limit.
func readTimesOut(t *testing.T, c net.Conn, limit time.Duration) bool {
	t.Helper()
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
		return true
	case <-time.After(limit):
		return false
	}
}

func TestLazyRearmsOnlyPastTheSlack(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	base := time.Now().Add(60 * time.Second)
	steps := []struct {
		name  string
		t     time.Time
		armed bool
	}{
		{"first", base, true},
		{"moved 1 ms later", base.Add(time.Millisecond), false},
		{"moved 100 ms earlier", base.Add(-100 * time.Millisecond), false},
		{"moved 299 ms later", base.Add(299 * time.Millisecond), false},
		{"moved past the 300 ms cap", base.Add(301 * time.Millisecond), true},
		{"cleared", time.Time{}, true},
		{"cleared again", time.Time{}, false},
		{"armed after a clear", base, true},
	}
	for _, s := range steps {
		before := c.reads
		if err := l.SetRead(c, s.t); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if armed := c.reads > before; armed != s.armed {
			t.Errorf("%s: armed %v, want %v", s.name, armed, s.armed)
		}
	}
	// The write direction is its own.
	if err := l.SetWrite(c, base); err != nil || c.writes != 1 {
		t.Errorf("first write deadline: armed %d times, err %v", c.writes, err)
	}
	if err := l.SetWrite(c, base.Add(time.Millisecond)); err != nil || c.writes != 1 {
		t.Errorf("write deadline within the slack: armed %d times, err %v", c.writes, err)
	}
}

// TestLazySlackScalesWithTheTimeout: a 1 s timeout has 62.5 ms of slack, not 300 ms.
func TestLazySlackScalesWithTheTimeout(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	base := time.Now().Add(time.Second)
	_ = l.SetRead(c, base)
	_ = l.SetRead(c, base.Add(30*time.Millisecond))
	if c.reads != 1 {
		t.Errorf("30 ms off a 1 s deadline: armed again")
	}
	_ = l.SetRead(c, base.Add(100*time.Millisecond))
	if c.reads != 2 {
		t.Errorf("100 ms off a 1 s deadline: not armed again")
	}
}

// TestLazyShorterTimeoutFires: a short timeout replacing a long one is armed, and a read fails on it.
func TestLazyShorterTimeoutFires(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	_ = l.SetRead(c, time.Now().Add(time.Hour))
	_ = l.SetRead(c, time.Now().Add(50*time.Millisecond))
	if !readTimesOut(t, c, 10*time.Second) {
		t.Fatal("the read did not time out on the 50 ms deadline")
	}
}

// TestLazyPastDeadlineInterrupts: a deadline in the past, set while a read waits, ends it; the
// next deadline is armed whatever it is.
func TestLazyPastDeadlineInterrupts(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	_ = l.SetRead(c, time.Now().Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	_ = l.SetRead(c, time.Now().Add(-time.Millisecond))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a past deadline did not interrupt the read")
	}
	n := c.reads
	_ = l.SetRead(c, time.Now().Add(time.Millisecond))
	if c.reads != n+1 {
		t.Error("the deadline after a past one was not armed")
	}
}

// TestLazyClearedDeadlineIsGone: after a clear the connection has no deadline: a read waits
// for data past the deadline cleared.
func TestLazyClearedDeadlineIsGone(t *testing.T) {
	c, s := pair(t)
	var l Lazy
	_ = l.SetRead(c, time.Now().Add(30*time.Millisecond))
	_ = l.SetRead(c, time.Time{})
	if readTimesOut(t, c, 200*time.Millisecond) {
		t.Fatal("the read timed out on a cleared deadline")
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestLazyAfterErrorArmsAgain: a failed Set leaves the deadline unknown: the same deadline is
// armed again next time, even a zero one.
func TestLazyAfterErrorArmsAgain(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	base := time.Now().Add(time.Minute)
	c.Conn.Close()
	if err := l.SetRead(c, base); err == nil {
		t.Fatal("SetReadDeadline on a closed connection did not fail")
	}
	for _, d := range []time.Time{base, time.Time{}} {
		n := c.reads
		_ = l.SetRead(c, d)
		if c.reads != n+1 {
			t.Errorf("after an error, %v was not armed", d)
		}
	}
}

func TestLazySetBoth(t *testing.T) {
	c, _ := pair(t)
	var l Lazy
	base := time.Now().Add(time.Minute)
	_ = l.Set(c, base)
	_ = l.SetRead(c, base.Add(time.Millisecond))
	_ = l.SetWrite(c, base.Add(time.Millisecond))
	if c.both != 1 || c.reads != 0 || c.writes != 0 {
		t.Errorf("armed both %d, read %d, write %d times; want once, then nothing", c.both, c.reads, c.writes)
	}
	_ = l.Set(c, base.Add(time.Millisecond))
	if c.both != 1 {
		t.Error("Set within the slack of both armed again")
	}
}

// BenchmarkLazyRearm: a keep-alive request's re-arm of a 60 s deadline, lazily and not.
func BenchmarkLazyRearm(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if s, err := ln.Accept(); err == nil {
			defer s.Close()
			_, _ = s.Read(make([]byte, 1))
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.Run("eager", func(b *testing.B) {
		for range b.N {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		}
	})
	b.Run("lazy", func(b *testing.B) {
		var l Lazy
		for range b.N {
			_ = l.SetRead(c, time.Now().Add(time.Minute))
		}
	})
}
