package router_test

import "github.com/zoneproxy/zoneproxy/router"

// Suites from apache/apisix t/router/*.t and t/node/*.t.
var apisixSuites = []suite{
	// ---- t/router/radixtree-host-uri.t (radixtree_host_uri) ----
	{
		name: "host-uri/host+uri", src: "apisix t/router/radixtree-host-uri.t",
		routes: `[{"id":"1","uri":"/hello","host":"foo.com"}]`, // TEST 1
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                        // TEST 2
			{name: "no host", req: req{target: "/hello"}},                                              // TEST 3
			{name: "other host", req: req{target: "/hello", host: "not_found.com"}},                    // TEST 4
			{name: "hit", req: req{target: "/hello", host: "foo.com"}, want: "1", wantHost: "foo.com"}, // TEST 5
		},
	},
	{
		name: "host-uri/only uri", src: "apisix t/router/radixtree-host-uri.t",
		routes: `[{"id":"1","uri":"/server_port"}]`, // TEST 7
		probes: []probe{
			{name: "miss", req: req{target: "/hello"}},                                                            // TEST 8
			{name: "any host", req: req{target: "/server_port", host: "anydomain.com"}, want: "1", wantHost: "-"}, // TEST 9
		},
	},
	{
		name: "host-uri/two host-less", src: "apisix t/router/radixtree-host-uri.t",
		routes: `[{"id":"1","uri":"/server_port"},{"id":"2","uri":"/hello"}]`, // TEST 10
		probes: []probe{
			{name: "miss", req: req{target: "/hello2"}},                                   // TEST 11
			{name: "hit 2", req: req{target: "/hello", host: "anydomain.com"}, want: "2"}, // TEST 12
		},
	},
	{
		name: "host-uri/wildcard", src: "apisix t/router/radixtree-host-uri.t",
		routes: `[{"id":"1","uri":"/hello","host":"*.foo.com"}]`, // TEST 14
		probes: []probe{
			{name: "www", req: req{target: "/hello", host: "www.foo.com"}, want: "1", wantHost: "*.foo.com"}, // TEST 15
		},
	},

	// ---- t/router/radixtree-host-uri2.t (radixtree_host_uri, standalone) ----
	{
		name: "host-uri2/exact host first", src: "apisix t/router/radixtree-host-uri2.t TEST 1",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com"},{"id":"2","uri":"/server_port"}]`,
		probes: []probe{
			{name: "test.com", req: req{target: "/server_port", host: "test.com"}, want: "1"}, // TEST 1
		},
	},
	{
		name: "host-uri2/wildcard host first", src: "apisix t/router/radixtree-host-uri2.t TEST 2",
		routes: `[{"id":"1","uri":"/server_port","host":"*.test.com"},{"id":"2","uri":"/server_port"}]`,
		probes: []probe{
			{name: "www.test.com", req: req{target: "/server_port", host: "www.test.com"}, want: "1"}, // TEST 2
		},
	},
	{
		name: "host-uri2/host prefix beats host-less exact", src: "apisix t/router/radixtree-host-uri2.t TEST 3",
		routes: `[{"id":"1","uri":"/*","host":"*.test.com"},{"id":"2","uri":"/server_port"}]`,
		probes: []probe{
			{name: "www.test.com", req: req{target: "/server_port", host: "www.test.com"}, want: "1", wantURI: "/*"}, // TEST 3
		},
	},
	{
		// TEST 4 and 5 use filter_func, which zoneproxy rejects; the same
		// fall-through is shown with vars.
		name: "host-uri2/fall through to host-less", src: "apisix t/router/radixtree-host-uri2.t TEST 4-5 (vars for filter_func)",
		routes: `[{"id":"1","uri":"/*","host":"*.test.com","vars":[["arg_name","==","json"]]},{"id":"2","uri":"/server_port"}]`,
		probes: []probe{
			{name: "condition fails", req: req{target: "/server_port?name=unknown", host: "www.test.com"}, want: "2"}, // TEST 4
			{name: "condition holds", req: req{target: "/server_port?name=json", host: "www.test.com"}, want: "1"},    // TEST 5
		},
	},
	{
		name: "host-uri2/colon is literal", src: "apisix t/router/radixtree-host-uri2.t TEST 6-8",
		routes: `[{"id":"1","uri":"/file:listReputationHistories"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/file:listReputationHistories"}, want: "1"}, // TEST 7
			{name: "not a parameter", req: req{target: "/file:xx"}},                     // TEST 8
		},
	},
	{
		name: "host-uri2/colon with host", src: "apisix t/router/radixtree-host-uri2.t TEST 9-11",
		routes: `[{"id":"1","uri":"/do:listReputationHistories","hosts":["t.com"]}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/do:listReputationHistories", host: "t.com"}, want: "1"}, // TEST 10
			{name: "not a parameter", req: req{target: "/do:xx", host: "t.com"}},                     // TEST 11
		},
	},
	{
		name: "host-uri2/request host uppercase", src: "apisix t/router/radixtree-host-uri2.t TEST 12",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com"}]`,
		probes: []probe{
			{name: "tEst.com", req: req{target: "/server_port", host: "tEst.com"}, want: "1"}, // TEST 12
		},
	},
	{
		name: "host-uri2/route host uppercase", src: "apisix t/router/radixtree-host-uri2.t TEST 13",
		routes: `[{"id":"1","uri":"/server_port","host":"test.coM"}]`,
		probes: []probe{
			{name: "test.com", req: req{target: "/server_port", host: "test.com"}, want: "1", wantHost: "test.com"}, // TEST 13
		},
	},
	{
		name: "host-uri2/service hosts", src: "apisix t/router/radixtree-host-uri2.t TEST 14",
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","service_id":1,"uri":"/hello"},{"id":"2","uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "other host falls to host-less", req: req{target: "/hello", host: "www.foo.com"}, want: "2"}, // TEST 14
			{name: "inherited host", req: req{target: "/hello", host: "bar.com"}, want: "1"},                    // derived from TEST 14
		},
	},

	// ---- t/router/radixtree-host-uri3.t (radixtree_host_uri) ----
	{
		name: "host-uri3/service foo.com", src: "apisix t/router/radixtree-host-uri3.t TEST 1",
		services: `{"1":{"hosts":["foo.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"service_id":"1","uri":"/hello"}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "1"},
			{name: "bar.com", req: req{target: "/hello", host: "bar.com"}},
		},
	},
	{
		name: "host-uri3/service changed to bar.com", src: "apisix t/router/radixtree-host-uri3.t TEST 1",
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"service_id":"1","uri":"/hello"}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}},
			{name: "bar.com", req: req{target: "/hello", host: "bar.com"}, want: "1"},
		},
	},
	{
		name: "host-uri3/matched path", src: "apisix t/router/radixtree-host-uri3.t TEST 2-5",
		routes: `[{"id":"1","hosts":["foo.com"],"uri":"/hello"},{"id":"2","hosts":["foo.com"],"uri":"/*"}]`,
		probes: []probe{
			{name: "plain path", req: req{target: "/hello", host: "foo.com"}, want: "1", wantURI: "/hello"}, // TEST 3
			{name: "wildcard path", req: req{target: "/hello2", host: "foo.com"}, want: "2", wantURI: "/*"}, // TEST 5
		},
	},
	{
		name: "host-uri3/matched host", src: "apisix t/router/radixtree-host-uri3.t TEST 6-7",
		routes: `[{"id":"1","hosts":["foo.com"],"uri":"/hello"}]`,
		probes: []probe{
			{name: "exact", req: req{target: "/hello", host: "foo.com"}, want: "1", wantHost: "foo.com"}, // TEST 7
		},
	},
	{
		name: "host-uri3/matched wildcard host", src: "apisix t/router/radixtree-host-uri3.t TEST 8-9",
		routes: `[{"id":"1","hosts":["*.com"],"uri":"/hello"}]`,
		probes: []probe{
			{name: "wildcard", req: req{target: "/hello", host: "foo.com"}, want: "1", wantHost: "*.com"}, // TEST 9
		},
	},
	{
		name: "host-uri3/service hosts case-insensitive", src: "apisix t/router/radixtree-host-uri3.t TEST 10",
		services: `{"1":{"hosts":["MixedCase.com"]}}`,
		routes:   `[{"id":"1","service_id":"1","uri":"/hello"}]`,
		probes: []probe{
			{name: "MixedCase.com", req: req{target: "/hello", host: "MixedCase.com"}, want: "1"},
			{name: "mixedcase.com", req: req{target: "/hello", host: "mixedcase.com"}, want: "1"},
			{name: "other.com", req: req{target: "/hello", host: "other.com"}},
		},
	},

	// ---- t/router/radixtree-host-uri-priority.t (radixtree_host_uri) ----
	{
		name: "host-uri-priority/1 vs 2", src: "apisix t/router/radixtree-host-uri-priority.t TEST 1",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com","priority":1},{"id":"2","uri":"/server_port","host":"test.com","priority":2}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port", host: "test.com"}, want: "2"}},
	},
	{
		name: "host-uri-priority/2 vs 1", src: "apisix t/router/radixtree-host-uri-priority.t TEST 2",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com","priority":2},{"id":"2","uri":"/server_port","host":"test.com","priority":1}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port", host: "test.com"}, want: "1"}},
	},
	{
		name: "host-uri-priority/default vs 1", src: "apisix t/router/radixtree-host-uri-priority.t TEST 3",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com"},{"id":"2","uri":"/server_port","host":"test.com","priority":1}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port", host: "test.com"}, want: "2"}},
	},
	{
		name: "host-uri-priority/1 vs default", src: "apisix t/router/radixtree-host-uri-priority.t TEST 4",
		routes: `[{"id":"1","uri":"/server_port","host":"test.com","priority":1},{"id":"2","uri":"/server_port","host":"test.com"}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port", host: "test.com"}, want: "1"}},
	},

	// ---- t/router/radixtree-uri-host.t (radixtree_uri) ----
	{
		name: "uri-host/wildcard", src: "apisix t/router/radixtree-uri-host.t TEST 1-6", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"host":"*.foo.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                              // TEST 2
			{name: "no host", req: req{target: "/hello"}},                                                    // TEST 3
			{name: "other host", req: req{target: "/hello", host: "not_found.com"}},                          // TEST 4
			{name: "www", req: req{target: "/hello", host: "www.foo.com"}, want: "1", wantHost: "*.foo.com"}, // TEST 5
			{name: "user", req: req{target: "/hello", host: "user.foo.com"}, want: "1"},                      // TEST 6
		},
	},
	{
		name: "uri-host/exact", src: "apisix t/router/radixtree-uri-host.t TEST 7-11", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"host":"foo.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                        // TEST 8
			{name: "no host", req: req{target: "/hello"}},                                              // TEST 9
			{name: "subdomain", req: req{target: "/hello", host: "www.foo.com"}},                       // TEST 10
			{name: "hit", req: req{target: "/hello", host: "foo.com"}, want: "1", wantHost: "foo.com"}, // TEST 11
		},
	},
	{
		name: "uri-host/colon is literal", src: "apisix t/router/radixtree-uri-host.t TEST 15-17", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/file:listReputationHistories"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/file:listReputationHistories"}, want: "1"}, // TEST 16
			{name: "miss", req: req{target: "/file:xx"}},                                // TEST 17
		},
	},
	{
		name: "uri-host/service hosts bar.com", src: "apisix t/router/radixtree-uri-host.t TEST 18-20", mode: router.ModeURI,
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"service_id":"1","uri":"/hello"},{"id":"2","methods":["GET"],"uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "www.foo.com", req: req{target: "/hello", host: "www.foo.com"}, want: "2"}, // TEST 19
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "2"},         // TEST 20 (second half)
			{name: "bar.com", req: req{target: "/hello", host: "bar.com"}, want: "1"},         // derived
		},
	},
	{
		name: "uri-host/service hosts foo.com", src: "apisix t/router/radixtree-uri-host.t TEST 20", mode: router.ModeURI,
		services: `{"1":{"hosts":["foo.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"service_id":"1","uri":"/hello"},{"id":"2","methods":["GET"],"uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "1"}, // TEST 20 (first half)
		},
	},
	{
		name: "uri-host/unbound service", src: "apisix t/router/radixtree-uri-host.t TEST 21", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello"},{"id":"2","methods":["GET"],"uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "1"}, // TEST 21
		},
	},
	{
		name: "uri-host/route hosts win over service", src: "apisix t/router/radixtree-uri-host.t TEST 22", mode: router.ModeURI,
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"hosts":["foo.com"],"service_id":"1","uri":"/hello"},{"id":"2","methods":["GET"],"uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "1"}, // TEST 22
			{name: "bar.com", req: req{target: "/hello", host: "bar.com"}, want: "2"}, // TEST 22
		},
	},
	{
		name: "uri-host/route host wins over service", src: "apisix t/router/radixtree-uri-host.t TEST 22", mode: router.ModeURI,
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"host":"foo.com","service_id":"1","uri":"/hello"},{"id":"2","methods":["GET"],"uri":"/hello","priority":-1}]`,
		probes: []probe{
			{name: "foo.com", req: req{target: "/hello", host: "foo.com"}, want: "1"}, // TEST 22
			{name: "bar.com", req: req{target: "/hello", host: "bar.com"}, want: "2"}, // TEST 22
		},
	},

	// ---- t/router/radixtree-uri-sanity.t (radixtree_uri) ----
	{
		name: "uri-sanity/host", src: "apisix t/router/radixtree-uri-sanity.t TEST 1-5", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"host":"foo.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                     // TEST 2
			{name: "no host", req: req{target: "/hello"}},                           // TEST 3
			{name: "other host", req: req{target: "/hello", host: "not_found.com"}}, // TEST 4
			{name: "hit", req: req{target: "/hello", host: "foo.com"}, want: "1"},   // TEST 5
		},
	},
	{
		name: "uri-sanity/two routes", src: "apisix t/router/radixtree-uri-sanity.t TEST 6-11", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/server_port"},{"id":"2","methods":["GET"],"uri":"/hello"}]`,
		probes: []probe{
			{name: "miss", req: req{target: "/hello2"}},                                               // TEST 10
			{name: "server_port", req: req{target: "/server_port", host: "anydomain.com"}, want: "1"}, // TEST 8
			{name: "hello", req: req{target: "/hello", host: "anydomain.com"}, want: "2"},             // TEST 11
		},
	},
	{
		name: "uri-sanity/trailing slash", src: "apisix t/router/radixtree-uri-sanity.t TEST 13-15", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/hello"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/hello"}, want: "1"}, // TEST 14
			{name: "slash", req: req{target: "/hello/"}},         // TEST 15
		},
	},

	// ---- t/router/radixtree-uri-multiple.t (radixtree_uri) ----
	{
		name: "uri-multiple", src: "apisix t/router/radixtree-uri-multiple.t TEST 1-7", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/server_port"},{"id":"2","uri":"/server_port/*"},{"id":"3","uri":"/server_port/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                             // TEST 4
			{name: "exact", req: req{target: "/server_port"}, want: "1"},                                    // TEST 5
			{name: "prefix", req: req{target: "/server_port/route2"}, want: "2", wantURI: "/server_port/*"}, // TEST 6
			{name: "exact beats prefix", req: req{target: "/server_port/hello"}, want: "3"},                 // TEST 7
		},
	},

	// ---- t/router/radixtree-uri-priority.t (radixtree_uri) ----
	{
		name: "uri-priority/alone", src: "apisix t/router/radixtree-uri-priority.t TEST 1-2", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/server_port*","priority":2}]`,
		probes: []probe{{name: "hit", req: req{target: "/server_port/aa"}, want: "1"}}, // TEST 2
	},
	{
		name: "uri-priority/2 vs 1", src: "apisix t/router/radixtree-uri-priority.t TEST 3-4", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/server_port*","priority":2},{"id":"2","uri":"/server_port*","priority":1}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port/aa"}, want: "1"}}, // TEST 4
	},
	{
		name: "uri-priority/2 vs 3", src: "apisix t/router/radixtree-uri-priority.t TEST 5-6", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/server_port*","priority":2},{"id":"2","uri":"/server_port*","priority":3}]`,
		probes: []probe{{name: "higher wins", req: req{target: "/server_port/aa"}, want: "2"}}, // TEST 6
	},

	// ---- t/router/radixtree-method.t (radixtree_uri) ----
	{
		name: "method/GET only", src: "apisix t/router/radixtree-method.t TEST 1-2", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello"}]`,
		probes: []probe{{name: "PURGE", req: req{method: "PURGE", target: "/hello"}}}, // TEST 2
	},
	{
		name: "method/GET and PURGE", src: "apisix t/router/radixtree-method.t TEST 3-4", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET","PURGE"],"uri":"/hello"}]`,
		probes: []probe{{name: "PURGE", req: req{method: "PURGE", target: "/hello"}, want: "1"}}, // TEST 4
	},

	// ---- t/router/radixtree-uri-vars.t (radixtree_uri) ----
	{
		name: "uri-vars/~*", src: "apisix t/router/radixtree-uri-vars.t TEST 1-4", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[["http_user_agent","~*","android"]]}]`,
		probes: []probe{
			{name: "ios", req: req{target: "/hello", headers: []string{"User-Agent: ios"}}},                    // TEST 2
			{name: "android", req: req{target: "/hello", headers: []string{"User-Agent: android"}}, want: "1"}, // TEST 3
			{name: "Android", req: req{target: "/hello", headers: []string{"User-Agent: Android"}}, want: "1"}, // TEST 4
		},
	},
	{
		name: "uri-vars/! ~*", src: "apisix t/router/radixtree-uri-vars.t TEST 5-7", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[["http_user_agent","!","~*","android"]]}]`,
		probes: []probe{
			{name: "android", req: req{target: "/hello", headers: []string{"User-Agent: android"}}},    // TEST 6
			{name: "ios", req: req{target: "/hello", headers: []string{"User-Agent: ios"}}, want: "1"}, // TEST 7
		},
	},
	{
		name: "uri-vars/IN", src: "apisix t/router/radixtree-uri-vars.t TEST 8-10", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[["http_user_agent","IN",["android","ios"]]]}]`,
		probes: []probe{
			{name: "ios", req: req{target: "/hello", headers: []string{"User-Agent: ios"}}, want: "1"},         // TEST 9
			{name: "android", req: req{target: "/hello", headers: []string{"User-Agent: android"}}, want: "1"}, // TEST 10
			{name: "windows", req: req{target: "/hello", headers: []string{"User-Agent: windows"}}},            // derived
		},
	},
	{
		name: "uri-vars/== null", src: "apisix t/router/radixtree-uri-vars.t TEST 11-13", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[["http_user_agent","==",null]]}]`,
		probes: []probe{
			{name: "has UA", req: req{target: "/hello", headers: []string{"User-Agent: android"}}}, // TEST 12
			{name: "no UA", req: req{target: "/hello"}, want: "1"},                                 // TEST 13
		},
	},
	{
		name: "uri-vars/two items", src: "apisix t/router/radixtree-uri-vars.t TEST 14-15", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[["http_user_agent","ios"]]}]`,
		probes: []probe{
			{name: "ios", req: req{target: "/hello", headers: []string{"User-Agent: ios"}}, want: "1"}, // TEST 15
		},
	},
	{
		name: "uri-vars/!OR", src: "apisix t/router/radixtree-uri-vars.t TEST 16-18", mode: router.ModeURI,
		routes: `[{"id":"1","uri":"/hello","vars":["!OR",["http_user_agent","==","ios"],["http_demo","==","test"]]}]`,
		probes: []probe{
			{name: "neither", req: req{target: "/hello", headers: []string{"User-Agent: android", "demo: prod"}}, want: "1"}, // TEST 17
			{name: "one", req: req{target: "/hello", headers: []string{"User-Agent: ios", "demo: prod"}}},                    // TEST 18
		},
	},
	{
		name: "uri-vars/empty", src: "apisix t/router/radixtree-uri-vars.t TEST 19-20", mode: router.ModeURI,
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello","vars":[]}]`,
		probes: []probe{{name: "hit", req: req{target: "/hello"}, want: "1"}}, // TEST 20
	},

	// ---- t/router/radixtree-uri-with-parameter*.t (radixtree_uri_with_parameter) ----
	{
		name: "with-parameter/name in middle", src: "apisix t/router/radixtree-uri-with-parameter.t TEST 1-6", mode: router.ModeURIWithParameter,
		routes: `[{"id":"1","uri":"/name/:name/bar"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                      // TEST 2
			{name: "wrong tail", req: req{target: "/name/json2/foo"}},                                // TEST 3
			{name: "no tail", req: req{target: "/name/json/"}},                                       // TEST 4
			{name: "empty param", req: req{target: "/name//bar"}},                                    // TEST 5
			{name: "hit", req: req{target: "/name/json/bar"}, want: "1", wantURI: "/name/:name/bar"}, // TEST 6
		},
	},
	{
		name: "with-parameter/name first", src: "apisix t/router/radixtree-uri-with-parameter.t TEST 7-9", mode: router.ModeURIWithParameter,
		routes: `[{"id":"1","uri":"/:name/foo"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/json/foo"}, want: "1"},   // TEST 8
			{name: "two segments", req: req{target: "/json/bbb/foo"}}, // TEST 9
		},
	},
	{
		name: "with-parameter/service hosts", src: "apisix t/router/radixtree-uri-with-parameter.t TEST 10-11", mode: router.ModeURIWithParameter,
		services: `{"1":{"hosts":["bar.com"]}}`,
		routes:   `[{"id":"1","methods":["GET"],"service_id":"1","uri":"/:name/hello"},{"id":"2","methods":["GET"],"uri":"/:name/hello","priority":-1}]`,
		probes: []probe{
			{name: "www.foo.com", req: req{target: "/john/hello", host: "www.foo.com"}, want: "2"}, // TEST 11
			{name: "bar.com", req: req{target: "/john/hello", host: "bar.com"}, want: "1"},         // derived
		},
	},
	{
		name: "with-parameter2/encoded space", src: "apisix t/router/radixtree-uri-with-parameter2.t TEST 1-3", mode: router.ModeURIWithParameter,
		routes: `[{"id":"1","uri":"/name/:name/bar"}]`,
		probes: []probe{
			{name: "hit", req: req{target: "/name/with%20space/bar"}, want: "1"}, // TEST 2
			{name: "miss", req: req{target: "/name/with%20space/foo"}},           // TEST 3
		},
	},
	{
		// Without apisix.match_uri_encoded_slash (not implemented by
		// zoneproxy) %2F is a separator, as nginx decodes it in $uri.
		name: "with-parameter/encoded slash by default", src: "apisix t/router/radixtree-uri-with-parameter-encoded-slash.t TEST 1-5 (option off)", mode: router.ModeURIWithParameter,
		routes: `[{"id":"1","uri":"/v1/:id/products/:type/list"},{"id":"2","uri":"/trailing/:name/"},{"id":"3","uri":"/"}]`,
		probes: []probe{
			{name: "%2F splits the parameter", req: req{target: "/v1/te%2Fst/products/electronics/list"}}, // TEST 2, default behaviour
			{name: "plain", req: req{target: "/v1/test/products/electronics/list"}, want: "1"},            // TEST 5
			{name: "%41 decoded", req: req{target: "/v1/te%41st/products/electronics/list"}, want: "1"},   // TEST 6
			{name: "trailing slash", req: req{target: "/trailing/ab/"}, want: "2"},                        // TEST 7, without %2F
			{name: "root", req: req{target: "/?next=%2Fadmin"}, want: "3"},                                // TEST 10
		},
	},

	// ---- t/node/*.t (radixtree_host_uri, APISIX's default) ----
	{
		name: "node/route-host", src: "apisix t/node/route-host.t TEST 1-6",
		routes: `[{"id":"1","methods":["GET"],"host":"foo.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                         // TEST 2
			{name: "no host", req: req{target: "/hello"}},                               // TEST 3
			{name: "other host", req: req{target: "/hello", host: "not_found.com"}},     // TEST 4
			{name: "hit", req: req{target: "/hello", host: "foo.com"}, want: "1"},       // TEST 5
			{name: "uppercase", req: req{target: "/hello", host: "FOO.com"}, want: "1"}, // TEST 6
		},
	},
	{
		name: "node/route-host uppercase route", src: "apisix t/node/route-host.t TEST 7-9",
		routes: `[{"id":"1","methods":["GET"],"host":"FOO.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "lowercase", req: req{target: "/hello", host: "foo.com"}, want: "1"}, // TEST 8
			{name: "uppercase", req: req{target: "/hello", host: "FOO.com"}, want: "1"}, // TEST 9
		},
	},
	{
		name: "node/route-uris", src: "apisix t/node/route-uris.t TEST 1-4",
		routes: `[{"id":"1","methods":["GET"],"uris":["/hello","/hello1"]}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                          // TEST 2
			{name: "first", req: req{target: "/hello"}, want: "1", wantURI: "/hello"},    // TEST 3
			{name: "second", req: req{target: "/hello1"}, want: "1", wantURI: "/hello1"}, // TEST 4
		},
	},
	{
		name: "node/hosts", src: "apisix t/node/hosts.t TEST 1-5",
		routes: `[{"id":"1","uri":"/hello","hosts":["foo.com","*.bar.com"]}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                                                   // TEST 2
			{name: "other host", req: req{target: "/hello", host: "not_found.com"}},                               // TEST 3
			{name: "exact", req: req{target: "/hello", host: "foo.com"}, want: "1", wantHost: "foo.com"},          // TEST 4
			{name: "wildcard", req: req{target: "/hello", host: "www.bar.com"}, want: "1", wantHost: "*.bar.com"}, // TEST 5
		},
	},
	{
		name: "node/wildcard-host", src: "apisix t/node/wildcard-host.t TEST 1-6",
		routes: `[{"id":"1","host":"*.foo.com","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                               // TEST 2
			{name: "missing host", req: req{target: "/hello"}},                                // TEST 3
			{name: "a.foo.com", req: req{target: "/hello", host: "a.foo.com"}, want: "1"},     // TEST 4
			{name: "a.b.foo.com", req: req{target: "/hello", host: "a.b.foo.com"}, want: "1"}, // TEST 5
			{name: ".foo.com", req: req{target: "/hello", host: ".foo.com"}, want: "1"},       // TEST 6
		},
	},
	{
		name: "node/http_host", src: "apisix t/node/http_host.t TEST 1-2",
		routes: `[{"id":"1","uri":"/uri"}]`,
		probes: []probe{
			{name: "host with port", req: req{target: "/uri", host: "foo.com:1984"}, want: "1"}, // TEST 2
		},
	},
	{
		name: "node/route-status enabled", src: "apisix t/node/route-status.t TEST 1-2",
		routes: `[{"id":"1","uri":"/hello"}]`,
		probes: []probe{{name: "hit", req: req{target: "/hello"}, want: "1"}}, // TEST 2
	},
	{
		name: "node/route-status disabled", src: "apisix t/node/route-status.t TEST 3-4",
		routes: `[{"id":"1","uri":"/hello","status":0}]`,
		probes: []probe{{name: "disabled", req: req{target: "/hello"}}}, // TEST 4
	},
	{
		name: "node/route-status host enabled", src: "apisix t/node/route-status.t TEST 5-6",
		routes: `[{"id":"1","uri":"/hello","host":"foo.com","status":1}]`,
		probes: []probe{{name: "hit", req: req{target: "/hello", host: "foo.com"}, want: "1"}}, // TEST 6
	},
	{
		name: "node/route-status host disabled", src: "apisix t/node/route-status.t TEST 7-8",
		routes: `[{"id":"1","uri":"/hello","host":"foo.com","status":0}]`,
		probes: []probe{{name: "disabled", req: req{target: "/hello", host: "foo.com"}}}, // TEST 8
	},
	{
		name: "node/remote-addr exact", src: "apisix t/node/remote-addr.t TEST 1-3",
		routes: `[{"id":"1","remote_addr":"127.0.0.1","uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},                     // TEST 2
			{name: "hit", req: req{target: "/hello"}, want: "1"},                    // TEST 3
			{name: "other client", req: req{target: "/hello", remote: "127.0.0.2"}}, // derived
		},
	},
	{
		name: "node/remote-addr other", src: "apisix t/node/remote-addr.t TEST 4-5",
		routes: `[{"id":"1","remote_addr":"127.0.0.2","uri":"/hello"}]`,
		probes: []probe{{name: "miss", req: req{target: "/hello"}}}, // TEST 5
	},
	{
		name: "node/remote-addr cidr", src: "apisix t/node/remote-addr.t TEST 6-7",
		routes: `[{"id":"1","remote_addr":"127.0.0.3/24","uri":"/hello"}]`,
		probes: []probe{{name: "in /24", req: req{target: "/hello"}, want: "1"}}, // TEST 7
	},
	{
		// The test sets $remote_addr through X-Real-IP (realip module);
		// here the client address is set directly.
		name: "node/remote_addrs", src: "apisix t/node/remote_addrs.t TEST 1-5",
		routes: `[{"id":"1","uri":"/hello","remote_addrs":["192.0.0.0/8","127.0.0.3"]}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found", remote: "127.0.0.1"}},       // TEST 2
			{name: "not in set", req: req{target: "/hello", host: "not_found.com"}},        // TEST 3
			{name: "cidr", req: req{target: "/hello", remote: "192.168.1.100"}, want: "1"}, // TEST 4
			{name: "address", req: req{target: "/hello", remote: "127.0.0.3"}, want: "1"},  // TEST 5
		},
	},
	{
		name: "node/remote-addr-ipv6", src: "apisix t/node/remote-addr-ipv6.t TEST 1-5",
		routes: `[{"id":"1","remote_addr":"::1","uri":"/hello"}]`,
		probes: []probe{
			{name: "IPv6 not_found", req: req{target: "/not_found", remote: "[::1]:40000"}},  // TEST 2
			{name: "IPv4 not_found", req: req{target: "/not_found"}},                         // TEST 3
			{name: "IPv6 hit", req: req{target: "/hello", remote: "[::1]:40000"}, want: "1"}, // TEST 4
			{name: "IPv4 miss", req: req{target: "/hello"}},                                  // TEST 5
		},
	},
	{
		name: "node/vars arg", src: "apisix t/node/vars.t TEST 1-4",
		routes: `[{"id":"1","uri":"/hello","vars":[["arg_k","==","v"]]}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},      // TEST 2
			{name: "wrong", req: req{target: "/hello?k=not-hit"}},    // TEST 3
			{name: "hit", req: req{target: "/hello?k=v"}, want: "1"}, // TEST 4
		},
	},
	{
		name: "node/vars cookie", src: "apisix t/node/vars.t TEST 5-8",
		routes: `[{"id":"1","uri":"/hello","vars":[["cookie_k","==","v"]]}]`,
		probes: []probe{
			{name: "no cookie", req: req{target: "/hello"}},                                                  // TEST 6
			{name: "wrong", req: req{target: "/hello", headers: []string{"Cookie: k=not-hit; kkk=vvv;"}}},    // TEST 7
			{name: "hit", req: req{target: "/hello", headers: []string{"Cookie: k=v; kkk=vvv;"}}, want: "1"}, // TEST 8
		},
	},
	{
		name: "node/vars header", src: "apisix t/node/vars.t TEST 9-12",
		routes: `[{"id":"1","uri":"/hello","vars":[["http_k","==","v"]]}]`,
		probes: []probe{
			{name: "no header", req: req{target: "/hello"}},                                 // TEST 10
			{name: "wrong", req: req{target: "/hello", headers: []string{"k: not-hit"}}},    // TEST 11
			{name: "hit", req: req{target: "/hello", headers: []string{"k: v"}}, want: "1"}, // TEST 12
		},
	},
	{
		name: "node/vars header+cookie+arg", src: "apisix t/node/vars.t TEST 13-16",
		routes: `[{"id":"1","uri":"/hello","vars":[["http_k","==","header"],["cookie_k","==","cookie"],["arg_k","==","uri_arg"]]}]`,
		probes: []probe{
			{name: "none", req: req{target: "/hello"}},                                                                         // TEST 14
			{name: "header only", req: req{target: "/hello", headers: []string{"k: header"}}},                                  // TEST 15
			{name: "all", req: req{target: "/hello?k=uri_arg", headers: []string{"Cookie: k=cookie", "k: header"}}, want: "1"}, // TEST 16
		},
	},
	{
		name: "node/vars post_arg", src: "apisix t/node/vars.t TEST 17-21",
		routes: `[{"id":"1","uri":"/hello","vars":[["post_arg_k","==","post_form"]]}]`,
		probes: []probe{
			{name: "GET", req: req{target: "/hello"}},                                                                                                                        // TEST 18
			{name: "wrong body", req: req{method: "POST", target: "/hello", body: "123"}},                                                                                    // TEST 19
			{name: "multipart", req: req{method: "POST", target: "/hello", body: "k=post_form", headers: []string{"Content-Type: multipart/form-data"}}},                     // TEST 20
			{name: "form", req: req{method: "POST", target: "/hello", body: "k=post_form", headers: []string{"Content-Type: application/x-www-form-urlencoded"}}, want: "1"}, // TEST 21
		},
	},
	{
		name: "node/sanity-radixtree exact", src: "apisix t/node/sanity-radixtree.t TEST 1-3",
		routes: `[{"id":"1","methods":["GET"],"uri":"/hello"}]`,
		probes: []probe{
			{name: "not_found", req: req{target: "/not_found"}},  // TEST 2
			{name: "hit", req: req{target: "/hello"}, want: "1"}, // TEST 3
		},
	},
	{
		name: "node/sanity-radixtree prefix", src: "apisix t/node/sanity-radixtree.t TEST 4-8",
		routes: `[{"id":"1","uri":"/hello*"}]`,
		probes: []probe{
			{name: "/hello", req: req{target: "/hello"}, want: "1"},   // TEST 5
			{name: "/hello1", req: req{target: "/hello1"}, want: "1"}, // TEST 6
			{name: "/hello2", req: req{target: "/hello2"}, want: "1"}, // TEST 7 (the upstream's 404)
			{name: "/hel", req: req{target: "/hel"}},                  // TEST 8
		},
	},
}
