package harness

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Scenario is one workload: the routes the control plane (and nginx) hold and the request wrk repeats.
type Scenario struct {
	Name    string
	Desc    string
	Path    string   // request path
	Headers []string // extra request headers, "Name: value"
	Body    int      // response body size in bytes
	Churn   bool     // zoneproxy only, measured quiet and under route updates
	Idle    int      // when set, no wrk run: the RSS that this many idle keep-alive connections cost
	routes  func() []Route
	// redisRoutes, when set, are the routes with the address of the redis-server the harness
	// starts for the scenario (on 127.0.0.1:port); routes() holds them with port 6379.
	redisRoutes func(port int) []Route
	// objects are other keys the control plane holds for the scenario (consumers), by key under
	// the prefix ("/consumers/bench").
	objects map[string]string
	// TLS: the proxies serve HTTPS with one ECDSA P-256 certificate (nginx from files, zoneproxy from
	// an SSL object in etcd); the bare upstream, plain HTTP, is not measured. H2: the load is
	// h2load's, HTTP/2 with h2loadStreams streams per connection, instead of wrk's.
	TLS, H2 bool
	// Key is the TLS scenarios' certificate key type: KeyECDSA (default) or KeyRSA.
	Key string
	// Handshake, when set, makes the load bench/cmd/tlsload's instead of wrk's: a new TLS
	// connection per request, with a full handshake each (HandshakeFull) or resuming the
	// worker's previous session (HandshakeResumed).
	Handshake string
	// Goal is the requests per CPU-second zoneproxy should reach, as a multiple of nginx's
	// (0: goalCPUEfficiency).
	Goal float64
	// VsPlain marks a plugin scenario: when the plain route (PlainScenario) ran in the same
	// harness run, zoneproxy's figures are also divided by its zoneproxy's there. PlainGoal is the
	// requests per CPU-second to reach as a multiple of that (0: the ratio is reported, not judged).
	VsPlain   bool
	PlainGoal float64
	// Conns, when set, replaces Options.Conns: the load's connections for this scenario.
	Conns int
	// SSLObjects, in a TLS scenario, is how many SSL objects zoneproxy's control plane holds: the
	// bench certificate's and SSLObjects-1 more, each under a name of its own that no request
	// asks for. nginx is not run (it would serve one certificate, not the same work).
	SSLObjects int
	// Workers is how many CPUs the servers use (0: one): GOMAXPROCS for the Go servers,
	// worker_processes for nginx. With more than one they run on ProxyCPU and LoadCPU both,
	// sharing them with the load, which then runs one wrk thread per worker on the same CPUs.
	Workers int
}

// PlainScenario is the plain route the plugin scenarios are compared with.
const PlainScenario = "1route"

// The handshake loads of Scenario.Handshake.
const (
	HandshakeFull    = "full"
	HandshakeResumed = "resumed"
)

// Route is one APISIX route of a scenario, with what nginx needs to mirror it.
type Route struct {
	ID  string
	URI string // APISIX uri: exact, or a prefix ending in "/*"
	// Header, when set, is a key-auth-like condition: vars [["http_<name>","==",value]] in APISIX,
	// an if ($http_<name> != value) in nginx.
	Header *HeaderMatch
	// Plugins, when set, are the route's APISIX plugins; the route then has no vars (a Header is
	// nginx's mirror of what the plugins check).
	Plugins map[string]any
}

// HeaderMatch is a request header that must equal Value.
type HeaderMatch struct{ Name, Value string }

// Churn routes: updated ChurnRate times a second by the churn scenarios, never requested.
const (
	churnRoutes = 100
	apiKey      = "bench-key-5f1c0e27" // the key-auth-like header value of the vars scenario
	deepPath    = "/api/v1/tenants/t99/services/s99/items/42"
)

// allScenarios returns every scenario, in the order they run.
func allScenarios() []Scenario {
	return []Scenario{
		{Name: "1route", Desc: "1 route, 100-byte JSON, keep-alive", Path: "/bench", Body: 100,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "10k", Desc: "10,000 prefix routes, the request matches one deep in the tree", Path: deepPath, Body: 100,
			routes: manyRoutes},
		{Name: "c1000", Desc: "1 route, 100-byte JSON, keep-alive, 1,000 connections", Path: "/bench", Body: 100, Conns: 1000,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "2workers", Desc: "1 route, 100-byte JSON, keep-alive, two workers (GOMAXPROCS=2, nginx worker_processes 2) sharing both CPUs with wrk",
			Path: "/bench", Body: 100, Workers: 2,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "1k", Desc: "1 route, 1 KiB body", Path: "/bench/1k", Body: 1 << 10,
			routes: func() []Route { return []Route{{ID: "bench-1k", URI: "/bench/1k"}} }},
		{Name: "64k", Desc: "1 route, 64 KiB body", Path: "/bench/64k", Body: 64 << 10,
			routes: func() []Route { return []Route{{ID: "bench-64k", URI: "/bench/64k"}} }},
		{Name: "close", Desc: "1 route, a new connection per request (Connection: close)", Path: "/bench", Body: 100,
			Headers: []string{"Connection: close"},
			routes:  func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "vars", Desc: "1 route with a key-auth-like vars condition on the apikey header", Path: "/bench/auth", Body: 100,
			Headers: []string{"apikey: " + apiKey},
			routes: func() []Route {
				return []Route{{ID: "bench-auth", URI: "/bench/auth", Header: &HeaderMatch{Name: "apikey", Value: apiKey}}}
			}},
		{Name: "keyauth", Desc: "1 route with key-auth (nginx: the same header check)", Path: "/bench/auth", Body: 100,
			Headers: []string{"apikey: " + apiKey}, VsPlain: true, PlainGoal: 0.95, // issue 18
			objects: map[string]string{"/consumers/bench": fmt.Sprintf(`{"username":"bench","plugins":{"key-auth":{"key":%q}}}`, apiKey)},
			routes: func() []Route {
				return []Route{{ID: "bench-auth", URI: "/bench/auth", Header: &HeaderMatch{Name: "apikey", Value: apiKey},
					Plugins: map[string]any{"key-auth": map[string]any{}}}}
			}},
		{Name: "jwtauth", Desc: "1 route with jwt-auth, HS256 (nginx: no check; it cannot verify a JWT)", Path: "/bench/jwt", Body: 100,
			Headers: []string{"Authorization: Bearer " + benchJWT()}, VsPlain: true, PlainGoal: 0.85, // issue 18
			objects: map[string]string{"/consumers/bench": fmt.Sprintf(`{"username":"bench","plugins":{"jwt-auth":{"key":"bench","secret":%q}}}`, jwtSecret)},
			routes: func() []Route {
				return []Route{{ID: "bench-jwt", URI: "/bench/jwt", Plugins: map[string]any{"jwt-auth": map[string]any{}}}}
			}},
		{Name: "plugins", Desc: "1 route with key-auth + limit-count (local, never reached) + prometheus (nginx: the header check)",
			Path: "/bench/plugins", Body: 100, Headers: []string{"apikey: " + apiKey}, VsPlain: true, PlainGoal: 0.9, // issue 22
			objects: map[string]string{"/consumers/bench": fmt.Sprintf(`{"username":"bench","plugins":{"key-auth":{"key":%q}}}`, apiKey)},
			routes: func() []Route {
				return []Route{{ID: "bench-plugins", URI: "/bench/plugins", Header: &HeaderMatch{Name: "apikey", Value: apiKey},
					Plugins: map[string]any{
						"key-auth":    map[string]any{},
						"limit-count": map[string]any{"count": 1_000_000_000, "time_window": 3600, "key": "remote_addr", "policy": "local"},
						"prometheus":  map[string]any{},
					}}}
			}},
		{Name: "limitcount", Desc: "1 route with limit-count, policy local, a count never reached (nginx: a plain location)",
			Path: "/bench/limit", Body: 100, VsPlain: true, PlainGoal: 0.95, // issue 19
			routes: func() []Route {
				return []Route{{ID: "bench-limit", URI: "/bench/limit", Plugins: map[string]any{"limit-count": limitCount(nil)}}}
			}},
		{Name: "limitredis", Desc: "1 route with limit-count, policy redis on a loopback redis-server, a count never reached (nginx: a plain location)",
			Path: "/bench/limitredis", Body: 100, VsPlain: true, // issue 19: req/s and p99 reported, no goal
			routes: func() []Route { return limitRedisRoutes(6379) }, redisRoutes: limitRedisRoutes},
		{Name: "rewrite", Desc: "1 route with proxy-rewrite (uri, a header from $remote_addr) + cors + request-id (nginx: a plain location)",
			Path: "/bench/rewrite", Body: 100, VsPlain: true, PlainGoal: 0.9, // issue 19
			routes: func() []Route {
				return []Route{{ID: "bench-rewrite", URI: "/bench/rewrite", Plugins: map[string]any{
					"proxy-rewrite": map[string]any{"uri": "/bench", "headers": map[string]any{"set": map[string]string{"X-Client": "$remote_addr"}}},
					"cors":          map[string]any{},
					"request-id":    map[string]any{},
				}}}
			}},
		{Name: "idle10k", Desc: "10,000 idle keep-alive connections, each after one request: RSS per connection",
			Path: "/bench", Body: 100, Idle: 10_000,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "idle10k-tls", Desc: "10,000 idle keep-alive HTTPS connections (TLS 1.3, ECDSA P-256), each after one request: RSS per connection",
			Path: "/bench", Body: 100, Idle: 10_000, TLS: true,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "https", Desc: "1 route, 100-byte JSON, keep-alive HTTPS (wrk over TLS 1.3, ECDSA P-256)", Path: "/bench", Body: 100,
			TLS: true, Goal: 1, routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "ssl10k", Desc: "as https, with 10,000 SSL objects in etcd (the one asked for and 9,999 others, one name each): zoneproxy only, for its RSS",
			Path: "/bench", Body: 100, TLS: true, SSLObjects: 10_000,
			routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "hs-ecdsa", Desc: "1 route, a new HTTPS connection per request: a full TLS 1.3 handshake each (ECDSA P-256, tlsload)",
			Path: "/bench", Body: 100, Headers: []string{"Connection: close"}, TLS: true, Key: KeyECDSA, Handshake: HandshakeFull,
			Goal: 1, routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "hs-rsa", Desc: "1 route, a new HTTPS connection per request: a full TLS 1.3 handshake each (RSA-2048, tlsload)",
			Path: "/bench", Body: 100, Headers: []string{"Connection: close"}, TLS: true, Key: KeyRSA, Handshake: HandshakeFull,
			Goal: 1, routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "hs-resume", Desc: "1 route, a new HTTPS connection per request resuming the previous session (TLS 1.3 ticket, ECDSA P-256, tlsload)",
			Path: "/bench", Body: 100, Headers: []string{"Connection: close"}, TLS: true, Key: KeyECDSA, Handshake: HandshakeResumed,
			Goal: 1, routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "h2", Desc: "1 route, 100-byte JSON, HTTP/2 over TLS (h2load, 10 streams per connection)", Path: "/bench", Body: 100,
			TLS: true, H2: true, Goal: 1, routes: func() []Route { return []Route{{ID: "bench", URI: "/bench"}} }},
		{Name: "churn", Desc: "1 route under load + 100 others updated 100 times a second", Path: "/bench", Body: 100, Churn: true,
			routes: func() []Route { return append([]Route{{ID: "bench", URI: "/bench"}}, churnSet()...) }},
		{Name: "churn10k", Desc: "10,000 routes + 100 others updated 100 times a second", Path: deepPath, Body: 100, Churn: true,
			routes: func() []Route { return append(manyRoutes(), churnSet()...) }},
	}
}

// limitCount is the bench's limit-count conf: a count never reached within the hour's window, keyed
// on the client address, with extra fields (the Redis policy's) added.
func limitCount(extra map[string]any) map[string]any {
	c := map[string]any{"count": 1_000_000_000, "time_window": 3600, "key": "remote_addr", "policy": "local"}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// limitRedisRoutes is the limitredis scenario's route, counting in the redis-server on 127.0.0.1:port.
func limitRedisRoutes(port int) []Route {
	return []Route{{ID: "bench-limitredis", URI: "/bench/limitredis", Plugins: map[string]any{"limit-count": limitCount(map[string]any{
		"policy": "redis", "redis_host": "127.0.0.1", "redis_port": port, "redis_timeout": 1000})}}}
}

// ScenarioNames lists every scenario in the order they run.
func ScenarioNames() []string {
	all := allScenarios()
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Name
	}
	return out
}

func scenarioByName(name string) (Scenario, bool) {
	for _, s := range allScenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Objects returns the other keys of the scenario (consumers), by key under the prefix.
func (s Scenario) Objects() map[string]string { return s.objects }

// jwtSecret signs benchJWT; the jwtauth scenario's consumer holds it.
const jwtSecret = "bench-secret-0c6b2d1e9a7f4e3b"

// benchJWT is an HS256 token for the jwtauth scenario's consumer (claim key "bench"), valid for
// a day from now.
func benchJWT() string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := enc.EncodeToString(fmt.Appendf(nil, `{"key":"bench","exp":%d}`, time.Now().Add(24*time.Hour).Unix()))
	mac := hmac.New(sha256.New, []byte(jwtSecret))
	mac.Write([]byte(head + "." + body))
	return head + "." + body + "." + enc.EncodeToString(mac.Sum(nil))
}

// Routes returns the scenario's routes, the churned ones included.
func (s Scenario) Routes() []Route { return s.routes() }

// manyRoutes is 100 tenants × 100 services of prefix routes, all under /api/v1/tenants/.
func manyRoutes() []Route {
	out := make([]Route, 0, 10000)
	for i := 0; i < 10000; i++ {
		out = append(out, Route{
			ID:  fmt.Sprintf("r%05d", i),
			URI: fmt.Sprintf("/api/v1/tenants/t%02d/services/s%02d/*", i/100, i%100),
		})
	}
	return out
}

func churnSet() []Route {
	out := make([]Route, churnRoutes)
	for i := range out {
		out[i] = Route{ID: churnID(i), URI: fmt.Sprintf("/churn/%03d", i)}
	}
	return out
}

func churnID(i int) string { return fmt.Sprintf("churn-%03d", i) }

// JSON is the route as an APISIX control plane stores it, pointing at upstream "1"; desc is put in
// the route's desc field (the churn changes it).
func (r Route) JSON(desc string) []byte {
	v := map[string]any{"uri": r.URI, "name": r.ID, "upstream_id": "1"}
	if desc != "" {
		v["desc"] = desc
	}
	if r.Plugins != nil {
		v["plugins"] = r.Plugins
	} else if r.Header != nil {
		v["vars"] = [][]string{{"http_" + strings.ToLower(strings.ReplaceAll(r.Header.Name, "-", "_")), "==", r.Header.Value}}
	}
	b, _ := json.Marshal(v) // a map of strings and string slices always marshals
	return b
}

// UpstreamJSON is APISIX upstream "1": one node, with nginx's upstream keep-alive settings in the
// bench (keepalive 320, APISIX's default keepalive_pool.size; keepalive_requests 1000000) rather
// than APISIX's default of 1,000 requests per connection, which would have zoneproxy alone
// reconnect a few dozen times a second. A pool smaller than a scenario's concurrency (h2load's
// 160 streams) has both proxies dial an upstream connection for a large share of requests.
func UpstreamJSON(addr string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "roundrobin", "nodes": map[string]int{addr: 1}, "name": "bench",
		"keepalive_pool": map[string]int{"size": 320, "idle_timeout": 60, "requests": 1000000}})
	return b
}

// goal is the scenario's requests-per-CPU-second goal as a multiple of nginx's.
// workers is the servers' worker count, at least one.
func (s Scenario) workers() int { return max(1, s.Workers) }

func (s Scenario) goal() float64 {
	if s.Goal > 0 {
		return s.Goal
	}
	return goalCPUEfficiency
}
