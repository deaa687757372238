package config

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/zoneproxy/zoneproxy/config/keyring"
)

// Config is a loaded config.yaml with every default applied. Field comments
// give the key each field comes from and its default.
type Config struct {
	APISIX     APISIX
	Deployment Deployment
	// Plugins is the top-level plugins list: the plugins APISIX enables. It
	// is nil when the file has no plugins key, in which case APISIX's own
	// default list applies; an empty list enables none.
	Plugins []string
	// Prometheus is plugin_attr.prometheus.
	Prometheus Prometheus
	// Redirect is plugin_attr.redirect.
	Redirect Redirect
	// HTTP holds the nginx_config.http settings zoneproxy applies to its own server.
	HTTP HTTP
	// Zoneproxy holds the settings APISIX does not have (zoneproxy:).
	Zoneproxy Zoneproxy
	// Ignored lists, sorted, the APISIX settings present in the file that
	// zoneproxy does not use (such as nginx_config or apisix.proxy_cache).
	// It is informational: callers may log it at info or debug level.
	Ignored []string
}

// APISIX is the apisix: section.
type APISIX struct {
	// NodeListen is apisix.node_listen: the proxy's listen addresses, in
	// file order without duplicates. Default: 0.0.0.0:9080.
	NodeListen []ListenAddr
	// EnableIPv6 is apisix.enable_ipv6 (default true). It is already
	// reflected in ListenAddr.IPv6.
	EnableIPv6 bool
	// Status is apisix.status, the status server. Default: 127.0.0.1:7085.
	// (APISIX starts it only when the key is present; zoneproxy always does.)
	Status ListenAddr
	SSL    SSL
	Router Router
	// EnableServerTokens is apisix.enable_server_tokens (default true): when
	// false the Server header carries no version.
	EnableServerTokens bool
	// EnableHTTP2 is apisix.enable_http2 (default true): whether the HTTPS
	// listeners offer h2 by ALPN. zoneproxy parses it; it serves HTTP/1.1 only
	// for now.
	EnableHTTP2 bool
	// DataEncryption is apisix.data_encryption.
	DataEncryption DataEncryption
}

// DataEncryption is apisix.data_encryption: the keyring that decrypts the
// private keys (and encrypted plugin fields) the control plane stores.
type DataEncryption struct {
	// EnableEncryptFields is enable_encrypt_fields (default true): whether
	// plugin fields marked encrypted are stored encrypted.
	EnableEncryptFields bool
	// Keyring is keyring, a string or a list of 16- or 32-character keys, in
	// order. Default: APISIX's, keyring.Default; "keyring: null" (or an empty
	// list) makes it empty: values are stored and read in clear.
	Keyring []string
}

// KeyringEntries returns the keyring that decrypts stored keys:
// apisix.data_encryption.keyring, then the entries of the older
// apisix.ssl.key_encrypt_salt not already in it.
func (c *Config) KeyringEntries() []string {
	out := append([]string(nil), c.APISIX.DataEncryption.Keyring...)
	for _, s := range c.APISIX.SSL.KeyEncryptSalt {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ListenAddr is a TCP address to listen on.
type ListenAddr struct {
	// IP is an IP address without brackets, such as "0.0.0.0" or "::1".
	IP   string
	Port int
	// IPv6 is set when APISIX would also listen on [::]:Port: for entries
	// given without an ip while apisix.enable_ipv6 is true. Listen on that
	// address with network "tcp6" so that it does not clash with IP.
	IPv6 bool
}

// String returns "ip:port", with brackets around an IPv6 address.
func (a ListenAddr) String() string {
	return net.JoinHostPort(a.IP, strconv.Itoa(a.Port))
}

// SSL is apisix.ssl: the HTTPS listeners, and the CA bundle for the etcd
// endpoints.
type SSL struct {
	// TrustedCertificate is apisix.ssl.ssl_trusted_certificate: the PEM CA
	// bundle that verifies the etcd endpoints' certificates, or "system"
	// (the default) for the system's roots. A relative path is relative to
	// the working directory. Parse does not check that the file exists.
	TrustedCertificate string
	// Enable is apisix.ssl.enable (default true): whether the HTTPS
	// listeners open.
	Enable bool
	// Listen is apisix.ssl.listen: a list of {ip, port} (ip defaults to
	// 0.0.0.0, port to 9443; a port or a list of ports also works), with
	// IPv6 as in NodeListen. Default: 0.0.0.0:9443.
	Listen []ListenAddr
	// Protocols is ssl_protocols (default "TLSv1.2 TLSv1.3"); see Versions.
	Protocols string
	// Ciphers is ssl_ciphers, an OpenSSL cipher list (default APISIX's,
	// DefaultSSLCiphers); see CipherSuites. It applies to TLS 1.0-1.2: Go's
	// crypto/tls does not let TLS 1.3's suites be chosen.
	Ciphers string
	// SessionTickets is ssl_session_tickets (default false).
	SessionTickets bool
	// FallbackSNI is fallback_sni: the name whose certificate a client that
	// sends no SNI gets. Empty (the default): such a handshake fails.
	FallbackSNI string
	// KeyEncryptSalt is key_encrypt_salt (APISIX 3.8 and older), a string
	// or a list: extra keyring entries (see Config.KeyringEntries).
	KeyEncryptSalt []string
}

// TrustedCertificateSystem is the ssl_trusted_certificate value that selects
// the system's root certificates.
const TrustedCertificateSystem = "system"

// Router is apisix.router.
type Router struct {
	// HTTP is apisix.router.http. Default: RouterRadixtreeHostURI.
	HTTP HTTPRouter
}

// HTTPRouter names the way routes are matched.
type HTTPRouter string

// The routers APISIX offers for apisix.router.http.
const (
	RouterRadixtreeHostURI          HTTPRouter = "radixtree_host_uri"
	RouterRadixtreeURI              HTTPRouter = "radixtree_uri"
	RouterRadixtreeURIWithParameter HTTPRouter = "radixtree_uri_with_parameter"
)

// Deployment is the deployment: section.
type Deployment struct {
	// Role is deployment.role. Default: RoleTraditional.
	Role Role
	// RoleTraditional is deployment.role_traditional; its config_provider
	// defaults to "etcd".
	RoleTraditional RoleConfig
	// RoleDataPlane is deployment.role_data_plane; APISIX requires its
	// config_provider when Role is RoleDataPlane, and so do we.
	RoleDataPlane RoleConfig
	Etcd          Etcd
	// Admin is deployment.admin: the Admin API's listener and keys (served by zoneproxy in
	// APISIX's API-driven standalone mode, and by devcp).
	Admin Admin
}

// Admin is deployment.admin.
type Admin struct {
	// Listen is admin_listen (default 0.0.0.0:9180).
	Listen ListenAddr
	// Allow is allow_admin: the client CIDRs let in (default 127.0.0.0/24; empty lets every
	// client in, as nginx without allow rules).
	Allow []string
	// KeyRequired is admin_key_required (default true); false serves without a key.
	KeyRequired bool
	// Keys is admin_key. A key left empty is replaced by a random 32-letter one at start, as
	// APISIX does. Default: one admin key, empty.
	Keys []AdminKey
}

// AdminKey is one entry of deployment.admin.admin_key.
type AdminKey struct {
	Name string
	Key  string
	// Role is AdminRoleAdmin (every method) or AdminRoleViewer (GET only).
	Role string
}

// The roles of an admin key.
const (
	AdminRoleAdmin  = "admin"
	AdminRoleViewer = "viewer"
)

// Provider returns the config provider of the current role: "etcd" for a
// valid configuration.
func (d *Deployment) Provider() string {
	if d.Role == RoleDataPlane {
		return d.RoleDataPlane.ConfigProvider
	}
	return d.RoleTraditional.ConfigProvider
}

// Role is an APISIX deployment role.
type Role string

// The roles zoneproxy accepts. APISIX's control_plane and standalone roles
// are rejected: zoneproxy is a data plane.
const (
	RoleTraditional Role = "traditional"
	RoleDataPlane   Role = "data_plane"
)

// RoleConfig is deployment.role_<role>.
type RoleConfig struct {
	// ConfigProvider is where the routes come from: ProviderEtcd, ProviderYAML
	// or (data_plane only) ProviderJSON.
	ConfigProvider string
}

// The config providers. With data_plane, yaml and json read the standalone
// file (Zoneproxy.StandaloneFile); with traditional, yaml is APISIX's
// API-driven standalone mode: the configuration is pushed to the Admin API
// (PUT /apisix/admin/configs) and no file is read.
const (
	ProviderEtcd = "etcd"
	ProviderYAML = "yaml"
	ProviderJSON = "json"
)

// StandaloneMode is how a configuration reaches zoneproxy without etcd.
type StandaloneMode int

// The values of Zoneproxy.StandaloneWatch.
const (
	WatchInotify = "inotify"
	WatchPoll    = "poll"
)

// The standalone modes of Deployment.Standalone.
const (
	NotStandalone StandaloneMode = iota
	// StandaloneFile reads Zoneproxy.StandaloneFile (role data_plane, provider yaml or json).
	StandaloneFile
	// StandaloneAPI serves PUT /apisix/admin/configs on deployment.admin.admin_listen (role
	// traditional, provider yaml).
	StandaloneAPI
)

// Standalone returns the standalone mode of the deployment.
func (d *Deployment) Standalone() StandaloneMode {
	switch p := d.Provider(); {
	case p == ProviderEtcd:
		return NotStandalone
	case d.Role == RoleDataPlane:
		return StandaloneFile
	}
	return StandaloneAPI
}

// Etcd is deployment.etcd: the control-plane endpoints.
type Etcd struct {
	// Host is deployment.etcd.host (or APISIX_DEPLOYMENT_ETCD_HOST): the
	// endpoints in order of preference, normalised to scheme://host:port
	// (APISIX's default port is 2379). Default: http://127.0.0.1:2379.
	Host []string
	// Prefix is deployment.etcd.prefix. Default: /apisix.
	Prefix string
	// Timeout bounds one etcd request (timeout, default 30 s).
	Timeout time.Duration
	// WatchTimeout is watch_timeout (default 50 s).
	WatchTimeout time.Duration
	// StartupRetry is startup_retry: tries per endpoint at startup (default 2).
	StartupRetry int
	// ResyncDelay is resync_delay (default 5 s; a negative value means the
	// default, as in APISIX).
	ResyncDelay time.Duration
	// HealthCheckTimeout is health_check_timeout: how long an endpoint stays
	// marked unhealthy (default 10 s; a negative value means the default).
	HealthCheckTimeout time.Duration
	// User and Password are etcd's auth credentials. As in APISIX, auth is
	// used only when both are set.
	User     string
	Password Secret
	TLS      EtcdTLS

	// hostKey names where Host came from, for error messages.
	hostKey string
}

// EtcdTLS is deployment.etcd.tls.
type EtcdTLS struct {
	// Cert and Key are the client certificate and key for mutual TLS, both
	// or neither. Relative paths are relative to the working directory.
	Cert string
	Key  string
	// Verify is whether to verify the server certificate (default true).
	Verify bool
	// SNI is the server name to send; empty means the URL's host.
	SNI string
}

// Redirect is plugin_attr.redirect.
type Redirect struct {
	// HTTPSPort is https_port: the port of the redirect plugin's http_to_https Location; 0
	// (unset, the default): a port of apisix.ssl.listen when SSL is enabled, as APISIX picks
	// it. A value outside 1-65535, or 443, gives a Location without a port, as in APISIX.
	HTTPSPort int
}

// HTTPSPorts are the ports the redirect plugin's http_to_https Location may carry, one picked at
// random per request as APISIX does: https_port when set, else apisix.ssl.listen's when SSL is
// enabled; none means a Location without a port.
func (c *Config) HTTPSPorts() []int {
	if c.Redirect.HTTPSPort != 0 {
		return []int{c.Redirect.HTTPSPort}
	}
	if !c.APISIX.SSL.Enable {
		return nil
	}
	var out []int
	for _, l := range c.APISIX.SSL.Listen {
		out = append(out, l.Port)
	}
	return out
}

// Prometheus is plugin_attr.prometheus.
type Prometheus struct {
	// ExportAddr is export_addr. Default: 127.0.0.1:9091.
	ExportAddr ListenAddr
	// ExportURI is export_uri. Default: /apisix/prometheus/metrics.
	ExportURI string
	// EnableExportServer is enable_export_server (default true).
	EnableExportServer bool
}

// HTTP is the part of nginx_config.http that has a meaning for zoneproxy's own HTTP server. The
// rest of nginx_config is ignored.
type HTTP struct {
	// EnableAccessLog is enable_access_log. APISIX's default is true; zoneproxy's is false (no
	// access log unless asked for), so that a file written by default does not surprise anyone.
	EnableAccessLog bool
	// AccessLog is access_log: a file path, or "stdout"/"/dev/stdout" or "stderr"/"/dev/stderr".
	// Default "logs/access.log" (APISIX's), relative to the working directory.
	AccessLog string
	// ClientMaxBodySize is client_max_body_size in bytes ("1m", "512k", a number); 0 (the default,
	// APISIX's) means unlimited. Larger request bodies get 413.
	ClientMaxBodySize int64
	// ClientHeaderTimeout, ClientBodyTimeout, SendTimeout and KeepaliveTimeout are nginx's
	// (APISIX's defaults 60 s, 60 s, 10 s, 60 s).
	ClientHeaderTimeout time.Duration
	ClientBodyTimeout   time.Duration
	SendTimeout         time.Duration
	KeepaliveTimeout    time.Duration
	// RealIPHeader is real_ip_header (nginx's realip module; default "X-Real-IP"): the request
	// header whose address becomes the client address ($remote_addr) when the peer is in
	// RealIPFrom. Spelled exactly "X-Forwarded-For", every X-Forwarded-For field is read (last
	// first); any other name reads the first field of that name. "proxy_protocol" is refused:
	// zoneproxy does not accept the PROXY protocol.
	RealIPHeader string
	// RealIPRecursive is real_ip_recursive (default off): on, the addresses of the header are
	// walked from the right while they are in RealIPFrom, and the first one that is not wins.
	RealIPRecursive bool
	// RealIPFrom is real_ip_from (nginx's set_real_ip_from; default 127.0.0.1 and "unix:"): the
	// peers whose RealIPHeader is believed, IPv4 or IPv6 CIDRs (an address is a /32 or /128).
	// An empty list (or null, which removes APISIX's default) trusts no peer.
	RealIPFrom []netip.Prefix
	// RealIPFromUnix is set when real_ip_from lists "unix:": peers on a unix socket. zoneproxy
	// listens on TCP only, so it never applies today.
	RealIPFromUnix bool
}

// AccessLog is zoneproxy.access_log: the format of the lines nginx_config.http.access_log gets.
type AccessLog struct {
	// Format is "combined" (nginx's, the default) or "json".
	Format string
	// Fields are the JSON fields, in order (default: every field the access log knows).
	Fields []string
	// BufferLines is how many lines may wait to be written before new ones are dropped (4096).
	BufferLines int
}

// Limits is zoneproxy.limits: the bounds of a request's head, beyond nginx's body size.
type Limits struct {
	// MaxHeaderBytes bounds the request line and headers (default 32 KiB, nginx's
	// large_client_header_buffers 4 8k): larger get 431.
	MaxHeaderBytes int
	// MaxHeaderCount bounds the number of request headers (default 100): more get 431.
	MaxHeaderCount int
	// MaxURILength bounds the request target (default 8 KiB): longer gets 414.
	MaxURILength int
}

// Zoneproxy is the zoneproxy: section, settings APISIX does not have.
// Durations accept Go duration strings ("250ms", "10s") and plain numbers of
// seconds.
type Zoneproxy struct {
	// DataDir holds the state file, the last applied configuration (data_dir,
	// default .zoneproxy). Load resolves a relative path against the directory
	// of config.yaml, not the working directory.
	DataDir string
	// StandaloneFile is the configuration file of the file-driven standalone
	// mode (standalone_file; deployment.role data_plane with config_provider
	// yaml or json). Default: apisix.yaml (apisix.json for json) beside
	// config.yaml, as APISIX reads conf/apisix.yaml beside conf/config.yaml;
	// apisix-<p>.yaml when APISIX_PROFILE=p; empty in the other modes. Load
	// resolves a relative path against the directory of config.yaml.
	StandaloneFile string
	// StandaloneWatch is how the standalone file is watched (standalone_watch):
	// WatchInotify (default) checks it every second and on inotify events in
	// its directory; WatchPoll only checks it every second, as APISIX does
	// (for file systems where inotify is not delivered, or to match APISIX).
	StandaloneWatch string
	// FailbackAfter is how long a more preferred endpoint must stay healthy
	// before zoneproxy moves back to it (failback_after, default 10 s).
	FailbackAfter time.Duration
	// ProbeInterval and ProbeTimeout drive the active endpoint probes
	// (probe_interval 250 ms, probe_timeout 1 s).
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff when every
	// endpoint is down (backoff_min 1 s, backoff_max 32 s).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// ReadyRequiresControlPlane makes /status/ready fail while no endpoint
	// is reachable (ready_requires_control_plane, default false).
	ReadyRequiresControlPlane bool
	// DrainDelay is how long the proxy keeps serving after SIGTERM while
	// readiness reports 503 (drain_delay, default 5 s).
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests
	// (shutdown_timeout, default 30 s).
	ShutdownTimeout time.Duration
	Log             Log
	// CPTransport is how zoneproxy speaks to the control plane
	// (cp_transport, default auto).
	CPTransport Transport
	// ShrinkGuard is the fraction, 0..1, of the configuration that an update
	// may remove at once before zoneproxy holds it back for ShrinkHold
	// (shrink_guard, default 0.5; "50%" is accepted too).
	ShrinkGuard float64
	// ShrinkHold is shrink_hold (default 60 s).
	ShrinkHold time.Duration
	// CoalesceWindow bounds how long a burst of updates is gathered into one
	// snapshot build (coalesce_window, default 20 ms, at most 100 ms).
	CoalesceWindow time.Duration
	// UnknownPlugins is what happens to an object naming a plugin zoneproxy
	// does not implement (unknown_plugins, default fail). It applies to enabled
	// plugins only: a plugin outside the enabled set is never run, as in APISIX.
	UnknownPlugins UnknownPlugins
	// AccessLog is access_log: the format of the access log lines.
	AccessLog AccessLog
	// Limits is limits: bounds of a request's head.
	Limits Limits
	// Metrics is metrics: which requests the request metrics count.
	Metrics Metrics
	// MemoryLimit is memory_limit in bytes ("64m"; 0, the default, leaves Go's default or
	// GOMEMLIMIT): a soft limit that makes the garbage collector work harder near it.
	MemoryLimit int64
}

// Metrics is zoneproxy.metrics.
type Metrics struct {
	// CountAllRequests makes apisix_http_status, apisix_http_latency and apisix_bandwidth count
	// every request (count_all_requests, default false). By default they count, as APISIX does,
	// only the requests whose route, service, consumer or global rule has the prometheus plugin.
	// It applies live on reload.
	CountAllRequests bool
}

// Log is zoneproxy.log.
type Log struct {
	// Level is level: debug, info (default), warn or error.
	Level slog.Level
	// Format is format: text (default) or json.
	Format LogFormat
}

// LogFormat is the log output format.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Transport is the control-plane protocol.
type Transport string

// The control-plane transports: auto tries gRPC and falls back to the
// HTTP/JSON gateway per endpoint.
const (
	TransportAuto Transport = "auto"
	TransportGRPC Transport = "grpc"
	TransportHTTP Transport = "http"
)

// UnknownPlugins is the policy for plugins zoneproxy does not implement.
type UnknownPlugins string

// The unknown-plugin policies: fail rejects the object that names the
// plugin; ignore runs it without the plugin, as APISIX's data plane does.
const (
	UnknownPluginsFail   UnknownPlugins = "fail"
	UnknownPluginsIgnore UnknownPlugins = "ignore"
)

// Default returns the configuration of an empty config.yaml.
func Default() *Config {
	return &Config{
		APISIX: APISIX{
			NodeListen: []ListenAddr{{IP: defaultListenIP, Port: defaultNodeListenPort, IPv6: defaultEnableIPv6}},
			EnableIPv6: defaultEnableIPv6,
			Status:     ListenAddr{IP: defaultStatusIP, Port: defaultStatusPort},
			SSL: SSL{TrustedCertificate: defaultTrustedCertificate, Enable: true,
				Listen:    []ListenAddr{{IP: defaultListenIP, Port: defaultSSLListenPort, IPv6: defaultEnableIPv6}},
				Protocols: DefaultSSLProtocols, Ciphers: DefaultSSLCiphers},
			Router:             Router{HTTP: defaultHTTPRouter},
			EnableServerTokens: defaultEnableServerTokens,
			EnableHTTP2:        true,
			DataEncryption:     DataEncryption{EnableEncryptFields: true, Keyring: slices.Clone(keyring.Default)},
		},
		Deployment: Deployment{
			Role:            defaultRole,
			RoleTraditional: RoleConfig{ConfigProvider: defaultConfigProvider},
			Etcd: Etcd{
				Host:               []string{defaultEtcdHost},
				Prefix:             defaultEtcdPrefix,
				Timeout:            defaultEtcdTimeout,
				WatchTimeout:       defaultEtcdWatchTimeout,
				StartupRetry:       defaultEtcdStartupRetry,
				ResyncDelay:        defaultEtcdResyncDelay,
				HealthCheckTimeout: defaultEtcdHealthCheckTimeout,
				TLS:                EtcdTLS{Verify: defaultEtcdTLSVerify},
			},
			Admin: Admin{
				Listen:      ListenAddr{IP: defaultListenIP, Port: defaultAdminPort},
				Allow:       []string{defaultAllowAdmin},
				KeyRequired: true,
				Keys:        []AdminKey{{Name: "admin", Role: AdminRoleAdmin}},
			},
		},
		Prometheus: Prometheus{
			ExportAddr:         ListenAddr{IP: defaultPrometheusIP, Port: defaultPrometheusPort},
			ExportURI:          defaultPrometheusExportURI,
			EnableExportServer: defaultEnableExportServer,
		},
		HTTP: HTTP{
			AccessLog:           "logs/access.log",
			ClientHeaderTimeout: 60 * time.Second,
			ClientBodyTimeout:   60 * time.Second,
			SendTimeout:         10 * time.Second,
			KeepaliveTimeout:    60 * time.Second,
			RealIPHeader:        defaultRealIPHeader,
			RealIPFrom:          []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			RealIPFromUnix:      true,
		},
		Zoneproxy: Zoneproxy{
			AccessLog:                 AccessLog{Format: "combined", BufferLines: 4096},
			Limits:                    Limits{MaxHeaderBytes: 32 << 10, MaxHeaderCount: 100, MaxURILength: 8 << 10},
			DataDir:                   defaultDataDir,
			StandaloneWatch:           WatchInotify,
			FailbackAfter:             defaultFailbackAfter,
			ProbeInterval:             defaultProbeInterval,
			ProbeTimeout:              defaultProbeTimeout,
			BackoffMin:                defaultBackoffMin,
			BackoffMax:                defaultBackoffMax,
			ReadyRequiresControlPlane: defaultReadyRequiresControlPlane,
			DrainDelay:                defaultDrainDelay,
			ShutdownTimeout:           defaultShutdownTimeout,
			Log:                       Log{Level: slog.LevelInfo, Format: defaultLogFormat},
			CPTransport:               defaultTransport,
			ShrinkGuard:               defaultShrinkGuard,
			ShrinkHold:                defaultShrinkHold,
			CoalesceWindow:            defaultCoalesceWindow,
			UnknownPlugins:            defaultUnknownPlugins,
		},
	}
}

// ListenAddrs returns the proxy's listen addresses as "ip:port" strings
// (apisix.node_listen), without the extra [::] addresses of ListenAddr.IPv6.
func (c *Config) ListenAddrs() []string {
	out := make([]string, 0, len(c.APISIX.NodeListen))
	for _, a := range c.APISIX.NodeListen {
		out = append(out, a.String())
	}
	return out
}
