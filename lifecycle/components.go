package lifecycle

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/proxy"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/redirect"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/router"
)

// The settings of each component from config.yaml: Run uses them at start, reload with the file
// read again.

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
	return accesslog.New(accesslog.Options{Format: al.Format, Fields: al.Fields, Output: out,
		BufferLines: al.BufferLines, Logger: log})
}

// proxyOptions are the proxy's settings from cfg, with access as its access log.
func (a *app) proxyOptions(cfg *config.Config, access *accesslog.Logger) proxy.Options {
	h, l := cfg.HTTP, cfg.Zoneproxy.Limits
	return proxy.Options{
		ServerName: a.server, Logger: a.log, Metrics: a.metrics, AccessLog: access,
		CountAllRequests: cfg.Zoneproxy.Metrics.CountAllRequests,
		MaxHeaderBytes:   l.MaxHeaderBytes, MaxHeaderCount: l.MaxHeaderCount,
		MaxURILength: l.MaxURILength, MaxRequestBodySize: h.ClientMaxBodySize,
		HeaderTimeout: h.ClientHeaderTimeout, BodyTimeout: h.ClientBodyTimeout,
		SendTimeout: h.SendTimeout, IdleTimeout: h.KeepaliveTimeout,
		RealIP: &proxy.RealIP{Header: h.RealIPHeader, From: slices.Clone(h.RealIPFrom), FromUnix: h.RealIPFromUnix,
			Recursive: h.RealIPRecursive},
	}
}

// tlsOptions are the HTTPS listeners' settings from cfg.
func tlsOptions(cfg *config.Config) proxy.TLSOptions {
	s := &cfg.APISIX.SSL
	lo, hi := s.Versions()
	return proxy.TLSOptions{MinVersion: lo, MaxVersion: hi, CipherSuites: s.CipherSuites(),
		SessionTickets: s.SessionTickets, FallbackSNI: s.FallbackSNI, DisableHTTP2: !cfg.APISIX.EnableHTTP2}
}

// tlsAddrs are the HTTPS listen addresses, none when apisix.ssl.enable is false.
func tlsAddrs(cfg *config.Config) []string {
	var out []string
	if cfg.APISIX.SSL.Enable {
		for _, l := range cfg.APISIX.SSL.Listen {
			out = append(out, l.String())
		}
	}
	return out
}

// newBuilder is the snapshot builder for cfg's routing settings and keyring.
func (a *app) newBuilder(cfg *config.Config) (*snapshot.Builder, error) {
	opts, err := a.builderOptions(cfg)
	if err != nil {
		return nil, err
	}
	return snapshot.NewBuilder(opts)
}

// builderOptions are the snapshot builder's options for cfg.
func (a *app) builderOptions(cfg *config.Config) (snapshot.Options, error) {
	mode, err := router.ParseMode(string(cfg.APISIX.Router.HTTP))
	if err != nil {
		return snapshot.Options{}, fmt.Errorf("apisix.router.http: %w", err)
	}
	kr, err := keyring.New(cfg.KeyringEntries())
	if err != nil {
		return snapshot.Options{}, fmt.Errorf("apisix.data_encryption.keyring: %w", err)
	}
	return snapshot.Options{
		Prefix: cfg.Deployment.Etcd.Prefix, Mode: mode, Registry: a.reg, Logger: a.log,
		// redirect with the https port of config.yaml (plugin_attr.redirect, apisix.ssl.listen).
		Plugins:              plugin.NewRegistry(append(builtin.All(), redirect.New(cfg.HTTPSPorts()))...),
		Enabled:              cfg.Plugins,
		IgnoreUnknownPlugins: cfg.Zoneproxy.UnknownPlugins == config.UnknownPluginsIgnore,
		Metrics:              a.metrics, OnReject: a.metrics.Rejected, Keyring: kr,
		PlainFields: !cfg.APISIX.DataEncryption.EnableEncryptFields,
	}, nil
}
