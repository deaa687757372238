// Package realip is APISIX's real-ip plugin (apache/apisix apisix/plugins/real-ip.lua): in the
// rewrite phase, priority 23000, the client address ($remote_addr, $remote_port) becomes the one
// a request variable gives, for every later plugin (ip-restriction, limit keys), the
// X-Forwarded-For and X-Real-IP the upstream gets and the access log. Routing, done before, does
// not see it.
//
// Conf: source (required: a variable, "http_x_real_ip", "arg_realip", ...; "http_x_forwarded_for"
// reads the last X-Forwarded-For field), trusted_addresses (addresses and CIDRs; when set, only a
// request whose current client address is one of them is changed), recursive (false; with
// trusted_addresses, X-Forwarded-For is walked from the right past trusted addresses).
//
// The address is read as the proxy's real-IP settings read theirs (internal/ngxaddr: an address,
// address:port, [IPv6] or [IPv6]:port); a value that does not parse, or no value, leaves the
// address as it was, as APISIX does ("bad address", "missing real address"). A conf is compiled
// once; the request path allocates nothing.
package realip

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/ipset"
	"github.com/zoneproxy/zoneproxy/internal/ngxaddr"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Name and Priority are APISIX's.
const (
	Name     = "real-ip"
	Priority = 23000
)

// Plugin is real-ip.
var Plugin plugin.Plugin = realIP{}

type realIP struct{}

func (realIP) Name() string  { return Name }
func (realIP) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	xff       bool     // source is http_x_forwarded_for
	source    expr.Var // otherwise
	trusted   *ipset.Set
	recursive bool
}

func (realIP) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Required("source"); err != nil {
		return nil, err
	}
	conf := &Conf{}
	src, err := c.StringLen("source", "", 1, -1)
	if err != nil {
		return nil, err
	}
	if src == "http_x_forwarded_for" {
		conf.xff = true
	} else if conf.source, err = expr.ParseVar(src); err != nil {
		return nil, fmt.Errorf("property \"source\" validation failed: %w", err)
	}
	list, err := c.StringList("trusted_addresses", 1, false)
	if err != nil {
		return nil, err
	}
	if list != nil {
		if conf.trusted, err = ipset.Parse(list, ipset.Options{}); err != nil {
			if pe, ok := err.(*ipset.ParseError); ok {
				return nil, fmt.Errorf("invalid ip address: %s", pe.Entry)
			}
			return nil, err
		}
	}
	if conf.recursive, err = c.Bool("recursive", false); err != nil {
		return nil, err
	}
	return conf, nil
}

// Rewrite sets the client address from the source, when the current one is trusted.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	if c.trusted != nil && !c.trusts(r.Ctx.RemoteIP()) {
		return plugin.Reply{}
	}
	var v []byte
	if c.xff {
		v = c.fromXFF(r)
	} else {
		var ok bool
		r.Scratch, ok = r.AppendVar(r.Scratch[:0], &c.source)
		if !ok {
			return plugin.Reply{}
		}
		v = r.Scratch
	}
	if len(v) == 0 {
		return plugin.Reply{}
	}
	a, ok := ngxaddr.ParseAddrPort(v)
	if !ok {
		return plugin.Reply{}
	}
	r.SetClientAddr(a)
	return plugin.Reply{}
}

func (c *Conf) trusts(ip []byte) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && c.trusted.Contains(a.Unmap())
}

// fromXFF is APISIX's get_addr for http_x_forwarded_for: the last X-Forwarded-For field; in it,
// the entry after the last comma (leading spaces skipped), or with recursive and
// trusted_addresses the rightmost entry that is not trusted (the leftmost when all are).
func (c *Conf) fromXFF(r *plugin.Request) []byte {
	all := r.Ctx.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor)
	if len(all) == 0 {
		return nil
	}
	v := all[len(all)-1]
	idx := bytes.LastIndexByte(v, ',')
	if idx < 0 {
		return v
	}
	if c.recursive && c.trusted != nil {
		// Entries split on ",\s*", walked from the right down to the second.
		for end := len(v); ; {
			comma := bytes.LastIndexByte(v[:end], ',')
			if comma < 0 {
				return v[:end] // the first entry
			}
			e := trimLeftSpace(v[comma+1 : end])
			if a, ok := ngxaddr.ParseAddr(e); !ok || !c.trusted.Contains(a.Unmap()) {
				return e
			}
			end = comma
		}
	}
	return bytes.TrimLeft(v[idx+1:], " ")
}

// trimLeftSpace removes what "\s*" matches after a comma.
func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r' || b[0] == '\f' || b[0] == '\v') {
		b = b[1:]
	}
	return b
}
