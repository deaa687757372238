package router_test

// Suites from api7/lua-resty-expr t/v1/*.t (v1.3.2, the version APISIX
// pins): each rule becomes the vars of a route on /t, and a probe expects
// the route when the test's eval says true, 404 when it says false. Tests
// that evaluate against hand-made Lua tables (such as a table-valued
// variable for "has") have no HTTP equivalent and are left out, except
// where noted.

// exprSuite is one rule under test.
func exprSuite(name, src, vars string, probes ...probe) suite {
	return suite{name: name, src: src, routes: `[{"id":"1","uri":"/t","vars":` + vars + `}]`, probes: probes}
}

func hit(name, target string, headers ...string) probe {
	return probe{name: name, req: req{target: target, headers: headers}, want: "1"}
}

func miss(name, target string, headers ...string) probe {
	return probe{name: name, req: req{target: target, headers: headers}}
}

var exprSuites = []suite{
	// ---- t/v1/sanity.t ----
	exprSuite("sanity/arg ==", "lua-resty-expr t/v1/sanity.t TEST 1", `[["arg_k","==","v"]]`,
		hit("k=v", "/t?k=v")),
	exprSuite("sanity/arg two items", "lua-resty-expr t/v1/sanity.t TEST 2", `[["arg_k","v"]]`,
		miss("k=not_hit", "/t?k=not_hit")),
	exprSuite("sanity/header ==", "lua-resty-expr t/v1/sanity.t TEST 3", `[["http_test","==","v"]]`,
		hit("test: v", "/t", "test: v")),
	exprSuite("sanity/header two items", "lua-resty-expr t/v1/sanity.t TEST 4", `[["http_test","v"]]`,
		miss("test: not-hit", "/t", "test: not-hit")),
	exprSuite("sanity/arg+host+server_port", "lua-resty-expr t/v1/sanity.t TEST 5",
		`[["arg_k","==","v"],["host","==","localhost"],["server_port","==","1984"]]`,
		hit("all hold", "/t?k=v")),
	exprSuite("sanity/two items not hit", "lua-resty-expr t/v1/sanity.t TEST 6",
		`[["arg_k","v"],["host","localhost"],["server_port","1984-not"]]`,
		miss("server_port differs", "/t?k=v")),
	exprSuite("sanity/~= equal", "lua-resty-expr t/v1/sanity.t TEST 7", `[["arg_k","~=","v"]]`,
		miss("k=v", "/t?k=v")),
	exprSuite("sanity/~= other", "lua-resty-expr t/v1/sanity.t TEST 8", `[["arg_k","~=","************"]]`,
		hit("k=v", "/t?k=v")),
	exprSuite("sanity/> number", "lua-resty-expr t/v1/sanity.t TEST 9-10", `[["arg_k",">",10]]`,
		hit("k=11", "/t?k=11"),
		miss("k=9", "/t?k=9")),
	exprSuite("sanity/> missing", "lua-resty-expr t/v1/sanity.t TEST 12", `[["arg_k",">",10]]`,
		miss("no args", "/t")),
	exprSuite("sanity/~= null", "lua-resty-expr t/v1/sanity.t TEST 13", `[["arg_k","~=",null]]`,
		hit("present", "/t?k=v")),
	exprSuite("sanity/in", "lua-resty-expr t/v1/sanity.t TEST 14", `[["arg_k","in",["1","2"]]]`,
		hit("k=1", "/t?k=1"),
		hit("k=2", "/t?k=2"),
		miss("k=4", "/t?k=4"),
		miss("no k", "/t")),
	// TEST 15 evaluates "has" on a table; no request variable is one, so
	// "has" never holds while routing.
	exprSuite("sanity/has on a string", "lua-resty-expr t/v1/sanity.t TEST 15 (string variable)", `[["arg_k","has","a"]]`,
		miss("k=a", "/t?k=a")),
	exprSuite("sanity/! has on a string", "lua-resty-expr t/v1/sanity.t TEST 21 (string variable)", `[["arg_k","!","has","a"]]`,
		hit("k=a", "/t?k=a")),
	exprSuite("sanity/! >", "lua-resty-expr t/v1/sanity.t TEST 17", `[["arg_k","!",">",10]]`,
		miss("k=11", "/t?k=11"),
		hit("k=9", "/t?k=9")),
	exprSuite("sanity/and + not", "lua-resty-expr t/v1/sanity.t TEST 18", `[["arg_x",">",10],["arg_x","!",">",15]]`,
		hit("x=11", "/t?x=11"),
		miss("x=16", "/t?x=16")),
	exprSuite("sanity/! ~~", "lua-resty-expr t/v1/sanity.t TEST 19", `[["arg_k","!","~~","[a-z]"]]`,
		miss("k=a", "/t?k=a"),
		hit("k=9", "/t?k=9")),
	exprSuite("sanity/! in numbers", "lua-resty-expr t/v1/sanity.t TEST 20 (query values are strings)", `[["arg_k","!","in",[1,2]]]`,
		// In the test k is a Lua number; a query argument is a string,
		// never raw-equal to a number, so "in" fails and "! in" holds.
		hit("k=3", "/t?k=3"),
		hit("k=1", "/t?k=1")),
	exprSuite("sanity/~*", "lua-resty-expr t/v1/sanity.t TEST 22", `[["arg_x","~*","A"]]`,
		hit("a", "/t?x=a"),
		hit("A", "/t?x=A"),
		miss("b", "/t?x=b"),
		miss("empty", "/t?x=")),
	exprSuite("sanity/! ~*", "lua-resty-expr t/v1/sanity.t TEST 23", `[["arg_x","!","~*","A"]]`,
		miss("a", "/t?x=a"),
		miss("A", "/t?x=A"),
		hit("b", "/t?x=b"),
		hit("empty", "/t?x=")),
	exprSuite("sanity/~~ missing", "lua-resty-expr t/v1/sanity.t TEST 24", `[["arg_k","~~","A"]]`,
		miss("no k", "/t")),
	exprSuite("sanity/~* missing", "lua-resty-expr t/v1/sanity.t TEST 25", `[["arg_k","~*","A"]]`,
		miss("no k", "/t")),
	exprSuite("sanity/~= number equal", "lua-resty-expr t/v1/sanity.t TEST 26-28", `[["arg_age","~=",18]]`,
		miss("age=18", "/t?age=18"),
		hit("age=16", "/t?age=16"),
		hit("age=aa", "/t?age=aa")),
	exprSuite("sanity/~= numeric string", "lua-resty-expr t/v1/sanity.t TEST 29", `[["arg_age","~=","18"]]`,
		miss("age=18", "/t?age=18")),
	exprSuite("sanity/~= missing", "lua-resty-expr t/v1/sanity.t TEST 30", `[["arg_name","~=","jack"]]`,
		hit("no name", "/t")),
	exprSuite("sanity/~~ missing name", "lua-resty-expr t/v1/sanity.t TEST 31", `[["arg_name","~~","[a-z]{1,4}"]]`,
		miss("no name", "/t")),
	exprSuite("sanity/~* missing name", "lua-resty-expr t/v1/sanity.t TEST 32", `[["arg_name","~*","[a-z]{1,4}"]]`,
		miss("no name", "/t")),
	exprSuite("sanity/operator case", "lua-resty-expr t/v1/sanity.t TEST 33 (IN for HAS)", `["or",["arg_x","IN",["a"]],["arg_x","In",["c"]]]`,
		hit("a", "/t?x=a"),
		hit("c", "/t?x=c"),
		miss("b", "/t?x=b")),
	exprSuite("sanity/>= string", "lua-resty-expr t/v1/sanity.t TEST 34", `[["arg_k",">=","2"]]`,
		hit("k=2", "/t?k=2")),
	exprSuite("sanity/>= number", "lua-resty-expr t/v1/sanity.t TEST 34", `[["arg_k",">=",3]]`,
		miss("k=2", "/t?k=2")),
	exprSuite("sanity/<= string", "lua-resty-expr t/v1/sanity.t TEST 35", `[["arg_k","<=","2"]]`,
		miss("k=3", "/t?k=3")),
	exprSuite("sanity/<= number", "lua-resty-expr t/v1/sanity.t TEST 35", `[["arg_k","<=",3]]`,
		hit("k=3", "/t?k=3")),
	exprSuite("sanity/header ~= null", "lua-resty-expr t/v1/sanity.t TEST 36", `[["http_test","~=",null]]`,
		miss("no header", "/t"),
		hit("header", "/t", "test: x")),

	// ---- t/v1/and.t ----
	exprSuite("and/AND", "lua-resty-expr t/v1/and.t TEST 1-2", `["AND",["arg_weight",">",10],["arg_weight","!",">",15]]`,
		hit("12", "/t?weight=12"),
		miss("8", "/t?weight=8")),
	exprSuite("and/nested", "lua-resty-expr t/v1/and.t TEST 3", `["AND",["AND",["arg_weight","<",20],["arg_weight","!","<",15]],[["arg_height",">",10],["arg_height","!","<",15]]]`,
		hit("16/16", "/t?weight=16&height=16")),
	exprSuite("and/nested fail", "lua-resty-expr t/v1/and.t TEST 4", `["AND",[["arg_height",">",10],["arg_height","!","<",15]],["AND",["arg_weight","<",20],["arg_weight","!","<",15]]]`,
		miss("14/16", "/t?weight=14&height=16")),

	// ---- t/v1/or.t ----
	exprSuite("or/OR", "lua-resty-expr t/v1/or.t TEST 1-2", `["OR",["arg_weight",">",10],["arg_weight","!",">",15]]`,
		hit("12", "/t?weight=12"),
		hit("8", "/t?weight=8")),
	exprSuite("or/both fail", "lua-resty-expr t/v1/or.t TEST 3", `["OR",["arg_weight",">",20],["arg_weight","!",">",15]]`,
		miss("16", "/t?weight=16")),
	exprSuite("or/nested", "lua-resty-expr t/v1/or.t TEST 4-5", `["OR",["OR",["arg_weight",">",20],["arg_weight","!",">",15]],["AND",["arg_height",">",10],["arg_height","!","<",15]]]`,
		hit("16/16", "/t?weight=16&height=16"),
		miss("16/14", "/t?weight=16&height=14")),
	exprSuite("or/nested lists", "lua-resty-expr t/v1/or.t TEST 6-7", `["OR",[["arg_weight","!",">",15]],[["arg_height",">",10],["arg_height","!","<",15]]]`,
		hit("16/16", "/t?weight=16&height=16"),
		miss("16/14", "/t?weight=16&height=14")),

	// ---- t/v1/not.t ----
	exprSuite("not/!AND", "lua-resty-expr t/v1/not.t TEST 1-2", `["!AND",["arg_weight",">",10],["arg_weight","!",">",15]]`,
		miss("12", "/t?weight=12"),
		hit("8", "/t?weight=8")),
	exprSuite("not/!AND both fail", "lua-resty-expr t/v1/not.t TEST 3", `["!AND",["arg_weight",">",10],["arg_weight","!","<",15]]`,
		hit("8", "/t?weight=8")),
	exprSuite("not/!OR", "lua-resty-expr t/v1/not.t TEST 4-5", `["!OR",["arg_weight",">",10],["arg_weight","!",">",15]]`,
		miss("12", "/t?weight=12"),
		miss("8", "/t?weight=8")),
	exprSuite("not/!OR both fail", "lua-resty-expr t/v1/not.t TEST 6", `["!OR",["arg_weight",">",10],["arg_weight","!","<",15]]`,
		hit("8", "/t?weight=8")),
	exprSuite("not/nested", "lua-resty-expr t/v1/not.t TEST 7", `["!OR",["AND",["arg_weight","<",20],["arg_weight","!","<",15]],[["arg_height",">",10],["arg_height","!","<",15]],["OR",["arg_height",">",10],["arg_height","!","<",15]]]`,
		miss("16/16", "/t?weight=16&height=16")),
	exprSuite("not/nested not", "lua-resty-expr t/v1/not.t TEST 8", `["!OR",["!AND",["arg_weight","<",20],["arg_weight","!","<",15]],["!OR",["arg_height",">",10],["arg_height","!","<",15]]]`,
		hit("16/16", "/t?weight=16&height=16")),
	exprSuite("not/mixed", "lua-resty-expr t/v1/not.t TEST 9", `["!AND",["arg_name","==","json"],["OR",["arg_weight",">",10],["arg_height","!",">",15]]]`,
		miss("json", "/t?weight=6&height=6&name=json")),
	exprSuite("not/mixed success", "lua-resty-expr t/v1/not.t TEST 10", `["!AND",["OR",["arg_weight",">",10],["arg_height","!",">",15]],["arg_name","==","json"]]`,
		hit("xx", "/t?weight=6&height=6&name=xx")),
	exprSuite("not/multiple layers", "lua-resty-expr t/v1/not.t TEST 11", `["!AND",["arg_name","==","json"],["OR",["AND",["arg_weight",">",10],["arg_height",">",10]],["arg_height","!",">",15]]]`,
		miss("json", "/t?weight=6&height=6&name=json")),

	// ---- t/v1/ipmatcher.t (client 127.0.0.1) ----
	exprSuite("ipmatch/address", "lua-resty-expr t/v1/ipmatcher.t TEST 1", `[["remote_addr","ipmatch","127.0.0.1"]]`,
		hit("127.0.0.1", "/t")),
	exprSuite("ipmatch/list", "lua-resty-expr t/v1/ipmatcher.t TEST 3", `[["remote_addr","ipmatch",["127.0.0.1"]]]`,
		hit("127.0.0.1", "/t")),
	exprSuite("ipmatch/cidr", "lua-resty-expr t/v1/ipmatcher.t TEST 4", `[["remote_addr","ipmatch","127.0.0.0/16"]]`,
		hit("127.0.0.1", "/t")),
	exprSuite("ipmatch/cidr list", "lua-resty-expr t/v1/ipmatcher.t TEST 4", `[["remote_addr","ipmatch",["127.0.0.0/16"]]]`,
		hit("127.0.0.1", "/t")),
	exprSuite("ipmatch/several", "lua-resty-expr t/v1/ipmatcher.t TEST 5", `[["remote_addr","ipmatch",["127.0.0.1","127.0.0.2"]]]`,
		hit("127.0.0.1", "/t")),
	exprSuite("ipmatch/none", "lua-resty-expr t/v1/ipmatcher.t TEST 5", `[["remote_addr","ipmatch",["127.0.0.2","127.0.0.3"]]]`,
		miss("127.0.0.1", "/t")),
	exprSuite("ipmatch/arg", "lua-resty-expr t/v1/ipmatcher.t TEST 6", `[["arg_real_ip","ipmatch",["127.0.0.1"]]]`,
		hit("real_ip", "/t?real_ip=127.0.0.1"),
		miss("other", "/t?real_ip=127.0.0.2")),
	exprSuite("ipmatch/header", "lua-resty-expr t/v1/ipmatcher.t TEST 7", `[["http_real_ip","ipmatch",["127.0.0.1"]]]`,
		hit("real-ip", "/t", "real-ip: 127.0.0.1"),
		miss("other", "/t", "real-ip: 127.0.0.2")),
	exprSuite("ipmatch/with other operators", "lua-resty-expr t/v1/ipmatcher.t TEST 8", `[["remote_addr","ipmatch",["127.0.0.1"]],["arg_k","==","v"]]`,
		hit("k=v", "/t?k=v")),
	exprSuite("ipmatch/with other operators, no ip", "lua-resty-expr t/v1/ipmatcher.t TEST 8", `[["remote_addr","ipmatch",["127.0.0.2"]],["arg_k","==","v"]]`,
		miss("k=v", "/t?k=v")),

	// ---- t/v1/validate.t ----
	exprSuite("validate/empty rule", "lua-resty-expr t/v1/validate.t TEST 7", `[]`,
		hit("any", "/t?weight=12")),
}
