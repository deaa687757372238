package cptest

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ErrInvalidOptions is wrapped by every error Start returns for bad Options.
var ErrInvalidOptions = errors.New("cptest: invalid options")

// ErrClosed is returned by methods called after Cluster.Close.
var ErrClosed = errors.New("cptest: cluster closed")

// defaultEndpoints is the number of endpoints when Options.Endpoints is 0:
// one per availability zone of the reference deployment.
const defaultEndpoints = 3

// startTimeout bounds the wait for the members to become ready when the
// context given to Start has no earlier deadline.
const startTimeout = 60 * time.Second

// Options configures Start. The zero value is a three-member cluster behind
// three endpoints on free ports.
type Options struct {
	// Endpoints is the number of endpoints. Default 3.
	Endpoints int
	// Members is the number of etcd members. Default: Endpoints. 1 puts
	// every endpoint in front of a single member, which starts much faster;
	// any other value must equal Endpoints (endpoint i fronts member i).
	Members int
	// Ports are fixed endpoint ports, one per endpoint (cmd/devcp uses
	// 7943-7945); a 0 entry picks a free port. Default: free ports.
	Ports []int
	// Dir is the data directory; it must be empty or not exist. Default: a
	// temporary directory that Close removes. A given Dir is left in place.
	Dir string
	// CA issues every certificate, so clusters can share one trust root.
	// Default: a new self-signed CA.
	CA *CA
	// Auth, when set, enables etcd authentication: the user gets the root
	// role (the "root" user is created too, as etcd requires).
	Auth *Auth
	// UntrustedClientCA lists endpoints whose member trusts a different CA
	// for client certificates, so ClientCert is refused there. It needs
	// Members == Endpoints.
	UntrustedClientCA []int
	// ProgressNotifyInterval is etcd's watch progress notify interval
	// (--watch-progress-notify-interval). 0 keeps etcd's default (10 min).
	ProgressNotifyInterval time.Duration
	// KeepAliveMinTime is the shortest client keepalive ping interval etcd
	// tolerates (--grpc-keepalive-min-time); a client pinging more often
	// gets GOAWAY "too_many_pings". 0 keeps etcd's default (5 s), as a
	// production DP Manager would.
	KeepAliveMinTime time.Duration
	// Logger receives cptest's own logs (state changes at Info, faults at
	// Debug). etcd's and the admin client's logs are forwarded to it only
	// when it is enabled at Debug; otherwise they are dropped. nil: nothing
	// is logged.
	Logger *slog.Logger
}

// Auth is the root credential of a cluster started with Options.Auth.
type Auth struct {
	User     string // default "root"
	Password string
}

// Files are the paths written by Cluster.WriteFiles.
type Files struct {
	CA   string // the CA certificate, PEM
	Cert string // the client certificate, PEM
	Key  string // the client key, PEM (mode 0600)
}

// normalize applies the defaults and validates o. The error names the
// offending field.
func (o Options) normalize() (Options, error) {
	if o.Endpoints < 0 {
		return o, fmt.Errorf("%w: Endpoints = %d, want >= 0", ErrInvalidOptions, o.Endpoints)
	}
	if o.Endpoints == 0 {
		o.Endpoints = defaultEndpoints
	}
	if o.Members == 0 {
		o.Members = o.Endpoints
	}
	if o.Members != 1 && o.Members != o.Endpoints {
		return o, fmt.Errorf("%w: Members = %d, want 1 or Endpoints (%d)", ErrInvalidOptions, o.Members, o.Endpoints)
	}
	if len(o.Ports) != 0 && len(o.Ports) != o.Endpoints {
		return o, fmt.Errorf("%w: Ports has %d entries, want 0 or Endpoints (%d)", ErrInvalidOptions, len(o.Ports), o.Endpoints)
	}
	seen := make(map[int]bool, len(o.Ports))
	for i, p := range o.Ports {
		if p < 0 || p > 65535 {
			return o, fmt.Errorf("%w: Ports[%d] = %d, want 0-65535", ErrInvalidOptions, i, p)
		}
		if p != 0 && seen[p] {
			return o, fmt.Errorf("%w: Ports[%d] = %d is listed twice", ErrInvalidOptions, i, p)
		}
		seen[p] = true
	}
	if len(o.UntrustedClientCA) > 0 && o.Members != o.Endpoints {
		return o, fmt.Errorf("%w: UntrustedClientCA needs Members == Endpoints (have %d and %d)", ErrInvalidOptions, o.Members, o.Endpoints)
	}
	for i, ep := range o.UntrustedClientCA {
		if ep < 0 || ep >= o.Endpoints {
			return o, fmt.Errorf("%w: UntrustedClientCA[%d] = %d, want 0-%d", ErrInvalidOptions, i, ep, o.Endpoints-1)
		}
	}
	if o.Auth != nil {
		a := *o.Auth
		if a.User == "" {
			a.User = rootUser
		}
		if a.Password == "" {
			return o, fmt.Errorf("%w: Auth.Password is empty", ErrInvalidOptions)
		}
		o.Auth = &a
	}
	if o.ProgressNotifyInterval < 0 {
		return o, fmt.Errorf("%w: ProgressNotifyInterval = %v, want >= 0", ErrInvalidOptions, o.ProgressNotifyInterval)
	}
	if o.KeepAliveMinTime < 0 {
		return o, fmt.Errorf("%w: KeepAliveMinTime = %v, want >= 0", ErrInvalidOptions, o.KeepAliveMinTime)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// untrusted reports whether member i trusts the foreign client CA.
func (o Options) untrusted(i int) bool {
	return slices.Contains(o.UntrustedClientCA, i)
}
