package router

import (
	"bytes"
	"strings"
)

// hostPattern is one entry of a route's host / hosts, lowercased as APISIX
// stores it.
type hostPattern struct {
	text     string // as configured, lowercased: "foo.com", "*.foo.com", "*"
	wildcard bool   // leading "*": a suffix match
	suffix   string // text without the "*"
	port     bool   // contains ':': compared with the raw Host header (uri routers)
}

// validHost reports whether s matches APISIX's host_def pattern
// ^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$.
func validHost(s string) bool {
	if s == "*" {
		return true
	}
	s = strings.TrimPrefix(s, "*")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == '-', c == '.', c == '_', c == '[', c == ']', c == ':':
		default:
			return false
		}
	}
	return true
}

func newHostPattern(s string) hostPattern {
	s = strings.ToLower(s)
	h := hostPattern{text: s, suffix: s, port: strings.IndexByte(s, ':') >= 0}
	if strings.HasPrefix(s, "*") {
		h.wildcard, h.suffix = true, s[1:]
	}
	return h
}

// match reports whether the pattern accepts the request: host is nginx's
// $host, rawHost the Host header as sent (used for patterns with a port, as
// lua-resty-radixtree compares those with $http_host).
func (h *hostPattern) match(host, rawHost []byte) bool {
	if h.port {
		host = rawHost
	}
	if h.wildcard {
		return len(host) >= len(h.suffix) && string(host[len(host)-len(h.suffix):]) == h.suffix
	}
	return string(host) == h.text
}

// serverName is nginx's $host for a request without a Host (APISIX's
// server block says "server_name _").
const serverName = "_"

// nginxHost turns the request's host (fasthttp lowercases it) into nginx's
// $host: port removed (after "]" for an IPv6 literal), one trailing dot
// removed. An empty result means there is no host: the caller uses
// serverName.
func nginxHost(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if i := bytes.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}
