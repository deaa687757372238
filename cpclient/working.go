package cpclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// working is the Client's own, mutable copy of the configuration. The session goroutine changes it;
// the apply loop copies it into immutable States for the Sink.
type working struct {
	mu        sync.Mutex
	kvs       state.Builder
	rev       int64
	clusterID uint64
	endpoint  string
	source    state.Source
	dirty     bool // changed since the last State
	urgent    bool // a full list is waiting: hand it over without coalescing
	// changed holds the keys put or deleted since the last State; nil after a full list (and before
	// the first State), when a receiver must compare everything.
	changed map[string]struct{}
	lastRev int64 // revision of the last State handed out (0: none)
	onApply func(rev int64, key string, full bool)
	notify  chan struct{}
}

func (w *working) init(initial *state.State, onApply func(int64, string, bool)) {
	w.kvs = state.Builder{}
	w.notify = make(chan struct{}, 1)
	w.onApply = onApply
	w.source = state.SourceControlPlane
	if initial != nil {
		w.kvs = state.BuilderOf(initial.KVs)
		w.rev, w.clusterID, w.endpoint, w.source = initial.Revision, initial.ClusterID, initial.Endpoint, initial.Source
		// The receiver built the initial State already: later States can say what changed since.
		w.changed, w.lastRev = make(map[string]struct{}), initial.Revision
	}
}

func (w *working) revision() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rev
}

// resyncReason says why the copy cannot be resumed from an endpoint that reports h ("" if it can).
func (w *working) resyncReason(h header) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.rev == 0:
		return "initial list"
	case w.clusterID != 0 && h.ClusterID != 0 && h.ClusterID != w.clusterID:
		return fmt.Sprintf("cluster id changed from %x to %x", w.clusterID, h.ClusterID)
	case h.Revision < w.rev:
		return fmt.Sprintf("endpoint revision %d is behind the applied revision %d", h.Revision, w.rev)
	}
	return ""
}

// replace makes kvs, listed at h, the whole copy.
func (w *working) replace(kvs map[string]state.KV, h header, endpoint string) {
	w.mu.Lock()
	w.kvs, w.rev, w.clusterID, w.endpoint = state.BuilderOf(state.NewKVs(kvs)), h.Revision, h.ClusterID, endpoint
	w.source = state.SourceControlPlane
	w.dirty, w.urgent = true, true
	w.changed = nil
	if w.onApply != nil {
		w.onApply(h.Revision, "", true)
	}
	w.mu.Unlock()
	w.signal()
}

// apply applies one watch response. Events at or below the revision the copy already reflects are
// dropped, so that nothing is applied twice whatever the endpoint replays.
func (w *working) apply(r watchResponse, endpoint string) {
	w.mu.Lock()
	base := w.rev
	changed := false
	for _, e := range r.Events {
		if e.KV.ModRevision <= base {
			continue
		}
		if e.Type == eventDelete {
			w.kvs.Delete(e.KV.Key)
		} else {
			w.kvs.Set(e.KV.Key, e.KV)
		}
		if w.changed != nil {
			w.changed[e.KV.Key] = struct{}{}
		}
		if e.KV.ModRevision > w.rev {
			w.rev = e.KV.ModRevision
		}
		changed = true
		if w.onApply != nil {
			w.onApply(e.KV.ModRevision, e.KV.Key, false)
		}
	}
	// A progress notification says every change up to its revision was delivered: later resumes can
	// start there, which keeps them clear of compaction.
	if r.Progress && r.Header.Revision > w.rev {
		w.rev = r.Header.Revision
	}
	if r.Header.ClusterID != 0 {
		w.clusterID = r.Header.ClusterID
	}
	w.endpoint = endpoint
	if changed {
		w.source = state.SourceControlPlane
		w.dirty = true
	}
	w.mu.Unlock()
	if changed {
		w.signal()
	}
}

func (w *working) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// state copies the working copy into a new immutable State, or returns nil when nothing changed.
func (w *working) current() *state.State {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return nil
	}
	w.dirty, w.urgent = false, false
	st := &state.State{
		Revision:  w.rev,
		ClusterID: w.clusterID,
		KVs:       w.kvs.Freeze(),
		Source:    w.source,
		Endpoint:  w.endpoint,
		Updated:   time.Now(),
	}
	if w.changed != nil && w.lastRev > 0 {
		st.Previous = w.lastRev
		st.Changed = make([]string, 0, len(w.changed))
		for k := range w.changed {
			st.Changed = append(st.Changed, k)
		}
	}
	w.changed, w.lastRev = make(map[string]struct{}), w.rev
	return st
}

func (w *working) isUrgent() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.urgent
}

// applyLoop hands new States to the Sink. Watch events are gathered for a window after the first
// one, so that a burst becomes one State; a full list goes at once. The window is CoalesceWindow, or
// as long as the Sink's last call when that took longer, never more than maxCoalesce: a Sink that
// needs 40 ms per State is then busy at most about half the time under churn, and no change waits
// more than maxCoalesce (plus the Sink's own time) to be applied.
func (c *Client) applyLoop(ctx context.Context) {
	var last time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.work.notify:
		}
		if !c.work.isUrgent() {
			t := time.NewTimer(min(max(c.cfg.CoalesceWindow, last), maxCoalesce))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if st := c.work.current(); st != nil {
			start := time.Now()
			c.sink(ctx, st)
			last = time.Since(start)
		}
	}
}

// maxCoalesce bounds the coalescing window.
const maxCoalesce = 100 * time.Millisecond
