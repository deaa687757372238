package tlssession

import (
	"crypto/tls"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// clock is a settable time for a Cache or Tickets.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Unix(1_800_000_000, 0).UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

func state(*testing.T) *tls.SessionState { return &tls.SessionState{} }

func TestCache(t *testing.T) {
	clk := newClock()
	c := NewCache(3, time.Minute, clk.now)
	var ids [][]byte
	var sessions []*tls.SessionState
	for range 3 {
		ss := state(t)
		id, err := c.WrapSession(tls.ConnectionState{}, ss)
		if err != nil || len(id) != idLen {
			t.Fatalf("id %x, %v", id, err)
		}
		ids, sessions = append(ids, id), append(sessions, ss)
	}
	get := func(id []byte) *tls.SessionState {
		ss, err := c.UnwrapSession(id, tls.ConnectionState{})
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	for i, id := range ids {
		if get(id) != sessions[i] {
			t.Errorf("session %d not found", i)
		}
		if get(id) != nil {
			t.Errorf("session %d resumed twice", i)
		}
		ids[i], _ = c.WrapSession(tls.ConnectionState{}, sessions[i]) // as the resumed handshake's new ticket
	}
	if get([]byte("short")) != nil || get(make([]byte, idLen)) != nil {
		t.Error("a foreign ticket resumed")
	}
	// Full: a fourth pushes the oldest out.
	fourth := state(t)
	id4, _ := c.WrapSession(tls.ConnectionState{}, fourth)
	if c.Len() != 3 {
		t.Errorf("len %d, want 3", c.Len())
	}
	if get(ids[0]) != nil {
		t.Error("the oldest session stayed in a full cache")
	}
	if get(ids[1]) != sessions[1] || get(id4) != fourth {
		t.Error("a session of a full cache is gone")
	}
	// Expiry: the timeout passed, the last one does not resume, and the next Wrap drops it.
	clk.add(time.Minute)
	if get(ids[2]) != nil {
		t.Error("an expired session resumed")
	}
	id5, _ := c.WrapSession(tls.ConnectionState{}, state(t))
	if c.Len() != 1 || get(id5) == nil {
		t.Errorf("len %d after expiry and one more session", c.Len())
	}
}

func TestBindCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key := []byte("object-A")
	ss := state(t)
	ss.Extra = [][]byte{[]byte("someone else's")}
	Bind(ss, key, "a.example", now)
	tests := []struct {
		name string
		key  string
		sni  string
		at   time.Duration
		want bool
	}{
		{"same object and SNI", "object-A", "a.example", time.Second, true},
		{"SNI in another case", "object-A", "A.Example", 0, true},
		{"at the timeout", "object-A", "a.example", 10 * time.Minute, true},
		{"past the timeout", "object-A", "a.example", 10*time.Minute + time.Second, false},
		{"made in the future", "object-A", "a.example", -time.Hour, false},
		{"another object (certificate changed)", "object-B", "a.example", 0, false},
		{"another SNI", "object-A", "b.example", 0, false},
		{"no SNI", "object-A", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(ss, []byte(tt.key), tt.sni, now.Add(tt.at), DefaultTimeout); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
		})
	}
	if Check(state(t), key, "a.example", now, DefaultTimeout) {
		t.Error("an unbound session passes")
	}
}

// pair is a server certificate for the handshake tests.
func pair(t *testing.T) tls.Certificate {
	c, k := tu.Cert(t, tu.ECDSA, "a.example", "b.example")
	p, err := tls.X509KeyPair([]byte(c), []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lastSession is a client session cache that offers the last session it got for any name, so
// that a test can offer one SNI's session under another.
type lastSession struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (l *lastSession) Get(string) (*tls.ClientSessionState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cs, l.cs != nil
}

func (l *lastSession) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = cs
}

// serveTLS serves ln with the config of each handshake chosen by pick, writing "ok" and closing.
func serveTLS(t *testing.T, pick func(*tls.ClientHelloInfo) (*tls.Config, error)) string {
	ln := tu.Listen(t)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	cfg := &tls.Config{GetConfigForClient: pick}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial makes one connection with cache, reads the server's "ok" (and so the ticket that comes
// before it) and reports whether the handshake resumed.
func dial(t *testing.T, addr, sni string, maxVersion uint16, cache tls.ClientSessionCache) bool {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true,
		ClientSessionCache: cache, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
	return c.ConnectionState().DidResume
}

// TestBoundHandshakes: real handshakes through Bound, with each store: a session resumes under
// the object and SNI that made it, within the timeout, over TLS 1.3 and TLS 1.2 (tickets); not
// under another object's config (a certificate change) nor another SNI.
func TestBoundHandshakes(t *testing.T) {
	p := pair(t)
	for _, tt := range []struct {
		name  string
		store func(clk *clock, keys *tls.Config) Store
	}{
		{"cache", func(clk *clock, _ *tls.Config) Store { return NewCache(0, time.Minute, clk.now) }},
		{"tickets", func(clk *clock, keys *tls.Config) Store {
			return &Tickets{Keys: keys, TTL: time.Minute, Clock: clk.now}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			keys := &tls.Config{}
			st := tt.store(clk, keys)
			var object atomic.Pointer[tls.Config]
			mk := func(binding string) *tls.Config {
				cfg := &tls.Config{Certificates: []tls.Certificate{p}}
				cfg.WrapSession, cfg.UnwrapSession = Bound(st, []byte(binding))
				return cfg
			}
			object.Store(mk("v1"))
			addr := serveTLS(t, func(*tls.ClientHelloInfo) (*tls.Config, error) { return object.Load(), nil })
			for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
				cache := tls.NewLRUClientSessionCache(4)
				if dial(t, addr, "a.example", v, cache) || !dial(t, addr, "a.example", v, cache) {
					t.Errorf("version %x: the second handshake did not resume", v)
				}
			}
			last := &lastSession{}
			dial(t, addr, "a.example", 0, last)
			if dial(t, addr, "b.example", 0, last) {
				t.Error("a.example's session resumed for b.example")
			}
			dial(t, addr, "a.example", 0, last)
			object.Store(mk("v2")) // the object's certificate or client rules changed
			if dial(t, addr, "a.example", 0, last) {
				t.Error("a session resumed under a changed object")
			}
			if !dial(t, addr, "a.example", 0, last) {
				t.Error("no resumption under the new object")
			}
			clk.add(time.Minute + time.Second)
			if dial(t, addr, "a.example", 0, last) {
				t.Error("a session resumed after the timeout")
			}
		})
	}
}

// TestCacheBounded: many more sessions than the size keep the cache, and its queue, bounded, and
// the newest sessions resume.
func TestCacheBounded(t *testing.T) {
	c := NewCache(100, time.Minute, newClock().now)
	var last []byte
	for range 5000 {
		last, _ = c.WrapSession(tls.ConnectionState{}, state(t))
	}
	if c.Len() != 100 || len(c.order)-c.head != 100 || cap(c.order) > 4*1024 {
		t.Errorf("len %d, queue %d from %d, cap %d", c.Len(), len(c.order), c.head, cap(c.order))
	}
	if ss, _ := c.UnwrapSession(last, tls.ConnectionState{}); ss == nil {
		t.Error("the newest session is gone")
	}
	// Sessions used as fast as they are made (each resumed handshake brings a new ticket) leave
	// used ids behind a live head: the queue stays bounded all the same.
	head, _ := c.WrapSession(tls.ConnectionState{}, state(t))
	for range 5000 {
		id, _ := c.WrapSession(tls.ConnectionState{}, state(t))
		if ss, _ := c.UnwrapSession(id, tls.ConnectionState{}); ss == nil {
			t.Fatal("a fresh session did not resume")
		}
	}
	if len(c.order)-c.head > 2*100 || cap(c.order) > 4*1024 {
		t.Errorf("queue %d from %d, cap %d", len(c.order), c.head, cap(c.order))
	}
	if ss, _ := c.UnwrapSession(head, tls.ConnectionState{}); ss == nil {
		t.Error("the live session at the head is gone")
	}
}
