package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// The API-driven standalone mode end to end: deployment.role traditional + config_provider yaml,
// the configuration pushed to PUT /apisix/admin/configs on the admin listener.

const adminKey = "edd1c9f034335f136f87ad84b625c8f1"

func startAPIZoneproxy(t *testing.T) (*instance, string) {
	t.Helper()
	port := testutil.FreePorts(t, 1)[0]
	zp := startZoneproxy(t, instanceOpts{deployment: fmt.Sprintf(`  role: traditional
  role_traditional: {config_provider: yaml}
  admin:
    admin_listen: {ip: 127.0.0.1, port: %d}
    admin_key: [{name: admin, key: %s, role: admin}]
`, port, adminKey)})
	return zp, fmt.Sprintf("http://127.0.0.1:%d", port)
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func adminDo(t *testing.T, method, url, body string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func TestStandaloneAdminAPI(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	zp, admin := startAPIZoneproxy(t)
	configs := admin + "/apisix/admin/configs"
	auth := map[string]string{"X-API-KEY": adminKey}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{"X-API-KEY": adminKey}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	testutil.WaitFor(t, "the admin listener", 5*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodHead, admin+"/apisix/admin", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	// Empty at start: not ready, conf versions 0, no digest headers.
	if code := ready(zp); code != 503 {
		t.Errorf("/status/ready = %d before the first push, want 503", code)
	}
	r := adminDo(t, "GET", configs, "", auth)
	var dump map[string]any
	if err := json.Unmarshal([]byte(r.body), &dump); err != nil || r.code != 200 {
		t.Fatalf("GET before a push = %d %q", r.code, r.body)
	}
	if dump["routes_conf_version"] != float64(0) || dump["plugins_conf_version"] != float64(0) || r.header.Get("X-Digest") != "" ||
		r.header.Get("X-Last-Modified") != "" || !strings.HasPrefix(r.header.Get("Server"), "APISIX") {
		t.Errorf("empty dump %v, headers %v", dump, r.header)
	}

	route := func(id, uri, addr string) string {
		return fmt.Sprintf(`{"id":%q,"uri":%q,"upstream":{"nodes":{%q:1},"type":"roundrobin"}}`, id, uri, addr)
	}
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name   string
			body   string
			header map[string]string
			code   int
			want   string
		}{
			{"no key", `{}`, map[string]string{"X-API-KEY": "", "X-Digest": "d"}, 401, `"description":"missing apikey"`},
			{"no digest", `{}`, nil, 400, `{"error_msg":"missing digest header"}`},
			{"empty body", ``, map[string]string{"X-Digest": "d"}, 400, `{"error_msg":"invalid request body: empty request body"}`},
			{"bad JSON", `{"routes":`, map[string]string{"X-Digest": "d"}, 400, `invalid request body: invalid JSON`},
			{"too large", `{"routes":[]}` + strings.Repeat(" ", 1572864), map[string]string{"X-Digest": "d"}, 400,
				`request size 1572877 is greater than the maximum size 1572864 allowed`},
			{"conf version not a number", `{"routes_conf_version":"x"}`, map[string]string{"X-Digest": "d"}, 400,
				`{"error_msg":"routes_conf_version must be a number"}`},
			{"bad object", `{"routes":[{"id":"r1","uri":123}]}`, map[string]string{"X-Digest": "d"}, 400, `invalid configuration: `},
			{"unknown plugin", `{"routes":[{"id":"r1","uri":"/x","plugins":{"invalid-plugin":{}}}]}`, map[string]string{"X-Digest": "d"}, 400, `invalid-plugin`},
			{"duplicate id", `{"routes":[` + route("r1", "/a", a) + `,` + route("r1", "/b", a) + `]}`, map[string]string{"X-Digest": "d"}, 400,
				`{"error_msg":"found duplicate id r1 in routes"}`},
			{"duplicate username", `{"consumers":[{"username":"consumer1"},{"username":"consumer1"}]}`, map[string]string{"X-Digest": "d"}, 400,
				`{"error_msg":"found duplicate username consumer1 in consumers"}`},
			{"duplicate credential", `{"consumers":[{"username":"john_1"},{"id":"john_1/credentials/john-a","plugins":{"key-auth":{"key":"k"}}},{"id":"john_1/credentials/john-a","plugins":{"key-auth":{"key":"k2"}}}]}`,
				map[string]string{"X-Digest": "d"}, 400, `{"error_msg":"found duplicate credential id john_1/credentials/john-a in consumers"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := adminDo(t, "PUT", configs, tt.body, with(tt.header))
				if r.code != tt.code || !strings.Contains(r.body, tt.want) {
					t.Errorf("= %d %s, want %d with %s", r.code, r.body, tt.code, tt.want)
				}
			})
		}
		if code := ready(zp); code != 503 {
			t.Errorf("/status/ready = %d after rejected pushes only", code)
		}
	})

	// An accepted push: 202 with the headers, applied before the answer.
	r = adminDo(t, "PUT", configs, `{"routes":[`+route("r1", "/r1", a)+`,`+route("r2", "/r2", a)+`]}`, with(map[string]string{"X-Digest": "v1"}))
	if r.code != 202 || r.header.Get("X-Digest") != "v1" || r.header.Get("X-Last-Modified") == "" {
		t.Fatalf("first push = %d %q %v", r.code, r.body, r.header)
	}
	if code, body := httpGet(zp.proxy+"/r1", ""); code != 200 || !strings.HasPrefix(body, "a GET /r1") {
		t.Errorf("/r1 after 202 = %d %q", code, body)
	}
	testutil.WaitFor(t, "ready after the first push", 5*time.Second, func() bool { return ready(zp) == 200 })
	if st := fileStatus(t, zp); st["source"] != "admin_api" || st["digest"] != "v1" {
		t.Errorf("status %v", st)
	}

	t.Run("same digest: 204, nothing applied", func(t *testing.T) {
		r := adminDo(t, "PUT", configs, `{}`, with(map[string]string{"X-Digest": "v1"}))
		if r.code != 204 {
			t.Errorf("= %d %q", r.code, r.body)
		}
		if code, _ := httpGet(zp.proxy+"/r1", ""); code != 200 {
			t.Errorf("/r1 = %d after an unchanged push", code)
		}
	})
	t.Run("conf versions", func(t *testing.T) {
		// routes_conf_version is 1 now (absent in the first push: 0 + 1).
		r := adminDo(t, "PUT", configs, `{"routes_conf_version":0,"routes":[]}`, with(map[string]string{"X-Digest": "v2"}))
		if r.code != 400 || !strings.Contains(r.body, `routes_conf_version must be greater than or equal to (1)`) {
			t.Errorf("lower version = %d %s", r.code, r.body)
		}
		// Equal: the stored routes stay whatever the body says; an upstream list is added.
		r = adminDo(t, "PUT", configs, `{"routes_conf_version":1,"routes":[],"upstreams":[{"id":"u1","nodes":{"`+b+`":1}}]}`,
			with(map[string]string{"X-Digest": "v3"}))
		if r.code != 202 {
			t.Fatalf("equal version = %d %s", r.code, r.body)
		}
		if code, _ := httpGet(zp.proxy+"/r2", ""); code != 200 {
			t.Errorf("/r2 = %d: an equal conf version keeps the stored routes", code)
		}
		var d map[string]any
		_ = json.Unmarshal([]byte(adminDo(t, "GET", configs, "", auth).body), &d)
		if d["routes_conf_version"] != float64(1) || d["upstreams_conf_version"] != float64(2) || d["X-Digest"] != "v3" {
			t.Errorf("versions after: routes %v upstreams %v digest %v", d["routes_conf_version"], d["upstreams_conf_version"], d["X-Digest"])
		}
		// Absent: replaced by the body's list; an omitted list is deleted.
		r = adminDo(t, "PUT", configs, `{"routes":[`+route("r3", "/r3", b)+`]}`, with(map[string]string{"X-Digest": "v4"}))
		if r.code != 202 {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		if code, body := httpGet(zp.proxy+"/r3", ""); code != 200 || !strings.HasPrefix(body, "b GET") {
			t.Errorf("/r3 = %d %q", code, body)
		}
		if code, _ := httpGet(zp.proxy+"/r1", ""); code != 404 {
			t.Errorf("/r1 = %d after a push without it", code)
		}
	})
	t.Run("modifiedIndex unchanged: the object is not updated", func(t *testing.T) {
		withIndex := func(uri, addr string) string {
			return fmt.Sprintf(`{"routes":[{"id":"m","uri":%q,"modifiedIndex":5,"upstream":{"nodes":{%q:1}}}]}`, uri, addr)
		}
		if r := adminDo(t, "PUT", configs, withIndex("/m", a), with(map[string]string{"X-Digest": "m1"})); r.code != 202 {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		if r := adminDo(t, "PUT", configs, withIndex("/m", b), with(map[string]string{"X-Digest": "m2"})); r.code != 202 {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		if code, body := httpGet(zp.proxy+"/m", ""); code != 200 || !strings.HasPrefix(body, "a GET") {
			t.Errorf("/m = %d %q: same modifiedIndex must keep the stored version", code, body)
		}
	})
	t.Run("YAML body and YAML dump", func(t *testing.T) {
		body := fmt.Sprintf("routes:\n  - id: y\n    uri: /y\n    upstream:\n      nodes:\n        %q: 1\n", a)
		r := adminDo(t, "PUT", configs, body, with(map[string]string{"X-Digest": "y1", "Content-Type": "application/yaml"}))
		if r.code != 202 {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		testutil.WaitFor(t, "route y", 5*time.Second, serves(zp.proxy+"/y", "", "a GET /y"))
		r = adminDo(t, "GET", configs, "", with(map[string]string{"Accept": "application/yaml"}))
		if r.code != 200 || !strings.Contains(r.body, "uri: /y") || !strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") {
			t.Errorf("YAML dump = %d %q", r.code, r.body)
		}
		r = adminDo(t, "HEAD", configs, "", auth)
		if r.code != 200 || r.header.Get("X-Digest") != "y1" || r.header.Get("X-Last-Modified") == "" {
			t.Errorf("HEAD = %d %v", r.code, r.header)
		}
	})
	t.Run("validate", func(t *testing.T) {
		r := adminDo(t, "POST", configs+"/validate", `{"routes":[`+route("ok", "/ok", a)+`,{"id":"bad","uri":1},`+route("ok", "/ok2", a)+`]}`, auth)
		var v struct {
			ErrorMsg string `json:"error_msg"`
			Errors   []struct {
				ResourceType string `json:"resource_type"`
				ResourceID   string `json:"resource_id"`
				Index        int    `json:"index"`
				Error        string `json:"error"`
			} `json:"errors"`
		}
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.code != 400 || v.ErrorMsg != "Configuration validation failed" || len(v.Errors) != 2 {
			t.Fatalf("validate = %d %s", r.code, r.body)
		}
		if e := v.Errors[0]; e.ResourceType != "routes" || e.ResourceID != "bad" || e.Index != 1 {
			t.Errorf("first error %+v", e)
		}
		if e := v.Errors[1]; e.Index != 2 || !strings.Contains(e.Error, "found duplicate id ok in routes") {
			t.Errorf("second error %+v", e)
		}
		if r := adminDo(t, "POST", configs+"/validate", `{"routes":[`+route("ok", "/ok", a)+`]}`, auth); r.code != 200 || strings.TrimSpace(r.body) != "{}" {
			t.Errorf("valid = %d %q", r.code, r.body)
		}
		if code, _ := httpGet(zp.proxy+"/ok", ""); code != 404 {
			t.Errorf("validate stored something: /ok = %d", code)
		}
	})
	t.Run("other admin paths are 404", func(t *testing.T) {
		for _, p := range []string{"/apisix/admin/routes", "/apisix/admin/routes/1", "/apisix/admin/configs/x"} {
			if r := adminDo(t, "GET", admin+p, "", auth); r.code != 404 {
				t.Errorf("GET %s = %d", p, r.code)
			}
		}
	})
}
