package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// pluginHarness is a Proxy on loopback whose configuration a test updates through a real
// snapshot Builder, as the control plane's changes are applied.
type pluginHarness struct {
	t    *testing.T
	p    *Proxy
	b    *snapshot.Builder
	st   *state.State
	base string
	logs *testutil.Buffer
	hits atomic.Int64 // requests the upstream served
	up   string       // the upstream's address
}

func newPluginHarness(t *testing.T, enabled []string, kvs ...string) *pluginHarness {
	t.Helper()
	h := &pluginHarness{t: t, p: New(Options{}), logs: &testutil.Buffer{}}
	h.up = backend(t, countRequests(&h.hits, headerEcho))
	b, err := snapshot.NewBuilder(snapshot.Options{Registry: upstream.NewRegistry(upstream.Options{Client: h.p.ConfigureClient}),
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Enabled: enabled})
	if err != nil {
		t.Fatal(err)
	}
	h.b = b
	h.st = &state.State{KVs: state.NewKVs(map[string]state.KV{})}
	h.update(kvs...)
	ln := testutil.Listen(t)
	go func() { _ = h.p.Serve(ln) }()
	h.base = "http://" + ln.Addr().String()
	return h
}

// update sets keys (deletes those whose value is "") and publishes the new snapshot.
func (h *pluginHarness) update(kvs ...string) {
	h.t.Helper()
	st := &state.State{KVs: h.st.KVs, Revision: h.st.Revision}
	for i := 0; i+1 < len(kvs); i += 2 {
		st.Revision++
		v := strings.ReplaceAll(kvs[i+1], "UPSTREAM", h.upstreamJSON())
		if v == "" {
			st.KVs = st.KVs.With(nil, []string{kvs[i]})
			continue
		}
		st.KVs = st.KVs.With([]state.KV{{Key: kvs[i], Value: []byte(v), ModRevision: st.Revision}}, nil)
	}
	snap, err := h.b.Build(st)
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.p.Store(snap)
}

func (h *pluginHarness) upstreamJSON() string {
	if h.up == "" {
		return `{"nodes":{"127.0.0.1:1":1}}`
	}
	host, port, _ := net.SplitHostPort(h.up)
	return fmt.Sprintf(`{"nodes":[{"host":%q,"port":%s,"weight":1}]}`, host, port)
}

// get sends a GET with headers (name, value, ...) and returns the response and its body.
func (h *pluginHarness) get(path string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.base+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(h.t, req)
}

// headerEcho answers with the request URI and the headers the plugins set or remove.
func headerEcho(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "uri=%s\n", r.RequestURI)
	for _, k := range []string{"Apikey", "Authorization", "X-Consumer-Username", "X-Credential-Identifier", "X-Consumer-Custom-Id"} {
		if v, ok := r.Header[k]; ok {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(v, ","))
		}
	}
}

const (
	missingKeyBody = `{"message":"Missing API key in request"}` + "\n"
	invalidKeyBody = `{"message":"Invalid API key in request"}` + "\n"
)

func TestKeyAuthEndToEnd(t *testing.T) {
	ring, _ := keyring.New(keyring.Default)
	h := newPluginHarness(t, nil,
		"/apisix/consumers/jack", `{"username":"jack","labels":{"custom_id":"c-42"},"plugins":{"key-auth":{"key":"auth-one"}}}`,
		"/apisix/consumers/jack/credentials/cred-2", `{"plugins":{"key-auth":{"key":"auth-two"}}}`,
		"/apisix/consumers/enc", `{"username":"enc","plugins":{"key-auth":{"key":"`+ring.Encrypt("enc-key")+`"}}}`,
		"/apisix/consumers/anon", `{"username":"anon"}`,
		"/apisix/routes/1", `{"uri":"/auth","plugins":{"key-auth":{}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/hide","plugins":{"key-auth":{"hide_credentials":true}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/anon","plugins":{"key-auth":{"anonymous_consumer":"anon"}},"upstream":UPSTREAM}`,
	)
	tests := []struct {
		name, path string
		headers    []string
		status     int
		body       string // exact for answers of the plugin, a fragment for the upstream's
		absent     string // a fragment the upstream must not see
	}{
		{"no key", "/auth", nil, 401, missingKeyBody, ""},
		{"wrong key", "/auth", []string{"apikey", "nope"}, 401, invalidKeyBody, ""},
		{"key on the consumer", "/auth", []string{"apikey", "auth-one", "X-Credential-Identifier", "forged", "X-Consumer-Username", "forged"}, 200,
			"Apikey=auth-one\nX-Consumer-Username=jack\nX-Consumer-Custom-Id=c-42\n", "X-Credential-Identifier"},
		{"key of a credential", "/auth?apikey=auth-two", nil, 200, "X-Consumer-Username=jack\nX-Credential-Identifier=cred-2\n", ""},
		{"encrypted key", "/auth", []string{"apikey", "enc-key"}, 200, "X-Consumer-Username=enc\n", ""},
		{"the ciphertext is not a key", "/auth", []string{"apikey", ring.Encrypt("enc-key")}, 401, invalidKeyBody, ""},
		{"hide header", "/hide", []string{"apikey", "auth-one"}, 200, "X-Consumer-Username=jack", "Apikey"},
		{"hide query", "/hide?a=1&apikey=auth-one", nil, 200, "uri=/hide?a=1\n", "auth-one"},
		{"anonymous", "/anon", nil, 200, "X-Consumer-Username=anon\n", ""},
		{"anonymous, key given", "/anon", []string{"apikey", "auth-one"}, 200, "X-Consumer-Username=jack\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.hits.Load()
			resp, body := h.get(tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 401 {
				if body != tt.body || resp.Header.Get("WWW-Authenticate") != `apikey realm="key"` || h.hits.Load() != before {
					t.Errorf("401: body %q, WWW-Authenticate %q, upstream called %d times", body,
						resp.Header.Get("WWW-Authenticate"), h.hits.Load()-before)
				}
				return
			}
			if !strings.Contains(body, tt.body) || (tt.absent != "" && strings.Contains(body, tt.absent)) {
				t.Errorf("upstream saw\n%s\nwant %q and not %q", body, tt.body, tt.absent)
			}
		})
	}
	// A client that sends the consumer fields twice, in any case, gets neither through: the
	// proxy's value is the only one, as ngx.req.set_header leaves it.
	t.Run("consumer fields sent twice", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.base+"/auth", nil)
		req.Header.Set("apikey", "auth-one")
		req.Header["X-Consumer-Username"] = []string{"forged-1", "forged-2"}
		req.Header["x-consumer-custom-id"] = []string{"forged-3", "forged-4"}
		req.Header["X-CREDENTIAL-IDENTIFIER"] = []string{"forged-5", "forged-6"}
		resp, body := do(t, req)
		if resp.StatusCode != 200 || !strings.Contains(body, "X-Consumer-Username=jack\nX-Consumer-Custom-Id=c-42\n") ||
			strings.Contains(body, "forged") || strings.Contains(body, "X-Credential-Identifier") {
			t.Errorf("%d: upstream saw\n%s", resp.StatusCode, body)
		}
	})
}

// TestPluginPrecedence: route > plugin config > service, the winner's conf whole; a missing
// plugin config answers 503 before any plugin (global rules included).
func TestPluginPrecedence(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/services/s", `{"plugins":{"key-auth":{"header":"svc-key"}},"upstream":UPSTREAM}`,
		"/apisix/plugin_configs/pc", `{"plugins":{"key-auth":{"header":"pc-key"}}}`,
		"/apisix/routes/svc", `{"uri":"/svc","service_id":"s"}`,
		"/apisix/routes/pc", `{"uri":"/pc","service_id":"s","plugin_config_id":"pc"}`,
		"/apisix/routes/route", `{"uri":"/route","service_id":"s","plugin_config_id":"pc","plugins":{"key-auth":{"header":"route-key"}}}`,
		"/apisix/routes/nopc", `{"uri":"/nopc","plugin_config_id":"gone","upstream":UPSTREAM}`,
		"/apisix/global_rules/g", `{"plugins":{"key-auth":{"header":"global-key"}}}`,
	)
	for _, tt := range []struct{ path, header string }{{"/svc", "svc-key"}, {"/pc", "pc-key"}, {"/route", "route-key"}} {
		for _, hdr := range []string{"svc-key", "pc-key", "route-key"} {
			resp, body := h.get(tt.path, "global-key", "k", hdr, "k")
			want := 401
			if hdr == tt.header {
				want = 200
			}
			if resp.StatusCode != want {
				t.Errorf("%s with %s: %d, want %d: %s", tt.path, hdr, resp.StatusCode, want, body)
			}
		}
	}
	if resp, _ := h.get("/nopc"); resp.StatusCode != 503 {
		t.Errorf("missing plugin config: %d, want 503 before the global rule's 401", resp.StatusCode)
	}
	// An update of the plugin config reaches the routes that use it.
	h.update("/apisix/plugin_configs/pc", `{"plugins":{"key-auth":{"header":"pc2-key"}}}`)
	if resp, _ := h.get("/pc", "global-key", "k", "pc2-key", "k"); resp.StatusCode != 200 {
		t.Errorf("after the plugin config changed: %d, want 200", resp.StatusCode)
	}
}

// TestGlobalRules: global rules run before the route's plugins, and on the 404 of a request no
// route matched.
func TestGlobalRules(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/routes/1", `{"uri":"/open","upstream":UPSTREAM}`,
		"/apisix/global_rules/1", `{"plugins":{"key-auth":{}}}`,
	)
	for _, tt := range []struct {
		path   string
		key    string
		status int
		body   string
	}{
		{"/open", "", 401, missingKeyBody},
		{"/open", "k", 200, "X-Consumer-Username=jack"},
		{"/nowhere", "", 401, missingKeyBody},
		{"/nowhere", "k", 404, notFoundBody},
	} {
		var headers []string
		if tt.key != "" {
			headers = []string{"apikey", tt.key}
		}
		resp, body := h.get(tt.path, headers...)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s key %q: %d %q, want %d %q", tt.path, tt.key, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	h.update("/apisix/global_rules/1", "")
	if resp, _ := h.get("/open"); resp.StatusCode != 200 {
		t.Errorf("after the global rule was deleted: %d, want 200", resp.StatusCode)
	}
}

// TestPluginRejection: a bad plugin conf or an enabled plugin zoneproxy lacks rejects the new
// version and the last good one keeps serving; a plugin outside the enabled set is not run.
func TestPluginRejection(t *testing.T) {
	h := newPluginHarness(t, []string{"key-auth", "ua-restriction"},
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/routes/1", `{"uri":"/r","plugins":{"key-auth":{}},"upstream":UPSTREAM}`,
	)
	for _, tt := range []struct{ name, route, log string }{
		{"invalid conf", `{"uri":"/r","plugins":{"key-auth":{"header":1}},"upstream":UPSTREAM}`,
			`failed to check the configuration of plugin key-auth err: property \"header\" validation failed: wrong type: expected string, got number`},
		{"not implemented", `{"uri":"/r","plugins":{"ua-restriction":{"allowlist":["x"]}},"upstream":UPSTREAM}`,
			`plugin [ua-restriction] is enabled but not implemented by zoneproxy`},
	} {
		h.update("/apisix/routes/1", tt.route)
		if resp, body := h.get("/r"); resp.StatusCode != 401 || body != missingKeyBody {
			t.Errorf("%s: %d %q, want the last good version's 401", tt.name, resp.StatusCode, body)
		}
		if logs := h.logs.Take(); !strings.Contains(logs, tt.log) || !strings.Contains(logs, "kept_previous_version=true") {
			t.Errorf("%s: logs\n%s\nwant %q", tt.name, logs, tt.log)
		}
	}
	// Outside the enabled set: served without the plugin, one warning per version.
	h.update("/apisix/routes/1", `{"uri":"/r","plugins":{"basic-auth":{}},"upstream":UPSTREAM}`)
	if resp, _ := h.get("/r"); resp.StatusCode != 200 {
		t.Errorf("a plugin outside the enabled set: %d, want 200 (not run)", resp.StatusCode)
	}
	h.update("/apisix/routes/2", `{"uri":"/other","upstream":UPSTREAM}`)
	if n := strings.Count(h.logs.Take(), "skipping check schema for disabled or unknown plugin [basic-auth]"); n != 1 {
		t.Errorf("%d warnings over two builds, want 1 per object version", n)
	}
	// The control plane's /apisix/plugins replaces config.yaml's list: key-auth is off.
	h.update("/apisix/routes/1", `{"uri":"/r","plugins":{"key-auth":{}},"upstream":UPSTREAM}`)
	if resp, _ := h.get("/r"); resp.StatusCode != 401 {
		t.Fatalf("key-auth enabled: %d, want 401", resp.StatusCode)
	}
	h.update("/apisix/plugins", `[{"name":"ua-restriction"},{"name":"key-auth","stream":true}]`)
	if resp, _ := h.get("/r"); resp.StatusCode != 200 {
		t.Errorf("key-auth left out of /apisix/plugins: %d, want 200", resp.StatusCode)
	}
	h.update("/apisix/plugins", "")
	if resp, _ := h.get("/r"); resp.StatusCode != 401 {
		t.Errorf("/apisix/plugins deleted: %d, want config.yaml's list back (401)", resp.StatusCode)
	}
}

// TestConsumerGroups: a consumer whose group is missing is answered 503 once authenticated; its
// group appearing fixes it without touching the routes.
func TestConsumerGroups(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/consumers/jack", `{"username":"jack","group_id":"g","plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/routes/1", `{"uri":"/r","plugins":{"key-auth":{}},"upstream":UPSTREAM}`,
	)
	if resp, _ := h.get("/r", "apikey", "k"); resp.StatusCode != 503 {
		t.Errorf("group missing: %d, want 503", resp.StatusCode)
	}
	if resp, _ := h.get("/r"); resp.StatusCode != 401 {
		t.Errorf("group missing, no key: %d, want 401", resp.StatusCode)
	}
	h.update("/apisix/consumer_groups/g", `{"plugins":{}}`)
	if resp, _ := h.get("/r", "apikey", "k"); resp.StatusCode != 200 {
		t.Errorf("group present: %d, want 200", resp.StatusCode)
	}
}

// TestBasicAuthAndRestriction: basic-auth through the proxy, consumer-restriction on the route,
// and a consumer's own plugin conf winning over the route's (consumer > route).
func TestBasicAuthAndRestriction(t *testing.T) {
	ring, _ := keyring.New(keyring.Default)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	h := newPluginHarness(t, nil,
		"/apisix/consumer_groups/gold", `{"plugins":{}}`,
		"/apisix/consumers/foo", `{"username":"foo","group_id":"gold","plugins":{"basic-auth":{"username":"foo","password":"`+ring.Encrypt("bar")+`"}}}`,
		"/apisix/consumers/rose", `{"username":"rose","plugins":{"basic-auth":{"username":"rose","password":"pw"},`+
			`"consumer-restriction":{"whitelist":["rose"]}}}`,
		"/apisix/consumers/tom", `{"username":"tom","plugins":{"basic-auth":{"username":"tom","password":"pw"}}}`,
		"/apisix/routes/1", `{"uri":"/basic","plugins":{"basic-auth":{"hide_credentials":true}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/gold","plugins":{"basic-auth":{},"consumer-restriction":{"type":"consumer_group_id","whitelist":["gold"]}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/methods","plugins":{"basic-auth":{},"consumer-restriction":{"allowed_by_methods":[{"user":"foo","methods":["POST"]}]}},"upstream":UPSTREAM}`,
		"/apisix/routes/4", `{"uri":"/restricted","plugins":{"consumer-restriction":{"whitelist":["foo"]}},"upstream":UPSTREAM}`,
	)
	const forbidden = `{"message":"The consumer_name is forbidden."}` + "\n"
	for _, tt := range []struct {
		name, path, auth string
		status           int
		body             string
	}{
		{"missing", "/basic", "", 401, `{"message":"Missing authorization in request"}` + "\n"},
		{"wrong password", "/basic", basic("foo", "baz"), 401, `{"message":"Invalid user authorization"}` + "\n"},
		{"encrypted password, hidden upstream", "/basic", basic("foo", "bar"), 200, "X-Consumer-Username=foo\n"},
		{"group whitelisted", "/gold", basic("foo", "bar"), 200, "X-Consumer-Username=foo"},
		{"group not whitelisted", "/gold", basic("tom", "pw"), 401,
			`{"message":"The request is rejected, please check the consumer_group_id for this request"}` + "\n"},
		{"method not allowed", "/methods", basic("foo", "bar"), 403, forbidden},
		{"user not listed", "/methods", basic("rose", "pw"), 200, "X-Consumer-Username=rose"},
		{"no consumer", "/restricted", "", 401, `{"message":"The request is rejected, please check the consumer_name for this request"}` + "\n"},
	} {
		var headers []string
		if tt.auth != "" {
			headers = []string{"Authorization", tt.auth}
		}
		resp, body := h.get(tt.path, headers...)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == 200 && strings.Contains(body, "Authorization=") && tt.path == "/basic" {
			t.Errorf("%s: hide_credentials let Authorization through: %s", tt.name, body)
		}
	}
	// consumer > route: rose's own consumer-restriction (whitelist rose) replaces the route's
	// (whitelist foo) once rose is authenticated.
	h.update("/apisix/routes/5", `{"uri":"/prec","plugins":{"basic-auth":{},"consumer-restriction":{"whitelist":["foo"]}},"upstream":UPSTREAM}`)
	if resp, body := h.get("/prec", "Authorization", basic("rose", "pw")); resp.StatusCode != 200 {
		t.Errorf("consumer's conf should win over the route's: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.get("/prec", "Authorization", basic("foo", "bar")); resp.StatusCode != 200 {
		t.Errorf("foo on /prec: %d, want 200", resp.StatusCode)
	}
}

// TestJWTAuthEndToEnd: jwt-auth through the proxy, with an encrypted secret, a credential, the
// three token sources, hide_credentials and the 401s.
func TestJWTAuthEndToEnd(t *testing.T) {
	ring, _ := keyring.New(keyring.Default)
	h := newPluginHarness(t, nil,
		"/apisix/consumers/jack", `{"username":"jack","labels":{"custom_id":"c-7"},"plugins":{"jwt-auth":{"key":"jack-key","secret":"`+ring.Encrypt("jack-secret")+`"}}}`,
		"/apisix/consumers/jack/credentials/hs512", `{"plugins":{"jwt-auth":{"key":"jack-512","secret":"other","algorithm":"HS512"}}}`,
		"/apisix/routes/1", `{"uri":"/jwt","plugins":{"jwt-auth":{}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/hide","plugins":{"jwt-auth":{"hide_credentials":true,"realm":"zone"}},"upstream":UPSTREAM}`,
	)
	exp := time.Now().Unix() + 3600
	jack := jwtToken(t, "HS256", "jack-secret", `{"key":"jack-key","exp":`+strconv.FormatInt(exp, 10)+`}`)
	jack512 := jwtToken(t, "HS512", "other", `{"key":"jack-512"}`)
	expired := jwtToken(t, "HS256", "jack-secret", `{"key":"jack-key","exp":1}`)
	ciphertext := jwtToken(t, "HS256", ring.Encrypt("jack-secret"), `{"key":"jack-key"}`)
	const (
		missing = `{"message":"Missing JWT token in request"}` + "\n"
		failed  = `{"message":"failed to verify jwt"}` + "\n"
	)
	tests := []struct {
		name, path string
		headers    []string
		status     int
		body       string // exact for a 401, a fragment of what the upstream saw otherwise
		absent     string
	}{
		{"no token", "/jwt", nil, 401, missing, ""},
		{"bearer header", "/jwt", []string{"Authorization", "Bearer " + jack, "X-Credential-Identifier", "forged"}, 200,
			"Authorization=Bearer " + jack + "\nX-Consumer-Username=jack\nX-Consumer-Custom-Id=c-7\n", "X-Credential-Identifier"},
		{"query", "/jwt?jwt=" + jack, nil, 200, "X-Consumer-Username=jack", ""},
		{"cookie", "/jwt", []string{"Cookie", "jwt=" + jack}, 200, "X-Consumer-Username=jack", ""},
		{"credential", "/jwt", []string{"Authorization", jack512}, 200, "X-Consumer-Username=jack\nX-Credential-Identifier=hs512\n", ""},
		{"expired token", "/jwt", []string{"Authorization", expired}, 401, failed, ""},
		{"signed with the ciphertext", "/jwt", []string{"Authorization", ciphertext}, 401, failed, ""},
		{"garbage", "/jwt", []string{"Authorization", "Bearer " + strings.Repeat("%", 4000)}, 401, `{"message":"JWT token invalid"}` + "\n", ""},
		{"hide header", "/hide", []string{"Authorization", "Bearer " + jack}, 200, "X-Consumer-Username=jack", "Authorization"},
		{"hide query", "/hide?a=1&jwt=" + jack, nil, 200, "uri=/hide?a=1\n", jack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.hits.Load()
			resp, body := h.get(tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 401 {
				want := `Bearer realm="jwt"`
				if body != tt.body || resp.Header.Get("WWW-Authenticate") != want || h.hits.Load() != before {
					t.Errorf("401: body %q, WWW-Authenticate %q, upstream called %d times", body,
						resp.Header.Get("WWW-Authenticate"), h.hits.Load()-before)
				}
				return
			}
			if !strings.Contains(body, tt.body) || (tt.absent != "" && strings.Contains(body, tt.absent)) {
				t.Errorf("upstream saw\n%s\nwant %q and not %q", body, tt.body, tt.absent)
			}
		})
	}
	if resp, _ := h.get("/hide"); resp.Header.Get("WWW-Authenticate") != `Bearer realm="zone"` {
		t.Errorf("realm: WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
	}
	// A consumer whose public key does not parse is rejected at build, its last good version
	// kept, with the reason APISIX's verifier gives.
	h.update("/apisix/consumers/jack", `{"username":"jack","plugins":{"jwt-auth":{"key":"jack-key","algorithm":"RS256","public_key":"not a PEM"}}}`)
	if logs := h.logs.Take(); !strings.Contains(logs, "Consumer Public Key is Invalid") || !strings.Contains(logs, "kept_previous_version=true") {
		t.Errorf("logs\n%s\nwant the public key rejected", logs)
	}
	if resp, body := h.get("/jwt", "Authorization", jack); resp.StatusCode != 200 {
		t.Errorf("after a rejected update: %d %s, want the last good consumer", resp.StatusCode, body)
	}
}

// jwtToken signs an HS* token of payload (JSON) with secret.
func jwtToken(t testing.TB, alg, secret, payload string) string {
	t.Helper()
	var claims jwt.MapClaims
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
