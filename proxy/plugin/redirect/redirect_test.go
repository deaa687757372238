package redirect

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"uri", `{"uri":"/a/$uri"}`, ""},
		{"regex_uri", `{"regex_uri":["^/a/(.*)","/b/$1"],"ret_code":301}`, ""},
		{"http_to_https", `{"http_to_https":true}`, ""},
		{"none", `{"ret_code":301}`, "value should match only one schema, but matches none"},
		{"uri and http_to_https", `{"uri":"/a","http_to_https":true}`, "value should match only one schema, but matches both schemas 1 and 3"},
		{"uri and regex_uri", `{"uri":"/a","regex_uri":["^/a","/b"]}`, "value should match only one schema, but matches both schemas 1 and 2"},
		{"http_to_https false still counts", `{"uri":"/a","http_to_https":false}`, "matches both schemas 1 and 3"},
		{"short uri", `{"uri":"/"}`, `property "uri" validation failed: string too short, expected at least 2, got 1`},
		{"ret_code", `{"uri":"/a","ret_code":100}`, `property "ret_code" validation failed: expected 100 to be at least 200`},
		{"ret_code type", `{"uri":"/a","ret_code":"301"}`, `property "ret_code" validation failed: wrong type: expected integer`},
		{"regex_uri short", `{"regex_uri":["^/a"]}`, `property "regex_uri" validation failed: expect array to have at least 2 items`},
		{"regex_uri long", `{"regex_uri":["^/a","/b","x"]}`, `property "regex_uri" validation failed: expect array to have at most 2 items`},
		{"bad regex", `{"regex_uri":["^/a(","/b"]}`, "invalid regex_uri (^/a(, /b), err:"},
		{"bad template", `{"regex_uri":["^/a","/b/$x"]}`, "invalid regex_uri (^/a, /b/$x), err:failed to compile the replacement template"},
		{"https and query", `{"http_to_https":true,"append_query_string":true}`, "only one of `http_to_https` and `append_query_string` can be configured."},
		{"unsupported var", `{"uri":"/$graphql_name"}`, "not supported by zoneproxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// fakeVars serves variables by name.
type fakeVars map[string]string

func (fakeVars) Eval(*fasthttp.RequestCtx, *expr.Expr) bool { return true }

func (f fakeVars) AppendVar(dst []byte, _ *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool) {
	s, ok := f[v.Name]
	return append(dst, s...), ok
}

func TestRewrite(t *testing.T) {
	vars := fakeVars{"host": "example.com", "request_uri": "/p?x=1", "evil": "a\r\nSet-Cookie: x=1", "name": "a b?c"}
	tests := []struct {
		name, conf, method, uri string
		proto                   string // X-Forwarded-Proto
		status                  int    // 0: the request goes on
		location                string
	}{
		{"uri default code", `{"uri":"/new"}`, "GET", "/old?a=1", "", 302, "/new"},
		{"uri vars", `{"uri":"https://$host/x/${name}","ret_code":301}`, "GET", "/old", "", 301, "https://example.com/x/a b?c"},
		{"escaped dollar", `{"uri":"/a/\\$host/$"}`, "GET", "/old", "", 302, "/a/\\$host/$"},
		{"append query", `{"uri":"/new","append_query_string":true}`, "GET", "/old?a=1&b=2", "", 302, "/new?a=1&b=2"},
		{"append query to a query", `{"uri":"/new?x=1","append_query_string":true}`, "GET", "/old?a=1", "", 302, "/new?x=1&a=1"},
		{"append no query", `{"uri":"/new","append_query_string":true}`, "GET", "/old", "", 302, "/new"},
		{"encode", `{"uri":"/x/${name}","encode_uri":true}`, "GET", "/old", "", 302, "/x/a%20b?c"},
		{"encode all", `{"uri":"/x y#z%","encode_uri":true}`, "GET", "/old", "", 302, "/x%20y%23z%25"},
		{"regex", `{"regex_uri":["^/test/(.*)/(.*)","http://h/$2/${1}"],"ret_code":301}`, "GET", "/test/a/b?k", "", 301, "http://h/b/a"},
		{"regex no match", `{"regex_uri":["^/nope","/x"]}`, "GET", "/test", "", 0, ""},
		{"http_to_https GET", `{"http_to_https":true}`, "GET", "/p?x=1", "", 301, "https://example.com/p?x=1"},
		{"http_to_https HEAD", `{"http_to_https":true,"ret_code":302}`, "HEAD", "/p?x=1", "", 301, "https://example.com/p?x=1"},
		{"http_to_https POST", `{"http_to_https":true}`, "POST", "/p?x=1", "", 308, "https://example.com/p?x=1"},
		{"already https", `{"http_to_https":true}`, "GET", "/p", "https", 0, ""},
		{"forwarded http", `{"http_to_https":true}`, "GET", "/p", "http", 301, "https://example.com/p?x=1"},
		{"hostile value", `{"uri":"/x/$evil"}`, "GET", "/old", "", 302, "/x/a%0D%0ASet-Cookie: x=1"},
		{"hostile value encoded", `{"uri":"/x/$evil","encode_uri":true}`, "GET", "/old", "", 302, "/x/a%0D%0ASet-Cookie:%20x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(tt.method)
			ctx.Request.SetRequestURI(tt.uri)
			if tt.proto != "" {
				ctx.Request.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			rep := inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx, Vars: vars})
			if rep.Status != tt.status || rep.Body != nil {
				t.Errorf("reply %d %q, want %d and no body", rep.Status, rep.Body, tt.status)
			}
			if got := string(ctx.Response.Header.Peek("Location")); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			head := ctx.Response.Header.String()
			if strings.Contains(head, "\nSet-Cookie") || ctx.Response.Header.Peek("Set-Cookie") != nil {
				t.Errorf("head %q", head)
			}
		})
	}
}

// TestHTTPSPort: the http_to_https Location carries the port New was given (config.yaml's
// plugin_attr.redirect.https_port, or apisix.ssl.listen's), one at random among several; 443 and
// a port out of range give none.
func TestHTTPSPort(t *testing.T) {
	vars := fakeVars{"host": "example.com", "request_uri": "/p?x=1"}
	for _, tt := range []struct {
		name  string
		ports []int
		want  []string
	}{
		{"none", nil, []string{"https://example.com/p?x=1"}},
		{"https_port", []int{8443}, []string{"https://example.com:8443/p?x=1"}},
		{"443", []int{443}, []string{"https://example.com/p?x=1"}},
		{"out of range", []int{70000}, []string{"https://example.com/p?x=1"}},
		{"several listen ports", []int{9443, 10443}, []string{"https://example.com:9443/p?x=1", "https://example.com:10443/p?x=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := New(tt.ports).Compile([]byte(`{"http_to_https":true}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for range 200 {
				var ctx fasthttp.RequestCtx
				ctx.Request.SetRequestURI("/p?x=1")
				inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx, Vars: vars})
				seen[string(ctx.Response.Header.Peek("Location"))] = true
			}
			if len(seen) != len(tt.want) {
				t.Errorf("Locations %v, want %v", seen, tt.want)
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Errorf("Locations %v, want %v", seen, tt.want)
				}
			}
		})
	}
}
