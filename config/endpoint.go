package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Endpoint is one parsed deployment.etcd.host entry.
type Endpoint struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is a host name or an IP address, without brackets.
	Host string
	// Port defaults to 2379, as in APISIX.
	Port int
}

// URL returns the endpoint as scheme://host:port.
func (e Endpoint) URL() string { return e.Scheme + "://" + e.Addr() }

// Addr returns host:port, the address to dial.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// ParseEndpoint parses an etcd endpoint URL the way APISIX does
// (lua-resty-etcd): scheme http or https, a host name (letters, digits, dots
// and hyphens) or a bracketed IPv6 address, and an optional port that
// defaults to 2379. A path, query, user info or trailing slash is an error.
func ParseEndpoint(s string) (Endpoint, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return Endpoint{}, fmt.Errorf("%q is not a URL with scheme http or https", s)
	}
	e := Endpoint{Scheme: scheme, Port: defaultEtcdPort}
	hostPort := rest
	if strings.ContainsAny(rest, "/?#@") {
		return Endpoint{}, fmt.Errorf("%q: only scheme://host[:port] is allowed, without path, query or user info", s)
	}
	var portStr string
	hasPort := false
	if strings.HasPrefix(hostPort, "[") {
		end := strings.IndexByte(hostPort, ']')
		if end < 0 {
			return Endpoint{}, fmt.Errorf("%q: missing ']' after the IPv6 address", s)
		}
		e.Host = hostPort[1:end]
		after := hostPort[end+1:]
		if after != "" {
			if after[0] != ':' {
				return Endpoint{}, fmt.Errorf("%q: unexpected %q after the IPv6 address", s, after)
			}
			portStr, hasPort = after[1:], true
		}
		if net.ParseIP(e.Host) == nil || !strings.Contains(e.Host, ":") {
			return Endpoint{}, fmt.Errorf("%q: %q is not an IPv6 address", s, e.Host)
		}
	} else {
		e.Host, portStr, hasPort = strings.Cut(hostPort, ":")
		if e.Host == "" {
			return Endpoint{}, fmt.Errorf("%q has no host", s)
		}
		if !validHostName(e.Host) {
			return Endpoint{}, fmt.Errorf("%q: a host name may only hold letters, digits, dots and hyphens", s)
		}
	}
	// As in APISIX, "host:" with nothing after the colon takes the default.
	if hasPort && portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil || strings.ContainsAny(portStr, "+-") {
			return Endpoint{}, fmt.Errorf("%q: port %q is not a number", s, portStr)
		}
		if p < 1 || p > 65535 {
			return Endpoint{}, fmt.Errorf("%q: port %d is not between 1 and 65535", s, p)
		}
		e.Port = p
	}
	return e, nil
}

func validHostName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
