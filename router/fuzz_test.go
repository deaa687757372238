package router_test

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/router"
)

// fuzzCtx builds a request context from fuzz input, or nil when the server
// would not accept such a request.
func fuzzCtx(method, target, host string, headers ...string) *fasthttp.RequestCtx {
	if method == "" || target == "" || strings.ContainsAny(method+target+host, " \r\n\x00") ||
		strings.ContainsAny(strings.Join(headers, ""), "\r\n\x00") {
		return nil
	}
	raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	var r fasthttp.Request
	if err := r.Read(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err != nil {
		return nil
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&r, nil, nil)
	return ctx
}

// FuzzCompileVars: any JSON as `vars` either compiles or is rejected with
// a *router.Error; a compiled rule evaluates against requests (query,
// headers, cookies, a form body, IPv4 and IPv6 clients) without panicking,
// and gives the same answer when asked twice.
func FuzzCompileVars(f *testing.F) {
	for _, s := range []string{
		`[["arg_name","==","json"],["arg_age",">",18]]`,
		`[["http_user_agent","~*","android"]]`,
		`[["http_user_agent","!","~*","android"]]`,
		`[["http_user_agent","IN",["android","ios"]]]`,
		`[["http_user_agent","==",null]]`,
		`[["http_user_agent","ios"]]`,
		`["!OR",["http_user_agent","==","ios"],["http_demo","==","test"]]`,
		`["AND",["AND",["arg_weight","<",20],["arg_weight","!","<",15]],[["arg_height",">",10],["arg_height","!","<",15]]]`,
		`[["remote_addr","ipmatch",["127.0.0.1","192.168.0.0/16","::1"]]]`,
		`[["cookie_k","==","v"],["post_arg_k","has","x"]]`,
		`[]`, `{}`, `null`, `[[]]`, `["OR"]`, `[["a"]]`, `[["a","=~=","b"]]`, `[["a","~~","(?=x)"]]`,
	} {
		f.Add([]byte(s))
	}
	ctxs := []*fasthttp.RequestCtx{
		fuzzCtx("GET", "/?name=json&age=20&weight=16&height=16", "localhost", "User-Agent: android", "Cookie: k=v"),
		fuzzCtx("POST", "/x?debug", "a.example.com:8080", "X-Forwarded-For: 10.0.0.1", "demo: test"),
	}
	for _, ctx := range ctxs {
		if ctx == nil {
			f.Fatal("fixture request does not parse")
		}
	}
	// A form POST from an IPv6 client, for post_arg_* and ipmatch.
	var form fasthttp.Request
	form.Header.SetMethod("POST")
	form.SetRequestURI("/form?arg=1")
	form.Header.SetHost("[::1]:9080")
	form.Header.SetContentType("application/x-www-form-urlencoded")
	form.SetBodyString("k=xyz&name=json&age=17")
	formCtx := &fasthttp.RequestCtx{}
	formCtx.Init(&form, &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 40000}, nil)
	ctxs = append(ctxs, formCtx)
	f.Fuzz(func(t *testing.T, vars []byte) {
		c, err := router.Compile(router.Route{ID: "f", URI: "/*", Vars: vars})
		if err != nil {
			var re *router.Error
			if !errors.As(err, &re) || re.Field != "vars" {
				t.Fatalf("error %v is not a vars *router.Error", err)
			}
			return
		}
		tab, err := router.New([]*router.Compiled{c}, router.ModeHostURI)
		if err != nil {
			t.Fatal(err)
		}
		for _, ctx := range ctxs {
			r1, ok1 := tab.Match(ctx)
			if r2, ok2 := tab.Match(ctx); r1 != r2 || ok1 != ok2 {
				t.Fatalf("the same request matched %+v %v, then %+v %v", r1, ok1, r2, ok2)
			}
		}
	})
}

// FuzzMatch builds route sets from fuzz input (one route per line:
// uri|host|method|priority) and matches a request against them in every
// mode. It must never panic, and a table holding one exact route must
// match a request for that route's own path.
func FuzzMatch(f *testing.F) {
	f.Add("/hello|foo.com|GET|0\n/hello*||||\n/api/*|*.foo.com||5", "/hello", "foo.com", "GET")
	f.Add("/user/:id||GET|0\n/user/*|||", "/user/42", "localhost", "GET")
	f.Add("/a/*/b|||\n*|||-1", "/a/x/y/b", "x", "HEAD")
	f.Add("/files/:name/|a.com:80||", "/files/x%2Fy/", "a.com:80", "PURGE")
	f.Add("/%zz|||", "/%zz", "h", "GET")
	f.Fuzz(func(t *testing.T, spec, target, host, method string) {
		if len(spec) > 4096 {
			return
		}
		var compiled []*router.Compiled
		var first router.Route
		for i, line := range strings.Split(spec, "\n") {
			parts := strings.Split(line, "|")
			for len(parts) < 4 {
				parts = append(parts, "")
			}
			r := router.Route{ID: strconv.Itoa(i), URI: parts[0], Host: parts[1], Value: i}
			if parts[2] != "" {
				r.Methods = []string{parts[2]}
			}
			r.Priority, _ = strconv.Atoi(parts[3])
			if i == 0 {
				first = r
			}
			c, err := router.Compile(r)
			if err != nil {
				continue
			}
			compiled = append(compiled, c)
		}
		ctx := fuzzCtx(method, target, host)
		if ctx == nil {
			return
		}
		for _, mode := range []router.Mode{router.ModeHostURI, router.ModeURI, router.ModeURIWithParameter} {
			tab, err := router.New(compiled, mode)
			if err != nil {
				t.Fatal(err)
			}
			res, ok := tab.Match(ctx)
			if ok && (res.Value < 0 || res.Value >= len(compiled)+1) {
				t.Fatalf("value %d out of range", res.Value)
			}
			// The same table built one Update at a time, then taken
			// apart from the front, agrees with New at every step.
			inc, _ := router.New(nil, mode)
			for _, c := range compiled {
				if inc, err = inc.Update(nil, []*router.Compiled{c}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; ; i++ {
				want, _ := router.New(compiled[i:], mode)
				r1, ok1 := inc.Match(ctx)
				r2, ok2 := want.Match(ctx)
				if r1 != r2 || ok1 != ok2 {
					t.Fatalf("%s: after %d removals Update gives %+v %v, New %+v %v", mode, i, r1, ok1, r2, ok2)
				}
				if i == len(compiled) {
					break
				}
				if inc, err = inc.Update(compiled[i:i+1], nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		// One exact route, no other condition: its own path matches.
		u := first.URI
		if strings.ContainsAny(u, "*:?#%") || !strings.HasPrefix(u, "/") || strings.Contains(u, "//") || strings.Contains(u, "/.") {
			return
		}
		own := fuzzCtx("GET", u, "localhost")
		if own == nil || string(own.Path()) != u {
			return
		}
		c, err := router.Compile(router.Route{URI: u, Value: 3})
		if err != nil {
			t.Fatalf("Compile(%q): %v", u, err)
		}
		for _, mode := range []router.Mode{router.ModeHostURI, router.ModeURI, router.ModeURIWithParameter} {
			tab, _ := router.New([]*router.Compiled{c}, mode)
			if res, ok := tab.Match(own); !ok || res.Value != 3 || res.URI != u {
				t.Fatalf("%s: route %q does not match its own path (%+v, %v)", mode, u, res, ok)
			}
		}
	})
}
