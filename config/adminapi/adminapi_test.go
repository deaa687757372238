package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/config"
	"github.com/zoneproxy/zoneproxy/config/adminapi"
	"github.com/zoneproxy/zoneproxy/config/adminauth"
	"github.com/zoneproxy/zoneproxy/config/keyring"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
)

const testKey = "edd1c9f0985e76a2edd1c9f0985e76a2"

// server is an Admin API over a real etcd, behind the key check, on a real socket, with the
// data plane's validator as cmd/devcp wires it.
type server struct {
	url string
	kv  *clientv3.Client
	kr  *keyring.Keyring
}

func start(t *testing.T) *server { return startTB(t) }

func startTB(t testing.TB) *server {
	t.Helper()
	c := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
	kr, err := keyring.New(keyring.Default)
	if err != nil {
		t.Fatal(err)
	}
	reg := builtin.Registry()
	h, err := adminapi.New(adminapi.Options{
		KV:     c.Client(),
		Prefix: "/apisix",
		Validate: func(key string, value []byte) error {
			err := snapshot.Check(snapshot.Options{Prefix: "/apisix", Plugins: reg, Keyring: kr}, key, value)
			if errors.Is(err, snapshot.ErrNotDecoded) {
				return nil
			}
			return err
		},
		Plugins: reg.Names(),
		EncryptFields: func(name string) []string {
			if p, ok := reg.Lookup(name); ok {
				if a, ok := p.(plugin.Auth); ok {
					return a.EncryptFields()
				}
			}
			return nil
		},
		Keyring: kr,
		PluginSchema: func(name string, consumer bool) (any, bool) {
			if p, ok := reg.Lookup(name); ok {
				return plugin.Describe(p, consumer)
			}
			return nil, false
		},
		ObjectSchema: func(dir string) (any, bool) { return snapshot.Schema(dir) },
		KnownPlugin: func(name string) bool {
			_, ok := reg.Lookup(name)
			return ok || slices.Contains(plugin.DefaultEnabled, name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := adminauth.New(config.Admin{KeyRequired: true, Keys: []config.AdminKey{{Name: "admin", Key: testKey, Role: config.AdminRoleAdmin}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/apisix/admin/", h)
	srv := httptest.NewServer(auth.Wrap(mux))
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, kv: c.Client(), kr: kr}
}

func (s *server) do(t *testing.T, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// step is one request and the answer APISIX documents for it: its status and a JSON object
// the body must contain (every field of want, recursively; a list must match element by element),
// or, when want starts with "~", a substring of the body.
type step struct {
	name, method, path, body string
	status                   int
	want                     string
	absent                   []string // top-level value fields that must not be there
}

// contains reports whether got holds every field of want, recursively.
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !contains(g[k], wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

func run(t *testing.T, s *server, steps []step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, got, raw := s.do(t, st.method, st.path, st.body)
			if status != st.status {
				t.Fatalf("%s %s = %d %s, want %d", st.method, st.path, status, raw, st.status)
			}
			if sub, ok := strings.CutPrefix(st.want, "~"); ok {
				if !strings.Contains(raw, sub) {
					t.Fatalf("%s %s = %s, want it to contain %s", st.method, st.path, raw, sub)
				}
			} else if st.want != "" {
				var want any
				if err := json.Unmarshal([]byte(st.want), &want); err != nil {
					t.Fatalf("bad want: %v", err)
				}
				var g any
				_ = json.Unmarshal([]byte(raw), &g)
				if !contains(g, want) {
					t.Fatalf("%s %s = %s, want it to contain %s", st.method, st.path, raw, st.want)
				}
			}
			value, _ := got["value"].(map[string]any)
			for _, f := range st.absent {
				if _, ok := value[f]; ok {
					t.Errorf("%s %s: value has %q: %s", st.method, st.path, f, raw)
				}
			}
		})
	}
}

const upstream = `{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}`

// TestRoutes follows t/admin/routes*.t: the answers of PUT, GET, PATCH and DELETE on routes and
// the upstreams they reference.
func TestRoutes(t *testing.T) {
	s := start(t)
	run(t, s, []step{
		{"PUT a new upstream is 201", "PUT", "/apisix/admin/upstreams/1", upstream, 201,
			`{"key":"/apisix/upstreams/1","value":{"id":"1","type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}`, nil},
		{"PUT a new route is 201", "PUT", "/apisix/admin/routes/1", `{"uri":"/index.html","methods":["GET"],"upstream_id":"1","name":"r1","labels":{"env":"prod"}}`, 201,
			`{"key":"/apisix/routes/1","value":{"id":"1","uri":"/index.html","upstream_id":"1"}}`, nil},
		{"PUT it again is 200", "PUT", "/apisix/admin/routes/1", `{"uri":"/index.html","methods":["GET"],"upstream_id":"1","name":"r1","labels":{"env":"prod"}}`, 200,
			`{"key":"/apisix/routes/1"}`, nil},
		{"GET one has the etcd indexes", "GET", "/apisix/admin/routes/1", "", 200,
			`{"key":"/apisix/routes/1","value":{"id":"1","uri":"/index.html"}}`, nil},
		{"GET unknown is Key not found", "GET", "/apisix/admin/routes/99", "", 404, `{"message":"Key not found"}`, nil},
		{"body id differs from the path", "PUT", "/apisix/admin/routes/1", `{"id":"2","uri":"/a","upstream_id":"1"}`, 400, `{"error_msg":"wrong route id"}`, nil},
		{"PUT without id", "PUT", "/apisix/admin/routes", `{"uri":"/a","upstream_id":"1"}`, 400, `{"error_msg":"missing route id"}`, nil},
		{"PUT with the id in the body only", "PUT", "/apisix/admin/routes", `{"id":7,"uri":"/seven","upstream_id":"1"}`, 201,
			`{"key":"/apisix/routes/7","value":{"id":7}}`, nil},
		{"POST with an id", "POST", "/apisix/admin/routes", `{"id":"1","uri":"/a","upstream_id":"1"}`, 400, `{"error_msg":"wrong route id, do not need it"}`, nil},
		{"bad id characters", "PUT", "/apisix/admin/routes/a*b", `{"uri":"/a","upstream_id":"1"}`, 400,
			`{"error_msg":"invalid configuration: property \"id\" validation failed: object matches none of the required"}`, nil},
		{"create_time in the body", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","upstream_id":"1","create_time":1}`, 400,
			`{"error_msg":"the property is forbidden:  create_time"}`, nil},
		{"wrong type", "PUT", "/apisix/admin/routes/2", `{"uri":1,"upstream_id":"1"}`, 400,
			`{"error_msg":"invalid configuration: property \"uri\" validation failed: wrong type: expected string, got number"}`, nil},
		{"unknown field", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","upstream_id":"1","nope":1}`, 400,
			`{"error_msg":"invalid configuration: additional properties forbidden, found nope"}`, nil},
		{"unknown plugin", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","upstream_id":"1","plugins":{"no-such-plugin":{}}}`, 400,
			`{"error_msg":"unknown plugin [no-such-plugin]"}`, nil},
		{"bad plugin conf", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","upstream_id":"1","plugins":{"limit-count":{}}}`, 400,
			`~{"error_msg":"failed to check the configuration of plugin limit-count err: `, nil},
		{"missing upstream", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","upstream_id":"99999999"}`, 400,
			`{"error_msg":"failed to fetch upstream info by upstream id [99999999], response code: 404"}`, nil},
		{"missing service", "PUT", "/apisix/admin/routes/2", `{"uri":"/a","service_id":"5"}`, 400,
			`{"error_msg":"failed to fetch service info by service id [5], response code: 404"}`, nil},
		{"not JSON", "PUT", "/apisix/admin/routes/2", `{"uri":`, 400, `{"req_body":"{\"uri\":"}`, nil},
		{"no body", "PUT", "/apisix/admin/routes/2", ``, 400, `{"error_msg":"missing configurations"}`, nil},
		{"not an object", "PUT", "/apisix/admin/routes/2", `[1]`, 400, `{"error_msg":"invalid configuration: wrong type: expected object, got array"}`, nil},
		{"PATCH merges, arrays replace", "PATCH", "/apisix/admin/routes/1", `{"methods":["GET","POST"],"labels":{"team":"a"}}`, 200,
			`{"key":"/apisix/routes/1","value":{"methods":["GET","POST"],"labels":{"env":"prod","team":"a"},"uri":"/index.html"}}`, nil},
		{"PATCH null removes", "PATCH", "/apisix/admin/routes/1", `{"labels":{"env":null},"name":null}`, 200,
			`{"value":{"labels":{"team":"a"}}}`, []string{"name"}},
		{"PATCH a sub-path", "PATCH", "/apisix/admin/routes/1/methods", `["DELETE"]`, 200, `{"value":{"methods":["DELETE"]}}`, nil},
		{"PATCH a sub-path through a string", "PATCH", "/apisix/admin/routes/1/uri/x", `"y"`, 400, `{"error_msg":"invalid sub-path: /uri"}`, nil},
		{"PATCH without body", "PATCH", "/apisix/admin/routes/1", ``, 400, `{"error_msg":"missing new configuration"}`, nil},
		{"PATCH into an invalid route", "PATCH", "/apisix/admin/routes/1", `{"uri":5}`, 400,
			`{"error_msg":"invalid configuration: property \"uri\" validation failed: wrong type: expected string, got number"}`, nil},
		{"PATCH unknown", "PATCH", "/apisix/admin/routes/404", `{"uri":"/a"}`, 404, `{"message":"Key not found"}`, nil},
		{"DELETE an upstream in use", "DELETE", "/apisix/admin/upstreams/1", "", 400,
			`{"error_msg":"can not delete this upstream, route [1] is still using it now"}`, nil},
		{"DELETE the route", "DELETE", "/apisix/admin/routes/1", "", 200, `{"deleted":"1","key":"/apisix/routes/1"}`, nil},
		{"DELETE it again", "DELETE", "/apisix/admin/routes/1", "", 404, `{"message":"Key not found"}`, nil},
		{"DELETE in use, forced", "DELETE", "/apisix/admin/upstreams/1?force=true", "", 200, `{"deleted":"1","key":"/apisix/upstreams/1"}`, nil},
		{"unsupported type", "GET", "/apisix/admin/nothing", "", 404, `{"error_msg":"Unsupported resource type: nothing"}`, nil},
		{"POST where APISIX has none", "POST", "/apisix/admin/global_rules", `{"plugins":{}}`, 405,
			"{\"error_msg\":\"not supported `POST` method for global rule\"}", nil},
		{"PATCH where APISIX has none", "PATCH", "/apisix/admin/consumers/jack", `{}`, 405,
			"{\"error_msg\":\"not supported `PATCH` method for consumer\"}", nil},
	})
}

// TestTimestamps: create_time and update_time are set, PUT keeps create_time, PATCH may set them.
func TestTimestamps(t *testing.T) {
	s := start(t)
	_, first, raw := s.do(t, "PUT", "/apisix/admin/upstreams/u", upstream)
	created, ok := first["value"].(map[string]any)["create_time"].(float64)
	if !ok || created < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Fatalf("no create_time: %s", raw)
	}
	if _, err := s.kv.Put(context.Background(), "/apisix/upstreams/old", `{"nodes":{"127.0.0.1:1":1},"create_time":100,"update_time":100}`); err != nil {
		t.Fatal(err)
	}
	_, got, raw := s.do(t, "PUT", "/apisix/admin/upstreams/old", upstream)
	v := got["value"].(map[string]any)
	if v["create_time"] != float64(100) || v["update_time"] == float64(100) {
		t.Errorf("PUT over an old object: %s, want create_time 100 kept and update_time now", raw)
	}
	_, got, raw = s.do(t, "PATCH", "/apisix/admin/upstreams/old", `{"update_time":5,"create_time":4}`)
	v = got["value"].(map[string]any)
	if v["create_time"] != float64(4) || v["update_time"] != float64(5) {
		t.Errorf("PATCH with the times: %s", raw)
	}
}

// TestPost: POST ids are etcd revisions, 20 digits, and the object is stored under them.
func TestPost(t *testing.T) {
	s := start(t)
	status, got, raw := s.do(t, "POST", "/apisix/admin/upstreams", upstream)
	if status != 201 {
		t.Fatalf("POST = %d %s", status, raw)
	}
	key, _ := got["key"].(string)
	id := strings.TrimPrefix(key, "/apisix/upstreams/")
	if len(id) != 20 || strings.Trim(id, "0123456789") != "" || got["value"].(map[string]any)["id"] != id {
		t.Fatalf("POST id %q (%s), want 20 digits, also in the value", id, raw)
	}
	if status, _, raw := s.do(t, "GET", "/apisix/admin/upstreams/"+id, ""); status != 200 {
		t.Fatalf("GET the posted object = %d %s", status, raw)
	}
}

// TestList: t/admin/filter.t and routes3.t: the envelope, paging, filters.
func TestList(t *testing.T) {
	s := start(t)
	if status, _, raw := s.do(t, "GET", "/apisix/admin/routes", ""); status != 200 || strings.TrimSpace(raw) != `{"list":[],"total":0}` {
		t.Fatalf("empty list = %d %s", status, raw)
	}
	// The placeholder APISIX and devcp put is not an object.
	if _, err := s.kv.Put(context.Background(), "/apisix/routes/", "init_dir"); err != nil {
		t.Fatal(err)
	}
	s.do(t, "PUT", "/apisix/admin/upstreams/1", upstream)
	for i := 1; i <= 25; i++ {
		body := fmt.Sprintf(`{"uri":"/r%d","name":"route-%d","upstream_id":"1"}`, i, i)
		if i%5 == 0 {
			body = fmt.Sprintf(`{"uris":["/five/%d"],"name":"five-%d","service_id":"s","labels":{"five":"yes"}}`, i, i)
		}
		if i == 5 {
			s.do(t, "PUT", "/apisix/admin/services/s", `{"name":"s"}`)
		}
		if status, _, raw := s.do(t, "PUT", fmt.Sprintf("/apisix/admin/routes/%d", i), body); status != 201 {
			t.Fatalf("PUT %d = %d %s", i, status, raw)
		}
	}
	tests := []struct {
		name, query string
		status      int
		total, n    int
		first       string
	}{
		{"all", "", 200, 25, 25, "1"},
		{"page 2 of 10", "?page=2&page_size=10", 200, 25, 10, "11"},
		{"page 3 of 10", "?page=3&page_size=10", 200, 25, 5, "21"},
		{"page 0 is page 1", "?page=0&page_size=10", 200, 25, 10, "1"},
		{"page_size alone does not page", "?page_size=10", 200, 25, 25, "1"},
		{"page_size too small", "?page=1&page_size=9", 400, 0, 0, ""},
		{"page_size too big", "?page=1&page_size=501", 400, 0, 0, ""},
		{"name regex", "?name=^five-", 200, 5, 5, "5"},
		{"label key", "?label=five", 200, 5, 5, "5"},
		{"uri regex over uris", "?uri=/five/1", 200, 2, 2, "10"},
		{"uri and name", "?uri=/r1&name=route-1$", 200, 1, 1, "1"},
		{"filter service_id", "?filter=service_id%3Ds", 200, 5, 5, "5"},
		{"filter upstream_id", "?filter=upstream_id%3D1", 200, 20, 20, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got, raw := s.do(t, "GET", "/apisix/admin/routes"+tt.query, "")
			if status != tt.status {
				t.Fatalf("= %d %s, want %d", status, raw, tt.status)
			}
			if status != 200 {
				if got["error_msg"] != "page_size must be between 10 and 500" {
					t.Errorf("error = %s", raw)
				}
				return
			}
			list, _ := got["list"].([]any)
			if got["total"] != float64(tt.total) || len(list) != tt.n {
				t.Fatalf("total %v, %d items, want %d, %d", got["total"], len(list), tt.total, tt.n)
			}
			item := list[0].(map[string]any)
			if item["value"].(map[string]any)["id"] != tt.first || item["createdIndex"] == nil || item["modifiedIndex"] == nil {
				t.Errorf("first item %v, want id %s with createdIndex and modifiedIndex", item, tt.first)
			}
		})
	}
}

// TestConsumers: credentials.t: consumers by username, credentials under them, keys encrypted
// at rest and shown decrypted, credentials deleted with their consumer.
func TestConsumers(t *testing.T) {
	s := start(t)
	run(t, s, []step{
		{"credential of no consumer", "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"secret-1"}}}`, 404,
			`{"error_msg":"consumer not found"}`, nil},
		{"PUT a consumer", "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`, 201,
			`{"key":"/apisix/consumers/jack","value":{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}}`, []string{"id"}},
		{"PUT without username", "PUT", "/apisix/admin/consumers", `{"plugins":{}}`, 400,
			`{"error_msg":"invalid configuration: property \"username\" is required"}`, nil},
		{"PUT at a path without username", "PUT", "/apisix/admin/consumers/jim", `{}`, 400,
			`{"error_msg":"invalid configuration: property \"username\" is required"}`, nil},
		{"PUT at another path", "PUT", "/apisix/admin/consumers/jim", `{"username":"jack"}`, 400, `{"error_msg":"wrong username"}`, nil},
		{"PUT a bad username", "PUT", "/apisix/admin/consumers", `{"username":"ja.ck"}`, 400, `~validation failed: failed to match pattern`, nil},
		{"PUT a credential", "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"secret-1"}}}`, 201,
			`{"key":"/apisix/consumers/jack/credentials/c1","value":{"id":"c1","plugins":{"key-auth":{"key":"secret-1"}}}}`, nil},
		{"a credential with a non-auth plugin", "PUT", "/apisix/admin/consumers/jack/credentials/c2", `{"plugins":{"cors":{}}}`, 400, "", nil},
		{"list consumers excludes credentials", "GET", "/apisix/admin/consumers", "", 200,
			`{"total":1,"list":[{"key":"/apisix/consumers/jack","value":{"plugins":{"key-auth":{"key":"auth-one"}}}}]}`, nil},
		{"list credentials", "GET", "/apisix/admin/consumers/jack/credentials", "", 200,
			`{"total":1,"list":[{"key":"/apisix/consumers/jack/credentials/c1"}]}`, nil},
		{"GET a credential shows the key decrypted", "GET", "/apisix/admin/consumers/jack/credentials/c1", "", 200,
			`{"value":{"plugins":{"key-auth":{"key":"secret-1"}}}}`, nil},
	})
	stored, err := s.kv.Get(context.Background(), "/apisix/consumers/jack/credentials/c1")
	if err != nil || len(stored.Kvs) != 1 {
		t.Fatalf("stored credential: %v", err)
	}
	if bytes.Contains(stored.Kvs[0].Value, []byte("secret-1")) || !bytes.Contains(stored.Kvs[0].Value, []byte(s.kr.Encrypt("secret-1"))) {
		t.Errorf("credential stored as %s, want its key encrypted with the keyring", stored.Kvs[0].Value)
	}
	run(t, s, []step{
		{"DELETE the consumer", "DELETE", "/apisix/admin/consumers/jack", "", 200, `{"deleted":"1","key":"/apisix/consumers/jack"}`, nil},
		{"its credentials went with it", "GET", "/apisix/admin/consumers/jack/credentials/c1", "", 404, `{"message":"Key not found"}`, nil},
	})
}

// TestSSL: the private key is encrypted on write and never returned.
func TestSSL(t *testing.T) {
	s := start(t)
	cert, key := testutil.Cert(t, testutil.ECDSA, "a.example.com")
	body, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"a.example.com"}})
	run(t, s, []step{
		{"PUT an SSL object", "PUT", "/apisix/admin/ssls/1", string(body), 201, `{"key":"/apisix/ssls/1","value":{"snis":["a.example.com"]}}`, []string{"key", "keys"}},
		{"GET it", "GET", "/apisix/admin/ssls/1", "", 200, `{"value":{"snis":["a.example.com"]}}`, []string{"key", "keys"}},
		{"PATCH its snis", "PATCH", "/apisix/admin/ssls/1", `{"snis":["b.example.com"]}`, 200, `{"value":{"snis":["b.example.com"]}}`, []string{"key"}},
		{"an SSL object with a bad key", "PUT", "/apisix/admin/ssls/2", strings.Replace(string(body), "MII", "XXX", 1), 400, "", nil},
	})
	stored, err := s.kv.Get(context.Background(), "/apisix/ssls/1")
	if err != nil || len(stored.Kvs) != 1 {
		t.Fatal(err)
	}
	var v map[string]any
	_ = json.Unmarshal(stored.Kvs[0].Value, &v)
	k, _ := v["key"].(string)
	if plain, err := s.kr.Decrypt(k); strings.HasPrefix(k, "---") || err != nil || plain != key {
		t.Errorf("stored key %q: want the PEM encrypted once with the keyring (decrypt: %v)", k, err)
	}
}

// TestDeleteInUse: apisix/admin/*.lua delete_checker for each kind that has one.
func TestDeleteInUse(t *testing.T) {
	s := start(t)
	for _, w := range [][2]string{
		{"/apisix/admin/upstreams/u", upstream},
		{"/apisix/admin/services/s", `{"upstream_id":"u"}`},
		{"/apisix/admin/plugin_configs/pc", `{"plugins":{}}`},
		{"/apisix/admin/consumer_groups/g", `{"plugins":{}}`},
		{"/apisix/admin/routes/r", `{"uri":"/a","service_id":"s","plugin_config_id":"pc"}`},
		{"/apisix/admin/consumers", `{"username":"jack","group_id":"g"}`},
	} {
		if status, _, raw := s.do(t, "PUT", w[0], w[1]); status != 201 {
			t.Fatalf("PUT %s = %d %s", w[0], status, raw)
		}
	}
	run(t, s, []step{
		{"upstream used by a service", "DELETE", "/apisix/admin/upstreams/u", "", 400, `{"error_msg":"can not delete this upstream, service [s] is still using it now"}`, nil},
		{"service used by a route", "DELETE", "/apisix/admin/services/s", "", 400, `{"error_msg":"can not delete this service directly, route [r] is still using it now"}`, nil},
		{"plugin config used by a route", "DELETE", "/apisix/admin/plugin_configs/pc", "", 400, `{"error_msg":"can not delete this plugin config, route [r] is still using it now"}`, nil},
		{"consumer group used by a consumer", "DELETE", "/apisix/admin/consumer_groups/g", "", 400, `{"error_msg":"can not delete this consumer group, consumer [jack] is still using it now"}`, nil},
		{"an SSL object is not checked", "DELETE", "/apisix/admin/ssls/none", "", 404, `{"message":"Key not found"}`, nil},
	})
}

// TestOtherKinds: the ids of secrets and plugin_metadata, PUT-only kinds, and plugins/list.
func TestOtherKinds(t *testing.T) {
	s := start(t)
	run(t, s, []step{
		{"secret", "PUT", "/apisix/admin/secrets/vault/1", `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"t"}`, 201,
			`{"key":"/apisix/secrets/vault/1","value":{"id":"vault/1"}}`, nil},
		{"secret list", "GET", "/apisix/admin/secrets", "", 200, `{"total":1}`, nil},
		{"secret of an unknown manager", "PUT", "/apisix/admin/secrets/nope/1", `{}`, 400, "", nil},
		{"plugin metadata", "PUT", "/apisix/admin/plugin_metadata/cors", `{"x":1}`, 201,
			`{"key":"/apisix/plugin_metadata/cors","value":{"id":"cors","x":1}}`, []string{"create_time"}},
		{"plugin metadata without a name", "PUT", "/apisix/admin/plugin_metadata", `{"x":1}`, 400, `{"error_msg":"missing plugin name"}`, nil},
		{"global rule", "PUT", "/apisix/admin/global_rules/1", `{"plugins":{"cors":{}}}`, 201, `{"key":"/apisix/global_rules/1"}`, nil},
		{"proto by POST", "POST", "/apisix/admin/protos", `{"content":"syntax = \"proto3\";"}`, 201, "", nil},
		{"plugins list", "GET", "/apisix/admin/plugins/list", "", 200, "", nil},
	})
	_, _, raw := s.do(t, "GET", "/apisix/admin/plugins/list", "")
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil || len(names) == 0 || !contains(anySlice(names), anySlice(builtin.Registry().Names())) {
		t.Errorf("plugins/list = %s, want the registry's names", raw)
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// TestHostileBodies: the size cap, broken JSON, deep nesting, no key.
func TestHostileBodies(t *testing.T) {
	s := start(t)
	big := `{"uri":"/a","desc":"` + strings.Repeat("x", adminapi.MaxBody) + `"}`
	run(t, s, []step{
		{"over the cap", "PUT", "/apisix/admin/routes/1", big, 400,
			fmt.Sprintf(`{"error_msg":"invalid request body: request size %d is greater than the maximum size 1572864 allowed"}`, len(big)), nil},
		{"deeply nested", "PUT", "/apisix/admin/routes/1", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 400, "", nil},
		{"two values", "PUT", "/apisix/admin/routes/1", `{"uri":"/a"} {}`, 400, "", nil},
		{"PATCH a sub-path with null on an absent object", "PATCH", "/apisix/admin/routes/1/a/b", `null`, 400, `{"error_msg":"missing new configuration"}`, nil},
	})
	req, _ := http.NewRequest("GET", s.url+"/apisix/admin/routes", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(raw), "missing apikey") || resp.Header.Get("Server") == "" {
		t.Errorf("no key = %d %s", resp.StatusCode, raw)
	}
}

// TestPatchRace: concurrent PATCHes of one object never lose an update silently: each one either
// applies or is refused with APISIX's 503.
func TestPatchRace(t *testing.T) {
	s := start(t)
	s.do(t, "PUT", "/apisix/admin/upstreams/u", upstream)
	const n = 8
	results := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/apisix/admin/upstreams/u/labels/l%d", s.url, i), strings.NewReader(`"x"`))
			req.Header.Set("X-API-KEY", testKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		switch code := <-results; code {
		case 200:
			ok++
		case 503:
		default:
			t.Errorf("PATCH = %d", code)
		}
	}
	_, got, raw := s.do(t, "GET", "/apisix/admin/upstreams/u", "")
	labels, _ := got["value"].(map[string]any)["labels"].(map[string]any)
	if len(labels) != ok || ok == 0 {
		t.Errorf("%d PATCHes succeeded but the object has %d labels: %s", ok, len(labels), raw)
	}
}

// TestSchemas follows t/admin/plugins.t, schema.t and schema-validate.t: plugin and object
// schemas, the validate endpoint (same validator as a write, nothing stored) and plugin reload.
func TestSchemas(t *testing.T) {
	s := start(t)
	run(t, s, []step{
		{"unknown plugin", "GET", "/apisix/admin/plugins/asdf", "", 404, `{"error_msg":"plugin not found in subsystem http"}`, nil},
		{"plugin in the stream subsystem", "GET", "/apisix/admin/plugins/key-auth?subsystem=stream", "", 404,
			`{"error_msg":"plugin not found in subsystem stream"}`, nil},
		{"bad subsystem", "GET", "/apisix/admin/plugins/key-auth?subsystem=asdf", "", 400, `{"error_msg":"unsupported subsystem: asdf"}`, nil},
		{"plugin schema", "GET", "/apisix/admin/plugins/key-auth", "", 200,
			`{"type":"object","properties":{"header":{"type":"string","default":"apikey"}}}`, nil},
		{"consumer schema", "GET", "/apisix/admin/plugins/basic-auth?schema_type=consumer", "", 200,
			`{"title":"work with consumer object","required":["username","password"],"properties":{"username":{"type":"string"},"password":{"type":"string"}},"type":"object","encrypt_fields":["password"]}`, nil},
		{"no consumer schema", "GET", "/apisix/admin/plugins/cors?schema_type=consumer", "", 400, `{"error_msg":"not found schema"}`, nil},
		{"schema/plugins path", "GET", "/apisix/admin/schema/plugins/limit-req", "", 200, `{"type":"object","required":["rate","burst","key"]}`, nil},
		{"route schema", "GET", "/apisix/admin/schema/route", "", 200,
			`{"type":"object","additionalProperties":false,"properties":{"uri":{"type":"string"},"methods":{"type":"array","items":{"type":"string"}}}}`, nil},
		{"unknown schema", "GET", "/apisix/admin/schema/nothing", "", 400, `{"error_msg":"not found schema: nothing"}`, nil},
		{"validate ok", "POST", "/apisix/admin/schema/validate/routes", `{"uri":"/httpbin/*","upstream":{"scheme":"https","type":"roundrobin","nodes":{"nghttp2.org":1}}}`, 200, "", nil},
		{"validate a wrong type", "POST", "/apisix/admin/schema/validate/routes", `{"uri":1980,"upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}`, 400,
			`{"error_msg":"property \"uri\" validation failed: wrong type: expected string, got number"}`, nil},
		{"validate a bad plugin", "POST", "/apisix/admin/schema/validate/routes", `{"uri":"/a","plugins":{"limit-count":{}}}`, 400,
			`~failed to check the configuration of plugin limit-count`, nil},
		{"validate a consumer", "POST", "/apisix/admin/schema/validate/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`, 200, "", nil},
		{"validate an unknown type", "POST", "/apisix/admin/schema/validate/nothing", `{}`, 404, `{"error_msg":"Unsupported resource type: nothing"}`, nil},
		{"validate not JSON", "POST", "/apisix/admin/schema/validate/routes", `{`, 400, `~invalid request body`, nil},
		{"reload", "PUT", "/apisix/admin/plugins/reload", "", 200, "~done", nil},
	})
	resp, err := s.kv.Get(context.Background(), "/apisix/routes/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Errorf("validate stored something: %d routes, %v", resp.Count, err)
	}
}

// TestDuplicateKeys follows t/admin/consumers.t and credentials.t: an authentication key held by
// another consumer or credential is refused; a consumer may reuse its own credential's key.
func TestDuplicateKeys(t *testing.T) {
	s := start(t)
	run(t, s, []step{
		{"jack", "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"the-key"},"basic-auth":{"username":"jack-b","password":"p"}}}`, 201, "", nil},
		{"jack again, same key", "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"the-key"},"basic-auth":{"username":"jack-b","password":"p"}}}`, 200, "", nil},
		{"jack2 with jack's key", "PUT", "/apisix/admin/consumers", `{"username":"jack2","plugins":{"key-auth":{"key":"the-key"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack"}`, nil},
		{"jack2", "PUT", "/apisix/admin/consumers", `{"username":"jack2"}`, 201, "", nil},
		{"a credential of jack2 with jack's key", "PUT", "/apisix/admin/consumers/jack2/credentials/c1", `{"plugins":{"key-auth":{"key":"the-key"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack"}`, nil},
		{"a credential of jack with jack's own key", "PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"the-key"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack"}`, nil},
		{"a credential of jack2", "PUT", "/apisix/admin/consumers/jack2/credentials/c1", `{"plugins":{"jwt-auth":{"key":"jwt-1","secret":"s3cr3t-s3cr3t"}}}`, 201, "", nil},
		{"the same credential again", "PUT", "/apisix/admin/consumers/jack2/credentials/c1", `{"plugins":{"jwt-auth":{"key":"jwt-1","secret":"s3cr3t-s3cr3t"}}}`, 200, "", nil},
		{"another credential, same jwt key", "PUT", "/apisix/admin/consumers/jack2/credentials/c2", `{"plugins":{"jwt-auth":{"key":"jwt-1","secret":"x"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack2"}`, nil},
		{"jack2 may take its own credential's key", "PUT", "/apisix/admin/consumers", `{"username":"jack2","plugins":{"jwt-auth":{"key":"jwt-1","secret":"y"}}}`, 200, "", nil},
		{"jack may not", "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"jwt-auth":{"key":"jwt-1","secret":"y"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack2"}`, nil},
		{"basic-auth username", "PUT", "/apisix/admin/consumers", `{"username":"tom","plugins":{"basic-auth":{"username":"jack-b","password":"q"}}}`, 400,
			`{"error_msg":"duplicate key found with consumer: jack"}`, nil},
		{"metadata of no plugin", "PUT", "/apisix/admin/plugin_metadata/no-such-plugin", `{"a":1}`, 400, `{"error_msg":"invalid plugin name"}`, nil},
		{"metadata of no plugin, no body", "PUT", "/apisix/admin/plugin_metadata/no-such-plugin", ``, 400, `{"error_msg":"invalid plugin name"}`, nil},
		{"metadata of an APISIX plugin zoneproxy lacks", "PUT", "/apisix/admin/plugin_metadata/http-logger", `{"log_format":{"host":"$host"}}`, 201, "", nil},
	})
}
