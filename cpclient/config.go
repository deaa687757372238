package cpclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// Transports, for Config.Transport.
const (
	TransportAuto = "auto"
	TransportGRPC = "grpc"
	TransportHTTP = "http"
)

// Config configures a Client. Zero durations take the defaults documented on each field.
type Config struct {
	// Endpoints are the control plane's URLs (http or https), in order of preference.
	Endpoints []string
	// Prefix is the key prefix of the configuration (default "/apisix").
	Prefix string
	// TLS returns the TLS configuration for an endpoint (tlsfiles.Loader.Config reads it from files
	// and follows their rotation); nil means the defaults of crypto/tls.
	// It is called every time a connection is made, so that rotated certificates are picked up.
	TLS func(endpoint string) (*tls.Config, error)
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// Transport is how endpoints are spoken to: TransportGRPC (etcd's gRPC API), TransportHTTP (the
	// v3 HTTP/JSON gateway, what APISIX and API7's DP Managers use) or TransportAuto (the default:
	// gRPC, and the gateway for an endpoint that turns out not to speak gRPC, remembered).
	Transport string

	// RequestTimeout bounds one list request (default 30 s).
	RequestTimeout time.Duration
	// ProbeInterval is how often the current endpoint is probed (default 250 ms); the others are
	// probed every second while healthy.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe (default 1 s). Two probes timing out in a row mark an endpoint
	// unhealthy; a refused connection, a TLS or an authentication failure marks it at once.
	ProbeTimeout time.Duration
	// FailbackAfter is how long a more preferred endpoint must stay healthy before the Client
	// moves back to it (default 10 s).
	FailbackAfter time.Duration
	// BackoffMin and BackoffMax bound the jittered, doubling interval between probes of an
	// unhealthy endpoint (defaults 1 s and 32 s).
	BackoffMin, BackoffMax time.Duration
	// ProgressInterval is how often the watch stream is asked for a progress notification (default
	// 1 s); StallTimeout is how long a watch may stay silent after such a request before the
	// endpoint is considered hung (default 2.5 s).
	ProgressInterval, StallTimeout time.Duration
	// CoalesceWindow is how long the Client gathers watch events before it hands a new State to the
	// Sink (default 20 ms); it stretches to the Sink's last call time when that was longer, up to
	// 100 ms. A full list is handed over at once.
	CoalesceWindow time.Duration
	// PageSize is the number of keys per list request (default 1000).
	PageSize int64
	// ShrinkGuard is the fraction of the routes (0 < f < 1) that a full re-list may remove before
	// it is held (0 disables the guard); ShrinkHold is how long it is held at most when no other
	// endpoint agrees (default 60 s). Deletes that arrive as watch events are never held.
	ShrinkGuard float64
	ShrinkHold  time.Duration

	// Initial is the State to start from (read back from disk), or nil.
	Initial *state.State
	// Logger receives the Client's logs (default: discarded).
	Logger *slog.Logger
	// OnApply, when set, is called for every change the Client applies to its copy, in order, from
	// the goroutine that applies it: rev is the change's revision, key its key ("" for a full list).
	// It must not block. Tests use it as a revision log.
	OnApply func(rev int64, key string, full bool)
	// OnSwitch, when set, is called when the Client starts using an endpoint (from is "" the first
	// time) and OnHealth when an endpoint's health changes. They feed metrics and must not block.
	OnSwitch func(from, to string)
	OnHealth func(endpoint string, healthy bool)
	// OnShrinkHold, when set, is called when the shrink guard starts (true) or stops holding a re-list.
	OnShrinkHold func(held bool)
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if len(cfg.Endpoints) == 0 {
		return cfg, errors.New("cpclient: no endpoints")
	}
	for i, ep := range cfg.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("cpclient: endpoint %d %q: not an http or https URL", i, ep)
		}
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = TransportAuto
	case TransportAuto, TransportGRPC, TransportHTTP:
	default:
		return cfg, fmt.Errorf("cpclient: transport %q is not auto, grpc or http", cfg.Transport)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/apisix"
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RequestTimeout, 30*time.Second)
	def(&cfg.ProbeInterval, 250*time.Millisecond)
	def(&cfg.ProbeTimeout, time.Second)
	def(&cfg.FailbackAfter, 10*time.Second)
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 32*time.Second)
	def(&cfg.ProgressInterval, time.Second)
	def(&cfg.StallTimeout, 2500*time.Millisecond)
	def(&cfg.CoalesceWindow, 20*time.Millisecond)
	def(&cfg.ShrinkHold, 60*time.Second)
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
