// Package iprestriction is APISIX's ip-restriction plugin (apache/apisix
// apisix/plugins/ip-restriction/init.lua): the client address ($remote_addr, after the real-IP
// settings) is checked against a whitelist or a blacklist of IPv4/IPv6 addresses and CIDRs.
//
// Conf: whitelist or blacklist (exactly one; at least one item each), message ("Your IP address
// is not allowed", 1 to 1024 characters), response_code (403; 403 or 404). Phase: access,
// priority 3000. A blocked client gets response_code and `{"message":<message>}`.
//
// The lists are parsed once per conf into an ipset.Set; the request path parses the client
// address from the request's net.IP and allocates nothing.
package iprestriction

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/zoneproxy/zoneproxy/internal/ipset"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "ip-restriction"
	Priority = 3000
)

// Plugin is ip-restriction.
var Plugin plugin.Plugin = ipRestriction{}

type ipRestriction struct{}

func (ipRestriction) Name() string  { return Name }
func (ipRestriction) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	set       *ipset.Set
	whitelist bool // set is a whitelist (else a blacklist)
	status    int
	body      []byte
}

const defaultMessage = "Your IP address is not allowed"

func (ipRestriction) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	msg, err := c.StringLen("message", defaultMessage, 1, 1024)
	if err != nil {
		return nil, err
	}
	code, err := c.Int("response_code", 403)
	if err != nil {
		return nil, err
	}
	switch {
	case code < 403:
		return nil, fmt.Errorf(`property "response_code" validation failed: expected %d to be at least 403`, code)
	case code > 404:
		return nil, fmt.Errorf(`property "response_code" validation failed: expected %d to be at most 404`, code)
	}
	var lists [2][]string
	for i, name := range [2]string{"whitelist", "blacklist"} {
		if lists[i], err = c.StringList(name, 1, false); err != nil {
			return nil, err
		}
		for j, e := range lists[i] {
			if !schemaIP(e) {
				return nil, fmt.Errorf("property %q validation failed: failed to validate item %d: object matches none of the required", name, j+1)
			}
		}
	}
	switch {
	case lists[0] == nil && lists[1] == nil:
		return nil, fmt.Errorf("value should match only one schema, but matches none")
	case lists[0] != nil && lists[1] != nil:
		return nil, fmt.Errorf("value should match only one schema, but matches both schemas 1 and 2")
	}
	conf := &Conf{whitelist: lists[0] != nil, status: code, body: plugin.MessageBody(msg)}
	list := lists[1]
	if conf.whitelist {
		list = lists[0]
	}
	// What the schema's patterns let through and the address parser refuses (an IPv6 CIDR
	// longer than /128): APISIX's check_schema says "invalid ip address".
	if conf.set, err = ipset.Parse(list, ipset.Options{}); err != nil {
		if pe, ok := err.(*ipset.ParseError); ok {
			return nil, fmt.Errorf("invalid ip address: %s", pe.Entry)
		}
		return nil, err
	}
	return conf, nil
}

// schemaIP is APISIX's core.schema.ip_def: an IPv4 address, an IPv4 CIDR (/0 to /32), an IPv6
// address, or an IPv6 address with a mask of 1 to 3 digits (the mask's range is checked after,
// by check_schema).
func schemaIP(s string) bool {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || !utf8.ValidString(s) {
		return false
	}
	if !hasBits {
		return true
	}
	if len(bits) == 0 || len(bits) > 3 || strings.Trim(bits, "0123456789") != "" {
		return false
	}
	if a.Is4() {
		// ([12]?[0-9]|3[0-2])
		n := 0
		for _, c := range []byte(bits) {
			n = n*10 + int(c-'0')
		}
		return len(bits) <= 2 && n <= 32 && !(len(bits) == 2 && bits[0] == '0')
	}
	return true
}

// Access blocks the client when its address is outside the whitelist or in the blacklist.
func (c *Conf) Access(r *plugin.Request) plugin.Reply {
	a, _ := netip.AddrFromSlice(r.Ctx.RemoteIP())
	if c.set.Contains(a) != c.whitelist {
		return plugin.Reply{Status: c.status, Body: c.body}
	}
	return plugin.Reply{}
}
