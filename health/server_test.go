package health

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// server is a minimal HTTP upstream on 127.0.0.1 that the tests can make answer a status, stay
// silent, stop and listen again on the same port. Every connection gets its own goroutine that
// ends when the connection does, so goroutine counts settle.
type server struct {
	t      *testing.T
	addr   string
	status atomic.Int32
	silent atomic.Bool  // accept and read, never answer
	delay  atomic.Int64 // nanoseconds to wait before answering (simulated service time)
	hits   atomic.Int64
	load   *load // counts requests being served; may be shared by several servers

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	last  string // last request head
	wg    sync.WaitGroup
}

func startServer(t *testing.T, configure ...func(*server)) *server {
	t.Helper()
	s := &server{t: t, conns: map[net.Conn]bool{}, load: &load{}}
	s.status.Store(200)
	for _, c := range configure {
		c(s)
	}
	s.serve(testutil.Listen(t))
	t.Cleanup(s.stop)
	return s
}

// listen binds addr again after stop. The port may not be free at once (the kernel may still
// hold it): listen polls until it binds.
func (s *server) listen(addr string) {
	s.t.Helper()
	var ln net.Listener
	testutil.WaitForState(s.t, "listen on "+addr, waitTimeout, func() (bool, string) {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	s.serve(ln)
}

// serve accepts on ln until stop.
func (s *server) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
}

func (s *server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *server) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.hits.Add(1)
	s.load.enter()
	answered := false
	defer func() {
		if !answered {
			s.load.leave()
		}
	}()
	r := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := r.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
	}
	if n := contentLength(head.String()); n > 0 {
		body := make([]byte, n)
		_, _ = r.Read(body)
		head.Write(body)
	}
	s.mu.Lock()
	s.last = head.String()
	s.mu.Unlock()
	if s.silent.Load() {
		_, _ = r.ReadByte() // until the prober gives up and closes
		return
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d) // simulated service time
	}
	answered = true
	s.load.leave() // before answering: the prober may start its next probe as soon as it reads
	fmt.Fprintf(c, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", s.status.Load())
}

// load tracks concurrent requests and their peak.
type load struct {
	active, peak atomic.Int32
}

func (l *load) enter() {
	n := l.active.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
}

func (l *load) leave() { l.active.Add(-1) }

func contentLength(head string) int {
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length: "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// stop closes the listener and every connection and waits for the goroutines.
func (s *server) stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *server) lastRequest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// waitTimeout bounds every wait for the checkers: generous, as other builds share the cores.
const waitTimeout = 15 * time.Second

func pool(t *testing.T, r *upstream.Registry, key, js string) *upstream.Pool {
	t.Helper()
	s, err := upstream.Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	p, err := r.Pool(key, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nodesOf renders servers as a map-form node list, weight 1 each.
func nodesOf(ss ...*server) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%q:1", s.addr)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// unit is the interval unit the tests run with: one configured "second" lasts this long.
const unit = 20 * time.Millisecond

func newManager(t *testing.T, opts ...Option) *Manager {
	m := NewManager(nil, append([]Option{WithIntervalUnit(unit)}, opts...)...)
	t.Cleanup(m.Close)
	return m
}
