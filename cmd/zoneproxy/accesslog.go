package main

import (
	"context"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

// accessLogGrace is how long an access log replaced by a reload keeps taking lines: requests that
// started before the reload log there when they end. Those that end later lose their line (counted
// in zoneproxy_access_log_dropped_total).
const accessLogGrace = 10 * time.Second

// accessLogs runs the access log in use, and replaces it when a reload changes its settings.
type accessLogs struct {
	mu       sync.Mutex
	cur      *running // nil when off
	retiring map[*running]*time.Timer
	dropped  uint64 // lines dropped by the loggers retired
}

// running is an access log and its writer goroutine.
type running struct {
	l    *accesslog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// start makes l (nil: off) the access log and retires the one it replaces after accessLogGrace.
func (s *accessLogs) start(l *accesslog.Logger) {
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
		s.retiring[old] = time.AfterFunc(accessLogGrace, func() { s.retire(old) })
	}
}

// retire writes what r has queued and closes it, once.
func (s *accessLogs) retire(r *running) {
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

// current is the access log in use, nil when off.
func (s *accessLogs) current() *accesslog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	return s.cur.l
}

// droppedTotal counts the lines every access log of this process dropped.
func (s *accessLogs) droppedTotal() uint64 {
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

// close writes what every access log has queued and closes them (at exit).
func (s *accessLogs) close() {
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
