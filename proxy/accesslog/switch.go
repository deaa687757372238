package accesslog

import (
	"context"
	"sync"
	"time"
)

// DefaultGrace is how long an access log replaced by a reload keeps taking lines when
// Switch.Grace is zero: requests that started before the reload log there when they end. Those
// that end later lose their line (counted by Switch.Dropped).
const DefaultGrace = 10 * time.Second

// Switch runs the access log in use, each with its writer goroutine, and replaces it when a
// reload changes its settings: the one replaced is retired (its queue written, its file closed)
// after a grace period, so that requests in flight still log somewhere.
//
// The zero value holds no logger and is ready to use. A Switch is safe for concurrent use and
// must not be copied.
type Switch struct {
	// Grace is how long a replaced logger keeps taking lines before it is retired; zero means
	// DefaultGrace. Set it before the first Start.
	Grace time.Duration

	mu       sync.Mutex
	cur      *running // nil when off
	retiring map[*running]*time.Timer
	dropped  uint64 // lines dropped by the loggers retired
}

// running is a Logger and its writer goroutine.
type running struct {
	l    *Logger
	stop context.CancelFunc
	done chan struct{}
}

// Start makes l (nil: off) the access log, runs its writer, and retires the one it replaces
// after the grace period.
func (s *Switch) Start(l *Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur
	s.cur = nil
	if l != nil {
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{l: l, stop: cancel, done: make(chan struct{})}
		go func() { _ = l.Run(ctx); close(r.done) }()
		s.cur = r
	}
	if old != nil {
		if s.retiring == nil {
			s.retiring = map[*running]*time.Timer{}
		}
		grace := s.Grace
		if grace <= 0 {
			grace = DefaultGrace
		}
		s.retiring[old] = time.AfterFunc(grace, func() { s.retire(old) })
	}
}

// retire writes what r has queued and closes it, once.
func (s *Switch) retire(r *running) {
	s.mu.Lock()
	_, ok := s.retiring[r]
	delete(s.retiring, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	r.close()
	s.mu.Lock()
	s.dropped += r.l.Dropped()
	s.mu.Unlock()
}

func (r *running) close() {
	r.stop()
	<-r.done
	_ = r.l.Close()
}

// Current is the access log in use, nil when off.
func (s *Switch) Current() *Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	return s.cur.l
}

// Dropped counts the lines every logger this Switch ran has dropped, retired ones included.
func (s *Switch) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropped
	if s.cur != nil {
		n += s.cur.l.Dropped()
	}
	for r := range s.retiring {
		n += r.l.Dropped()
	}
	return n
}

// Close writes what every logger has queued and closes them all (at exit).
func (s *Switch) Close() {
	s.mu.Lock()
	all := make([]*running, 0, len(s.retiring))
	for r, t := range s.retiring {
		t.Stop()
		all = append(all, r)
	}
	s.mu.Unlock()
	for _, r := range all {
		s.retire(r)
	}
	s.mu.Lock()
	cur := s.cur
	s.cur = nil
	s.mu.Unlock()
	if cur != nil {
		cur.close()
	}
}
