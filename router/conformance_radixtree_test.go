package router_test

import "github.com/zoneproxy/zoneproxy/router"

// Suites from api7/lua-resty-radixtree t/*.t (v2.9.2, the version APISIX
// pins). The library's tests call radix.new(routes) with parameters on and
// hosts as per-route filters: radixtree_uri_with_parameter.
const rx = router.ModeURIWithParameter

var radixtreeSuites = []suite{
	// ---- t/sanity.t ----
	{
		name: "sanity/exact and prefix", src: "lua-resty-radixtree t/sanity.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/"},{"id":"2","uri":"/*"},{"id":"3","uri":"/aa"},{"id":"4","uri":"/aa*"}]`,
		probes: []probe{
			{name: "/aa/bb", req: req{target: "/aa/bb"}, want: "4"},
			{name: "/aa", req: req{target: "/aa"}, want: "3"},
			{name: "/xx", req: req{target: "/xx"}, want: "2"},
			{name: "/", req: req{target: "/"}, want: "1"},
		},
	},
	{
		name: "sanity/prefix", src: "lua-resty-radixtree t/sanity.t TEST 2", mode: rx,
		routes: `[{"id":"1","uri":"/aa*"}]`,
		probes: []probe{
			{name: "/aa/bb", req: req{target: "/aa/bb"}, want: "1"},
			{name: "/aa", req: req{target: "/aa"}, want: "1"},
			{name: "/", req: req{target: "/"}},
		},
	},
	{
		name: "sanity/two prefixes", src: "lua-resty-radixtree t/sanity.t TEST 3", mode: rx,
		routes: `[{"id":"1","uri":"/aa*"},{"id":"2","uri":"/bb*"}]`,
		probes: []probe{
			{name: "/", req: req{target: "/"}},
			{name: "/aa", req: req{target: "/aa"}, want: "1"},
			{name: "/aa/", req: req{target: "/aa/"}, want: "1"},
			{name: "/aa/bb", req: req{target: "/aa/bb"}, want: "1"},
		},
	},
	{
		name: "sanity/nested exact", src: "lua-resty-radixtree t/sanity.t TEST 4", mode: rx,
		routes: `[{"id":"1","uri":"/aa"},{"id":"2","uri":"/aa/bb"},{"id":"3","uri":"/aa/bb/cc"}]`,
		probes: []probe{{name: "/aa/bb/cc", req: req{target: "/aa/bb/cc"}, want: "3"}},
	},
	{
		name: "sanity/method filters prefix", src: "lua-resty-radixtree t/sanity.t TEST 5", mode: rx,
		routes: `[{"id":"1","uri":"/aa*"},{"id":"2","uri":"/aa/bb*"},{"id":"3","uri":"/aa/bb/cc*","methods":["POST","PUT"]}]`,
		probes: []probe{
			{name: "GET", req: req{target: "/aa/bb/cc"}, want: "2"},
			{name: "OPTIONS", req: req{method: "OPTIONS", target: "/aa/bb/cc"}, want: "2"},
			{name: "POST", req: req{method: "POST", target: "/aa/bb/cc"}, want: "3"},
		},
	},
	{
		name: "sanity/method filters exact", src: "lua-resty-radixtree t/sanity.t TEST 6", mode: rx,
		routes: `[{"id":"1","uri":"/aa"},{"id":"2","uri":"/aa/bb"},{"id":"3","uri":"/aa/bb/cc","methods":["POST","PUT"]}]`,
		probes: []probe{
			{name: "GET", req: req{target: "/aa/bb/cc"}},
			{name: "OPTIONS", req: req{method: "OPTIONS", target: "/aa/bb/cc"}},
			{name: "POST", req: req{method: "POST", target: "/aa/bb/cc"}, want: "3"},
		},
	},
	{
		name: "sanity/CONNECT", src: "lua-resty-radixtree t/sanity.t TEST 8", mode: rx,
		routes: `[{"id":"1","uri":"/aa","methods":["CONNECT"]},{"id":"2","uri":"/aa*","methods":["PUT"]}]`,
		probes: []probe{
			{name: "CONNECT /aa", req: req{method: "CONNECT", target: "/aa"}, want: "1"},
			{name: "CONNECT /aa/bb", req: req{method: "CONNECT", target: "/aa/bb"}},
			{name: "GET /aa", req: req{target: "/aa"}},
			{name: "GET /aa/bb", req: req{target: "/aa/bb"}},
		},
	},
	{
		name: "sanity/TRACE", src: "lua-resty-radixtree t/sanity.t TEST 9", mode: rx,
		routes: `[{"id":"1","uri":"/aa","methods":["TRACE"]},{"id":"2","uri":"/aa*","methods":["PUT"]}]`,
		probes: []probe{
			{name: "TRACE /aa", req: req{method: "TRACE", target: "/aa"}, want: "1"},
			{name: "TRACE /aa/bb", req: req{method: "TRACE", target: "/aa/bb"}},
			{name: "GET /aa", req: req{target: "/aa"}},
		},
	},
	{
		name: "sanity/PURGE", src: "lua-resty-radixtree t/sanity.t TEST 10", mode: rx,
		routes: `[{"id":"1","uri":"/aa","methods":["PURGE"]},{"id":"2","uri":"/aa*","methods":["PUT"]}]`,
		probes: []probe{
			{name: "PURGE /aa", req: req{method: "PURGE", target: "/aa"}, want: "1"},
			{name: "PURGE /aa/bb", req: req{method: "PURGE", target: "/aa/bb"}},
			{name: "GET /aa/bb", req: req{target: "/aa/bb"}},
		},
	},
	{
		name: "sanity/iterator climbs to shorter prefixes", src: "lua-resty-radixtree t/sanity.t TEST 11", mode: rx,
		routes: `[{"id":"1","uri":"/*"},{"id":"2","uri":"/aa/*"},{"id":"3","uri":"/bb/*","methods":["PUT"]},{"id":"4","uri":"/bb/aa/*","methods":["PUT"]}]`,
		probes: []probe{{name: "/bb/aa/bb", req: req{target: "/bb/aa/bb"}, want: "1", wantURI: "/*"}},
	},

	// ---- t/host.t ----
	{
		name: "host/exact", src: "lua-resty-radixtree t/host.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["foo.com"]}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}, want: "1", wantHost: "foo.com"},
			{name: "www.foo.com", req: req{target: "/aa/bb", host: "www.foo.com"}},
		},
	},
	{
		name: "host/wildcard", src: "lua-resty-radixtree t/host.t TEST 2", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["*.foo.com"]}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}},
			{name: ".foo.com", req: req{target: "/aa/bb", host: ".foo.com"}, want: "1"},
			{name: "www.foo.com", req: req{target: "/aa/bb", host: "www.foo.com"}, want: "1", wantHost: "*.foo.com"},
			{name: "www.bar.foo.com", req: req{target: "/aa/bb", host: "www.bar.foo.com"}, want: "1"},
		},
	},
	{
		name: "host/two exact", src: "lua-resty-radixtree t/host.t TEST 3", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["foo.com","bar.com"]}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}, want: "1"},
			{name: "bar.com", req: req{target: "/aa/bb", host: "bar.com"}, want: "1"},
			{name: "ggg.com", req: req{target: "/aa/bb", host: "ggg.com"}},
		},
	},
	{
		name: "host/exact and wildcard", src: "lua-resty-radixtree t/host.t TEST 4 (and t/multiple.t TEST 2)", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["foo.com","*.bar.com"]}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}, want: "1"},
			{name: "bar.com", req: req{target: "/aa/bb", host: "bar.com"}},
			{name: "www.bar.com", req: req{target: "/aa/bb", host: "www.bar.com"}, want: "1"},
			{name: "ggg.com", req: req{target: "/aa/bb", host: "ggg.com"}},
		},
	},
	{
		name: "host/string host", src: "lua-resty-radixtree t/host.t TEST 5-6", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","host":"*.foo.com"}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}},
			{name: "www.bar.foo.com", req: req{target: "/aa/bb", host: "www.bar.foo.com"}, want: "1"},
		},
	},
	{
		name: "host/uppercase route", src: "lua-resty-radixtree t/host.t TEST 7", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["foo.cOm"]}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/aa/bb", host: "foo.com"}, want: "1", wantHost: "foo.com"},
			{name: "www.foo.com", req: req{target: "/aa/bb", host: "www.foo.com"}},
		},
	},
	{
		name: "host/uppercase request", src: "lua-resty-radixtree t/host.t TEST 8", mode: rx,
		routes: `[{"id":"1","uri":"/aa*","hosts":["foo.com"]}]`,
		probes: []probe{{name: "foo.cOm", req: req{target: "/aa/bb", host: "foo.cOm"}, want: "1", wantHost: "foo.com"}},
	},

	// ---- t/priority.t ----
	{
		name: "priority/same exact", src: "lua-resty-radixtree t/priority.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/aa"},{"id":"2","uri":"/aa"}]`,
		probes: []probe{{name: "first", req: req{target: "/aa"}, want: "1"}},
	},
	{
		name: "priority/higher exact", src: "lua-resty-radixtree t/priority.t TEST 2", mode: rx,
		routes: `[{"id":"1","uri":"/aa","priority":1},{"id":"2","uri":"/aa","priority":2}]`,
		probes: []probe{{name: "higher", req: req{target: "/aa"}, want: "2"}},
	},
	{
		name: "priority/same prefix", src: "lua-resty-radixtree t/priority.t TEST 3", mode: rx,
		routes: `[{"id":"1","uri":"/aa*"},{"id":"2","uri":"/aa*"}]`,
		probes: []probe{{name: "first", req: req{target: "/aa/bb"}, want: "1"}},
	},
	{
		name: "priority/higher prefix", src: "lua-resty-radixtree t/priority.t TEST 4", mode: rx,
		routes: `[{"id":"1","uri":"/aa*"},{"id":"2","uri":"/aa*","priority":1}]`,
		probes: []probe{{name: "higher", req: req{target: "/aa/bb"}, want: "2"}},
	},

	// ---- t/parameter.t ----
	{
		name: "parameter/named star", src: "lua-resty-radixtree t/parameter.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/name/*name"}]`,
		probes: []probe{
			{name: "/name/json", req: req{target: "/name/json"}, want: "1"},
			{name: "/name/", req: req{target: "/name/"}, want: "1"},
		},
	},
	{
		name: "parameter/star", src: "lua-resty-radixtree t/parameter.t TEST 2", mode: rx,
		routes: `[{"id":"1","uri":"/name/*"}]`,
		probes: []probe{
			{name: "deep", req: req{target: "/name/json/foo/bar"}, want: "1"},
			{name: "/name/", req: req{target: "/name/"}, want: "1"},
		},
	},
	{
		name: "parameter/two params", src: "lua-resty-radixtree t/parameter.t TEST 3 and 5", mode: rx,
		routes: `[{"id":"1","uri":"/name/:name/id/:id"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/name/json/id/1"}, want: "1"},
			{name: "empty id", req: req{target: "/name/json/id/"}}, // TEST 3
			{name: "short", req: req{target: "/name/json"}},        // TEST 5
		},
	},
	{
		name: "parameter/params and star", src: "lua-resty-radixtree t/parameter.t TEST 4", mode: rx,
		routes: `[{"id":"1","uri":"/name/:name/id/:id/*other"}]`,
		probes: []probe{{name: "hit", req: req{target: "/name/json/id/1/foo/bar/gloo"}, want: "1"}},
	},
	{
		name: "parameter/param then literal", src: "lua-resty-radixtree t/parameter.t TEST 6-7", mode: rx,
		routes: `[{"id":"1","uri":"/name/:name/foo"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/name/json/foo"}, want: "1"},
			{name: "miss", req: req{target: "/name/json"}},
		},
	},
	{
		name: "parameter/param first", src: "lua-resty-radixtree t/parameter.t TEST 8", mode: rx,
		routes: `[{"id":"1","uri":"/:name/foo"}]`,
		probes: []probe{
			{name: "/json/", req: req{target: "/json/"}},
			{name: "/json/bar", req: req{target: "/json/bar"}},
			{name: "/json/foo", req: req{target: "/json/foo"}, want: "1"},
			{name: "/json/foo/bar", req: req{target: "/json/foo/bar"}},
		},
	},
	{
		name: "parameter/no_param_match", src: "lua-resty-radixtree t/parameter.t TEST 9", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/name/:name/id/:id"}]`,
		probes: []probe{
			{name: "value", req: req{target: "/name/json/id/1"}},
			{name: "literal", req: req{target: "/name/:name/id/:id"}, want: "1"},
		},
	},
	{
		name: "parameter/special characters", src: "lua-resty-radixtree t/parameter.t TEST 10", mode: rx,
		routes: `[{"id":"1","uri":"/file/:filename"}]`,
		probes: []probe{
			{name: "reserved", req: req{target: "/file/123&45@dd:d=test;"}, want: "1"},
			{name: "unreserved safe", req: req{target: "/file/test_a-b+c.lua$"}, want: "1"},
			{name: "unreserved extra", req: req{target: "/file/t!e*s't,(file)"}, want: "1"},
		},
	},
	{
		name: "parameter/longer pattern first", src: "lua-resty-radixtree t/parameter.t TEST 11", mode: rx,
		routes: `[{"id":"1","uri":"/user/:user/age/:age"},{"id":"2","uri":"/user/:user"}]`,
		probes: []probe{
			{name: "/user/foo", req: req{target: "/user/foo"}, want: "2"},
			{name: "/user/foo/age/26", req: req{target: "/user/foo/age/26"}, want: "1"},
		},
	},
	{
		name: "parameter/trailing slash", src: "lua-resty-radixtree t/parameter.t TEST 12", mode: rx,
		routes: `[{"id":"1","uri":"/name/:name/"}]`,
		probes: []probe{
			{name: "with slash", req: req{target: "/name/json/"}, want: "1"},
			{name: "without", req: req{target: "/name/json"}},
		},
	},
	{
		name: "parameter/order independent", src: "lua-resty-radixtree t/parameter.t TEST 13", mode: rx,
		routes: `[{"id":"1","uri":"/api/:version/test/api/projects/:project_id/clusters/:cluster_id/nodes/?"},
			{"id":"2","uri":"/api/:version/test/api/projects/:project_id"},
			{"id":"3","uri":"/api/:version/test/*subpath"}]`,
		probes: []probe{
			{name: "long", req: req{target: "/api/v4/test/api/projects/saas/clusters/123/nodes/"}, want: "1"},
			{name: "short", req: req{target: "/api/v4/test/api"}, want: "3"},
			{name: "medium", req: req{target: "/api/v4/test/api/projects/saas"}, want: "2"},
		},
	},
	{
		name: "parameter/encoded space", src: "lua-resty-radixtree t/parameter.t TEST 14", mode: rx,
		routes: `[{"id":"1","uri":"/name/:name/id"}]`,
		probes: []probe{{name: "hit", req: req{target: "/name/json%20space/id"}, want: "1"}},
	},

	// ---- t/path.t ----
	{
		name: "path/single", src: "lua-resty-radixtree t/path.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/"}]`,
		probes: []probe{
			{name: "/xx", req: req{target: "/xx"}},
			{name: "/", req: req{target: "/"}, want: "1"},
		},
	},
	{
		name: "path/multiple", src: "lua-resty-radixtree t/path.t TEST 2", mode: rx,
		routes: `[{"id":"1","uris":["/","/aa","/bb"]},{"id":"2","uris":["/cc"]}]`,
		probes: []probe{
			{name: "/", req: req{target: "/"}, want: "1"},
			{name: "/aa", req: req{target: "/aa"}, want: "1"},
			{name: "/bb", req: req{target: "/bb"}, want: "1"},
			{name: "/cc", req: req{target: "/cc"}, want: "2"},
			{name: "/dd", req: req{target: "/dd"}},
		},
	},
	{
		name: "path/overlap", src: "lua-resty-radixtree t/path.t TEST 3", mode: rx,
		routes: `[{"id":"1","uri":"/equal*"},{"id":"2","uri":"/equal123*"}]`,
		probes: []probe{
			{name: "/equal1", req: req{target: "/equal1"}, want: "1"},
			{name: "/equal12", req: req{target: "/equal12"}, want: "1"},
			{name: "/equal123", req: req{target: "/equal123"}, want: "2"},
			{name: "/equal1234", req: req{target: "/equal1234"}, want: "2"},
		},
	},

	// ---- t/multiple.t ----
	{
		name: "multiple/paths", src: "lua-resty-radixtree t/multiple.t TEST 1", mode: rx,
		routes: `[{"id":"1","uris":["/","/*","/aa"]}]`,
		probes: []probe{
			{name: "/aa/bb", req: req{target: "/aa/bb"}, want: "1", wantURI: "/*"},
			{name: "/aa", req: req{target: "/aa"}, want: "1", wantURI: "/aa"},
			{name: "/xx", req: req{target: "/xx"}, want: "1"},
			{name: "/", req: req{target: "/"}, want: "1", wantURI: "/"},
		},
	},

	// ---- t/remote.t (and t/multiple.t TEST 3) ----
	{
		name: "remote/ipv4", src: "lua-resty-radixtree t/remote.t TEST 1", mode: rx,
		routes: `[{"id":"1","uri":"/aa","remote_addrs":["127.0.0.1"]},{"id":"2","uri":"/bb","remote_addrs":["127.0.0.2"]}]`,
		probes: []probe{
			{name: "aa .1", req: req{target: "/aa", remote: "127.0.0.1"}, want: "1"},
			{name: "aa .2", req: req{target: "/aa", remote: "127.0.0.2"}},
			{name: "bb .1", req: req{target: "/bb", remote: "127.0.0.1"}},
			{name: "bb .2", req: req{target: "/bb", remote: "127.0.0.2"}, want: "2"},
		},
	},
	{
		name: "remote/ipv4 cidr", src: "lua-resty-radixtree t/remote.t TEST 2", mode: rx,
		routes: `[{"id":"1","uri":"/aa","remote_addrs":["127.0.0.0/24"]}]`,
		probes: []probe{
			{name: "127.0.0.1", req: req{target: "/aa", remote: "127.0.0.1"}, want: "1"},
			{name: "127.0.0.2", req: req{target: "/aa", remote: "127.0.0.2"}, want: "1"},
			{name: "127.0.1.1", req: req{target: "/aa", remote: "127.0.1.1"}},
			{name: "127.0.2.2", req: req{target: "/aa", remote: "127.0.2.2"}},
		},
	},
	{
		name: "remote/ipv6", src: "lua-resty-radixtree t/remote.t TEST 3", mode: rx,
		routes: `[{"id":"1","uri":"/aa","remote_addrs":["::1"]},{"id":"2","uri":"/bb","remote_addrs":["::2"]}]`,
		probes: []probe{
			{name: "aa ::1", req: req{target: "/aa", remote: "[::1]:1"}, want: "1"},
			{name: "aa ::2", req: req{target: "/aa", remote: "[::2]:1"}},
			{name: "bb ::2", req: req{target: "/bb", remote: "[::2]:1"}, want: "2"},
			{name: "aa ipv4", req: req{target: "/aa", remote: "127.0.0.1"}},
		},
	},
	{
		name: "remote/ipv6 cidr", src: "lua-resty-radixtree t/remote.t TEST 4", mode: rx,
		routes: `[{"id":"1","uri":"/aa","remote_addrs":["fe80::1/64"]}]`,
		probes: []probe{
			{name: "::1", req: req{target: "/aa", remote: "[::1]:1"}},
			{name: "fe80::1", req: req{target: "/aa", remote: "[fe80::1]:1"}, want: "1"},
			{name: "fe80:fe::1", req: req{target: "/aa", remote: "[fe80:fe::1]:1"}},
			{name: "80::1", req: req{target: "/aa", remote: "[80::1]:1"}},
		},
	},
	{
		name: "remote/mixed", src: "lua-resty-radixtree t/remote.t TEST 7 (and t/multiple.t TEST 3)", mode: rx,
		routes: `[{"id":"1","uri":"/aa","remote_addrs":["127.0.0.1","127.0.0.3","::1","::2","192.168.0.0/16","fe80::/16"]}]`,
		probes: []probe{
			{name: "127.0.0.1", req: req{target: "/aa", remote: "127.0.0.1"}, want: "1"},
			{name: "127.0.0.2", req: req{target: "/aa", remote: "127.0.0.2"}},
			{name: "::2", req: req{target: "/aa", remote: "[::2]:1"}, want: "1"},
			{name: "::3", req: req{target: "/aa", remote: "[::3]:1"}},
			{name: "192.168.1.1", req: req{target: "/aa", remote: "192.168.1.1"}, want: "1"},
			{name: "192.138.1.1", req: req{target: "/aa", remote: "192.138.1.1"}},
			{name: "fe80::1", req: req{target: "/aa", remote: "[fe80::1]:1"}, want: "1"},
			{name: "fe81::1", req: req{target: "/aa", remote: "[fe81::1]:1"}},
		},
	},

	// ---- t/vars.t ----
	{
		name: "vars/first matching route", src: "lua-resty-radixtree t/vars.t TEST 13", mode: rx,
		routes: `[{"id":"1","uri":"/aa","vars":[["arg_k","==","v"]]},{"id":"2","uri":"/aa","vars":[["arg_k","~=","not hit"]]}]`,
		probes: []probe{{name: "k=v", req: req{target: "/aa?k=v"}, want: "1"}},
	},
	{
		name: "vars/fall to second", src: "lua-resty-radixtree t/vars.t TEST 14", mode: rx,
		routes: `[{"id":"1","uri":"/aa","vars":[["arg_k","v"]]},{"id":"2","uri":"/aa","vars":[["arg_k","~=","not hit"]]}]`,
		probes: []probe{{name: "k=xxxx", req: req{target: "/aa?k=xxxx"}, want: "2"}},
	},
	{
		name: "vars/regexes", src: "lua-resty-radixtree t/vars.t TEST 15 (minus the invalid \"[0\", see compile tests)", mode: rx,
		routes: `[{"id":"1","uri":"/1","vars":[["arg_k","~~","[0-9]+"]]},
			{"id":"2","uri":"/2","vars":[["arg_k","~~","^1[0-9]+"]]},
			{"id":"3","uri":"/3","vars":[["arg_k","~~","[1-3]+"]]},
			{"id":"4","uri":"/4","vars":[["arg_k","~~","^[1-3]+"]]},
			{"id":"5","uri":"/5","vars":[["arg_k","~~","^2[0-9]+"]]},
			{"id":"6","uri":"/6","vars":[["arg_k","~~","[1-3]+$"]]},
			{"id":"7","uri":"/7","vars":[["arg_k","~~","[a-z]+"]]}]`,
		probes: []probe{
			{name: "/1", req: req{target: "/1?k=1234"}, want: "1"},
			{name: "/2", req: req{target: "/2?k=1234"}, want: "2"},
			{name: "/3", req: req{target: "/3?k=1234"}, want: "3"},
			{name: "/4", req: req{target: "/4?k=1234"}, want: "4"},
			{name: "/5", req: req{target: "/5?k=1234"}},
			{name: "/6", req: req{target: "/6?k=1234"}},
			{name: "/7", req: req{target: "/7?k=1234"}},
		},
	},
}
