package main

import (
	"context"
	"crypto/tls"
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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/config/statefile"
	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/health"
	"github.com/zoneproxy/zoneproxy/health/status"
	"github.com/zoneproxy/zoneproxy/proxy"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

func loadConfig(path string) (*config.Config, []string, error) {
	cfg, warnings, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if p := cfg.Deployment.Provider(); p != config.ProviderEtcd {
		return nil, nil, fmt.Errorf("config provider %q is not supported", p)
	}
	return cfg, warnings, nil
}

// app is one running zoneproxy: the components and how they are connected.
type app struct {
	path    string
	logs    *logSwitch
	log     *slog.Logger
	cfg     *config.Config // the configuration in force; changed only by reload
	px      *proxy.Proxy
	status  *status.Server
	reg     *upstream.Registry
	checks  *health.Manager
	writer  *statefile.Writer
	tlsFile *cpclient.TLSLoader
	metrics *metrics.Metrics
	access  accessLogs
	server  string // the Server header
	memory  *memory

	checksCtx context.Context // lives until shutdown

	mu      sync.Mutex // serialises applying States and swapping the builder
	builder *snapshot.Builder

	lastIndexes time.Time // when apisix_etcd_modify_indexes was last computed (under mu)

	cpMu   sync.Mutex
	cp     *cpclient.Client
	cpStop func() // stops cp and waits for it
}

// serve wires the components together and runs them until ctx is cancelled, then drains. signals
// delivers SIGHUP (reload config.yaml).
func serve(ctx context.Context, path string, cfg *config.Config, logs *logSwitch, signals <-chan os.Signal) error {
	a := &app{path: path, logs: logs, log: logs.logger(), cfg: cfg}
	z := cfg.Zoneproxy
	prefix := cfg.Deployment.Etcd.Prefix
	tlsLoader, err := etcdTLS(cfg, a.log)
	if err != nil {
		return err
	}
	a.tlsFile = tlsLoader
	serverName := "zoneproxy"
	if cfg.APISIX.EnableServerTokens {
		serverName += "/" + version
	}
	if a.metrics, err = metrics.New(metrics.Options{Path: cfg.Prometheus.ExportURI, Version: version, Logger: a.log}); err != nil {
		return fmt.Errorf("plugin_attr.prometheus: %w", err)
	}
	access, err := newAccessLog(cfg, a.log)
	if err != nil {
		return err
	}
	a.access.start(access)
	defer a.access.close()
	a.metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "zoneproxy_access_log_dropped_total",
		Help: "Access log lines dropped because the output could not keep up.",
	}, func() float64 { return float64(a.access.droppedTotal()) }))
	if z.MemoryLimit > 0 {
		debug.SetMemoryLimit(z.MemoryLimit)
	}
	a.memory = newMemory(a.log)
	memCtx, stopMemory := context.WithCancel(context.Background())
	memDone := make(chan struct{})
	go func() { a.memory.run(memCtx); close(memDone) }()
	defer func() { stopMemory(); <-memDone }()
	a.server = serverName
	a.px = proxy.New(a.proxyOptions(cfg, access))
	// The proxy configures every upstream client (dial timeouts per route, keepalive_pool.requests).
	a.reg = upstream.NewRegistry(upstream.Options{Logger: a.log, Client: a.px.ConfigureClient})
	if a.builder, err = a.newBuilder(cfg); err != nil {
		return err
	}

	// Every listener is opened before anything starts, so that a port in use stops startup cleanly.
	proxyLns, err := listenAll(cfg.APISIX.NodeListen, a.log)
	if err != nil {
		return err
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
	snapPath := filepath.Join(z.DataDir, statefile.FileName)
	a.writer = statefile.NewWriter(snapPath, prefix, time.Second, a.log)

	// Static stability: serve the last configuration written to disk until the control plane answers.
	initial, err := statefile.Read(snapPath, prefix)
	switch {
	case errors.Is(err, statefile.ErrNoFile):
		a.log.Info("no state file; waiting for the control plane", "file", snapPath)
	case err != nil:
		a.log.Error("ignoring the state file", "error", err)
		initial = nil
	default:
		a.log.Info("serving the state file until the control plane answers", "file", snapPath,
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
		ControlPlane: func() (bool, any) {
			cp := a.client()
			return cp.Connected(), cp.Status()
		},
		RequireControlPlane: z.ReadyRequiresControlPlane,
	})
	if err := a.startClient(cfg, initial); err != nil {
		closeAll(append(proxyLns, statusLn))
		return err
	}
	defer a.stopClient()
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
	for _, ln := range proxyLns {
		go func() { serveErr <- a.px.Serve(ln) }()
	}
	a.status.SetListening(true)
	a.log.Info("zoneproxy started", "version", version, "listen", cfg.ListenAddrs(),
		"status", cfg.APISIX.Status.String(), "control_plane", cfg.Deployment.Etcd.Host)

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-serveErr:
			runErr = fmt.Errorf("proxy listener: %w", runErr)
			break wait
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				a.reload()
			case syscall.SIGUSR1:
				if l := a.access.current(); l == nil {
				} else if err := l.Reopen(); err != nil {
					a.log.Error("could not reopen the access log", "error", err)
				} else {
					a.log.Info("reopened the access log")
				}
			}
		}
	}

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

func (a *app) newBuilder(cfg *config.Config) (*snapshot.Builder, error) {
	mode, err := router.ParseMode(string(cfg.APISIX.Router.HTTP))
	if err != nil {
		return nil, fmt.Errorf("apisix.router.http: %w", err)
	}
	return snapshot.NewBuilder(snapshot.Options{
		Prefix: cfg.Deployment.Etcd.Prefix, Mode: mode, Registry: a.reg, Logger: a.log,
		IgnoreUnknownPlugins: cfg.Zoneproxy.UnknownPlugins == config.UnknownPluginsIgnore,
		Metrics:              a.metrics, OnReject: a.metrics.Rejected,
	})
}

func (a *app) config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// apply is the control-plane client's Sink: build, swap, sync the upstream state, save to disk.
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
	a.memory.applied()
	if snap.PoolsChanged {
		a.reg.Retain(snap.Pools)
		a.checks.Sync(a.checksCtx, snap.Pools)
		a.metrics.SetPools(snap.Pools)
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
	eff := *st
	eff.KVs = snap.KVs
	a.writer.Save(&eff)
}

// startClient starts a control-plane client for cfg, resuming from initial (may be nil).
func (a *app) startClient(cfg *config.Config, initial *state.State) error {
	z := cfg.Zoneproxy
	var tlsFn func(string) (*tls.Config, error)
	if a.tlsFile != nil {
		tlsFn = a.tlsFile.Config
	}
	cp, err := cpclient.New(cpclient.Config{
		Endpoints:      cfg.Deployment.Etcd.Host,
		Prefix:         cfg.Deployment.Etcd.Prefix,
		TLS:            tlsFn,
		Username:       cfg.Deployment.Etcd.User,
		Password:       string(cfg.Deployment.Etcd.Password),
		Transport:      string(z.CPTransport),
		RequestTimeout: cfg.Deployment.Etcd.Timeout,
		ProbeInterval:  z.ProbeInterval,
		ProbeTimeout:   z.ProbeTimeout,
		FailbackAfter:  z.FailbackAfter,
		BackoffMin:     z.BackoffMin,
		BackoffMax:     z.BackoffMax,
		CoalesceWindow: z.CoalesceWindow,
		ShrinkGuard:    z.ShrinkGuard,
		ShrinkHold:     z.ShrinkHold,
		Initial:        initial,
		Logger:         a.log,
		OnSwitch:       a.metrics.Failover,
		OnHealth: func(endpoint string, up bool) {
			a.metrics.SetEndpointUp(endpoint, up)
			a.metrics.SetEtcdReachable(a.anyEndpointUp())
		},
	}, a.apply)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cp.Run(ctx); close(done) }()
	a.cpMu.Lock()
	a.cp, a.cpStop = cp, func() { cancel(); <-done }
	a.cpMu.Unlock()
	return nil
}

func (a *app) client() *cpclient.Client {
	a.cpMu.Lock()
	defer a.cpMu.Unlock()
	return a.cp
}

// stopClient stops the control-plane client and applies what it received but had not handed over
// yet, so that nothing is lost between two clients. It returns that last State.
func (a *app) stopClient() *state.State {
	a.cpMu.Lock()
	cp, stop := a.cp, a.cpStop
	a.cpStop = nil
	a.cpMu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	st := cp.State()
	if s := a.px.Snapshot(); st.Revision > 0 && (s == nil || s.Revision != st.Revision) {
		a.apply(context.Background(), st)
	}
	return st
}

// listenAll opens every node_listen address (and [::]:port where APISIX would also listen on IPv6).
//
// Accepted connections get no TCP keep-alive probes, as nginx's (and so APISIX's) listen default
// so_keepalive=off: idle connections end with keepalive_timeout. Go's default of probes after 15 s
// costs four setsockopt calls per accepted connection, a tenth of the CPU when every request comes
// on a new connection.
func listenAll(addrs []config.ListenAddr, log *slog.Logger) ([]net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	listen := func(network, addr string) (net.Listener, error) {
		return lc.Listen(context.Background(), network, addr)
	}
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4" // "tcp" on 0.0.0.0 would take [::] too, which the IPv6 entry listens on
		if strings.Contains(a.IP, ":") {
			network = "tcp6"
		}
		ln, err := listen(network, a.String())
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("apisix.node_listen: %w", err)
		}
		lns = append(lns, ln)
		if a.IPv6 {
			ln6, err := listen("tcp6", net.JoinHostPort("::", fmt.Sprint(a.Port)))
			if err != nil {
				log.Warn("not listening on IPv6", "port", a.Port, "error", err)
				continue
			}
			lns = append(lns, ln6)
		}
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// etcdTLS builds the TLS settings of the control-plane connections from config.yaml, when any
// endpoint uses https (nil otherwise).
func etcdTLS(cfg *config.Config, log *slog.Logger) (*cpclient.TLSLoader, error) {
	https := false
	for _, h := range cfg.Deployment.Etcd.Host {
		https = https || strings.HasPrefix(h, "https://")
	}
	if !https {
		return nil, nil
	}
	t := cfg.Deployment.Etcd.TLS
	ca := cfg.APISIX.SSL.TrustedCertificate
	if ca == config.TrustedCertificateSystem {
		ca = ""
	}
	for key, f := range map[string]string{
		"apisix.ssl.ssl_trusted_certificate": ca, "deployment.etcd.tls.cert": t.Cert, "deployment.etcd.tls.key": t.Key,
	} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	loader, err := cpclient.NewTLSLoader(cpclient.TLSFiles{CA: ca, Cert: t.Cert, Key: t.Key, Verify: t.Verify, SNI: t.SNI}, log)
	if err != nil {
		return nil, fmt.Errorf("deployment.etcd.tls: %w", err)
	}
	return loader, nil
}
