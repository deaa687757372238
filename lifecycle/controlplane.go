package lifecycle

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/cpclient"
	"github.com/zoneproxy/zoneproxy/cpclient/tlsfiles"
)

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

// etcdTLS builds the TLS settings of the control-plane connections from config.yaml, when any
// endpoint uses https (nil otherwise).
func etcdTLS(cfg *config.Config, log *slog.Logger) (*tlsfiles.Loader, error) {
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
	loader, err := tlsfiles.New(tlsfiles.Files{CA: ca, Cert: t.Cert, Key: t.Key, Verify: t.Verify, SNI: t.SNI}, log)
	if err != nil {
		return nil, fmt.Errorf("deployment.etcd.tls: %w", err)
	}
	return loader, nil
}
