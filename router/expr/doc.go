// Package expr compiles and evaluates APISIX route `vars`: the
// lua-resty-expr (v1.3.2) rule language that APISIX uses to match requests
// on variables such as arg_name, http_x_header or cookie_session.
//
// A rule is a JSON array. Its leaves are [var, op, value] or
// [var, "!", op, value]; the operators are ==, ~=, >, >=, <, <=, ~~
// (regex), ~* (case-insensitive regex), in, has and ipmatch. Leaves combine
// with AND (an array of leaves, or "AND" as the first element), "OR",
// "!AND" and "!OR", nested to any depth. Compile reproduces
// lua-resty-expr's acceptance rules and its quirks (a two-element leaf
// [var, value] means ==, the lowercased operator becomes the value; a
// missing variable is never == a string but is always ~= one; numeric
// operators compare with Lua's tonumber). Regular expressions are Go RE2:
// PCRE-only syntax (look-around, back-references) is a compile error.
//
// An expression evaluated on a response (response-rewrite's vars) is compiled
// with CompileResponse, which also resolves the response's variables (status,
// upstream_status, sent_http_*, upstream_http_*: ParseResponseVar); a route's
// vars, evaluated before any response exists, reject them as APISIX's router
// cannot see them. The router's Source serves the request's variables only.
//
// Variables are resolved by name at compile time into a Var (see ParseVar);
// values are read at evaluation time through a Source, which the router
// implements over a fasthttp request. This package knows nothing of HTTP
// servers.
//
// Concurrency: an *Expr is immutable after Compile and safe for concurrent
// Eval calls; a Source is per request and is not.
package expr
