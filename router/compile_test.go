package router_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// TestCompileRejects gives, for each rule of APISIX's route schema on match
// fields (apisix/schema_def.lua) and of lua-resty-expr's rule compiler, an
// input that breaks it and the exact error text.
func TestCompileRejects(t *testing.T) {
	long := "/" + strings.Repeat("a", 4096)
	tests := []struct {
		name  string
		route router.Route
		want  string
	}{
		// uri / uris: oneOf required, uri maxLength 4096, uris minItems 1 and uniqueItems.
		{"uri and uris", router.Route{URI: "/a", URIs: []string{"/b"}}, `uri: only one of "uri" and "uris" may be set`},
		{"no uri", router.Route{}, `uri: one of "uri" and "uris" is required`},
		{"uri too long", router.Route{URI: long}, "uri: longer than 4096 bytes"},
		{"empty uris", router.Route{URIs: []string{}}, "uris: must not be empty"},
		{"duplicate uris", router.Route{URIs: []string{"/a", "/b", "/a"}}, "uris: [2]: duplicate of [0]"},
		// host / hosts: at most one, host_def pattern, minItems 1, uniqueItems.
		{"host and hosts", router.Route{URI: "/", Host: "a.com", Hosts: []string{"b.com"}}, `host: only one of "host" and "hosts" may be set`},
		{"host with space", router.Route{URI: "/", Host: "a b.com"}, `host: invalid host "a b.com": must match ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`},
		{"host star inside", router.Route{URI: "/", Host: "a.*.com"}, `host: invalid host "a.*.com": must match ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`},
		{"host star only prefix", router.Route{URI: "/", Host: "**"}, `host: invalid host "**": must match ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`},
		{"host slash", router.Route{URI: "/", Host: "a.com/x"}, `host: invalid host "a.com/x": must match ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`},
		{"empty hosts", router.Route{URI: "/", Hosts: []string{}}, "hosts: must not be empty"},
		{"bad hosts item", router.Route{URI: "/", Hosts: []string{"a.com", ""}}, `hosts: [1]: invalid host "": must match ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`},
		{"duplicate hosts", router.Route{URI: "/", Hosts: []string{"a.com", "b.com", "a.com"}}, "hosts: [2]: duplicate of [0]"},
		// methods: enum, uniqueItems.
		{"lowercase method", router.Route{URI: "/", Methods: []string{"get"}}, `methods: [0]: unknown method "get" (want one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE)`},
		{"unknown method", router.Route{URI: "/", Methods: []string{"GET", "PROPFIND"}}, `methods: [1]: unknown method "PROPFIND" (want one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE)`},
		{"duplicate method", router.Route{URI: "/", Methods: []string{"GET", "POST", "GET"}}, "methods: [2]: duplicate of [0]"},
		// remote_addr / remote_addrs: at most one, ip_def, minItems 1, uniqueItems.
		{"remote_addr and remote_addrs", router.Route{URI: "/", RemoteAddr: "1.2.3.4", RemoteAddrs: []string{"::1"}}, `remote_addr: only one of "remote_addr" and "remote_addrs" may be set`},
		{"mask over 32", router.Route{URI: "/", RemoteAddr: "10.0.0.0/33"}, `remote_addr: "10.0.0.0/33" is not an IPv4/IPv6 address or CIDR`},
		{"leading zero", router.Route{URI: "/", RemoteAddr: "010.0.0.1"}, `remote_addr: "010.0.0.1" is not an IPv4/IPv6 address or CIDR`},
		{"mask over 128", router.Route{URI: "/", RemoteAddr: "fe80::/129"}, `remote_addr: "fe80::/129" is not an IPv4/IPv6 address or CIDR`},
		{"zone", router.Route{URI: "/", RemoteAddr: "fe80::1%eth0"}, `remote_addr: "fe80::1%eth0" is not an IPv4/IPv6 address or CIDR`},
		{"brackets", router.Route{URI: "/", RemoteAddr: "[::1]"}, `remote_addr: "[::1]" is not an IPv4/IPv6 address or CIDR`},
		{"hostname", router.Route{URI: "/", RemoteAddr: "localhost"}, `remote_addr: "localhost" is not an IPv4/IPv6 address or CIDR`},
		{"empty mask", router.Route{URI: "/", RemoteAddr: "10.0.0.0/"}, `remote_addr: "10.0.0.0/" is not an IPv4/IPv6 address or CIDR`},
		{"empty remote_addrs", router.Route{URI: "/", RemoteAddrs: []string{}}, "remote_addrs: must not be empty"},
		{"bad remote_addrs item", router.Route{URI: "/", RemoteAddrs: []string{"::1", "1.2.3"}}, `remote_addrs: [1]: "1.2.3" is not an IPv4/IPv6 address or CIDR`},
		{"duplicate remote_addrs", router.Route{URI: "/", RemoteAddrs: []string{"::1", "::1"}}, "remote_addrs: [1]: duplicate of [0]"},
		// vars: a JSON array accepted by lua-resty-expr, plus RE2 regexes
		// and variables zoneproxy can read.
		{"vars invalid JSON", router.Route{URI: "/", Vars: json.RawMessage(`[["a"`)}, "vars: invalid JSON: unexpected EOF"},
		{"vars trailing data", router.Route{URI: "/", Vars: json.RawMessage(`[] []`)}, "vars: invalid JSON: data after the top-level value"},
		{"vars object", router.Route{URI: "/", Vars: json.RawMessage(`{"a":1}`)}, "vars: must be an array, got object"},
		{"vars string", router.Route{URI: "/", Vars: json.RawMessage(`"arg_a"`)}, "vars: must be an array, got string"},
		{"vars not wrapped", router.Route{URI: "/", Vars: json.RawMessage(`["http_user_agent","~*","android"]`)}, `vars: expressions must be wrapped in an outer array, e.g. [["arg_name", "==", "json"]]`},
		{"vars unknown operator", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","==","1"],["arg_b","==","2"],["arg_c","=~=","3"]]`)}, `vars: [2]: unknown operator "=~="`},
		{"vars != is not lua", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k","!=","v"]]`)}, `vars: [0]: unknown operator "!="`},
		{"vars = is not ==", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k","=","v"]]`)}, `vars: [0]: unknown operator "="`},
		{"vars one element", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k"]]`)}, "vars: [0]: invalid expression: want [var, operator, value]"},
		{"vars empty leaf", router.Route{URI: "/", Vars: json.RawMessage(`[[]]`)}, "vars: [0]: empty expression"},
		{"vars bad not", router.Route{URI: "/", Vars: json.RawMessage(`[["!","arg_k","==","1"]]`)}, `vars: [0]: a 4-element expression must have "!" as its second element`},
		{"vars OR too short", router.Route{URI: "/", Vars: json.RawMessage(`["OR",["arg_weight",">",10]]`)}, `vars: "OR" needs at least two expressions`},
		{"vars nested too short", router.Route{URI: "/", Vars: json.RawMessage(`["OR",["arg_weight",">",10],["AND"]]`)}, `vars: [2]: "AND" needs at least two expressions`},
		{"vars nested path", router.Route{URI: "/", Vars: json.RawMessage(`["AND",["arg_a","==","1"],["OR",["arg_b","==","1"],["arg_c","~~","(?=x)"]]]`)}, "vars: [2][2]: invalid regex \"(?=x)\" (RE2 syntax: no look-around or back-references): error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{"vars back-reference", router.Route{URI: "/", Vars: json.RawMessage(`[["http_x","~*","(a)\\1"]]`)}, "vars: [0]: invalid regex \"(a)\\\\1\" (RE2 syntax: no look-around or back-references): error parsing regexp: invalid escape sequence: `\\1`"},
		{"vars unbalanced regex", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k","~~","[0"]]`)}, "vars: [0]: invalid regex \"[0\" (RE2 syntax: no look-around or back-references): error parsing regexp: missing closing ]: `[0`"},
		{"vars regex operand", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k","~~",["a"]]]`)}, "vars: [0]: ~~ needs a regex string, got array"},
		{"vars variable number", router.Route{URI: "/", Vars: json.RawMessage(`[[1,"==","1"]]`)}, "vars: [0]: variable name must be a string, got number"},
		{"vars variable null", router.Route{URI: "/", Vars: json.RawMessage(`[[null,"==","1"]]`)}, "vars: [0]: variable name must be a string, got null"},
		{"vars operator array", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k",["=="],"1"]]`)}, "vars: [0]: operator must be a string, got array"},
		{"vars element not array", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_k","==","1"],"arg_j"]`)}, "vars: [1]: expression must be an array, got string"},
		{"vars ipmatch empty", router.Route{URI: "/", Vars: json.RawMessage(`[["remote_addr","ipmatch",""]]`)}, "vars: [0]: ipmatch needs an IP address, a CIDR or a non-empty list of them"},
		{"vars ipmatch empty list", router.Route{URI: "/", Vars: json.RawMessage(`[["remote_addr","ipmatch",[]]]`)}, "vars: [0]: ipmatch needs an IP address, a CIDR or a non-empty list of them"},
		{"vars ipmatch null", router.Route{URI: "/", Vars: json.RawMessage(`[["remote_addr","ipmatch",null]]`)}, "vars: [0]: ipmatch needs an IP address, a CIDR or a non-empty list of them, got null"},
		{"vars ipmatch bad address", router.Route{URI: "/", Vars: json.RawMessage(`[["remote_addr","ipmatch",["127.0.0.1","300.0.0.1"]]]`)}, `vars: [0]: ipmatch: [1]: "300.0.0.1" is not an IPv4/IPv6 address or CIDR`},
		{"vars ipmatch non-string", router.Route{URI: "/", Vars: json.RawMessage(`[["remote_addr","ipmatch",[1]]]`)}, "vars: [0]: ipmatch: [0]: want an IP address or CIDR string, got number"},
		{"vars graphql", router.Route{URI: "/", Vars: json.RawMessage(`[["graphql_name","==","q"]]`)}, `vars: [0]: variable "graphql_name" is not supported by zoneproxy`},
		{"vars request_body", router.Route{URI: "/", Vars: json.RawMessage(`[["request_body","~~","x"]]`)}, `vars: [0]: variable "request_body" is not supported by zoneproxy`},
		{"vars post_arg json path", router.Route{URI: "/", Vars: json.RawMessage(`[["post_arg.user.name","==","x"]]`)}, `vars: [0]: variable "post_arg.user.name" is not supported by zoneproxy`},
		{"vars nginx arg spelling", router.Route{URI: "/", Vars: json.RawMessage(`[["ARG_k","==","x"]]`)}, `vars: [0]: variable "ARG_k" is not supported by zoneproxy`},
		// The route id prefixes the message.
		{"with id", router.Route{ID: "7", URI: "/", Methods: []string{"FETCH"}}, `route 7: methods: [0]: unknown method "FETCH" (want one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := router.Compile(tt.route)
			if err == nil {
				t.Fatalf("Compile accepted %+v (%v)", tt.route, c)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, tt.want)
			}
			var re *router.Error
			if !errors.As(err, &re) || re.Route != tt.route.ID {
				t.Fatalf("error %T is not a *router.Error for route %q", err, tt.route.ID)
			}
		})
	}
}

// TestCompileErrorCauses checks that wrapped causes stay reachable.
func TestCompileErrorCauses(t *testing.T) {
	_, err := router.Compile(router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","~~","(?<=a)b"]]`)})
	var re *expr.RegexError
	if !errors.As(err, &re) || re.Pattern != "(?<=a)b" {
		t.Fatalf("want an *expr.RegexError for the pattern, got %v", err)
	}
	_, err = router.Compile(router.Route{URI: "/", Vars: json.RawMessage(`[["ssl_cipher","==","x"]]`)})
	var ue *expr.UnsupportedVarError
	if !errors.As(err, &ue) || ue.Name != "ssl_cipher" {
		t.Fatalf("want an *expr.UnsupportedVarError, got %v", err)
	}
}

// TestCompileAccepts lists inputs APISIX accepts that a stricter reading
// might refuse.
func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name  string
		route router.Route
	}{
		{"uri without slash", router.Route{URI: "foo"}},
		{"uri star", router.Route{URI: "*"}},
		{"uri of 4096 bytes", router.Route{URI: "/" + strings.Repeat("a", 4095)}},
		{"empty string in uris", router.Route{URIs: []string{""}}},
		{"host star", router.Route{URI: "/", Host: "*"}},
		{"host with port", router.Route{URI: "/", Host: "foo.com:8080"}},
		{"ipv6 host", router.Route{URI: "/", Hosts: []string{"[::1]", "[::1]:80"}}},
		{"hosts differing in case", router.Route{URI: "/", Hosts: []string{"A.com", "a.com"}}},
		{"empty methods", router.Route{URI: "/", Methods: []string{}}},
		{"cidr with host bits", router.Route{URI: "/", RemoteAddr: "127.0.0.3/24"}},
		{"ipv4-mapped", router.Route{URI: "/", RemoteAddr: "::ffff:10.0.0.1"}},
		{"mask 0", router.Route{URI: "/", RemoteAddrs: []string{"0.0.0.0/0", "::/0"}}},
		{"vars null", router.Route{URI: "/", Vars: json.RawMessage(`null`)}},
		{"vars empty object", router.Route{URI: "/", Vars: json.RawMessage(`{}`)}},
		{"vars five elements", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","==","b","c","d"]]`)}},
		{"vars two elements", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","B"]]`)}},
		{"vars operator only", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","in"]]`)}},
		{"vars unknown variable", router.Route{URI: "/", Vars: json.RawMessage(`[["my_var","==","x"]]`)}},
		{"vars has", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","has","x"]]`)}},
		{"vars in object", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","in",{"x":1}]]`)}},
		{"vars regex number", router.Route{URI: "/", Vars: json.RawMessage(`[["arg_a","~~",123]]`)}},
		{"vars lowercase logic", router.Route{URI: "/", Vars: json.RawMessage(`["!or",["arg_a","==","1"],["arg_b","==","1"]]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := router.Compile(tt.route)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if _, err := router.New([]*router.Compiled{c}, router.ModeHostURI); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want router.Mode
		err  string
	}{
		{in: "", want: router.ModeHostURI},
		{in: "radixtree_host_uri", want: router.ModeHostURI},
		{in: "radixtree_uri", want: router.ModeURI},
		{in: "radixtree_uri_with_parameter", want: router.ModeURIWithParameter},
		{in: "radixtree_host", err: `router.http: unknown router "radixtree_host" (want radixtree_host_uri, radixtree_uri or radixtree_uri_with_parameter)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := router.ParseMode(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("ParseMode(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || m != tt.want {
				t.Fatalf("ParseMode(%q) = %v, %v; want %v", tt.in, m, err, tt.want)
			}
			if tt.in != "" && m.String() != tt.in {
				t.Fatalf("String() = %q, want %q", m.String(), tt.in)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	c, err := router.Compile(router.Route{URI: "/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		routes []*router.Compiled
		mode   router.Mode
		want   string
	}{
		{"nil route", []*router.Compiled{c, nil}, router.ModeHostURI, "router: routes[1] is nil"},
		{"bad mode", []*router.Compiled{c}, router.Mode(7), "router: invalid mode 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := router.New(tt.routes, tt.mode)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}
