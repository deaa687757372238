package ipset

import (
	"fmt"
	"net/netip"
	"strings"
)

// Set is an immutable list of prefixes. The zero value matches nothing.
type Set struct {
	prefixes []netip.Prefix // masked, unmapped
}

// Options tune Parse to the caller's grammar.
type Options struct {
	// Brackets accepts "[::1]" (lua-resty-ipmatcher does; APISIX's
	// remote_addr schema does not).
	Brackets bool
}

// ParseError names the entry that is not an address or a CIDR.
type ParseError struct {
	Index int    // position in the list given to Parse
	Entry string // the offending text
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("[%d]: %q is not an IPv4/IPv6 address or CIDR", e.Index, e.Entry)
}

// Parse builds a Set from addresses ("10.0.0.1", "::1") and CIDRs
// ("10.0.0.0/8", "fe80::/64"). Host bits in a CIDR are ignored, as
// lua-resty-ipmatcher ignores them.
func Parse(list []string, opts Options) (*Set, error) {
	s := &Set{prefixes: make([]netip.Prefix, 0, len(list))}
	for i, e := range list {
		p, ok := parseOne(e, opts)
		if !ok {
			return nil, &ParseError{Index: i, Entry: e}
		}
		s.prefixes = append(s.prefixes, p)
	}
	return s, nil
}

func parseOne(e string, opts Options) (netip.Prefix, bool) {
	addr, bits, hasBits := strings.Cut(e, "/")
	if opts.Brackets && len(addr) > 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	n := a.BitLen()
	if hasBits {
		n = 0
		if bits == "" || len(bits) > 3 || (len(bits) > 1 && bits[0] == '0') {
			return netip.Prefix{}, false
		}
		for _, c := range []byte(bits) {
			if c < '0' || c > '9' {
				return netip.Prefix{}, false
			}
			n = n*10 + int(c-'0')
		}
		if n > a.BitLen() {
			return netip.Prefix{}, false
		}
	}
	if a.Is4In6() {
		if n < 96 {
			// A prefix shorter than the mapped range covers IPv6 space
			// only; keep it as IPv6.
			p, err := a.Prefix(n)
			return p, err == nil
		}
		a, n = a.Unmap(), n-96
	}
	p, err := a.Prefix(n)
	return p, err == nil
}

// Contains reports whether a (unmapped first) is in the set.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Len returns the number of entries.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.prefixes)
}

// String lists the normalised prefixes, for dumps.
func (s *Set) String() string {
	if s == nil {
		return ""
	}
	parts := make([]string, len(s.prefixes))
	for i, p := range s.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
