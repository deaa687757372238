package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/proxy"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
)

// newAccessLog opens the access log nginx_config.http asks for, or returns nil when it is off.
func newAccessLog(cfg *config.Config, log *slog.Logger) (*accesslog.Logger, error) {
	if !cfg.HTTP.EnableAccessLog {
		return nil, nil
	}
	out := cfg.HTTP.AccessLog
	switch out {
	case "/dev/stdout":
		out = "stdout"
	case "/dev/stderr":
		out = "stderr"
	}
	al := cfg.Zoneproxy.AccessLog
	l, err := accesslog.New(accesslog.Options{Format: al.Format, Fields: al.Fields, Output: out,
		BufferLines: al.BufferLines, Logger: log})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// proxyOptions are the proxy's settings from cfg, with access as its access log.
func (a *app) proxyOptions(cfg *config.Config, access *accesslog.Logger) proxy.Options {
	h, l := cfg.HTTP, cfg.Zoneproxy.Limits
	return proxy.Options{
		ServerName: a.server, Logger: a.log, Metrics: a.metrics, AccessLog: access,
		MaxHeaderBytes: l.MaxHeaderBytes, MaxHeaderCount: l.MaxHeaderCount,
		MaxURILength: l.MaxURILength, MaxRequestBodySize: h.ClientMaxBodySize,
		HeaderTimeout: h.ClientHeaderTimeout, BodyTimeout: h.ClientBodyTimeout,
		SendTimeout: h.SendTimeout, IdleTimeout: h.KeepaliveTimeout,
	}
}

// anyEndpointUp reports whether some control-plane endpoint is healthy (apisix_etcd_reachable).
func (a *app) anyEndpointUp() bool {
	cp := a.client()
	if cp == nil {
		return false
	}
	for _, e := range cp.Status().Endpoints {
		if e.Healthy {
			return true
		}
	}
	return false
}

// modifyIndexes feeds apisix_etcd_modify_indexes: the highest mod revision per kind. It walks the
// whole configuration, so it runs at most once a second.
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
