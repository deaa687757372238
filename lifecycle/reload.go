package lifecycle

import (
	"math"
	"reflect"
	"runtime/debug"
	"slices"
	"time"

	"github.com/zoneproxy/zoneproxy/config"
)

// cpSettings are the settings of the control-plane client: a change restarts the client, which
// resumes from the configuration it had (no re-list when the cluster is the same).
type cpSettings struct {
	Etcd                                         config.Etcd
	TrustedCA                                    string
	Transport                                    config.Transport
	FailbackAfter, ProbeInterval, ProbeTimeout   time.Duration
	BackoffMin, BackoffMax, CoalesceWindow, Hold time.Duration
	ShrinkGuard                                  float64
}

func cpSettingsOf(c *config.Config) cpSettings {
	z := c.Zoneproxy
	return cpSettings{
		Etcd: c.Deployment.Etcd, TrustedCA: c.APISIX.SSL.TrustedCertificate, Transport: z.CPTransport,
		FailbackAfter: z.FailbackAfter, ProbeInterval: z.ProbeInterval, ProbeTimeout: z.ProbeTimeout,
		BackoffMin: z.BackoffMin, BackoffMax: z.BackoffMax, CoalesceWindow: z.CoalesceWindow,
		Hold: z.ShrinkHold, ShrinkGuard: z.ShrinkGuard,
	}
}

// reload re-reads config.yaml (SIGHUP). What can change live is applied without dropping a request;
// what cannot (listen addresses, ...) is reported as needing a restart and keeps its running value.
// An invalid file changes nothing.
func (a *app) reload() {
	next, warnings, err := LoadConfig(a.path)
	if err != nil {
		a.log.Error("config.yaml reload failed; the running configuration stays", "file", a.path, "error", err)
		return
	}
	for _, w := range warnings {
		a.log.Warn("config.yaml", "warning", w)
	}
	cur := a.config()

	restart := keepRestartOnly(cur, next)
	var applied []string

	// The access log: a new one opens before the running one closes; one that cannot open
	// leaves the running one.
	access := a.access.Current()
	if cur.HTTP.EnableAccessLog != next.HTTP.EnableAccessLog || cur.HTTP.AccessLog != next.HTTP.AccessLog ||
		!reflect.DeepEqual(cur.Zoneproxy.AccessLog, next.Zoneproxy.AccessLog) {
		if l, err := newAccessLog(next, a.log); err != nil {
			a.log.Error("config.yaml reload: the access log settings are not applied", "error", err)
			next.HTTP.EnableAccessLog, next.HTTP.AccessLog = cur.HTTP.EnableAccessLog, cur.HTTP.AccessLog
			next.Zoneproxy.AccessLog = cur.Zoneproxy.AccessLog
		} else {
			// The one replaced keeps the lines of requests in flight for a while.
			access = l
			a.access.Start(l)
			applied = append(applied, "access log")
		}
	}
	// Limits, the body timeout, the real-IP settings and the access log apply to the requests
	// that start from now; the header, send and keep-alive timeouts to the connections accepted
	// from now (the others close after their next response).
	if fixed := a.px.Update(a.proxyOptions(next, access)); len(fixed) > 0 {
		a.log.Warn("config.yaml reload: proxy settings kept their running values", "settings", fixed)
	}
	if cur.HTTP.ClientMaxBodySize != next.HTTP.ClientMaxBodySize || cur.HTTP.ClientBodyTimeout != next.HTTP.ClientBodyTimeout ||
		cur.Zoneproxy.Limits != next.Zoneproxy.Limits {
		applied = append(applied, "client limits")
	}
	if cur.HTTP.RealIPHeader != next.HTTP.RealIPHeader || cur.HTTP.RealIPRecursive != next.HTTP.RealIPRecursive ||
		!slices.Equal(cur.HTTP.RealIPFrom, next.HTTP.RealIPFrom) || cur.HTTP.RealIPFromUnix != next.HTTP.RealIPFromUnix {
		applied = append(applied, "real ip")
	}
	if cur.HTTP.ClientHeaderTimeout != next.HTTP.ClientHeaderTimeout || cur.HTTP.SendTimeout != next.HTTP.SendTimeout ||
		cur.HTTP.KeepaliveTimeout != next.HTTP.KeepaliveTimeout {
		applied = append(applied, "client timeouts")
	}
	// The HTTPS settings apply to the handshakes that start from now.
	if !reflect.DeepEqual(tlsOptions(cur), tlsOptions(next)) {
		a.px.SetTLS(tlsOptions(next))
		applied = append(applied, "apisix.ssl")
	}
	if cur.Zoneproxy.MemoryLimit != next.Zoneproxy.MemoryLimit {
		if next.Zoneproxy.MemoryLimit > 0 {
			debug.SetMemoryLimit(next.Zoneproxy.MemoryLimit)
		} else {
			debug.SetMemoryLimit(math.MaxInt64)
		}
		applied = append(applied, "zoneproxy.memory_limit")
	}

	logChanged := cur.Zoneproxy.Log != next.Zoneproxy.Log
	if logChanged {
		applied = append(applied, "zoneproxy.log")
	}
	if cur.Zoneproxy.ReadyRequiresControlPlane != next.Zoneproxy.ReadyRequiresControlPlane {
		a.status.SetRequireControlPlane(next.Zoneproxy.ReadyRequiresControlPlane)
		applied = append(applied, "zoneproxy.ready_requires_control_plane")
	}
	if cur.Zoneproxy.DrainDelay != next.Zoneproxy.DrainDelay || cur.Zoneproxy.ShutdownTimeout != next.Zoneproxy.ShutdownTimeout {
		applied = append(applied, "zoneproxy.drain_delay/shutdown_timeout")
	}

	// The control-plane client: new endpoints, credentials, TLS files or timing restart it; it
	// resumes from the configuration it had. Unchanged TLS paths are re-read (rotated files).
	if cur.Deployment.Standalone() != config.NotStandalone {
		// No control-plane client to restart.
	} else if !reflect.DeepEqual(cpSettingsOf(cur), cpSettingsOf(next)) {
		loader, err := etcdTLS(next, a.log)
		if err != nil {
			a.log.Error("config.yaml reload: the control-plane TLS files are unusable; the running control-plane settings stay",
				"error", err)
			next.Deployment.Etcd = cur.Deployment.Etcd
			next.APISIX.SSL.TrustedCertificate = cur.APISIX.SSL.TrustedCertificate
		} else {
			st := a.stopClient()
			a.tlsFile = loader
			if err := a.startClient(next, st); err != nil {
				a.log.Error("config.yaml reload: could not start the control-plane client; restoring the running one", "error", err)
				_ = a.startClient(cur, st)
				next.Deployment.Etcd = cur.Deployment.Etcd
			} else {
				applied = append(applied, "deployment.etcd")
			}
		}
	} else if a.tlsFile != nil {
		if err := a.tlsFile.Reload(); err != nil {
			a.log.Warn("config.yaml reload: keeping the previous TLS files", "error", err)
		}
	}

	// Routing settings: a new builder rebuilds the whole snapshot from the current configuration.
	// So does a new keyring, which the SSL objects' keys and the plugins' encrypted fields are
	// decrypted with.
	rebuild := cur.APISIX.Router != next.APISIX.Router || cur.Zoneproxy.UnknownPlugins != next.Zoneproxy.UnknownPlugins ||
		!slices.Equal(cur.Plugins, next.Plugins) || (cur.Plugins == nil) != (next.Plugins == nil) ||
		!slices.Equal(cur.KeyringEntries(), next.KeyringEntries()) ||
		cur.APISIX.DataEncryption.EnableEncryptFields != next.APISIX.DataEncryption.EnableEncryptFields ||
		!slices.Equal(cur.HTTPSPorts(), next.HTTPSPorts())
	if rebuild {
		if b, err := a.newBuilder(next); err != nil {
			a.log.Error("config.yaml reload: routing settings not applied", "error", err)
			next.APISIX.Router, next.Zoneproxy.UnknownPlugins = cur.APISIX.Router, cur.Zoneproxy.UnknownPlugins
			next.Plugins, next.Redirect = cur.Plugins, cur.Redirect
			next.APISIX.DataEncryption, next.APISIX.SSL.KeyEncryptSalt = cur.APISIX.DataEncryption, cur.APISIX.SSL.KeyEncryptSalt
			rebuild = false
		} else {
			a.mu.Lock()
			a.builder = b
			a.mu.Unlock()
			applied = append(applied, "apisix.router.http/plugins/zoneproxy.unknown_plugins/keyring/plugin_attr.redirect")
		}
	}
	a.mu.Lock()
	a.cfg = next
	a.mu.Unlock()
	if rebuild {
		if st := a.currentState(); st != nil {
			a.apply(a.checksCtx, st)
		}
	}
	a.log.Info("config.yaml reloaded", "file", a.path, "applied", applied)
	if len(restart) > 0 {
		a.log.Warn("config.yaml reload: these changes need a restart and are not applied", "keys", restart)
	}
	if logChanged { // last, so that this reload is logged under the settings it was made with
		a.logs.Set(string(next.Zoneproxy.Log.Format), next.Zoneproxy.Log.Level)
	}
}

// keepRestartOnly gives every setting of next that only a restart can change its running value
// from cur, and returns the keys of those that differed.
func keepRestartOnly(cur, next *config.Config) (restart []string) {
	keep := func(key string, changed bool, restore func()) {
		if changed {
			restart = append(restart, key)
			restore()
		}
	}
	keep("apisix.node_listen", !reflect.DeepEqual(cur.APISIX.NodeListen, next.APISIX.NodeListen),
		func() { next.APISIX.NodeListen = cur.APISIX.NodeListen })
	keep("apisix.ssl.listen", !reflect.DeepEqual(cur.APISIX.SSL.Listen, next.APISIX.SSL.Listen),
		func() { next.APISIX.SSL.Listen = cur.APISIX.SSL.Listen })
	keep("apisix.ssl.enable", cur.APISIX.SSL.Enable != next.APISIX.SSL.Enable,
		func() { next.APISIX.SSL.Enable = cur.APISIX.SSL.Enable })
	keep("apisix.status", cur.APISIX.Status != next.APISIX.Status, func() { next.APISIX.Status = cur.APISIX.Status })
	keep("apisix.enable_server_tokens", cur.APISIX.EnableServerTokens != next.APISIX.EnableServerTokens,
		func() { next.APISIX.EnableServerTokens = cur.APISIX.EnableServerTokens })
	keep("plugin_attr.prometheus", cur.Prometheus != next.Prometheus, func() { next.Prometheus = cur.Prometheus })
	keep("deployment.etcd.prefix", cur.Deployment.Etcd.Prefix != next.Deployment.Etcd.Prefix,
		func() { next.Deployment.Etcd.Prefix = cur.Deployment.Etcd.Prefix })
	keep("deployment.role/config_provider", cur.Deployment.Role != next.Deployment.Role || cur.Deployment.Provider() != next.Deployment.Provider(),
		func() {
			next.Deployment.Role, next.Deployment.RoleTraditional, next.Deployment.RoleDataPlane =
				cur.Deployment.Role, cur.Deployment.RoleTraditional, cur.Deployment.RoleDataPlane
		})
	keep("zoneproxy.standalone_file", cur.Zoneproxy.StandaloneFile != next.Zoneproxy.StandaloneFile,
		func() { next.Zoneproxy.StandaloneFile = cur.Zoneproxy.StandaloneFile })
	keep("zoneproxy.standalone_watch", cur.Zoneproxy.StandaloneWatch != next.Zoneproxy.StandaloneWatch,
		func() { next.Zoneproxy.StandaloneWatch = cur.Zoneproxy.StandaloneWatch })
	keep("deployment.admin", cur.Deployment.Standalone() == config.StandaloneAPI && !reflect.DeepEqual(cur.Deployment.Admin, next.Deployment.Admin),
		func() { next.Deployment.Admin = cur.Deployment.Admin })
	keep("zoneproxy.data_dir", cur.Zoneproxy.DataDir != next.Zoneproxy.DataDir,
		func() { next.Zoneproxy.DataDir = cur.Zoneproxy.DataDir })
	// The read buffer of every connection is sized by it.
	keep("zoneproxy.limits.max_header_bytes", cur.Zoneproxy.Limits.MaxHeaderBytes != next.Zoneproxy.Limits.MaxHeaderBytes,
		func() { next.Zoneproxy.Limits.MaxHeaderBytes = cur.Zoneproxy.Limits.MaxHeaderBytes })
	return restart
}
