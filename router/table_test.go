package router

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func mustCompile(t testing.TB, r Route) *Compiled {
	t.Helper()
	c, err := Compile(r)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", r, err)
	}
	return c
}

func TestSegmentPattern(t *testing.T) {
	tests := []struct {
		path    string
		pat     string
		names   int
		trivial [2]bool
		re      bool
	}{
		{path: "/api/*", pat: `\/api\/((?s:.)*)`, names: 1, trivial: [2]bool{true, true}},
		{path: "/foo*", pat: `\/foo*`, names: 0, trivial: [2]bool{true, true}},
		{path: "/user/:id", pat: `\/user\/([^\/]+)`, names: 1, trivial: [2]bool{false, false}, re: true},
		{path: "/user/:id/*", pat: `\/user\/([^\/]+)\/((?s:.)*)`, names: 2, trivial: [2]bool{true, false}, re: true},
		{path: "/name/:name/", pat: `\/name\/([^\/]+)\/`, names: 1, trivial: [2]bool{false, false}, re: true},
		{path: "/a/*/b", pat: `\/a\/((?s:.)*)\/b`, names: 1, trivial: [2]bool{false, false}, re: true},
		{path: "/v1.0/*", pat: `\/v1.0\/((?s:.)*)`, names: 1, trivial: [2]bool{true, true}},
		{path: "/a+/*", pat: `\/a+\/((?s:.)*)`, names: 1, trivial: [2]bool{false, false}, re: true},
		{path: "*", pat: `((?s:.)*)`, names: 1, trivial: [2]bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			pat, names, _ := segmentPattern(tt.path, true)
			if pat != tt.pat || names != tt.names {
				t.Fatalf("segmentPattern(%q) = %q, %d; want %q, %d", tt.path, pat, names, tt.pat, tt.names)
			}
			s := newPathSpec(tt.path)
			if s.trivial != tt.trivial || (s.re != nil) != tt.re || s.bad {
				t.Fatalf("newPathSpec(%q): trivial %v re %v bad %v", tt.path, s.trivial, s.re != nil, s.bad)
			}
		})
	}
	if s := newPathSpec("/a/*/(b"); !s.bad {
		t.Fatalf("a segment regex that does not compile must mark the path")
	}
}

// TestHostIsLowercase pins what the router relies on: fasthttp lowercases
// the host it reports, as nginx's $host is lowercase.
func TestHostIsLowercase(t *testing.T) {
	for _, target := range []string{"/", "http://WWW.Example.COM/x"} {
		ctx := parsedCtx(t, target)
		ctx.Request.Header.SetHost("Foo.EXAMPLE.com:8080")
		ctx.Request.SetRequestURI(target)
		if h := string(ctx.Host()); h != strings.ToLower(h) {
			t.Fatalf("ctx.Host() = %q for %q", h, target)
		}
	}
}

func TestNginxHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"foo.com", "foo.com"},
		{"foo.com:8080", "foo.com"},
		{"foo.com.", "foo.com"},
		{"foo.com.:80", "foo.com"},
		{"[::1]:9080", "[::1]"},
		{"[::1]", "[::1]"},
		{"", ""},
		{":80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(nginxHost([]byte(tt.in))); got != tt.want {
				t.Fatalf("nginxHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		text, name, want string
		found            bool
	}{
		{"k=v", "k", "v", true},
		{"k=v; a=b", "a", "b", true},
		{"k=1; k=2", "k", "2", true},
		{"k=v;", "k", "v", true},
		{"  k=v", "k", "v", true},
		{"k=", "k", "", true},
		{"k=a b", "k", "a", true},
		{"k=a\tb=c", "b", "c", true},
		{"flag; k=v", "flag; k", "v", true},
		{"a=1", "b", "", false},
		{"", "k", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.text+"/"+tt.name, func(t *testing.T) {
			v, ok := cookieValue([]byte(tt.text), tt.name)
			if ok != tt.found || string(v) != tt.want {
				t.Fatalf("cookieValue(%q, %q) = %q, %v", tt.text, tt.name, v, ok)
			}
		})
	}
}

func TestArg(t *testing.T) {
	tests := []struct {
		query, key string
		want       string // "<true>", "<nil>" or the value
	}{
		{"a=1&b=2", "b", "2"},
		{"a=1&a=2", "a", "1"},
		{"a&a=2", "a", "<true>"},
		{"a=", "a", ""},
		{"a=x=y", "a", "x=y"},
		{"a=b+c%2Fd", "a", "b c/d"},
		{"a=%zz%4", "a", "%zz%4"},
		{"a%20b=1", "a b", "1"},
		{"a+b=1", "a b", "1"},
		{"=1&&a=2", "a", "2"},
		{"ab=1", "a", "<nil>"},
		{"a;b=1", "a", "<nil>"},
	}
	var r reqVars
	for _, tt := range tests {
		t.Run(tt.query+"/"+tt.key, func(t *testing.T) {
			v := r.arg([]byte(tt.query), tt.key)
			var got string
			switch v.Kind {
			case 0:
				got = "<nil>"
			case 2:
				got = "<true>"
			default:
				got = string(v.S)
			}
			if got != tt.want {
				t.Fatalf("arg(%q, %q) = %q, want %q", tt.query, tt.key, got, tt.want)
			}
		})
	}
}

// TestCompiledShared checks that one Compiled serves several tables and
// modes, as the snapshot builder caches them.
func TestCompiledShared(t *testing.T) {
	c := mustCompile(t, Route{ID: "1", URI: "/user/:id", Host: "a.com", Value: 7})
	for _, mode := range []Mode{ModeHostURI, ModeURI, ModeURIWithParameter} {
		tab, err := New([]*Compiled{c, c}, mode)
		if err != nil {
			t.Fatal(err)
		}
		target := "/user/:id"
		if mode == ModeURIWithParameter {
			target = "/user/42"
		}
		ctx := parsedCtx(t, target)
		ctx.Request.Header.SetHost("a.com")
		res, ok := tab.Match(ctx)
		if !ok || res.Value != 7 || res.Host != "a.com" || res.URI != "/user/:id" || tab.Len() != 2 || tab.Mode() != mode {
			t.Fatalf("%s: Match = %+v, %v", mode, res, ok)
		}
	}
}

// TestGolden dumps a compiled table; run with -update to refresh.
func TestGolden(t *testing.T) {
	routes := []Route{
		{ID: "1", URI: "/hello", Host: "foo.com", Methods: []string{"GET", "HEAD"}},
		{ID: "2", URIs: []string{"/api/*", "/api/v1/users"}, Hosts: []string{"*.foo.com", "Foo.com"}, Priority: 10},
		{ID: "3", URI: "/api/*", Vars: json.RawMessage(`[["arg_v","==","2"],["http_x_canary","~*","^y"]]`)},
		{ID: "4", URI: "/files/*/meta", RemoteAddrs: []string{"10.0.0.0/8", "::1"}},
		{ID: "5", URI: "/user/:id", Host: "*"},
		{ID: "6", URI: "*", Priority: -1},
	}
	var compiled []*Compiled
	for i, r := range routes {
		r.Value = i
		compiled = append(compiled, mustCompile(t, r))
	}
	var out bytes.Buffer
	for _, mode := range []Mode{ModeHostURI, ModeURI, ModeURIWithParameter} {
		tab, err := New(compiled, mode)
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.Dump(&out); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("table dump differs from %s (run with -update if intended):\n%s", golden, out.String())
	}
}

// TestPerRouteSizes: a compiled route, each of its candidates and a tree node (most are leaves,
// one per route prefix) stay within their allocation size classes (112, 24 and 64 bytes): with
// 10,000 routes each byte is 10 KB.
func TestPerRouteSizes(t *testing.T) {
	if n := unsafe.Sizeof(node[*cand]{}); n > 64 {
		t.Errorf("node is %d bytes, more than 64", n)
	}
	if n := unsafe.Sizeof(Compiled{}); n > 112 {
		t.Errorf("Compiled is %d bytes, more than 112", n)
	}
	if n := unsafe.Sizeof(cand{}); n > 24 {
		t.Errorf("cand is %d bytes, more than 24", n)
	}
}

// TestValueRange: a route's value is kept in 32 bits; a value that does not fit is an error,
// not a match that reports another value.
func TestValueRange(t *testing.T) {
	for _, v := range []int{0, -1, math.MaxInt32, math.MinInt32} {
		c, err := Compile(Route{ID: "1", URI: "/a", Value: v})
		if err != nil || c.Value() != v {
			t.Errorf("value %d: %v, %v", v, c, err)
		}
	}
	for _, v := range []int{math.MaxInt32 + 1, math.MinInt32 - 1} {
		if _, err := Compile(Route{ID: "1", URI: "/a", Value: v}); err == nil {
			t.Errorf("value %d compiled", v)
		}
	}
}
