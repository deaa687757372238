package cpclient

import (
	"context"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// ShrinkHold describes a full re-list held back by the shrink guard.
type ShrinkHold struct {
	Since    time.Time `json:"since"`
	Endpoint string    `json:"endpoint"`
	Routes   int       `json:"routes"`         // routes in the copy being served
	Removed  int       `json:"routes_removed"` // routes the held list would remove
	Reason   string    `json:"reason"`         // why the list was made
}

// shrinkOf counts the routes of the copy that kvs would remove. It reports whether that is more
// than the guard's fraction of them.
func (c *Client) shrinkOf(kvs map[string]state.KV) (routes, removed int, held bool) {
	if c.cfg.ShrinkGuard <= 0 || c.cfg.ShrinkGuard >= 1 {
		return 0, 0, false
	}
	routePrefix := c.cfg.Prefix + "/routes/"
	c.work.mu.Lock()
	for k := range c.work.kvs.All() {
		if !strings.HasPrefix(k, routePrefix) || len(k) == len(routePrefix) {
			continue
		}
		routes++
		if _, ok := kvs[k]; !ok {
			removed++
		}
	}
	c.work.mu.Unlock()
	return routes, removed, routes > 0 && float64(removed) > c.cfg.ShrinkGuard*float64(routes)
}

// guardedList lists the prefix on cn and, when that list would remove more than the guard's
// fraction of the routes, holds it: the copy keeps serving while the list is made again, until the
// endpoint no longer says so, another healthy endpoint agrees, or ShrinkHold has passed. A restored
// backup or an emptied control plane then cannot blank every zone at once; deletes that arrive as
// watch events are never held.
func (c *Client) guardedList(ctx context.Context, ep *endpoint, cn conn, why string) (map[string]state.KV, header, error) {
	kvs, h, err := c.listPinned(ctx, cn)
	if err != nil {
		return nil, header{}, err
	}
	routes, removed, held := c.shrinkOf(kvs)
	if !held {
		return kvs, h, nil
	}
	hold := &ShrinkHold{Since: time.Now(), Endpoint: ep.url, Routes: routes, Removed: removed, Reason: why}
	c.setShrinkHold(hold)
	defer c.setShrinkHold(nil)
	c.log.Warn("holding a re-list that would remove most routes; the current configuration keeps serving",
		"endpoint", ep.url, "routes", routes, "routes_removed", removed, "reason", why, "hold", c.cfg.ShrinkHold)

	tick := time.NewTicker(max(time.Second, 4*c.cfg.ProbeInterval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, header{}, ctx.Err()
		case <-tick.C:
		}
		if h, _, _ := ep.snapshot(); h != healthUp {
			return nil, header{}, errUnhealthy
		}
		if kvs, h, err = c.listPinned(ctx, cn); err != nil {
			return nil, header{}, err
		}
		_, removed, held = c.shrinkOf(kvs)
		switch {
		case !held:
			c.log.Info("the held re-list no longer removes most routes; applying it", "endpoint", ep.url)
			return kvs, h, nil
		case c.otherEndpointAgrees(ctx, ep):
			c.log.Warn("another endpoint agrees with the held re-list; applying it", "endpoint", ep.url,
				"routes_removed", removed)
			return kvs, h, nil
		case time.Since(hold.Since) >= c.cfg.ShrinkHold:
			c.log.Warn("applying the held re-list after the hold time", "endpoint", ep.url,
				"routes_removed", removed, "held", time.Since(hold.Since).Round(time.Second))
			return kvs, h, nil
		}
	}
}

// otherEndpointAgrees lists the prefix on the other healthy endpoints and reports whether one of
// them would shrink the copy as much.
func (c *Client) otherEndpointAgrees(ctx context.Context, held *endpoint) bool {
	for _, ep := range c.eps {
		if ep == held {
			continue
		}
		ep.mu.Lock()
		cn, h := ep.conn, ep.health
		ep.mu.Unlock()
		if cn == nil || h != healthUp {
			continue
		}
		kvs, _, err := c.listPinned(ctx, cn)
		if err != nil {
			continue
		}
		if _, _, held := c.shrinkOf(kvs); held {
			return true
		}
	}
	return false
}

func (c *Client) setShrinkHold(h *ShrinkHold) {
	c.shrinkMu.Lock()
	c.shrink = h
	c.shrinkMu.Unlock()
	if c.cfg.OnShrinkHold != nil {
		c.cfg.OnShrinkHold(h != nil)
	}
}
