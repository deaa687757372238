package lifecycle

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
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
	a.updateFingerprint(snap.KVs)
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

// registerFingerprint registers zoneproxy_config_fingerprint_info. It is an info metric, the
// fingerprint a label, so that a query can group regions by it and compare it with what
// `zoneproxy sync` prints (a numeric gauge of its first bits could be neither).
func (a *app) registerFingerprint() {
	a.fpInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zoneproxy_config_fingerprint_info",
		Help: "The fingerprint of the configuration served (config/fingerprint), as the label fingerprint.",
	}, []string{"fingerprint"})
	a.metrics.Registry().MustRegister(a.fpInfo)
}

// updateFingerprint brings the configuration fingerprint to kvs, what is served (objects rejected
// keep their last good version): in /status/control-plane and zoneproxy_config_fingerprint_info.
// Called under a.mu; it costs in proportion to what changed.
func (a *app) updateFingerprint(kvs state.KVs) {
	prefix := a.cfg.Deployment.Etcd.Prefix
	if a.fp == nil || a.fpPrefix != prefix {
		a.fp, a.fpPrefix = fingerprint.NewTracker(prefix), prefix
	}
	fp := a.fp.Update(kvs).String()
	if old, _ := a.fingerprint.Load().(string); old == fp {
		return
	}
	a.fingerprint.Store(fp)
	a.fpInfo.Reset()
	a.fpInfo.WithLabelValues(fp).Set(1)
}

// confirmed is when the control plane last confirmed the configuration served: the last answer of
// the endpoint in use (watch event, progress notification, probe), or, with none in use, the last
// answer of any endpoint (the watch was live until then). Zero when no endpoint ever answered.
func (a *app) confirmed() time.Time {
	// Standalone: the file (or the last push) is the control plane. The configuration is
	// current while the last version of the file loaded; one that failed leaves it as of the
	// last load.
	a.cpMu.Lock()
	file, admin := a.file, a.admin
	a.cpMu.Unlock()
	switch {
	case file != nil:
		s := file.Status()
		if !s.Loaded {
			return time.Time{}
		}
		if s.LastError != "" {
			return s.LoadedAt
		}
		return time.Now()
	case admin != nil:
		if !admin.Status().Loaded {
			return time.Time{}
		}
		return time.Now()
	}
	cp := a.client()
	if cp == nil {
		return time.Time{}
	}
	var last time.Time
	for _, e := range cp.Status().Endpoints {
		if e.LastSuccess == nil {
			continue
		}
		if e.Current {
			return *e.LastSuccess
		}
		if e.LastSuccess.After(last) {
			last = *e.LastSuccess
		}
	}
	return last
}
