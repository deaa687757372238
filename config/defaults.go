package config

import "time"

// APISIX's defaults (apisix/cli/config.lua, apisix/cli/ops.lua,
// apisix/core/config_etcd.lua).
const (
	defaultListenIP               = "0.0.0.0"
	defaultNodeListenPort         = 9080
	defaultEnableIPv6             = true
	defaultStatusIP               = "127.0.0.1"
	defaultStatusPort             = 7085
	defaultAdminPort              = 9180
	defaultAllowAdmin             = "127.0.0.0/24"
	defaultTrustedCertificate     = TrustedCertificateSystem
	defaultHTTPRouter             = RouterRadixtreeHostURI
	defaultEnableServerTokens     = true
	defaultRole                   = RoleTraditional
	defaultConfigProvider         = ProviderEtcd
	defaultEtcdHost               = "http://127.0.0.1:2379"
	defaultEtcdPort               = 2379
	defaultEtcdPrefix             = "/apisix"
	defaultEtcdTimeout            = 30 * time.Second
	defaultEtcdWatchTimeout       = 50 * time.Second
	defaultEtcdStartupRetry       = 2
	defaultEtcdResyncDelay        = 5 * time.Second
	defaultEtcdHealthCheckTimeout = 10 * time.Second
	defaultEtcdTLSVerify          = true
	defaultPrometheusIP           = "127.0.0.1"
	defaultPrometheusPort         = 9091
	defaultPrometheusExportURI    = "/apisix/prometheus/metrics"
	defaultPrometheusMetricPrefix = "apisix_"
	defaultEnableExportServer     = true
	defaultRealIPHeader           = "X-Real-IP" // and real_ip_from 127.0.0.1, "unix:" (Default)
)

// zoneproxy's defaults for the zoneproxy: section.
const (
	defaultDataDir                   = ".zoneproxy"
	defaultFailbackAfter             = 10 * time.Second
	defaultProbeInterval             = 250 * time.Millisecond
	defaultProbeTimeout              = time.Second
	defaultBackoffMin                = time.Second
	defaultBackoffMax                = 32 * time.Second
	defaultReadyRequiresControlPlane = false
	defaultDrainDelay                = 5 * time.Second
	defaultShutdownTimeout           = 30 * time.Second
	defaultLogFormat                 = LogText
	defaultTransport                 = TransportAuto
	defaultShrinkGuard               = 0.5
	defaultShrinkHold                = 60 * time.Second
	defaultCoalesceWindow            = 20 * time.Millisecond
	defaultUnknownPlugins            = UnknownPluginsFail
)

const (
	// maxCoalesceWindow bounds zoneproxy.coalesce_window.
	maxCoalesceWindow = 100 * time.Millisecond
	// etcdHostKey is the key of the etcd endpoints in config.yaml.
	etcdHostKey = "deployment.etcd.host"
	// envEtcdHost is APISIX's environment variable that replaces them.
	envEtcdHost = "APISIX_DEPLOYMENT_ETCD_HOST"
)
