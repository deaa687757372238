package main

import "time"

// poolSyncInterval is the least time between two syncs of the upstream pools (registry, active
// health checks, upstream metrics): each walks every pool, some 40 ms at 40,000 routes with inline
// upstreams, and under churn the pools change with nearly every build.
const poolSyncInterval = 250 * time.Millisecond

// poolSync is the state of the pool sync, under app.mu.
type poolSync struct {
	dirty  bool        // the snapshot in use has pools the last sync did not see
	last   time.Time   // the last sync
	timer  *time.Timer // a sync is due when it fires
	closed bool        // shutting down: no more syncs
}

// syncPoolsLocked brings the registry, the health checks and the upstream metrics in line with the
// pools of the snapshot in use: at once when the last sync is poolSyncInterval old, else when it
// will be. a.mu is held. Pools left out a little longer only keep their idle connections and
// checkers a little longer; new pools serve from the start, their active checks begin with the sync.
func (a *app) syncPoolsLocked() {
	ps := &a.pools
	ps.dirty = true
	if ps.closed || ps.timer != nil {
		return
	}
	if wait := poolSyncInterval - time.Since(ps.last); wait > 0 {
		ps.timer = time.AfterFunc(wait, func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			ps.timer = nil
			if ps.dirty && !ps.closed {
				a.syncPoolsLocked()
			}
		})
		return
	}
	pools := a.px.Snapshot().Pools
	a.reg.Retain(pools)
	a.checks.Sync(a.checksCtx, pools)
	a.metrics.SetPools(pools)
	ps.dirty, ps.last = false, time.Now()
}

// stopPoolSync cancels a pending sync; none starts afterwards.
func (a *app) stopPoolSync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pools.closed = true
	if a.pools.timer != nil {
		a.pools.timer.Stop()
		a.pools.timer = nil
	}
}
