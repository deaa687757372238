package router_test

import "github.com/zoneproxy/zoneproxy/router"

// Suites for zoneproxy's compatibility rules on routes, the router and
// services (each src states its rule) and for issue 5, each checked against
// APISIX's code
// (apisix/http/router/radixtree_host_uri.lua, apisix/http/route.lua,
// lua-resty-radixtree lib/resty/radixtree.lua, lua-resty-expr
// lib/resty/expr/v1.lua, apisix/core/ctx.lua, nginx
// ngx_http_parse_complex_uri). Comments name the rule.
var specSuites = []suite{
	// Hosts: exact before wildcard, most specific wildcard first.
	{
		name: "hosts/precedence", src: "router rule: exact host first, then wildcards most specific first",
		routes: `[{"id":"1","uri":"/x","host":"*.com"},{"id":"2","uri":"/x","host":"*.foo.com"},
			{"id":"3","uri":"/x","host":"a.foo.com"},{"id":"4","uri":"/x","host":"*"},{"id":"5","uri":"/x"}]`,
		probes: []probe{
			{name: "exact", req: req{target: "/x", host: "a.foo.com"}, want: "3", wantHost: "a.foo.com"},
			{name: "longest wildcard", req: req{target: "/x", host: "b.foo.com"}, want: "2", wantHost: "*.foo.com"},
			{name: "shorter wildcard", req: req{target: "/x", host: "bar.com"}, want: "1", wantHost: "*.com"},
			{name: "star host last", req: req{target: "/x", host: "bar.org"}, want: "4", wantHost: "*"},
		},
	},
	{
		name: "hosts/case and port", src: "router rule: host case-insensitive, port ignored; nginx $host drops a trailing dot",
		routes: `[{"id":"1","uri":"/x","hosts":["Foo.COM"]},{"id":"2","uri":"/x","host":"[::1]"}]`,
		probes: []probe{
			{name: "port", req: req{target: "/x", host: "foo.com:8080"}, want: "1"},
			{name: "uppercase and port", req: req{target: "/x", host: "FOO.com:443"}, want: "1"},
			{name: "trailing dot", req: req{target: "/x", host: "foo.com."}, want: "1"},
			{name: "ipv6 literal with port", req: req{target: "/x", host: "[::1]:9080"}, want: "2"},
			{name: "other", req: req{target: "/x", host: "foo.org"}},
		},
	},
	{
		name: "hosts/absolute-form target", src: "router rule: nginx $host takes the host of an absolute request line",
		routes: `[{"id":"1","uri":"/x","host":"foo.com"}]`,
		probes: []probe{
			{name: "request line host", req: req{target: "http://foo.com/x", host: "bar.com"}, want: "1"},
		},
	},
	{
		name: "hosts/wildcard without dot", src: "lua-resty-radixtree match_host: a wildcard is a plain suffix",
		routes: `[{"id":"1","uri":"/x","host":"*foo.com"}]`,
		probes: []probe{
			{name: "barfoo.com", req: req{target: "/x", host: "barfoo.com"}, want: "1"},
			{name: "foo.com itself", req: req{target: "/x", host: "foo.com"}, want: "1"},
			{name: "oo.com", req: req{target: "/x", host: "oo.com"}},
		},
	},
	{
		name: "hosts/port in pattern never matches", src: "radixtree_host_uri compares with $host, which has no port",
		routes: `[{"id":"1","uri":"/x","host":"foo.com:8080"}]`,
		probes: []probe{{name: "with port", req: req{target: "/x", host: "foo.com:8080"}}},
	},
	{
		name: "hosts/no Host header", src: "nginx $host falls back to server_name \"_\" (APISIX's server block)",
		routes: `[{"id":"1","uri":"/x","host":"_"},{"id":"2","uri":"/y","host":"*.foo.com"},{"id":"3","uri":"/y"}]`,
		probes: []probe{
			{name: "HTTP/1.0 without Host", req: req{target: "/x", noHost: true}, want: "1"},
			{name: "falls to host-less", req: req{target: "/y", noHost: true}, want: "3"},
		},
	},
	// Host routes before host-less, with fall-through at every level.
	{
		name: "hosts/fall through", src: "router rule: candidates that fail are skipped; host routes, then host-less",
		routes: `[{"id":"1","uri":"/api/*","host":"a.foo.com","methods":["POST"]},
			{"id":"2","uri":"/api/v1","host":"*.foo.com","methods":["PUT"]},
			{"id":"3","uri":"/api/*","host":"*.foo.com","vars":[["arg_x","==","1"]]},
			{"id":"4","uri":"/api/v1"}]`,
		probes: []probe{
			{name: "exact host bucket", req: req{method: "POST", target: "/api/v1", host: "a.foo.com"}, want: "1"},
			{name: "wildcard bucket exact path", req: req{method: "PUT", target: "/api/v1", host: "a.foo.com"}, want: "2"},
			{name: "wildcard bucket prefix", req: req{target: "/api/v1?x=1", host: "a.foo.com"}, want: "3"},
			{name: "host-less", req: req{target: "/api/v1", host: "a.foo.com"}, want: "4", wantHost: "-"},
		},
	},
	{
		name: "hosts/priority stays within a host", src: "radixtree_host_uri: priority orders routes of one host bucket only",
		routes: `[{"id":"1","uri":"/x","host":"*.foo.com","priority":100},{"id":"2","uri":"/x","host":"a.foo.com"},{"id":"3","uri":"/x","priority":1000}]`,
		probes: []probe{
			{name: "exact host despite priority", req: req{target: "/x", host: "a.foo.com"}, want: "2"},
			{name: "wildcard despite host-less priority", req: req{target: "/x", host: "b.foo.com"}, want: "1"},
		},
	},
	{
		name: "hosts/route with several hosts", src: "radixtree_host_uri: a route is in the bucket of each of its hosts",
		routes: `[{"id":"1","uri":"/x","hosts":["a.com","*.b.com"]},{"id":"2","uri":"/x","host":"a.com","priority":5}]`,
		probes: []probe{
			{name: "a.com priority", req: req{target: "/x", host: "a.com"}, want: "2"},
			{name: "x.b.com", req: req{target: "/x", host: "x.b.com"}, want: "1", wantHost: "*.b.com"},
		},
	},
	// Paths.
	{
		name: "paths/exact, prefix, longer prefix", src: "router rule: exact path beats prefix; longer prefix first",
		routes: `[{"id":"1","uri":"/a/*"},{"id":"2","uri":"/a/b/*"},{"id":"3","uri":"/a/b/c"},{"id":"4","uri":"/a/*","priority":100}]`,
		probes: []probe{
			{name: "exact", req: req{target: "/a/b/c"}, want: "3"},
			{name: "longer prefix beats priority", req: req{target: "/a/b/d"}, want: "2"},
			{name: "priority among equal prefix", req: req{target: "/a/x"}, want: "4"},
		},
	},
	{
		name: "paths/exact beats higher-priority prefix", src: "lua-resty-radixtree: the exact hash is tried before the tree",
		routes: `[{"id":"1","uri":"/a*","priority":100},{"id":"2","uri":"/a"}]`,
		probes: []probe{{name: "exact", req: req{target: "/a"}, want: "2"}},
	},
	{
		name: "paths/foo* vs foo/*", src: "router rule: /foo* matches /foo, /foobar, /foo/x; /foo/* matches /foo/ and /foo/x, not /foo",
		routes: `[{"id":"1","uri":"/foo*"},{"id":"2","uri":"/bar/*"}]`,
		probes: []probe{
			{name: "/foo", req: req{target: "/foo"}, want: "1"},
			{name: "/foobar", req: req{target: "/foobar"}, want: "1"},
			{name: "/foo/x", req: req{target: "/foo/x"}, want: "1"},
			{name: "/bar/", req: req{target: "/bar/"}, want: "2"},
			{name: "/bar/x", req: req{target: "/bar/x"}, want: "2"},
			{name: "/bar", req: req{target: "/bar"}},
			{name: "/barx", req: req{target: "/barx"}},
		},
	},
	{
		name: "paths/star in the middle", src: "lua-resty-radixtree compare_param: *-segments in the middle are checked by regex",
		routes: `[{"id":"1","uri":"/files/*/meta"},{"id":"2","uri":"/img*/x"}]`,
		probes: []probe{
			{name: "one segment", req: req{target: "/files/a/meta"}, want: "1"},
			{name: "several", req: req{target: "/files/a/b/meta"}, want: "1"},
			{name: "other tail", req: req{target: "/files/a/data"}},
			// "img*" is not a segment starting with '*': no check, a plain prefix.
			{name: "plain prefix", req: req{target: "/imgfoo/y"}, want: "2"},
		},
	},
	{
		name: "paths/unescaped literal in segment regex", src: "lua-resty-radixtree fetch_pat inserts literal segments unescaped",
		routes: `[{"id":"1","uri":"/a/*/b.json"}]`,
		probes: []probe{
			{name: "dot", req: req{target: "/a/x/b.json"}, want: "1"},
			{name: "any byte for the dot", req: req{target: "/a/x/bxjson"}, want: "1"},
		},
	},
	{
		name: "paths/star uri", src: "lua-resty-radixtree: uri \"*\" has the empty prefix",
		routes: `[{"id":"1","uri":"*"},{"id":"2","uri":"/x"}]`,
		probes: []probe{
			{name: "anything", req: req{target: "/anything/at/all"}, want: "1"},
			{name: "exact first", req: req{target: "/x"}, want: "2"},
		},
	},
	{
		name: "paths/colon literal in host_uri", src: "router rule: :name segments are literal unless radixtree_uri_with_parameter",
		routes: `[{"id":"1","uri":"/user/:id"},{"id":"2","uri":"/user/*"}]`,
		probes: []probe{
			{name: "value", req: req{target: "/user/42"}, want: "2"},
			{name: "literal", req: req{target: "/user/:id"}, want: "1"},
		},
	},
	{
		name: "paths/params in uri_with_parameter", src: "router rule: radixtree_uri_with_parameter", mode: router.ModeURIWithParameter,
		routes: `[{"id":"1","uri":"/user/:id"},{"id":"2","uri":"/user/me"},{"id":"3","uri":"/user/:id/*"}]`,
		probes: []probe{
			{name: "param", req: req{target: "/user/42"}, want: "1", wantURI: "/user/:id"},
			{name: "exact first", req: req{target: "/user/me"}, want: "2"},
			{name: "longer pattern first", req: req{target: "/user/42/photos"}, want: "3"},
			{name: "empty param", req: req{target: "/user/"}},
		},
	},
	{
		name: "paths/query string ignored", src: "router rule: the path matched is without the query string",
		routes: `[{"id":"1","uri":"/hello"}]`,
		probes: []probe{{name: "query", req: req{target: "/hello?a=/b&c"}, want: "1"}},
	},
	// Path normalisation as nginx does it.
	{
		name: "paths/normalisation", src: "router rule: path normalised like nginx (ngx_http_parse_complex_uri)",
		routes: `[{"id":"1","uri":"/b"},{"id":"2","uri":"/a/b"},{"id":"3","uri":"/"},{"id":"4","uri":"/a b"},{"id":"5","uri":"/a%2Fb"},{"id":"6","uri":"/c/"},{"id":"7","uri":"/a/"}]`,
		probes: []probe{
			{name: "dot dot", req: req{target: "/a/../b"}, want: "1"},
			{name: "double slash", req: req{target: "//b"}, want: "1"},
			{name: "slashes inside", req: req{target: "/a///b"}, want: "2"},
			{name: "dot", req: req{target: "/./b"}, want: "1"},
			{name: "encoded slash is a slash", req: req{target: "/a%2Fb"}, want: "2"},
			{name: "encoded dots", req: req{target: "/a/%2e%2e/b"}, want: "1"},
			{name: "encoded letter", req: req{target: "/%62"}, want: "1"},
			{name: "encoded space", req: req{target: "/a%20b"}, want: "4"},
			{name: "plus stays", req: req{target: "/a+b"}},
			{name: "trailing dot dot", req: req{target: "/a/b/.."}, want: "7"},
			{name: "up to the root", req: req{target: "/a/.."}, want: "3"},
			{name: "trailing dot", req: req{target: "/c/."}, want: "6"},
			{name: "encoded percent is literal", req: req{target: "/a%252Fb"}, want: "5"},
		},
	},
	{
		name: "paths/rejected by nginx", src: "nginx answers 400 (no route) for .. above the root, %00, bad escapes",
		routes: `[{"id":"1","uri":"/*"}]`,
		probes: []probe{
			{name: "above root", req: req{target: "/../etc/passwd"}},
			{name: "above root encoded", req: req{target: "/a/%2e%2e/%2e%2e/b"}},
			{name: "trailing above root", req: req{target: "/.."}},
			{name: "NUL", req: req{target: "/a%00b"}},
			{name: "bad escape", req: req{target: "/a%zzb"}},
			{name: "truncated escape", req: req{target: "/a%2"}},
			{name: "fine", req: req{target: "/a/../b"}, want: "1"},
		},
	},
	// Priority and etcd key order.
	{
		name: "priority/etcd key order", src: "router rule: equal priority -> etcd key order (byte order of ids)",
		routes: `[{"id":"2","uri":"/x"},{"id":"10","uri":"/x"},{"id":"3","uri":"/y*","priority":-1},{"id":"4","uri":"/y*"}]`,
		probes: []probe{
			{name: "10 before 2", req: req{target: "/x"}, want: "10"},
			{name: "priority over order", req: req{target: "/yy"}, want: "4"},
		},
	},
	{
		name: "priority/longer pattern on one prefix", src: "lua-resty-radixtree sort_route: equal priority, longer pattern first",
		routes: `[{"id":"1","uri":"/a*"},{"id":"2","uri":"/a*/b"}]`,
		probes: []probe{{name: "/a*/b is tried first", req: req{target: "/abc"}, want: "2"}},
	},
	// Methods.
	{
		name: "methods/HEAD is not GET", src: "router rule: a HEAD request does not match a GET-only route",
		routes: `[{"id":"1","uri":"/x","methods":["GET"]},{"id":"2","uri":"/x*","methods":["HEAD","OPTIONS"]}]`,
		probes: []probe{
			{name: "GET", req: req{target: "/x"}, want: "1"},
			{name: "HEAD", req: req{method: "HEAD", target: "/x"}, want: "2"},
			{name: "POST", req: req{method: "POST", target: "/x"}},
		},
	},
	{
		name: "methods/other method", src: "lua-resty-radixtree: a method outside APISIX's enum fails every method list",
		routes: `[{"id":"1","uri":"/x","methods":["GET","POST","PUT","DELETE","PATCH","HEAD","OPTIONS","CONNECT","TRACE","PURGE"]},{"id":"2","uri":"/x*"}]`,
		probes: []probe{{name: "PROPFIND", req: req{method: "PROPFIND", target: "/x"}, want: "2"}},
	},
	// Remote addresses.
	{
		name: "remote/ipv4-mapped client", src: "issue 5: honour IPv4-mapped IPv6 client addresses",
		routes: `[{"id":"1","uri":"/x","remote_addrs":["10.0.0.0/8"]},{"id":"2","uri":"/y","remote_addr":"::ffff:10.1.2.3"}]`,
		probes: []probe{
			{name: "mapped in v4 cidr", req: req{target: "/x", remote: "[::ffff:10.1.2.3]:1"}, want: "1"},
			{name: "v4 client, mapped rule", req: req{target: "/y", remote: "10.1.2.3"}, want: "2"},
		},
	},
	// Service hosts.
	{
		name: "service/inherited hosts", src: "service rule: a route with service_id inherits hosts; its own win",
		services: `{"s":{"hosts":["svc.com"]}}`,
		routes:   `[{"id":"1","uri":"/x","service_id":"s"},{"id":"2","uri":"/y","service_id":"s","host":"own.com"}]`,
		probes: []probe{
			{name: "inherited", req: req{target: "/x", host: "svc.com"}, want: "1", wantHost: "svc.com"},
			{name: "not inherited elsewhere", req: req{target: "/x", host: "other.com"}},
			{name: "own host", req: req{target: "/y", host: "own.com"}, want: "2"},
			{name: "own host wins", req: req{target: "/y", host: "svc.com"}},
		},
	},
	// radixtree_uri: hosts only filter.
	{
		name: "uri mode/hosts filter", src: "apisix/http/route.lua: radixtree_uri passes hosts to the route", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/x*","host":"*.foo.com","priority":5},{"id":"2","uri":"/x"},{"id":"3","uri":"/x*"}]`,
		probes: []probe{
			{name: "exact path first", req: req{target: "/x", host: "a.foo.com"}, want: "2"},
			{name: "priority on the prefix", req: req{target: "/xy", host: "a.foo.com"}, want: "1", wantHost: "*.foo.com"},
			{name: "filtered out", req: req{target: "/xy", host: "bar.com"}, want: "3", wantHost: "-"},
		},
	},
	{
		name: "uri mode/host with port", src: "lua-resty-radixtree match_route_opts: a host with ':' is compared with $http_host", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/x","host":"foo.com:8080"}]`,
		probes: []probe{
			{name: "same port", req: req{target: "/x", host: "foo.com:8080"}, want: "1"},
			{name: "other port", req: req{target: "/x", host: "foo.com:9090"}},
			{name: "no port", req: req{target: "/x", host: "foo.com"}},
		},
	},
	// vars: variables and operators.
	{
		name: "vars/missing variable", src: "router rule: a missing var: == false, ~= true, numeric ops false",
		routes: `[{"id":"1","uri":"/eq","vars":[["arg_a","==","x"]]},{"id":"2","uri":"/ne","vars":[["arg_a","~=","x"]]},
			{"id":"3","uri":"/gt","vars":[["arg_a",">",0]]},{"id":"4","uri":"/le","vars":[["arg_a","<=",0]]}]`,
		probes: []probe{
			{name: "==", req: req{target: "/eq"}},
			{name: "~=", req: req{target: "/ne"}, want: "2"},
			{name: ">", req: req{target: "/gt"}},
			{name: "<=", req: req{target: "/le"}},
		},
	},
	{
		name: "vars/unknown variables are nil", src: "apisix/core/ctx.lua: unknown names are nginx variables nginx does not have (nil)",
		routes: `[{"id":"1","uri":"/a","vars":[["no_such_var","~=","x"]]},{"id":"2","uri":"/b","vars":[["no_such_var","==","x"]]},
			{"id":"3","uri":"/c","vars":[["uri_param_id","==",null]]},{"id":"4","uri":"/d","vars":[["route_id","==",null]]}]`,
		probes: []probe{
			{name: "~=", req: req{target: "/a"}, want: "1"},
			{name: "==", req: req{target: "/b"}},
			{name: "uri_param_ before matching", req: req{target: "/c"}, want: "3"},
			{name: "route_id before matching", req: req{target: "/d"}, want: "4"},
		},
	},
	{
		name: "vars/request variables", src: "router rule: vars over uri, host, remote_addr, server_port, request_method, scheme",
		routes: `[{"id":"1","uri":"/p/*","vars":[["uri","==","/p/b"],["host","==","foo.com"],["remote_addr","==","10.0.0.1"],
				["server_port","==","9080"],["request_method","==","POST"],["scheme","==","https"]]},
			{"id":"2","uri":"/q","vars":[["request_uri","==","/q?x=1"],["args","==","x=1"],["is_args","==","?"],["server_protocol","==","HTTP/1.1"]]},
			{"id":"3","uri":"/r","vars":[["args","==",null],["is_args","==",""],["request_uri","==","/r"],["https","==",""],["scheme","==","http"]]}]`,
		probes: []probe{
			{name: "all", req: req{method: "POST", target: "/p/a/../b", host: "FOO.com:9080", remote: "10.0.0.1", local: "127.0.0.1:9080", tls: true}, want: "1"},
			{name: "not tls", req: req{method: "POST", target: "/p/b", host: "foo.com", remote: "10.0.0.1", local: "127.0.0.1:9080"}},
			{name: "args", req: req{target: "/q?x=1"}, want: "2"},
			{name: "request_uri is normalised", req: req{target: "/./q?x=1"}, want: "2"},
			{name: "no args", req: req{target: "/r"}, want: "3"},
		},
	},
	{
		name: "vars/query arguments", src: "ngx.req.get_uri_args: decoded, '+' is a space, first of repeats, bare name is true",
		routes: `[{"id":"1","uri":"/a","vars":[["arg_q","==","a b/c"]]},{"id":"2","uri":"/b","vars":[["arg_q","==","1"]]},
			{"id":"3","uri":"/c","vars":[["arg_debug","==",true]]},{"id":"4","uri":"/d","vars":[["arg_q","==",""]]},
			{"id":"5","uri":"/e","vars":[["arg_a b","==","x"]]}]`,
		probes: []probe{
			{name: "decoded", req: req{target: "/a?q=a+b%2Fc"}, want: "1"},
			{name: "first of repeats", req: req{target: "/b?q=1&q=2"}, want: "2"},
			{name: "second of repeats", req: req{target: "/b?q=2&q=1"}},
			{name: "bare name", req: req{target: "/c?debug"}, want: "3"},
			{name: "bare name is not a string", req: req{target: "/d?q"}},
			{name: "empty value", req: req{target: "/d?q="}, want: "4"},
			{name: "decoded name", req: req{target: "/e?a%20b=x"}, want: "5"},
		},
	},
	{
		name: "vars/headers", src: "nginx $http_*: case-insensitive, '-' as '_', repeats joined with \", \"",
		routes: `[{"id":"1","uri":"/a","vars":[["http_x_foo","==","1"]]},{"id":"2","uri":"/b","vars":[["http_x_foo","==","1, 2"]]},
			{"id":"3","uri":"/c","vars":[["http_X-Foo","==","1"]]},{"id":"4","uri":"/d","vars":[["http_host","==","foo.com:81"]]}]`,
		probes: []probe{
			{name: "dash", req: req{target: "/a", headers: []string{"X-Foo: 1"}}, want: "1"},
			{name: "underscore", req: req{target: "/a", headers: []string{"x_foo: 1"}}, want: "1"},
			{name: "joined", req: req{target: "/b", headers: []string{"X-Foo: 1", "X-Foo: 2"}}, want: "2"},
			{name: "variable spelled with dash", req: req{target: "/c", headers: []string{"x-foo: 1"}}, want: "3"},
			{name: "raw host header", req: req{target: "/d", host: "foo.com:81"}, want: "4"},
		},
	},
	{
		name: "vars/cookies", src: "lua-resty-cookie: last pair wins; several Cookie headers joined with \"; \"",
		routes: `[{"id":"1","uri":"/a","vars":[["cookie_k","==","2"]]},{"id":"2","uri":"/b","vars":[["cookie_b","==","2"]]}]`,
		probes: []probe{
			{name: "last wins", req: req{target: "/a", headers: []string{"Cookie: k=1; k=2"}}, want: "1"},
			{name: "second header", req: req{target: "/b", headers: []string{"Cookie: a=1", "Cookie: b=2"}}, want: "2"},
			{name: "absent", req: req{target: "/b", headers: []string{"Cookie: a=1"}}},
		},
	},
	{
		name: "vars/numbers", src: "lua-resty-expr: numeric operators go through LuaJIT tonumber",
		routes: `[{"id":"1","uri":"/a","vars":[["arg_n",">",15]]},{"id":"2","uri":"/b","vars":[["arg_n","==",10]]},
			{"id":"3","uri":"/c","vars":[["arg_n","==","10"]]},{"id":"4","uri":"/d","vars":[["arg_n",">","abc"]]}]`,
		probes: []probe{
			{name: "hex", req: req{target: "/a?n=0x10"}, want: "1"},
			{name: "exponent", req: req{target: "/a?n=1e2"}, want: "1"},
			{name: "spaces", req: req{target: "/a?n=+16+"}, want: "1"},
			{name: "not a number", req: req{target: "/a?n=16px"}},
			{name: "numeric ==", req: req{target: "/b?n=10.0"}, want: "2"},
			{name: "string ==", req: req{target: "/c?n=10.0"}},
			{name: "operand not a number", req: req{target: "/d?n=1"}},
		},
	},
	{
		name: "vars/in and ipmatch edge cases", src: "lua-resty-expr in_array is raw equality; ipmatcher parses one address",
		routes: `[{"id":"1","uri":"/a","vars":[["arg_n","in",[1,2]]]},{"id":"2","uri":"/b","vars":[["arg_n","in","1"]]},
			{"id":"3","uri":"/c","vars":[["http_x_forwarded_for","ipmatch","10.0.0.0/8"]]},
			{"id":"4","uri":"/d","vars":[["arg_ip","ipmatch",["::1","[fe80::1]"]]]}]`,
		probes: []probe{
			{name: "number list", req: req{target: "/a?n=1"}},
			{name: "operand not a list", req: req{target: "/b?n=1"}},
			{name: "single address", req: req{target: "/c", headers: []string{"X-Forwarded-For: 10.1.1.1"}}, want: "3"},
			{name: "list of addresses", req: req{target: "/c", headers: []string{"X-Forwarded-For: 10.1.1.1, 10.2.2.2"}}},
			{name: "bracketed ipv6", req: req{target: "/d?ip=fe80::1"}, want: "4"},
			{name: "not an address", req: req{target: "/d?ip=localhost"}},
		},
	},
	{
		name: "vars/fall through to next candidate", src: "router rule: a candidate whose vars fail is skipped",
		routes: `[{"id":"1","uri":"/x","vars":[["http_x_canary","==","1"]],"priority":10},{"id":"2","uri":"/x"}]`,
		probes: []probe{
			{name: "canary", req: req{target: "/x", headers: []string{"X-Canary: 1"}}, want: "1"},
			{name: "stable", req: req{target: "/x"}, want: "2"},
		},
	},
	{
		name: "vars/post_arg content type", src: "apisix/core/ctx.lua: post_arg_ needs a Content-Type starting with application/x-www-form-urlencoded",
		routes: `[{"id":"1","uri":"/x","vars":[["post_arg_name","==","a b"]]}]`,
		probes: []probe{
			{name: "charset suffix", req: req{method: "POST", target: "/x", body: "name=a+b&x=1", headers: []string{"Content-Type: application/x-www-form-urlencoded; charset=utf-8"}}, want: "1"},
			{name: "json", req: req{method: "POST", target: "/x", body: `{"name":"a b"}`, headers: []string{"Content-Type: application/json"}}},
		},
	},
}
