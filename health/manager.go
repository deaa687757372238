package health

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// Option configures a Manager.
type Option func(*Manager)

// WithRootCAs sets the roots that verify https probes (https_verify_certificate); the default
// is the system roots.
func WithRootCAs(pool *x509.CertPool) Option { return func(m *Manager) { m.rootCAs = pool } }

// WithIntervalUnit sets what one unit of healthy.interval and unhealthy.interval lasts. APISIX
// counts seconds (the default); tests shorten it.
func WithIntervalUnit(d time.Duration) Option {
	return func(m *Manager) {
		if d > 0 {
			m.unit = d
		}
	}
}

// Manager owns the active health checkers of the live upstreams. It is safe for concurrent use.
type Manager struct {
	log     *slog.Logger
	rootCAs *x509.CertPool
	unit    time.Duration

	mu       sync.Mutex
	closed   bool
	checkers map[string]*checker // by upstream key
	wg       sync.WaitGroup
}

// NewManager returns a Manager with no checkers. log may be nil (discard).
func NewManager(log *slog.Logger, opts ...Option) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{log: log.With("component", "health"), unit: time.Second, checkers: make(map[string]*checker)}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Sync makes the running checkers match live: a checker per pool with checks.active, kept while
// the pool's CheckID is unchanged, stopped when its upstream left or changed. Checkers it starts
// run until a later Sync or Close stops them, or ctx ends. Sync does not wait for stopped
// checkers to exit; Close does.
func (m *Manager) Sync(ctx context.Context, live []*upstream.Pool) {
	want := make(map[string]*upstream.Pool, len(live))
	for _, p := range live {
		if p != nil && p.CheckID() != "" {
			want[p.Key()] = p
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for key, c := range m.checkers {
		if p, ok := want[key]; !ok || p.CheckID() != c.id || c.exited() {
			c.cancel()
			delete(m.checkers, key)
			m.log.Debug("health checker stopped", "upstream", key)
		}
	}
	for key, p := range want {
		if c, ok := m.checkers[key]; ok {
			c.pool.Store(p) // same targets and state; probe through the newest pool
			continue
		}
		c := newChecker(ctx, m, p)
		m.checkers[key] = c
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			c.run()
		}()
		m.log.Debug("health checker started", "upstream", key, "nodes", len(p.Nodes()))
	}
}

// Close stops every checker and waits for them to exit. The Manager cannot be used afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	for key, c := range m.checkers {
		c.cancel()
		delete(m.checkers, key)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// running is the number of checkers (for tests).
func (m *Manager) running() map[string]*checker {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*checker, len(m.checkers))
	for k, c := range m.checkers {
		out[k] = c
	}
	return out
}
