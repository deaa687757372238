package expr

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"unsafe"

	"github.com/zoneproxy/zoneproxy/internal/ipset"
)

// jsonNumber converts a JSON number as cjson does (to a double; out of range
// becomes ±inf).
func jsonNumber(n json.Number) (float64, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// leaf builds the comparison for one [var, op, value]. rv is the decoded
// JSON operand (nil for null or absent).
func leaf(v *Var, op string, rv any) (evalFn, error) {
	switch op {
	case "==":
		return equal(v, rv), nil
	case "~=":
		eq := equal(v, rv)
		return func(s Source) bool { return !eq(s) }, nil
	case ">", ">=", "<", "<=":
		return numeric(v, op, rv), nil
	case "~~", "~*":
		return regex(v, op, rv)
	case "in":
		return in(v, rv), nil
	case "has":
		// has needs a table on the left; no variable available while
		// routing is one (graphql_root_fields is not supported), so it
		// never holds.
		return func(Source) bool { return false }, nil
	case "ipmatch":
		return ipmatch(v, rv)
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

func never(Source) bool { return false }

// equal is Lua's == after lua-resty-expr's coercion: a number operand
// compares with tonumber(var).
func equal(v *Var, rv any) evalFn {
	switch r := rv.(type) {
	case nil:
		return func(s Source) bool { return s.Value(v).Kind == Missing }
	case string:
		return func(s Source) bool {
			x := s.Value(v)
			return x.Kind == String && string(x.S) == r
		}
	case json.Number:
		f, ok := jsonNumber(r)
		if !ok {
			return never
		}
		return func(s Source) bool {
			x := s.Value(v)
			if x.Kind != String {
				return false
			}
			n, ok := toNumber(x.S)
			return ok && n == f
		}
	case bool:
		if !r {
			return never
		}
		return func(s Source) bool { return s.Value(v).Kind == True }
	default: // a table is only equal to itself
		return never
	}
}

// numeric is lua-resty-expr's >, >=, <, <=: both sides through tonumber,
// false when either is not a number.
func numeric(v *Var, op string, rv any) evalFn {
	var f float64
	switch r := rv.(type) {
	case json.Number:
		var ok bool
		if f, ok = jsonNumber(r); !ok {
			return never
		}
	case string:
		var ok bool
		if f, ok = toNumber([]byte(r)); !ok {
			return never
		}
	default:
		return never
	}
	var cmp func(a float64) bool
	switch op {
	case ">":
		cmp = func(a float64) bool { return a > f }
	case ">=":
		cmp = func(a float64) bool { return a >= f }
	case "<":
		cmp = func(a float64) bool { return a < f }
	default:
		cmp = func(a float64) bool { return a <= f }
	}
	return func(s Source) bool {
		x := s.Value(v)
		if x.Kind != String {
			return false
		}
		n, ok := toNumber(x.S)
		return ok && cmp(n)
	}
}

// RegexError reports a pattern Go's RE2 cannot compile.
type RegexError struct {
	Pattern string
	Err     error
}

func (e *RegexError) Error() string {
	return fmt.Sprintf("invalid regex %q (RE2 syntax: no look-around or back-references): %v", e.Pattern, e.Err)
}

func (e *RegexError) Unwrap() error { return e.Err }

// regex is ~~ (ngx.re.find "jo") and ~* (with "i"): an unanchored search.
func regex(v *Var, op string, rv any) (evalFn, error) {
	pat, ok := luaString(rv)
	if !ok {
		return nil, fmt.Errorf("%s needs a regex string, got %s", op, typeName(rv))
	}
	src := pat
	if op == "~*" {
		src = "(?i)" + pat
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, &RegexError{Pattern: pat, Err: err}
	}
	return func(s Source) bool {
		x := s.Value(v)
		return x.Kind == String && re.Match(x.S)
	}, nil
}

// in is lua-resty-expr's in_array: raw Lua equality with the elements of an
// array operand (no number coercion); a non-array operand never matches.
func in(v *Var, rv any) evalFn {
	list, ok := rv.([]any)
	if !ok {
		return never
	}
	set := make(map[string]struct{}, len(list))
	hasTrue := false
	for _, e := range list {
		switch t := e.(type) {
		case string:
			set[t] = struct{}{}
		case bool:
			hasTrue = hasTrue || t
		}
	}
	return func(s Source) bool {
		x := s.Value(v)
		switch x.Kind {
		case String:
			_, ok := set[string(x.S)]
			return ok
		case True:
			return hasTrue
		}
		return false
	}
}

// ipmatch is lua-resty-ipmatcher's match of the variable against an
// address, a CIDR or a list of them.
func ipmatch(v *Var, rv any) (evalFn, error) {
	var list []string
	switch r := rv.(type) {
	case string:
		if r == "" {
			return nil, fmt.Errorf("ipmatch needs an IP address, a CIDR or a non-empty list of them")
		}
		list = []string{r}
	case []any:
		if len(r) == 0 {
			return nil, fmt.Errorf("ipmatch needs an IP address, a CIDR or a non-empty list of them")
		}
		for i, e := range r {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("ipmatch: [%d]: want an IP address or CIDR string, got %s", i, typeName(e))
			}
			list = append(list, s)
		}
	default:
		return nil, fmt.Errorf("ipmatch needs an IP address, a CIDR or a non-empty list of them, got %s", typeName(rv))
	}
	set, err := ipset.Parse(list, ipset.Options{Brackets: true})
	if err != nil {
		return nil, fmt.Errorf("ipmatch: %w", err)
	}
	return func(s Source) bool {
		x := s.Value(v)
		if x.Kind != String {
			return false
		}
		a, ok := parseIP(x.S)
		return ok && set.Contains(a)
	}, nil
}

// parseIP parses an IPv4 or IPv6 address, the latter optionally bracketed,
// as lua-resty-ipmatcher does with inet_pton (no zones).
func parseIP(b []byte) (netip.Addr, bool) {
	if len(b) > 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}
