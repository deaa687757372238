package lifecycle

import (
	"context"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// apply is the Sink of the configuration sources (the control-plane client, the state file):
// build, swap, sync the upstream state, save to disk.
func (a *app) apply(_ context.Context, st *state.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	snap, err := a.builder.Build(st)
	if err != nil {
		a.log.Error("could not build the configuration; the previous one keeps serving",
			"revision", st.Revision, "error", err)
		return
	}
	a.px.Store(snap)
	a.memory.Applied()
	// In time proportional to what changed: one route's change costs the same at 40,000 upstreams
	// as at ten. (The first Snapshot of a builder hands over every pool.)
	if d := snap.PoolDelta; !d.Empty() {
		a.reg.Update(d)
		a.checks.Update(a.checksCtx, d)
		a.metrics.UpdatePools(d)
	}
	if r := snap.RetiredMetrics; len(r.Labels) > 0 {
		a.metrics.Retire(r)
	}
	a.metrics.SetConfig(snap.Revision, snap.Updated)
	a.modifyIndexes(st)
	a.log.Info("configuration applied", "revision", snap.Revision, "source", snap.Source,
		"routes", snap.Counts.Routes, "upstreams", snap.Counts.Upstreams,
		"build", snap.BuildDuration.Round(time.Microsecond))
	if st.Source != state.SourceControlPlane {
		return
	}
	// What is saved is what is served: the objects rejected keep their last good version.
	eff := *st
	eff.KVs = snap.KVs
	a.writer.Save(&eff)
}

// modifyIndexes feeds apisix_etcd_modify_indexes: the highest mod revision per kind. It walks the
// whole configuration, so it runs at most once a second. Called under a.mu.
func (a *app) modifyIndexes(st *state.State) {
	if time.Since(a.lastIndexes) < time.Second {
		return
	}
	a.lastIndexes = time.Now()
	prefix := a.cfg.Deployment.Etcd.Prefix + "/"
	byKind := map[string]int64{}
	for k, kv := range st.KVs.All() {
		kind, _, ok := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		if ok && kv.ModRevision > byKind[kind] {
			byKind[kind] = kv.ModRevision
		}
	}
	a.metrics.SetModifyIndexes(byKind, st.Revision)
}
