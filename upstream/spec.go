package upstream

// Balancer types (Spec.Type).
const (
	RoundRobin = "roundrobin"
	CHash      = "chash"
	EWMA       = "ewma"
	LeastConn  = "least_conn"
)

// Spec is one APISIX upstream object after Parse: every field the schema defaults is filled in.
// Field names and units mirror APISIX's schema (durations are seconds, as in the JSON). A Spec is
// treated as immutable once handed to Registry.Pool.
type Spec struct {
	ID         string            `json:"id,omitempty"` // integer ids are kept in decimal
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`

	Type  string     `json:"type"`  // RoundRobin (default), CHash, EWMA or LeastConn
	Nodes []NodeSpec `json:"nodes"` // both APISIX forms, in document order, one entry per address

	Scheme       string `json:"scheme"`    // "http" (default) or "https"
	PassHost     string `json:"pass_host"` // "pass" (default), "node" or "rewrite"
	UpstreamHost string `json:"upstream_host,omitempty"`

	HashOn string `json:"hash_on"` // "vars" (default), "header", "cookie", "consumer", "vars_combinations"
	Key    string `json:"key"`     // kept when empty: a chash upstream on vars_combinations requires it

	// Retries is nil when unset: APISIX then retries len(Nodes)-1 times (see EffectiveRetries).
	Retries      *int     `json:"retries,omitempty"`
	RetryTimeout float64  `json:"retry_timeout,omitempty"` // seconds; 0 = no bound
	Timeout      *Timeout `json:"timeout,omitempty"`       // nil = unset (route or default applies)

	KeepalivePool KeepalivePool `json:"keepalive_pool"`
	Checks        *Checks       `json:"checks,omitempty"` // nil = no health checking at all
	TLS           *TLS          `json:"tls,omitempty"`
}

// NodeSpec is one upstream node. Host keeps IPv6 literals in brackets ("[::1]"); Port is always
// set (80 for http, 443 for https when the configuration omits it).
type NodeSpec struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"` // higher is used first; default 0
}

// Timeout holds the upstream timeouts in seconds; all three are > 0.
type Timeout struct {
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Read    float64 `json:"read"`
}

// KeepalivePool bounds upstream connection reuse. Defaults: {320, 60, 1000}.
type KeepalivePool struct {
	Size        int     `json:"size"`
	IdleTimeout float64 `json:"idle_timeout"` // seconds
	Requests    int     `json:"requests"`
}

// TLS is the client side TLS of an https upstream. Verify defaults to false, as in APISIX.
type TLS struct {
	ClientCertID string `json:"client_cert_id,omitempty"`
	ClientCert   string `json:"client_cert,omitempty"`
	ClientKey    string `json:"client_key,omitempty"`
	Verify       bool   `json:"verify"`
}

// Checks configures health checking. APISIX requires Active whenever checks is present.
type Checks struct {
	Active  *ActiveCheck  `json:"active,omitempty"`
	Passive *PassiveCheck `json:"passive,omitempty"` // nil = responses do not feed health
}

// ActiveCheck is checks.active with every default applied.
type ActiveCheck struct {
	Type                   string   `json:"type"`        // "http" (default), "https", "tcp"
	Timeout                float64  `json:"timeout"`     // seconds, default 1
	Concurrency            int      `json:"concurrency"` // default 10
	Host                   string   `json:"host,omitempty"`
	Port                   int      `json:"port,omitempty"` // 0 = the node's port
	HTTPMethod             string   `json:"http_method"`    // default GET
	HTTPPath               string   `json:"http_path"`      // default "/"
	HTTPReqBody            string   `json:"http_req_body,omitempty"`
	HTTPSVerifyCertificate bool     `json:"https_verify_certificate"` // default true
	ReqHeaders             []string `json:"req_headers,omitempty"`    // raw "Name: value" lines

	Healthy   ActiveHealthy   `json:"healthy"`
	Unhealthy ActiveUnhealthy `json:"unhealthy"`
}

// ActiveHealthy is checks.active.healthy. Defaults: interval 1, statuses [200, 302], successes 2.
type ActiveHealthy struct {
	Interval     int   `json:"interval"` // seconds
	HTTPStatuses []int `json:"http_statuses"`
	Successes    int   `json:"successes"`
}

// ActiveUnhealthy is checks.active.unhealthy. Defaults: interval 1, statuses
// [429,404,500,501,502,503,504,505], http_failures 5, tcp_failures 2, timeouts 3.
type ActiveUnhealthy struct {
	Interval     int   `json:"interval"` // seconds
	HTTPStatuses []int `json:"http_statuses"`
	HTTPFailures int   `json:"http_failures"`
	TCPFailures  int   `json:"tcp_failures"`
	Timeouts     int   `json:"timeouts"`
}

// PassiveCheck is checks.passive with every default applied.
type PassiveCheck struct {
	Type      string           `json:"type"` // "http" (default), "https", "tcp"
	Healthy   PassiveHealthy   `json:"healthy"`
	Unhealthy PassiveUnhealthy `json:"unhealthy"`
}

// PassiveHealthy is checks.passive.healthy. Defaults: statuses 200–208, 226, 300–308; successes 5.
// A threshold of 0 disables that counter.
type PassiveHealthy struct {
	HTTPStatuses []int `json:"http_statuses"`
	Successes    int   `json:"successes"`
}

// PassiveUnhealthy is checks.passive.unhealthy. Defaults: statuses [429, 500, 503],
// http_failures 5, tcp_failures 2, timeouts 7. A threshold of 0 disables that counter.
type PassiveUnhealthy struct {
	HTTPStatuses []int `json:"http_statuses"`
	HTTPFailures int   `json:"http_failures"`
	TCPFailures  int   `json:"tcp_failures"`
	Timeouts     int   `json:"timeouts"`
}

// EffectiveRetries is the number of retries APISIX makes: Retries when set, else len(Nodes)-1
// (never below 0).
func (s *Spec) EffectiveRetries() int {
	if s.Retries != nil {
		return *s.Retries
	}
	return max(len(s.Nodes)-1, 0)
}

// Schema defaults (apisix/schema_def.lua and lua-resty-healthcheck).
var (
	defaultActiveHealthyStatuses   = []int{200, 302}
	defaultActiveUnhealthyStatuses = []int{429, 404, 500, 501, 502, 503, 504, 505}
	defaultPassiveHealthyStatuses  = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
		300, 301, 302, 303, 304, 305, 306, 307, 308}
	defaultPassiveUnhealthyStatuses = []int{429, 500, 503}
)

// defaultPassive is what APISIX's checker uses for failed tries when checks.passive is absent.
func defaultPassive() PassiveCheck {
	return PassiveCheck{
		Type:      "http",
		Healthy:   PassiveHealthy{HTTPStatuses: defaultPassiveHealthyStatuses, Successes: 5},
		Unhealthy: PassiveUnhealthy{HTTPStatuses: defaultPassiveUnhealthyStatuses, HTTPFailures: 5, TCPFailures: 2, Timeouts: 7},
	}
}
