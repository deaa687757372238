package cpclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// Sink receives every new State, one at a time, from a single goroutine. It must not modify the State.
// A slow Sink delays later States, which then coalesce.
type Sink func(ctx context.Context, st *state.State)

// Client keeps a copy of the control plane's configuration. Create it with New, then call Run once.
type Client struct {
	cfg  Config
	log  *slog.Logger
	sink Sink
	eps  []*endpoint
	work working

	current atomic.Int32 // index of the endpoint in use, -1 when none

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced when an endpoint's health changes

	shrinkMu sync.Mutex
	shrink   *ShrinkHold // the re-list held by the shrink guard, if any
}

var (
	errStreamBroken = errors.New("watch stream broken")
	errFailback     = errors.New("a more preferred endpoint is healthy again")
	errUnhealthy    = errors.New("endpoint unhealthy")
)

// New checks cfg and returns a Client; nothing is dialled before Run.
func New(cfg Config, sink Sink) (*Client, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("cpclient: nil sink")
	}
	cl := &Client{
		cfg:     c,
		log:     c.Logger.With("component", "cpclient"),
		sink:    sink,
		changed: make(chan struct{}),
	}
	cl.current.Store(-1)
	for i, u := range c.Endpoints {
		cl.eps = append(cl.eps, &endpoint{idx: i, url: u, kick: make(chan struct{}, 1)})
	}
	cl.work.init(c.Initial, c.OnApply)
	return cl, nil
}

// Run connects to the control plane and keeps the copy up to date until ctx is done. It returns nil
// when ctx is cancelled.
func (c *Client) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, ep := range c.eps {
		g.Go(func() error { c.probeLoop(gctx, ep); return nil })
	}
	g.Go(func() error { c.applyLoop(gctx); return nil })
	g.Go(func() error { return c.mainLoop(gctx) })
	err := g.Wait()
	for _, ep := range c.eps {
		ep.mu.Lock()
		if ep.conn != nil {
			_ = ep.conn.Close()
			ep.conn = nil
		}
		ep.mu.Unlock()
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (c *Client) mainLoop(ctx context.Context) error {
	var prev *endpoint
	for {
		ep, err := c.choose(ctx)
		if err != nil {
			return nil // ctx done
		}
		if prev != ep {
			from := ""
			if prev == nil {
				c.log.Info("using control-plane endpoint", "endpoint", ep.url)
			} else {
				from = prev.url
				c.log.Info("switched control-plane endpoint", "from", prev.url, "to", ep.url)
			}
			if c.cfg.OnSwitch != nil {
				c.cfg.OnSwitch(from, ep.url)
			}
			prev = ep
		}
		c.current.Store(int32(ep.idx))
		ep.requestProbe() // move it to the current endpoint's probe schedule now
		err = c.session(ctx, ep)
		c.current.Store(-1)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errFailback):
			c.log.Info("failing back to a more preferred control-plane endpoint", "from", ep.url)
		default:
			c.log.Warn("control-plane endpoint failed", "endpoint", ep.url, "error", err)
			c.sessionFailed(ep, err)
		}
	}
}

// choose returns the first healthy endpoint in order of preference. It waits for endpoints not
// probed yet when they come first, and for any endpoint to become healthy when none is.
func (c *Client) choose(ctx context.Context) (*endpoint, error) {
	warned := false
	for {
		ch := c.changedChan()
		now := time.Now()
		var wake time.Time
	scan:
		for _, ep := range c.eps {
			h, _, notBefore := ep.snapshot()
			switch {
			case h == healthUnknown:
				break scan // prefer it: wait for its first probe
			case h == healthUp && now.Before(notBefore):
				if wake.IsZero() || notBefore.Before(wake) {
					wake = notBefore
				}
			case h == healthUp:
				return ep, nil
			}
		}
		if !warned && c.allDown() {
			c.log.Warn("no control-plane endpoint is reachable; serving the last configuration")
			warned = true
		}
		if err := waitChange(ctx, ch, wake); err != nil {
			return nil, err
		}
	}
}

// waitChange waits for ch to close, for the time wake (unless zero) or for ctx.
func waitChange(ctx context.Context, ch <-chan struct{}, wake time.Time) error {
	var timer <-chan time.Time
	if !wake.IsZero() {
		t := time.NewTimer(time.Until(wake))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ch:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (c *Client) allDown() bool {
	for _, ep := range c.eps {
		if h, _, _ := ep.snapshot(); h != healthDown {
			return false
		}
	}
	return true
}

// session lists or resumes on ep and follows its watch until something ends it: a failure, a
// fail-back, or ctx.
func (c *Client) session(ctx context.Context, ep *endpoint) error {
	ep.mu.Lock()
	cn := ep.conn
	ep.mu.Unlock()
	if cn == nil {
		return errors.New("no connection")
	}
	// A fresh header: the revision and cluster decide between resuming and listing again.
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	h, err := cn.Probe(pctx, c.probeKey())
	cancel()
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if why := c.work.resyncReason(h); why != "" {
		if err := c.relist(ctx, ep, cn, why); err != nil {
			return err
		}
	}
	rewatches := 0
	for {
		before := c.work.revision()
		err := c.watch(ctx, ep, cn)
		if c.work.revision() > before {
			rewatches = 0 // it delivered: count broken streams afresh
		}
		switch {
		case errors.Is(err, errCompacted):
			if err := c.relist(ctx, ep, cn, err.Error()); err != nil {
				return err
			}
		case errors.Is(err, errStreamBroken) && rewatches < 3:
			// A broken stream (a reset, a proxy timing out a long response) on an endpoint that
			// still answers is re-opened where it stopped, not failed over.
			rewatches++
			if _, perr := c.probe(ctx, cn); perr != nil {
				return err
			}
			c.log.Debug("watch stream broke; watching again", "endpoint", ep.url, "error", err)
		default:
			return err
		}
	}
}

// relist reads the whole prefix at one revision, page by page, and replaces the copy with it
// (through the shrink guard).
func (c *Client) relist(ctx context.Context, ep *endpoint, cn conn, why string) error {
	start := time.Now()
	kvs, h, err := c.guardedList(ctx, ep, cn, why)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.cfg.Prefix, err)
	}
	c.work.replace(kvs, h, ep.url)
	c.log.Info("listed the control-plane configuration",
		"endpoint", ep.url, "revision", h.Revision, "keys", len(kvs), "reason", why,
		"duration", time.Since(start).Round(time.Millisecond))
	c.sessionOK(ep)
	return nil
}

// listPinned is list, started over when the revision it pinned is compacted between pages.
func (c *Client) listPinned(ctx context.Context, cn conn) (map[string]state.KV, header, error) {
	for attempt := 0; ; attempt++ {
		kvs, h, err := c.list(ctx, cn)
		if errors.Is(err, errCompacted) && attempt < 3 {
			continue
		}
		return kvs, h, err
	}
}

func (c *Client) list(ctx context.Context, cn conn) (map[string]state.KV, header, error) {
	key, end := c.cfg.Prefix+"/", clientv3.GetPrefixRangeEnd(c.cfg.Prefix+"/")
	kvs := make(map[string]state.KV)
	var h header
	for {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		p, err := cn.Range(rctx, key, end, h.Revision, c.cfg.PageSize)
		cancel()
		if err != nil {
			return nil, header{}, err
		}
		if h.Revision == 0 {
			h = p.Header // pin every further page to the first page's revision
		}
		for _, kv := range p.KVs {
			kvs[kv.Key] = kv
		}
		if !p.More || len(p.KVs) == 0 {
			return kvs, h, nil
		}
		key = p.KVs[len(p.KVs)-1].Key + "\x00"
	}
}

// watch follows the watch stream from the revision after the copy's. It returns errCompacted
// (wrapped) when that revision is gone, and another error when the endpoint fails, stalls or should
// be left for a more preferred one.
func (c *Client) watch(ctx context.Context, ep *endpoint, cn conn) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	from := c.work.revision() + 1
	ws := cn.Watch(wctx, c.cfg.Prefix+"/", from)
	c.log.Debug("watching", "endpoint", ep.url, "from_revision", from)

	tick := time.NewTicker(c.cfg.ProbeInterval)
	defer tick.Stop()
	var (
		started         = time.Now()
		lastProgressAsk = started
		waitingSince    time.Time // a progress request is unanswered since then
		progressOK      = true
	)
	for {
		changed := c.changedChan()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			if h, _, _ := ep.snapshot(); h != healthUp {
				return fmt.Errorf("%w: %s", errUnhealthy, ep.lastError())
			}
		case r, ok := <-ws.C():
			if !ok {
				return fmt.Errorf("%w: ended", errStreamBroken)
			}
			waitingSince = time.Time{}
			if errors.Is(r.Err, errCompacted) {
				return fmt.Errorf("watch: %w", r.Err)
			}
			if r.Err != nil {
				return fmt.Errorf("%w: %w", errStreamBroken, r.Err)
			}
			if r.Progress {
				ep.setAnswersProgress()
			}
			c.work.apply(r, ep.url)
			c.sessionOK(ep)
		case now := <-tick.C:
			if h, _, _ := ep.snapshot(); h != healthUp {
				return fmt.Errorf("%w: %s", errUnhealthy, ep.lastError())
			}
			if c.failbackCandidate(ep, now) != nil {
				return errFailback
			}
			if !waitingSince.IsZero() && now.Sub(waitingSince) > c.cfg.StallTimeout {
				return fmt.Errorf("watch stalled: no answer to a progress request in %s", c.cfg.StallTimeout)
			}
			// etcd answers a progress request only once its revision reached the watch's start
			// revision (storage/mvcc progressIfSync), and some etcd-compatible stores never
			// answer: ask only when an answer is due, and count a silence as a stall only on an
			// endpoint that has answered before.
			if progressOK && waitingSince.IsZero() && now.Sub(lastProgressAsk) >= c.cfg.ProgressInterval {
				lastProgressAsk = now
				actx, acancel := context.WithTimeout(wctx, c.cfg.ProbeTimeout)
				err := ws.RequestProgress(actx)
				acancel()
				due := ep.header().Revision >= from
				switch {
				case err == nil && due && ep.answersProgress():
					waitingSince = now
				case errors.Is(err, errProgressUnsupported):
					progressOK = false
				case errors.Is(err, errNotEstablished) && now.Sub(started) > c.cfg.StallTimeout:
					return fmt.Errorf("watch not established in %s", c.cfg.StallTimeout)
				}
			}
		}
	}
}

// failbackCandidate returns a more preferred endpoint than cur that has been healthy for the
// fail-back hold time, or nil.
func (c *Client) failbackCandidate(cur *endpoint, now time.Time) *endpoint {
	for _, ep := range c.eps[:cur.idx] {
		h, since, notBefore := ep.snapshot()
		if h == healthUp && now.Sub(since) >= c.cfg.FailbackAfter && !now.Before(notBefore) {
			return ep
		}
	}
	return nil
}

func (c *Client) probeKey() string { return c.cfg.Prefix + "/" }

func (c *Client) changedChan() chan struct{} {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	return c.changed
}

func (c *Client) broadcast() {
	c.changedMu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.changedMu.Unlock()
}

// sessionFailed marks ep unhealthy and keeps it out of the choice for a backoff.
func (c *Client) sessionFailed(ep *endpoint, err error) {
	ep.mu.Lock()
	ep.sessionFailures++
	ep.notBefore = time.Now().Add(backoff(ep.sessionFailures, c.cfg.ProbeInterval, c.cfg.BackoffMax))
	ep.mu.Unlock()
	c.report(ep, header{}, err, false)
	ep.requestProbe()
}

func (c *Client) sessionOK(ep *endpoint) {
	ep.mu.Lock()
	ep.sessionFailures = 0
	ep.mu.Unlock()
}

// answersProgress reports whether ep has answered a watch progress request (or sent a progress
// notification) before.
func (ep *endpoint) answersProgress() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.progress
}

func (ep *endpoint) setAnswersProgress() {
	ep.mu.Lock()
	ep.progress = true
	ep.mu.Unlock()
}

func (ep *endpoint) lastError() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.lastErr
}
