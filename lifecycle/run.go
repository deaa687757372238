package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/fingerprint"
	"github.com/zoneproxy/zoneproxy/config/standalone/adminapi"
	"github.com/zoneproxy/zoneproxy/config/standalone/filesource"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/config/statefile"
	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/cpclient/tlsfiles"
	"github.com/zoneproxy/zoneproxy/health"
	"github.com/zoneproxy/zoneproxy/health/status"
	"github.com/zoneproxy/zoneproxy/lifecycle/logswitch"
	"github.com/zoneproxy/zoneproxy/lifecycle/memory"
	"github.com/zoneproxy/zoneproxy/proxy"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/redislog"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Options is what Run needs from the command line.
type Options struct {
	// Path is config.yaml's path, read again on SIGHUP.
	Path string
	// Config is config.yaml as LoadConfig read it at start.
	Config *config.Config
	// Logs hands out the loggers; a reload changes their level and format.
	Logs *logswitch.Switch
	// Signals delivers SIGHUP (reload config.yaml) and SIGUSR1 (reopen the access log); nil
	// delivers nothing.
	Signals <-chan os.Signal
	// Version is the build's version, in the Server header and the metrics.
	Version string
}

// LoadConfig reads config.yaml at path and checks that zoneproxy can serve it: its warnings are
// returned with it.
func LoadConfig(path string) (*config.Config, []string, error) {
	cfg, warnings, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	return cfg, append(warnings, pluginWarnings(cfg)...), nil
}

// pluginWarnings checks config.yaml's plugins list: names APISIX does not know, and enabled
// plugins zoneproxy does not implement (objects using them are rejected, or run without them
// under zoneproxy.unknown_plugins: ignore).
func pluginWarnings(cfg *config.Config) []string {
	if cfg.Plugins == nil {
		return nil
	}
	known := plugin.EnabledSet(nil)
	reg := builtin.Registry()
	var out, lacking []string
	for _, n := range cfg.Plugins {
		_, implemented := reg.Lookup(n)
		switch {
		case implemented:
		case !known[n]:
			out = append(out, fmt.Sprintf("plugins: %q is not an APISIX plugin that zoneproxy knows of", n))
		default:
			lacking = append(lacking, n)
		}
	}
	if len(lacking) > 0 {
		what := "objects that use them are rejected"
		if cfg.Zoneproxy.UnknownPlugins == config.UnknownPluginsIgnore {
			what = "objects that use them run without them (zoneproxy.unknown_plugins: ignore)"
		}
		out = append(out, fmt.Sprintf("plugins: zoneproxy does not implement %s: %s (it implements %s)",
			strings.Join(lacking, ", "), what, strings.Join(reg.Names(), ", ")))
	}
	return out
}

// app is one running zoneproxy: the components and how they are connected.
type app struct {
	path    string
	logs    *logswitch.Switch
	log     *slog.Logger
	cfg     *config.Config // the configuration in force; changed only by reload
	px      *proxy.Proxy
	status  *status.Server
	reg     *upstream.Registry
	checks  *health.Manager
	writer  *statefile.Writer
	tlsFile *tlsfiles.Loader
	metrics *metrics.Metrics
	access  accesslog.Switch
	server  string // the Server header
	memory  *memory.Policy

	checksCtx context.Context // lives until shutdown

	mu      sync.Mutex // serialises applying States and swapping the builder
	builder *snapshot.Builder

	lastIndexes time.Time            // when apisix_etcd_modify_indexes was last computed (under mu)
	fp          *fingerprint.Tracker // the served configuration's fingerprint (under mu)
	fpPrefix    string
	fingerprint atomic.Value // string: fp's digest, for the status server
	fpInfo      *prometheus.GaugeVec

	cpMu   sync.Mutex
	cp     *cpclient.Client
	cpStop func() // stops cp and waits for it
	// The standalone sources (at most one of them, and then no cp).
	file     *filesource.Source
	fileStop func()
	admin    *adminapi.Store
}

// Run wires the components together and runs them until ctx is cancelled, then drains: readiness
// fails at once, traffic is served for drain_delay, then the listeners close and requests in flight
// finish (within shutdown_timeout). It returns an error when startup fails or a listener stops.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	a := &app{path: o.Path, logs: o.Logs, log: o.Logs.Logger(), cfg: cfg}
	redislog.Route(a.log) // the limit plugins' Redis clients log through ours, not to stderr
	z := cfg.Zoneproxy
	prefix := cfg.Deployment.Etcd.Prefix
	tlsLoader, err := etcdTLS(cfg, a.log)
	if err != nil {
		return err
	}
	a.tlsFile = tlsLoader
	a.server = "zoneproxy"
	if cfg.APISIX.EnableServerTokens {
		a.server += "/" + o.Version
	}
	if a.metrics, err = metrics.New(metrics.Options{Path: cfg.Prometheus.ExportURI, Version: o.Version, Logger: a.log}); err != nil {
		return fmt.Errorf("plugin_attr.prometheus: %w", err)
	}
	access, err := newAccessLog(cfg, a.log)
	if err != nil {
		return err
	}
	a.access.Start(access)
	defer a.access.Close()
	a.metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "zoneproxy_access_log_dropped_total",
		Help: "Access log lines dropped because the output could not keep up.",
	}, func() float64 { return float64(a.access.Dropped()) }))
	a.registerFingerprint()
	if z.MemoryLimit > 0 {
		debug.SetMemoryLimit(z.MemoryLimit)
	}
	a.memory = memory.New(a.log)
	memCtx, stopMemory := context.WithCancel(context.Background())
	memDone := make(chan struct{})
	go func() { a.memory.Run(memCtx); close(memDone) }()
	defer func() { stopMemory(); <-memDone }()
	a.px = proxy.New(a.proxyOptions(cfg, access))
	a.px.SetTLS(tlsOptions(cfg))
	// The proxy configures every upstream client (dial timeouts per route, keepalive_pool.requests).
	a.reg = upstream.NewRegistry(upstream.Options{Logger: a.log, Client: a.px.ConfigureClient})
	if a.builder, err = a.newBuilder(cfg); err != nil {
		return err
	}

	// Every listener is opened before anything starts, so that a port in use stops startup cleanly.
	proxyLns, err := listenAll("apisix.node_listen", cfg.APISIX.NodeListen, a.log)
	if err != nil {
		return err
	}
	// The HTTPS listeners follow the plain ones in proxyLns: those from plainLns on serve TLS.
	plainLns := len(proxyLns)
	if cfg.APISIX.SSL.Enable {
		tlsLns, err := listenAll("apisix.ssl.listen", cfg.APISIX.SSL.Listen, a.log)
		if err != nil {
			closeAll(proxyLns)
			return err
		}
		proxyLns = append(proxyLns, tlsLns...)
	}
	statusLn, err := net.Listen("tcp", cfg.APISIX.Status.String())
	if err != nil {
		closeAll(proxyLns)
		return fmt.Errorf("apisix.status: %w", err)
	}
	var metricsLn net.Listener
	if cfg.Prometheus.EnableExportServer {
		if metricsLn, err = net.Listen("tcp", cfg.Prometheus.ExportAddr.String()); err != nil {
			closeAll(append(proxyLns, statusLn))
			return fmt.Errorf("plugin_attr.prometheus.export_addr: %w", err)
		}
	}

	checksCtx, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	a.checksCtx = checksCtx
	a.checks = health.NewManager(a.log)
	defer a.checks.Close()
	statePath := filepath.Join(z.DataDir, statefile.FileName)
	a.writer = statefile.NewWriter(statePath, prefix, time.Second, a.log)

	// Static stability: serve the last configuration written to disk until the control plane
	// answers. The standalone modes have none: the file is the configuration, and APISIX's
	// API-driven mode starts empty.
	mode := cfg.Deployment.Standalone()
	var initial *state.State
	err = statefile.ErrNoFile
	if mode == config.NotStandalone {
		initial, err = statefile.Read(statePath, prefix)
	}
	switch {
	case mode != config.NotStandalone:
	case errors.Is(err, statefile.ErrNoFile):
		a.log.Info("no state file; waiting for the control plane", "file", statePath)
	case err != nil:
		a.log.Error("ignoring the state file", "error", err)
		initial = nil
	default:
		a.log.Info("serving the state file until the control plane answers", "file", statePath,
			"revision", initial.Revision, "written", initial.Updated)
		a.apply(ctx, initial)
	}

	a.status = status.New(status.Config{
		Loaded: func() (bool, string, int64, time.Time) {
			s := a.px.Snapshot()
			if s == nil {
				return false, "", 0, time.Time{}
			}
			return true, string(s.Source), s.Revision, s.Updated
		},
		ControlPlane:        a.sourceStatus,
		RequireControlPlane: z.ReadyRequiresControlPlane,
		Fingerprint: func() string {
			fp, _ := a.fingerprint.Load().(string)
			return fp
		},
		Confirmed: a.confirmed,
	})
	switch mode {
	case config.StandaloneFile:
		if err := a.startFile(ctx, cfg); err != nil {
			closeAll(append(proxyLns, statusLn))
			return err
		}
		defer a.stopFile()
	case config.StandaloneAPI:
		stop, err := a.startAdmin(cfg)
		if err != nil {
			closeAll(append(proxyLns, statusLn))
			return err
		}
		defer stop()
	default:
		if err := a.startClient(cfg, initial); err != nil {
			closeAll(append(proxyLns, statusLn))
			return err
		}
		defer a.stopClient()
	}
	statusSrv := a.status.Serve(statusLn)
	if metricsLn != nil {
		msrv := &http.Server{Handler: a.metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = msrv.Serve(metricsLn) }()
		defer func() { _ = msrv.Close() }()
	}
	writerCtx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() { a.writer.Run(writerCtx); close(writerDone) }()
	defer func() { stopWriter(); <-writerDone }()

	serveErr := make(chan error, len(proxyLns))
	for i, ln := range proxyLns {
		if i >= plainLns {
			go func() { serveErr <- a.px.ServeTLS(ln) }()
			continue
		}
		go func() { serveErr <- a.px.Serve(ln) }()
	}
	a.status.SetListening(true)
	a.log.Info("zoneproxy started", "version", o.Version, "listen", cfg.ListenAddrs(), "listen_tls", tlsAddrs(cfg),
		"status", cfg.APISIX.Status.String(), "source", a.sourceName(cfg))

	runErr := a.wait(ctx, o.Signals, serveErr)

	// Graceful drain: readiness fails at once, traffic keeps flowing while the load balancer
	// deregisters us, then the listeners close and in-flight requests finish.
	z = a.config().Zoneproxy
	a.status.SetDraining()
	if runErr == nil {
		a.log.Info("draining", "drain_delay", z.DrainDelay, "shutdown_timeout", z.ShutdownTimeout)
		select {
		case <-time.After(z.DrainDelay):
		case runErr = <-serveErr:
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), z.ShutdownTimeout)
	defer cancel()
	if err := a.px.Shutdown(shutCtx); err != nil {
		a.log.Warn("in-flight requests did not finish in time", "error", err)
	}
	a.stopClient()
	a.reg.CloseIdleConnections()
	_ = statusSrv.Shutdown(shutCtx)
	a.log.Info("zoneproxy stopped")
	return runErr
}

// wait serves signals until ctx is done (nil) or a proxy listener stops (its error).
func (a *app) wait(ctx context.Context, signals <-chan os.Signal, serveErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("proxy listener: %w", err)
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				a.reload()
			case syscall.SIGUSR1:
				a.reopenAccessLog()
			}
		}
	}
}

func (a *app) reopenAccessLog() {
	l := a.access.Current()
	if l == nil {
		return
	}
	if err := l.Reopen(); err != nil {
		a.log.Error("could not reopen the access log", "error", err)
		return
	}
	a.log.Info("reopened the access log")
}

func (a *app) config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}
