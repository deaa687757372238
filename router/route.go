package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/zoneproxy/zoneproxy/internal/ipset"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// maxURILen is APISIX's maxLength for a route's uri.
const maxURILen = 4096

// Route is the match part of one APISIX route, already merged with its
// service (hosts inherited). A nil slice means the field is absent; a
// non-nil empty one is an empty JSON array, which APISIX's schema rejects
// for uris, hosts and remote_addrs.
type Route struct {
	ID          string          // for error messages
	URI         string          // exactly one of URI / URIs must be set
	URIs        []string        //
	Host        string          // at most one of Host / Hosts
	Hosts       []string        //
	Methods     []string        // empty = any; APISIX's enum
	RemoteAddr  string          // at most one of RemoteAddr / RemoteAddrs; IPv4/IPv6 addresses or CIDRs
	RemoteAddrs []string        //
	Vars        json.RawMessage // APISIX `vars` (lua-resty-expr); nil, empty or null = none
	Priority    int             // higher first among routes with the same path
	Value       int             // opaque to the router, 32 bits; returned by Match
	// Key orders routes whose candidates tie (same path, priority and uri
	// length): by Key in byte order, then in the order New was given them
	// (Table.Update puts an added route after those with its Key). Set it
	// to the route's etcd key ("/apisix/routes/<id>"; within one prefix
	// the ID orders the same) so that Update can put an added route in its
	// etcd place; "" for every route keeps New's argument order.
	Key string
}

// Compiled is a validated, compiled Route. It is immutable, so one Compiled
// may be shared by any number of Tables (and goroutines).
type Compiled struct {
	id       string
	key      string
	paths    []pathSpec
	hosts    []hostPattern // nil = any host
	methods  uint16        // bit set (methodBit); 0 = any method
	value    int32         // Route.Value
	remote   *ipset.Set    // nil = any client
	vars     *expr.Expr    // nil = no condition
	priority int
}

// ID returns Route.ID.
func (c *Compiled) ID() string { return c.id }

// Key returns Route.Key.
func (c *Compiled) Key() string { return c.key }

// Value returns Route.Value.
func (c *Compiled) Value() int { return int(c.value) }

// Compile validates and compiles one route's match fields. Errors are
// *Error values naming the field.
func Compile(r Route) (*Compiled, error) {
	c := &Compiled{id: r.ID, key: r.Key, priority: r.Priority, value: int32(r.Value)}
	fail := func(field, format string, args ...any) (*Compiled, error) {
		return nil, &Error{Route: r.ID, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if r.Value < math.MinInt32 || r.Value > math.MaxInt32 {
		return fail("value", "%d does not fit in 32 bits", r.Value)
	}

	// uri / uris
	switch {
	case r.URI != "" && r.URIs != nil:
		return fail("uri", `only one of "uri" and "uris" may be set`)
	case r.URI == "" && r.URIs == nil:
		return fail("uri", `one of "uri" and "uris" is required`)
	case r.URI != "":
		if len(r.URI) > maxURILen {
			return fail("uri", "longer than %d bytes", maxURILen)
		}
		c.paths = []pathSpec{newPathSpec(r.URI)}
	default:
		if len(r.URIs) == 0 {
			return fail("uris", "must not be empty")
		}
		if i, j, dup := firstDuplicate(r.URIs); dup {
			return fail("uris", "[%d]: duplicate of [%d]", j, i)
		}
		c.paths = make([]pathSpec, len(r.URIs))
		for i, p := range r.URIs {
			c.paths[i] = newPathSpec(p)
		}
	}

	// host / hosts
	switch {
	case r.Host != "" && r.Hosts != nil:
		return fail("host", `only one of "host" and "hosts" may be set`)
	case r.Host != "":
		if !validHost(r.Host) {
			return fail("host", "invalid host %q: must match %s", r.Host, hostRule)
		}
		c.hosts = []hostPattern{newHostPattern(r.Host)}
	case r.Hosts != nil:
		if len(r.Hosts) == 0 {
			return fail("hosts", "must not be empty")
		}
		for i, h := range r.Hosts {
			if !validHost(h) {
				return fail("hosts", "[%d]: invalid host %q: must match %s", i, h, hostRule)
			}
		}
		if i, j, dup := firstDuplicate(r.Hosts); dup {
			return fail("hosts", "[%d]: duplicate of [%d]", j, i)
		}
		c.hosts = make([]hostPattern, 0, len(r.Hosts))
		for _, h := range r.Hosts {
			p := newHostPattern(h)
			// "A.com" and "a.com" pass the schema's uniqueness check but
			// are one host once lowercased, as APISIX stores them.
			if !slices.ContainsFunc(c.hosts, func(q hostPattern) bool { return q.text == p.text }) {
				c.hosts = append(c.hosts, p)
			}
		}
	}

	// methods
	for i, m := range r.Methods {
		b := methodBit([]byte(m))
		if b == 0 {
			return fail("methods", "[%d]: unknown method %q (want one of %s)", i, m, methodList)
		}
		if c.methods&b != 0 {
			j := indexOf(r.Methods, m)
			return fail("methods", "[%d]: duplicate of [%d]", i, j)
		}
		c.methods |= b
	}

	// remote_addr / remote_addrs
	var addrs []string
	field := "remote_addr"
	switch {
	case r.RemoteAddr != "" && r.RemoteAddrs != nil:
		return fail("remote_addr", `only one of "remote_addr" and "remote_addrs" may be set`)
	case r.RemoteAddr != "":
		addrs = []string{r.RemoteAddr}
	case r.RemoteAddrs != nil:
		field = "remote_addrs"
		if len(r.RemoteAddrs) == 0 {
			return fail(field, "must not be empty")
		}
		addrs = r.RemoteAddrs
	}
	if addrs != nil {
		set, err := ipset.Parse(addrs, ipset.Options{})
		if err != nil {
			var pe *ipset.ParseError
			if errors.As(err, &pe) && field == "remote_addr" {
				return fail(field, "%q is not an IPv4/IPv6 address or CIDR", pe.Entry)
			}
			return nil, &Error{Route: r.ID, Field: field, Reason: err.Error(), Err: err}
		}
		if i, j, dup := firstDuplicate(addrs); dup {
			return fail(field, "[%d]: duplicate of [%d]", j, i)
		}
		c.remote = set
	}

	// vars
	if len(r.Vars) > 0 {
		e, err := expr.Compile(r.Vars)
		if err != nil {
			return nil, &Error{Route: r.ID, Field: "vars", Reason: err.Error(), Err: err}
		}
		if !e.Empty() {
			c.vars = e
		}
	}
	return c, nil
}

// hostRule is APISIX's host_def pattern, quoted in errors.
const hostRule = `^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`

// firstDuplicate finds the first element equal to an earlier one (i < j).
func firstDuplicate(list []string) (i, j int, dup bool) {
	seen := make(map[string]int, len(list))
	for j, s := range list {
		if i, ok := seen[s]; ok {
			return i, j, true
		}
		seen[s] = j
	}
	return 0, 0, false
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
