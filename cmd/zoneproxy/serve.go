package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/health"
	"github.com/zoneproxy/zoneproxy/health/status"
	"github.com/zoneproxy/zoneproxy/proxy"
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

func newLogger(cfg *config.Config, format string, w io.Writer) *slog.Logger {
	if format == "" {
		format = string(cfg.Zoneproxy.Log.Format)
	}
	opts := &slog.HandlerOptions{Level: cfg.Zoneproxy.Log.Level}
	if format == string(config.LogJSON) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve wires the components together and runs them until ctx is cancelled, then drains.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	z := cfg.Zoneproxy
	prefix := cfg.Deployment.Etcd.Prefix
	tlsFn, err := etcdTLS(cfg, log)
	if err != nil {
		return err
	}
	mode, err := router.ParseMode(string(cfg.APISIX.Router.HTTP))
	if err != nil {
		return fmt.Errorf("apisix.router.http: %w", err)
	}

	// Every listener is opened before anything starts, so that a port in use stops startup cleanly.
	proxyLns, err := listenAll(cfg.APISIX.NodeListen, log)
	if err != nil {
		return err
	}
	statusLn, err := net.Listen("tcp", cfg.APISIX.Status.String())
	if err != nil {
		closeAll(proxyLns)
		return fmt.Errorf("apisix.status: %w", err)
	}

	registry := upstream.NewRegistry(upstream.Options{Logger: log})
	// Active health checkers live until shutdown, whichever goroutine applied the snapshot.
	checksCtx, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	checks := health.NewManager(log)
	defer checks.Close()
	builder, err := snapshot.NewBuilder(snapshot.Options{
		Prefix: prefix, Mode: mode, Registry: registry, Logger: log,
		IgnoreUnknownPlugins: z.UnknownPlugins == config.UnknownPluginsIgnore,
	})
	if err != nil {
		return err
	}
	serverName := "zoneproxy"
	if cfg.APISIX.EnableServerTokens {
		serverName += "/" + version
	}
	px := proxy.New(proxy.Options{ServerName: serverName, Logger: log})

	snapPath := filepath.Join(z.DataDir, cpclient.SnapshotFileName)
	snapWriter := cpclient.NewSnapshotWriter(snapPath, prefix, time.Second, log)
	apply := func(_ context.Context, st *cpclient.State) {
		snap, err := builder.Build(st)
		if err != nil {
			log.Error("could not build the configuration; the previous one keeps serving",
				"revision", st.Revision, "error", err)
			return
		}
		px.Store(snap)
		if snap.PoolsChanged {
			registry.Retain(snap.Pools)
			checks.Sync(checksCtx, snap.Pools)
		}
		log.Info("configuration applied", "revision", snap.Revision, "source", snap.Source,
			"routes", snap.Counts.Routes, "upstreams", snap.Counts.Upstreams,
			"build", snap.BuildDuration.Round(time.Microsecond))
		if st.Source != cpclient.SourceControlPlane {
			return
		}
		eff := *st
		eff.KVs = snap.KVs
		snapWriter.Save(&eff)
	}

	// Static stability: serve the last configuration written to disk until the control plane answers.
	initial, err := cpclient.ReadSnapshot(snapPath, prefix)
	switch {
	case errors.Is(err, cpclient.ErrNoSnapshot):
		log.Info("no snapshot file; waiting for the control plane", "file", snapPath)
	case err != nil:
		log.Error("ignoring the snapshot file", "error", err)
		initial = nil
	default:
		log.Info("serving the snapshot file until the control plane answers", "file", snapPath,
			"revision", initial.Revision, "written", initial.Updated)
		apply(ctx, initial)
	}

	cp, err := cpclient.New(cpclient.Config{
		Endpoints:      cfg.Deployment.Etcd.Host,
		Prefix:         prefix,
		TLS:            tlsFn,
		Username:       cfg.Deployment.Etcd.User,
		Password:       string(cfg.Deployment.Etcd.Password),
		RequestTimeout: cfg.Deployment.Etcd.Timeout,
		ProbeInterval:  z.ProbeInterval,
		ProbeTimeout:   z.ProbeTimeout,
		FailbackAfter:  z.FailbackAfter,
		BackoffMin:     z.BackoffMin,
		BackoffMax:     z.BackoffMax,
		CoalesceWindow: z.CoalesceWindow,
		Initial:        initial,
		Logger:         log,
	}, apply)
	if err != nil {
		closeAll(append(proxyLns, statusLn))
		return err
	}

	st := status.New(status.Config{
		Loaded: func() (bool, string, int64, time.Time) {
			s := px.Snapshot()
			if s == nil {
				return false, "", 0, time.Time{}
			}
			return true, string(s.Source), s.Revision, s.Updated
		},
		ControlPlane:        func() (bool, any) { return cp.Connected(), cp.Status() },
		RequireControlPlane: z.ReadyRequiresControlPlane,
	})
	statusSrv := st.Serve(statusLn)

	cpCtx, stopCP := context.WithCancel(context.Background())
	defer stopCP()
	g := new(errgroup.Group)
	g.Go(func() error { return cp.Run(cpCtx) })
	g.Go(func() error { snapWriter.Run(cpCtx); return nil })
	serveErr := make(chan error, len(proxyLns))
	for _, ln := range proxyLns {
		go func() { serveErr <- px.Serve(ln) }()
	}
	st.SetListening(true)
	log.Info("zoneproxy started", "version", version, "listen", cfg.ListenAddrs(),
		"status", cfg.APISIX.Status.String(), "control_plane", cfg.Deployment.Etcd.Host)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		runErr = fmt.Errorf("proxy listener: %w", runErr)
	}

	// Graceful drain: readiness fails at once, traffic keeps flowing while the load balancer
	// deregisters us, then the listeners close and in-flight requests finish.
	st.SetDraining()
	if runErr == nil {
		log.Info("draining", "drain_delay", z.DrainDelay, "shutdown_timeout", z.ShutdownTimeout)
		select {
		case <-time.After(z.DrainDelay):
		case runErr = <-serveErr:
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), z.ShutdownTimeout)
	defer cancel()
	if err := px.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "error", err)
	}
	stopCP()
	_ = g.Wait()
	_ = statusSrv.Shutdown(shutCtx)
	log.Info("zoneproxy stopped")
	return runErr
}

// listenAll opens every node_listen address (and [::]:port where APISIX would also listen on IPv6).
func listenAll(addrs []config.ListenAddr, log *slog.Logger) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4" // "tcp" on 0.0.0.0 would take [::] too, which the IPv6 entry listens on
		if strings.Contains(a.IP, ":") {
			network = "tcp6"
		}
		ln, err := net.Listen(network, a.String())
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("apisix.node_listen: %w", err)
		}
		lns = append(lns, ln)
		if a.IPv6 {
			ln6, err := net.Listen("tcp6", net.JoinHostPort("::", fmt.Sprint(a.Port)))
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
// endpoint uses https.
func etcdTLS(cfg *config.Config, log *slog.Logger) (func(string) (*tls.Config, error), error) {
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
	return loader.Config, nil
}
