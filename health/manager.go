package health

import (
	"context"
	"crypto/x509"
	"log/slog"
	"slices"
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
	// live are the live pools with active checks by key, in the order they went live (nearly
	// always one per key); the last one is the pool a key's checker probes through.
	live map[string][]*upstream.Pool
	// exited are the keys whose checker stopped on its own (its context ended): the next Update
	// starts it again, as Sync does.
	exited map[string]struct{}
	wg     sync.WaitGroup
}

// NewManager returns a Manager with no checkers. log may be nil (discard).
func NewManager(log *slog.Logger, opts ...Option) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{log: log.With("component", "health"), unit: time.Second, checkers: make(map[string]*checker),
		live: make(map[string][]*upstream.Pool), exited: make(map[string]struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Sync makes the running checkers match live, all the live pools: a checker per pool with
// checks.active, kept while the pool's CheckID is unchanged, stopped when its upstream left or
// changed. Checkers it starts run until a later Sync, Update or Close stops them, or ctx ends.
// Sync does not wait for stopped checkers to exit; Close does. Update is its incremental form.
func (m *Manager) Sync(ctx context.Context, live []*upstream.Pool) {
	byKey := make(map[string][]*upstream.Pool)
	for _, p := range live {
		if p != nil && p.CheckID() != "" {
			byKey[p.Key()] = append(byKey[p.Key()], p)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for key := range m.checkers {
		if _, ok := byKey[key]; !ok {
			m.settle(ctx, key, nil)
		}
	}
	m.live = byKey
	clear(m.exited)
	for key, ps := range byKey {
		m.settle(ctx, key, ps[len(ps)-1])
	}
}

// Update applies a change of the live pools (a Full one is Sync(ctx, d.Added)) in time
// proportional to the change: the checkers of the keys whose pools entered or left, and those
// that stopped on their own, end as Sync with the whole live set would leave them.
func (m *Manager) Update(ctx context.Context, d upstream.Delta) {
	if d.Full {
		m.Sync(ctx, d.Added)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	touched := m.exited
	m.exited = make(map[string]struct{})
	for _, p := range d.Removed {
		if p == nil || p.CheckID() == "" {
			continue
		}
		key := p.Key()
		if i := slices.Index(m.live[key], p); i >= 0 {
			m.live[key] = slices.Delete(m.live[key], i, i+1)
		}
		if len(m.live[key]) == 0 {
			delete(m.live, key)
		}
		touched[key] = struct{}{}
	}
	for _, p := range d.Added {
		if p == nil || p.CheckID() == "" || slices.Contains(m.live[p.Key()], p) {
			continue
		}
		m.live[p.Key()] = append(m.live[p.Key()], p)
		touched[p.Key()] = struct{}{}
	}
	for key := range touched {
		var want *upstream.Pool
		if ps := m.live[key]; len(ps) > 0 {
			want = ps[len(ps)-1]
		}
		m.settle(ctx, key, want)
	}
}

// settle makes key's checker probe through want, nil for none: the running one is kept while
// want's CheckID is its own and it has not exited, else stopped and, for a non-nil want, a new
// one started. Under m.mu.
func (m *Manager) settle(ctx context.Context, key string, want *upstream.Pool) {
	if c, ok := m.checkers[key]; ok {
		if want != nil && want.CheckID() == c.id && !c.exited() {
			c.pool.Store(want) // same targets and state; probe through the newest pool
			return
		}
		c.cancel()
		delete(m.checkers, key)
		m.log.Debug("health checker stopped", "upstream", key)
	}
	if want == nil {
		return
	}
	c := newChecker(ctx, m, want)
	m.checkers[key] = c
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		c.run()
		m.mu.Lock()
		if m.checkers[key] == c {
			m.exited[key] = struct{}{} // stopped on its own: the next Update restarts it
		}
		m.mu.Unlock()
	}()
	m.log.Debug("health checker started", "upstream", key, "nodes", len(want.Nodes()))
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
