package health

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// checker probes the nodes of one upstream. It runs two loops, one for healthy nodes at
// healthy.interval and one for unhealthy nodes at unhealthy.interval, as lua-resty-healthcheck
// does; a round that outlasts its interval makes the loop skip ticks rather than pile up.
type checker struct {
	id     string
	key    string
	m      *Manager
	pool   atomic.Pointer[upstream.Pool]
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newChecker(ctx context.Context, m *Manager, p *upstream.Pool) *checker {
	c := &checker{id: p.CheckID(), key: p.Key(), m: m, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.pool.Store(p)
	return c
}

func (c *checker) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *checker) run() {
	defer close(c.done)
	defer c.cancel()
	a := c.pool.Load().Spec().Checks.Active
	var wg sync.WaitGroup
	for _, mode := range []struct {
		healthy  bool
		interval int
	}{{true, a.Healthy.Interval}, {false, a.Unhealthy.Interval}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(mode.healthy, time.Duration(max(mode.interval, 1))*c.m.unit)
		}()
	}
	wg.Wait()
}

func (c *checker) loop(healthy bool, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.round(healthy)
		}
	}
}

// round probes every node whose health is the loop's, concurrency at a time, and waits.
func (c *checker) round(healthy bool) {
	defer c.recoverPanic()
	p := c.pool.Load()
	a := p.Spec().Checks.Active
	var targets []*upstream.Node
	for _, n := range p.Nodes() {
		if n.Healthy() == healthy {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		return
	}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(max(a.Concurrency, 1), len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.recoverPanic()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(targets) || c.ctx.Err() != nil {
					return
				}
				c.probe(p, targets[i])
			}
		}()
	}
	wg.Wait()
}

func (c *checker) recoverPanic() {
	if r := recover(); r != nil {
		c.m.log.LogAttrs(context.Background(), slog.LevelError, "health check panicked",
			slog.String("upstream", c.key), slog.Any("panic", r))
	}
}
