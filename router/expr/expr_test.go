package expr

import (
	"math"
	"testing"
)

// mapSource serves values from a map; a key absent from the map is Missing
// and the value "\x00true" stands for Lua true.
type mapSource map[string]string

func (m mapSource) Value(v *Var) Value {
	s, ok := m[v.Name]
	switch {
	case !ok:
		return Value{}
	case s == "\x00true":
		return Value{Kind: True}
	}
	return Value{Kind: String, S: []byte(s)}
}

func TestToNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10", 10, true},
		{" 10 ", 10, true},
		{"\t-1.5\n", -1.5, true},
		{"+3", 3, true},
		{"1e2", 100, true},
		{"1E+2", 100, true},
		{"2.5e-1", 0.25, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"0x10", 16, true},
		{"0X1f", 31, true},
		{"-0x10", -16, true},
		{"0x1.8", 1.5, true},
		{"0x1p4", 16, true},
		{"inf", math.Inf(1), true},
		{"-Infinity", math.Inf(-1), true},
		{"1e999", math.Inf(1), true},
		{"", 0, false},
		{" ", 0, false},
		{".", 0, false},
		{"1e", 0, false},
		{"0x", 0, false},
		{"0x1p", 0, false},
		{"10px", 0, false},
		{"1_000", 0, false},
		{"1 2", 0, false},
		{"--1", 0, false},
		{"infinit", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := toNumber([]byte(tt.in))
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("toNumber(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	if n, ok := toNumber([]byte("nan")); !ok || !math.IsNaN(n) {
		t.Fatalf("toNumber(nan) = %v, %v", n, ok)
	}
}

func TestParseVar(t *testing.T) {
	tests := []struct {
		name        string
		kind        VarKind
		key         string
		unsupported bool
	}{
		{name: "arg_page", kind: VarArg, key: "page"},
		{name: "arg_", kind: VarArg, key: ""},
		{name: "post_arg_name", kind: VarPostArg, key: "name"},
		{name: "cookie_SID", kind: VarCookie, key: "SID"},
		{name: "http_x_user_id", kind: VarHTTP, key: "x_user_id"},
		{name: "http_X-User-Id", kind: VarHTTP, key: "x_user_id"},
		{name: "HTTP_HOST", kind: VarHTTP, key: "host"},
		{name: "content_type", kind: VarHTTP, key: "content_type"},
		{name: "uri", kind: VarURI},
		{name: "document_uri", kind: VarURI},
		{name: "URI", kind: VarURI},
		{name: "host", kind: VarHost},
		{name: "remote_addr", kind: VarRemoteAddr},
		{name: "realip_remote_addr", kind: VarRealIPRemoteAddr},
		{name: "realip_remote_port", kind: VarRealIPRemotePort},
		{name: "server_port", kind: VarServerPort},
		{name: "request_method", kind: VarRequestMethod},
		{name: "method", kind: VarRequestMethod},
		{name: "scheme", kind: VarScheme},
		{name: "query_string", kind: VarArgs},
		{name: "resp_body", kind: VarEmpty},
		{name: "uri_param_id", kind: VarNil},
		{name: "route_id", kind: VarNil},
		{name: "something_else", kind: VarNil},
		{name: "graphql_name", unsupported: true},
		{name: "post_arg.a.b", unsupported: true},
		{name: "upstream_addr", unsupported: true},
		{name: "ssl_server_name", kind: VarSSLServerName},
		{name: "ssl_client_s_dn", kind: VarSSLClientSDN},
		{name: "ssl_cipher", unsupported: true},
		{name: "sent_http_x", unsupported: true},
		{name: "request_body", unsupported: true},
		{name: "cookie", unsupported: true},
		{name: "Cookie_a", unsupported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseVar(tt.name)
			if tt.unsupported {
				if err == nil {
					t.Fatalf("ParseVar(%q) = %+v, want an error", tt.name, v)
				}
				return
			}
			if err != nil || v.Kind != tt.kind || v.Key != tt.key || v.Name != tt.name {
				t.Fatalf("ParseVar(%q) = %+v, %v; want kind %d key %q", tt.name, v, err, tt.kind, tt.key)
			}
		})
	}
}

// TestEval covers lua-resty-expr's comparison semantics, including the Lua
// types a request variable can have (nil, string, true).
func TestEval(t *testing.T) {
	tests := []struct {
		name string
		rule string
		src  mapSource
		want bool
	}{
		{"== string", `[["a","==","x"]]`, mapSource{"a": "x"}, true},
		{"== missing", `[["a","==","x"]]`, mapSource{}, false},
		{"== null missing", `[["a","==",null]]`, mapSource{}, true},
		{"== null present", `[["a","==",null]]`, mapSource{"a": ""}, false},
		{"== absent operand", `[["a","=="]]`, mapSource{}, true},
		{"== number", `[["a","==",5]]`, mapSource{"a": "5.0"}, true},
		{"== number not numeric", `[["a","==",5]]`, mapSource{"a": "five"}, false},
		{"== true bare", `[["a","==",true]]`, mapSource{"a": "\x00true"}, true},
		{"== true string", `[["a","==",true]]`, mapSource{"a": "true"}, false},
		{"== false", `[["a","==",false]]`, mapSource{}, false},
		{"== table", `[["a","==",["x"]]]`, mapSource{"a": "x"}, false},
		{"~= table", `[["a","~=",["x"]]]`, mapSource{"a": "x"}, true},
		{"~= number not numeric", `[["a","~=",5]]`, mapSource{"a": "x"}, true},
		{"~= missing", `[["a","~=","x"]]`, mapSource{}, true},
		{"~= null present", `[["a","~=",null]]`, mapSource{"a": "x"}, true},
		{"> string operand", `[["a",">","9"]]`, mapSource{"a": "10"}, true},
		{"> hex", `[["a",">",15]]`, mapSource{"a": "0x10"}, true},
		{"> non-number operand", `[["a",">",true]]`, mapSource{"a": "10"}, false},
		{"> bare", `[["a",">",0]]`, mapSource{"a": "\x00true"}, false},
		{"<= nan", `[["a","<=",1]]`, mapSource{"a": "nan"}, false},
		{">= equal", `[["a",">=",1]]`, mapSource{"a": "1"}, true},
		{"< less", `[["a","<",1]]`, mapSource{"a": "0.5"}, true},
		{"~~ search", `[["a","~~","b+c"]]`, mapSource{"a": "abbbcd"}, true},
		{"~~ case", `[["a","~~","B"]]`, mapSource{"a": "abc"}, false},
		{"~* case", `[["a","~*","B"]]`, mapSource{"a": "abc"}, true},
		{"~~ number operand", `[["a","~~",12]]`, mapSource{"a": "x12y"}, true},
		{"~~ bare", `[["a","~~",""]]`, mapSource{"a": "\x00true"}, false},
		{"~~ empty pattern", `[["a","~~",""]]`, mapSource{"a": ""}, true},
		{"in strings", `[["a","in",["x","y"]]]`, mapSource{"a": "y"}, true},
		{"in numbers", `[["a","in",[1]]]`, mapSource{"a": "1"}, false},
		{"in true", `[["a","in",[true]]]`, mapSource{"a": "\x00true"}, true},
		{"in null", `[["a","in",[null]]]`, mapSource{}, false},
		{"in not list", `[["a","in","x"]]`, mapSource{"a": "x"}, false},
		{"has", `[["a","has","x"]]`, mapSource{"a": "x"}, false},
		{"! has", `[["a","!","has","x"]]`, mapSource{"a": "x"}, true},
		{"ipmatch v4", `[["a","ipmatch","10.0.0.0/8"]]`, mapSource{"a": "10.9.8.7"}, true},
		{"ipmatch v6 brackets", `[["a","ipmatch",["fe80::/16"]]]`, mapSource{"a": "[fe80::1]"}, true},
		{"ipmatch mapped", `[["a","ipmatch",["10.0.0.1"]]]`, mapSource{"a": "::ffff:10.0.0.1"}, true},
		{"ipmatch garbage", `[["a","ipmatch",["10.0.0.1"]]]`, mapSource{"a": "10.0.0.1, 10.0.0.2"}, false},
		{"ipmatch missing", `[["a","!","ipmatch",["10.0.0.1"]]]`, mapSource{}, true},
		{"two items lowercase", `[["a","IOS"]]`, mapSource{"a": "ios"}, true},
		{"two items operator", `[["a","in"]]`, mapSource{"a": "in"}, false},
		{"five items", `[["a","==","x","ignored","too"]]`, mapSource{"a": "x"}, true},
		{"operator case", `[["a","IpMatch","::1"]]`, mapSource{"a": "::1"}, true},
		{"AND list", `[["a","==","1"],["b","==","2"]]`, mapSource{"a": "1", "b": "3"}, false},
		{"or lowercase", `["or",["a","==","1"],["b","==","2"]]`, mapSource{"b": "2"}, true},
		{"!OR", `["!OR",["a","==","1"],["b","==","2"]]`, mapSource{}, true},
		{"!AND", `["!AND",["a","==","1"],["b","==","2"]]`, mapSource{"a": "1"}, true},
		{"nested AND list in OR", `["OR",[["a","==","1"],["b","==","2"]],["c","==","3"]]`, mapSource{"a": "1", "b": "2"}, true},
		{"empty", `[]`, mapSource{}, true},
		{"empty object", `{}`, mapSource{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile([]byte(tt.rule))
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.rule, err)
			}
			if got := e.Eval(tt.src); got != tt.want {
				t.Fatalf("Eval(%s) with %v = %v, want %v", tt.rule, tt.src, got, tt.want)
			}
		})
	}
}

func TestCompileAbsent(t *testing.T) {
	for _, in := range []string{"", "  ", "null"} {
		e, err := Compile([]byte(in))
		if err != nil || e != nil {
			t.Fatalf("Compile(%q) = %v, %v; want nil, nil", in, e, err)
		}
		if !e.Eval(mapSource{}) || !e.Empty() {
			t.Fatalf("nil Expr must match and be empty")
		}
	}
	e, err := Compile([]byte(` [ ["arg_a", "==", "1"] ] `))
	if err != nil {
		t.Fatal(err)
	}
	if e.Empty() || e.String() != `[["arg_a","==","1"]]` {
		t.Fatalf("String() = %q", e.String())
	}
}
