package proxy

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// newTrafficHarness is a pluginHarness whose upstream echoes the whole request it got: method,
// URI, Host and every header, one "Name: value" line each, sorted.
func newTrafficHarness(t *testing.T, kvs ...string) *pluginHarness {
	t.Helper()
	h := newPluginHarness(t, nil)
	h.up = backend(t, countRequests(&h.hits, fullEcho))
	h.update(kvs...)
	return h
}

func fullEcho(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s\nHost: %s\n", r.Method, r.RequestURI, r.Host)
	var lines []string
	for k, vs := range r.Header {
		for _, v := range vs {
			lines = append(lines, k+": "+v)
		}
	}
	slices.Sort(lines)
	fmt.Fprint(w, strings.Join(lines, "\n")+"\n")
}

// TestIPRestrictionEndToEnd: the client address ip-restriction checks is the one the real-IP
// settings give (X-Real-IP from the trusted loopback peer by default); a blocked client gets the
// plugin's answer and the upstream is not called.
func TestIPRestrictionEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/white","plugins":{"ip-restriction":{"whitelist":["127.0.0.1","2001:db8::/32"]}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/black","plugins":{"ip-restriction":{"blacklist":["10.0.0.0/8"],"message":"no","response_code":404}},"upstream":UPSTREAM}`,
	)
	deny := `{"message":"Your IP address is not allowed"}` + "\n"
	for _, tt := range []struct {
		name, path, realIP string
		status             int
		body               string
	}{
		{"whitelisted peer", "/white", "", 200, "GET /white"},
		{"whitelisted v6 client", "/white", "2001:db8::1", 200, "GET /white"},
		{"client outside the whitelist", "/white", "192.0.2.1", 403, deny},
		{"peer not blacklisted", "/black", "", 200, "GET /black"},
		{"blacklisted client", "/black", "10.1.2.3", 404, `{"message":"no"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.realIP != "" {
				hdr = []string{"X-Real-IP", tt.realIP}
			}
			before := h.hits.Load()
			resp, body := h.get(tt.path, hdr...)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if called := h.hits.Load() != before; called != (tt.status == 200) {
				t.Errorf("upstream called: %v", called)
			}
		})
	}
	// A CIDR that does not parse rejects the new version; the last good one keeps serving.
	h.update("/apisix/routes/1", `{"uri":"/white","plugins":{"ip-restriction":{"whitelist":["::1/129"]}},"upstream":UPSTREAM}`)
	if resp, _ := h.get("/white"); resp.StatusCode != 200 {
		t.Errorf("after a bad update: %d, want the last good version's 200", resp.StatusCode)
	}
	if logs := h.logs.Take(); !strings.Contains(logs, "invalid ip address: ::1/129") {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
}

// TestRequestIDEndToEnd: the id reaches the upstream and comes back; a client's id is kept; the
// header filter also runs on a plugin's own answer, on the proxy's 502 and on the 404 of a
// global rule.
func TestRequestIDEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/id","plugins":{"request-id":{}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/auth","plugins":{"request-id":{"algorithm":"nanoid"},"key-auth":{}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/down","plugins":{"request-id":{"header_name":"X-Trace"}},"upstream":{"nodes":{"127.0.0.1:1":1},"retries":0}}`,
		"/apisix/routes/4", `{"uri":"/quiet","plugins":{"request-id":{"include_in_response":false}},"upstream":UPSTREAM}`,
	)
	resp, body := h.get("/id")
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || len(id) != 36 || !strings.Contains(body, "X-Request-Id: "+id+"\n") {
		t.Errorf("generated: %d, response id %q, upstream saw\n%s", resp.StatusCode, id, body)
	}
	resp, body = h.get("/id", "X-Request-Id", "client-1")
	if resp.Header.Get("X-Request-Id") != "client-1" || !strings.Contains(body, "X-Request-Id: client-1\n") {
		t.Errorf("kept: response id %q, upstream saw\n%s", resp.Header.Get("X-Request-Id"), body)
	}
	if resp, _ := h.get("/auth"); resp.StatusCode != 401 || len(resp.Header.Get("X-Request-Id")) != 21 {
		t.Errorf("plugin's 401: %d, id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if resp, _ := h.get("/down"); resp.StatusCode != 502 || len(resp.Header.Get("X-Trace")) != 36 {
		t.Errorf("proxy's 502: %d, id %q", resp.StatusCode, resp.Header.Get("X-Trace"))
	}
	if resp, body := h.get("/quiet"); resp.Header.Get("X-Request-Id") != "" || !strings.Contains(body, "X-Request-Id: ") {
		t.Errorf("include_in_response false: response id %q, upstream saw\n%s", resp.Header.Get("X-Request-Id"), body)
	}
	h.update("/apisix/global_rules/1", `{"plugins":{"request-id":{"header_name":"X-Global-Id","algorithm":"ksuid"}}}`)
	if resp, _ := h.get("/nowhere"); resp.StatusCode != 404 || len(resp.Header.Get("X-Global-Id")) != 27 {
		t.Errorf("global rule on a 404: %d, id %q", resp.StatusCode, resp.Header.Get("X-Global-Id"))
	}
	h.update("/apisix/routes/1", `{"uri":"/id","plugins":{"request-id":{"algorithm":"uuidv8"}},"upstream":UPSTREAM}`)
	if logs := h.logs.Take(); !strings.Contains(logs, `property \"algorithm\" validation failed: matches none of the enum values`) {
		t.Errorf("unknown algorithm: logs\n%s", logs)
	}
}

// TestCORSEndToEnd: a preflight is answered without the upstream; the CORS headers are on the
// upstream's answer, on a plugin's 401 and on the proxy's 502.
func TestCORSEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/routes/1", `{"uri":"/cors","plugins":{"cors":{"allow_origins":"http://a.com,http://b.com","allow_methods":"GET,POST","expose_headers":"X-Up","max_age":60,"allow_credential":true,"allow_headers":"**"},"key-auth":{}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/down","plugins":{"cors":{}},"upstream":{"nodes":{"127.0.0.1:1":1},"retries":0}}`,
	)
	send := func(method, path string, headers ...string) *http.Response {
		req, _ := http.NewRequest(method, h.base+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, _ := do(t, req)
		return resp
	}
	before := h.hits.Load()
	resp := send("OPTIONS", "/cors", "Origin", "http://b.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "X-K")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://b.com" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET,POST" || resp.Header.Get("Access-Control-Allow-Headers") != "X-K" ||
		resp.Header.Get("Access-Control-Max-Age") != "60" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Vary") != "Origin" || h.hits.Load() != before {
		t.Errorf("preflight: %d %v, upstream called %d times", resp.StatusCode, resp.Header, h.hits.Load()-before)
	}
	resp = send("GET", "/cors", "Origin", "http://a.com", "apikey", "k")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://a.com" || resp.Header.Get("Access-Control-Expose-Headers") != "X-Up" {
		t.Errorf("upstream's answer: %d %v", resp.StatusCode, resp.Header)
	}
	resp = send("GET", "/cors", "Origin", "http://a.com")
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "http://a.com" {
		t.Errorf("key-auth's 401: %d %v", resp.StatusCode, resp.Header)
	}
	resp = send("GET", "/cors", "Origin", "http://evil.com", "apikey", "k")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "Origin" {
		t.Errorf("origin not allowed: %d %v", resp.StatusCode, resp.Header)
	}
	resp = send("GET", "/down", "Origin", "http://x.com")
	if resp.StatusCode != 502 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("proxy's 502: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestProxyRewriteEndToEnd: what the upstream gets, through the real router's variables;
// APISIX's CRLF cases (t/plugin/proxy-rewrite3.t TESTs 22 and 24) and a hostile header value.
func TestProxyRewriteEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/hello*","plugins":{"proxy-rewrite":{"regex_uri":["^/hello(.*)","/hello$1"],"host":"test.xxxx.com"}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/remain*","plugins":{"proxy-rewrite":{"uri":"/$uri/remain","host":"test.xxxx.com"}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/api/*","plugins":{"proxy-rewrite":{"regex_uri":["^/api/(\\w+)/(.*)","/v2/$2/$1"],"method":"POST",`+
			`"headers":{"set":{"X-Client":"$remote_addr","X-Arg":"$arg_name","X-Cap":"$1"},"add":{"X-Route":"$route_id"},"remove":["X-Secret"]}}},"upstream":UPSTREAM}`,
		// Forwarding fields a plugin sets are replaced by the proxy's, as proxy_set_header
		// replaces them in APISIX; X-Forwarded-For is joined ($proxy_add_x_forwarded_for).
		"/apisix/routes/4", `{"uri":"/fwd","plugins":{"proxy-rewrite":{"headers":{"set":{"X-Real-IP":"192.0.2.1",`+
			`"X-Forwarded-Host":"forged.example","X-Forwarded-Port":"1","X-Forwarded-Proto":"ftp","Forwarded":"for=192.0.2.2"},`+
			`"add":{"X-Forwarded-For":"192.0.2.3"}}}},"upstream":UPSTREAM}`,
	)
	hostPort := strings.TrimPrefix(h.base, "http://")
	for _, tt := range []struct {
		name, path string
		headers    []string
		want, not  []string
	}{
		{"TEST 22", "/hello%3f0z=700%26a=c%20HTTP/1.1%0D%0AHost:google.com%0d%0a%0d%0a", nil,
			[]string{"GET /hello%3F0z=700&a=c%20HTTP/1.1%0D%0AHost:google.com%0D%0A%0D%0A\nHost: test.xxxx.com\n"}, nil},
		{"TEST 24", "/remain%3f0z=700%26a=c%20HTTP/1.1%0D%0AHost:google.com%0d%0a%0d%0a", nil,
			[]string{"GET //remain%253F0z=700&a=c%20HTTP/1.1%0D%0AHost:google.com%0D%0A%0D%0A/remain\n"}, nil},
		{"regex, method, headers, query kept", "/api/users/42?name=jo", []string{"X-Secret", "s", "X-Client", "forged"},
			[]string{"POST /v2/42/users?name=jo\n", "X-Client: 127.0.0.1\n", "X-Arg: jo\n", "X-Cap: users\n", "X-Route: 3\n"}, []string{"X-Secret"}},
		{"set replaces every field of the name", "/api/users/42", []string{"X-Client", "forged-1", "x-client", "forged-2"},
			[]string{"X-Client: 127.0.0.1\n"}, []string{"forged"}},
		{"hostile argument", "/api/a/b?name=x%0D%0AX-Injected:%201", nil,
			[]string{"X-Arg: x%0D%0AX-Injected: 1\n"}, []string{"\nX-Injected"}},
		{"forwarding fields set by the plugin", "/fwd", []string{"X-Forwarded-For", "198.51.100.1"},
			[]string{"\nX-Forwarded-For: 198.51.100.1, 192.0.2.3, 127.0.0.1\nX-Forwarded-Host: " + hostPort +
				"\nX-Forwarded-Port: " + hostPort[strings.LastIndexByte(hostPort, ':')+1:] +
				"\nX-Forwarded-Proto: http\nX-Real-Ip: 127.0.0.1\n"},
			[]string{"192.0.2.1", "forged", "ftp", "Forwarded: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.base+"/", nil)
			req.URL.Opaque = tt.path // as sent, not re-encoded
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header[tt.headers[i]] = append(req.Header[tt.headers[i]], tt.headers[i+1]) // as given: twice when given twice
			}
			resp, body := do(t, req)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("upstream saw\n%s\nwant %q", body, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("upstream saw\n%s\nwant no %q", body, n)
				}
			}
		})
	}
}

// TestRedirectEndToEnd: redirect answers in the rewrite phase with its status, nginx's page and
// the Location header (the upstream is not called); http_to_https goes on over HTTPS (as the
// X-Forwarded-Proto header says), and regex_uri without a match lets the request through.
func TestRedirectEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/old/*","plugins":{"redirect":{"regex_uri":["^/old/(.*)","/new/$1"],"ret_code":301,"append_query_string":true}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/secure","plugins":{"redirect":{"http_to_https":true}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/var","plugins":{"redirect":{"uri":"/to/$arg_to"}},"upstream":UPSTREAM}`,
	)
	client := &http.Client{Timeout: waitFor, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		name, method, path, proto string
		status                    int
		location, body            string
	}{
		{"regex_uri, query appended", "GET", "/old/a/b?x=1", "", 301, "/new/a/b?x=1", "<title>301 Moved Permanently</title>"},
		{"http_to_https GET", "GET", "/secure?q", "", 301, "https://HOST/secure?q", "301 Moved Permanently"},
		{"http_to_https POST", "POST", "/secure", "", 308, "https://HOST/secure", "308 Permanent Redirect"},
		{"already https", "GET", "/secure", "https", 200, "", "GET /secure"},
		{"hostile variable", "GET", "/var?to=a%0D%0ASet-Cookie:%20x=1", "", 302, "/to/a%0D%0ASet-Cookie: x=1", "302 Found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.base+tt.path, nil)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			before := h.hits.Load()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			want := strings.ReplaceAll(tt.location, "HOST", req.URL.Hostname()) // $host has no port
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != want || !strings.Contains(string(b), tt.body) {
				t.Fatalf("%d Location %q %q, want %d %q %q", resp.StatusCode, resp.Header.Get("Location"), b, tt.status, want, tt.body)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("injected header: %v", resp.Header)
			}
			if called := h.hits.Load() != before; called != (tt.status == 200) {
				t.Errorf("upstream called: %v", called)
			}
		})
	}
}
