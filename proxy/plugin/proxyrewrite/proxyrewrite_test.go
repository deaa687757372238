package proxyrewrite

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"uri", `{"uri":"/a/$uri"}`, ""},
		{"empty", `{}`, "expect object to have at least 1 properties"},
		{"uri pattern", `{"uri":"a"}`, `property "uri" validation failed: failed to match pattern "^\\/.*" with "a"`},
		{"method", `{"method":"GET"}`, ""},
		{"bad method", `{"method":"BREW"}`, `property "method" validation failed: matches none of the enum values`},
		{"regex_uri", `{"regex_uri":["^/a/(.*)","/b/$1","^/c","/d"]}`, ""},
		{"odd regex_uri", `{"regex_uri":["^/a/(.*)","/b/$1","^/c"]}`, "The length of regex_uri should be an even number"},
		{"short regex_uri", `{"regex_uri":["^/a"]}`, `property "regex_uri" validation failed: expect array to have at least 2 items`},
		{"bad regex", `{"regex_uri":["^/a/(.*","/b"]}`, "invalid regex_uri(^/a/(.*, /b): error parsing regexp: missing closing )"},
		{"bad template", `{"regex_uri":["^/a","/b/$x"]}`, "invalid regex_uri(^/a, /b/$x): failed to compile the replacement template"},
		{"host", `{"host":"example.com:8080"}`, ""},
		{"bad host", `{"host":"exa mple"}`, `property "host" validation failed: failed to match pattern`},
		{"headers flat", `{"headers":{"X-A":"1","X-B":2}}`, ""},
		{"headers flat control", `{"headers":{"X-A":"a\r\nb"}}`, "invalid value character in header"},
		{"headers flat bad name", `{"headers":{"X A":"1"}}`, "invalid field character in header"},
		{"headers ops", `{"headers":{"add":{"X-A":["1","$remote_addr"]},"set":{"X-B":"$http_x ?? none"},"remove":["X-C"]}}`, ""},
		{"headers extra op", `{"headers":{"add":{"X-A":"1"},"del":["X"]}}`, "additional properties forbidden"},
		{"headers empty", `{"headers":{}}`, "expect object to have at least 1 properties"},
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
	vars := fakeVars{"remote_addr": "192.0.2.1", "evil": "a\r\nX-Injected: 1", "q": "a?b", "uri": "/u"}
	tests := []struct {
		name, conf, uri string
		wantURI         string
		wantHeaders     map[string]string // "" = absent
		wantMethod      string
	}{
		{"uri keeps the query", `{"uri":"/new"}`, "/old?a=1&b=2", "/new?a=1&b=2", nil, ""},
		{"uri with a query", `{"uri":"/new?x=1"}`, "/old?a=1", "/new?x=1&a=1", nil, ""},
		{"uri var", `{"uri":"/p/$remote_addr/${q}"}`, "/old", "/p/192.0.2.1/a%253Fb", nil, ""}, // escape_separator, then uri_safe_encode (proxy-rewrite3.t TEST 24)
		{"uri encoded", `{"uri":"/a b#c"}`, "/old", "/a%20b%23c", nil, ""},
		{"regex", `{"regex_uri":["^/test/(.*)/(.*)","/$2/$1"]}`, "/test/x/y?k=v", "/y/x?k=v", nil, ""},
		{"regex first match only", `{"regex_uri":["o","0"]}`, "/foo", "/f0o", nil, ""},
		{"regex second pair", `{"regex_uri":["^/no","/x","^/(a)","/b${1}$$"]}`, "/a/c", "/ba$/c", nil, ""},
		{"regex no match", `{"regex_uri":["^/no","/x"]}`, "/a%20b", "/a%20b", nil, ""},
		{"normalised without uri", `{"method":"POST"}`, "/a/../b/%7E", "/b/~", nil, "POST"},
		{"unsafe keeps the raw uri", `{"use_real_request_uri_unsafe":true,"host":"h"}`, "/a/../b/%7E?x", "/a/../b/%7E?x", map[string]string{"Host": "h"}, ""},
		{"headers", `{"regex_uri":["^/(\\w+)","/$1"],"headers":{"add":{"X-Add":["1","$remote_addr"]},"set":{"X-Set":"$1-${remote_addr}","X-Def":"${nope ?? dflt}"},"remove":["X-Gone"]}}`,
			"/abc", "/abc", map[string]string{"X-Add": "1", "X-Set": "abc-192.0.2.1", "X-Def": "dflt", "X-Gone": ""}, ""},
		{"hostile value", `{"headers":{"X-E":"$evil"}}`, "/x", "/x", map[string]string{"X-E": "a%0D%0AX-Injected: 1", "X-Injected": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(tt.uri)
			ctx.Request.Header.Set("X-Gone", "1")
			inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx, Vars: vars})
			if got := string(ctx.Request.Header.RequestURI()); got != tt.wantURI {
				t.Errorf("uri %q, want %q", got, tt.wantURI)
			}
			for k, v := range tt.wantHeaders {
				if got := string(ctx.Request.Header.Peek(k)); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if tt.name == "headers" && len(ctx.Request.Header.PeekAll("X-Add")) != 2 {
				t.Errorf("X-Add %q, want two values", ctx.Request.Header.PeekAll("X-Add"))
			}
			if tt.wantMethod != "" && string(ctx.Method()) != tt.wantMethod {
				t.Errorf("method %s, want %s", ctx.Method(), tt.wantMethod)
			}
			if !strings.Contains(ctx.Request.Header.String(), "\r\n\r\n") || strings.Count(ctx.Request.Header.String(), "Injected") > 1 {
				t.Errorf("head %q", ctx.Request.Header.String())
			}
		})
	}
}

// TestControlEscaping: a rendered value (render escapes with tmpl.EscapeControl) is escaped exactly when it holds an ASCII control
// byte (below 32, or DEL); UTF-8 and the rest of ASCII pass as they are.
func TestControlEscaping(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{{"", false}, {"/a/b?c=d", false}, {"é€", false}, {"a\x00", true}, {"a\tb", true}, {"\x1f", true}, {"x\x7f", true}, {" ~", false}} {
		sc := []byte("prefix")
		got := tmpl.EscapeControl(append(sc, tt.in...), len(sc))
		if escaped := string(got[len(sc):]) != tt.in; escaped != tt.want {
			t.Errorf("%q: escaped %v (%q), want %v", tt.in, escaped, got[len(sc):], tt.want)
		}
		if string(got[:len(sc)]) != "prefix" {
			t.Errorf("%q: the bytes before the value changed: %q", tt.in, got)
		}
	}
}
