// Package consumerrestriction is APISIX's consumer-restriction plugin (apache/apisix
// apisix/plugins/consumer-restriction.lua): it lets a request through, or not, by the consumer
// an authentication plugin attached (or its group, the route or the service).
//
// Conf: type (consumer_name | consumer_group_id | route_id | service_id; default
// consumer_name), whitelist, blacklist, allowed_by_methods ([{user, methods}]), rejected_code
// (403, >= 200), rejected_msg; at least one of whitelist, blacklist and allowed_by_methods.
// Phase: access, priority 2400. A request without the value (no consumer) answers 401 `{"message":
// "The request is rejected, please check the <type> for this request"}`; a blacklisted value, a
// value not whitelisted, or a method allowed_by_methods does not grant the value (when it names
// it and the value is not whitelisted) answers rejected_code with `{"message": rejected_msg}`,
// by default "The <type> is forbidden.".
package consumerrestriction

import (
	"fmt"
	"slices"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "consumer-restriction"
	Priority = 2400
)

// Plugin is consumer-restriction.
var Plugin plugin.Plugin = restriction{}

type restriction struct{}

func (restriction) Name() string  { return Name }
func (restriction) Priority() int { return Priority }

// The values a conf restricts on.
const (
	byConsumer = iota
	byGroup
	byRoute
	byService
)

// Conf is a compiled conf.
type Conf struct {
	by                   int
	whitelist, blacklist []string
	methods              []userMethods
	code                 int
	rejected, noValue    []byte
}

type userMethods struct {
	user    string
	methods []string
}

var methodNames = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

func (restriction) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{}
	typ, err := c.String("type", "consumer_name")
	if err != nil {
		return nil, err
	}
	types := []string{"consumer_name", "consumer_group_id", "route_id", "service_id"}
	if err := plugin.Enum("type", typ, types...); err != nil {
		return nil, err
	}
	conf.by = slices.Index(types, typ)
	if conf.whitelist, err = c.StringList("whitelist", 1, false); err != nil {
		return nil, err
	}
	if conf.blacklist, err = c.StringList("blacklist", 1, false); err != nil {
		return nil, err
	}
	if conf.methods, err = allowedByMethods(c); err != nil {
		return nil, err
	}
	if !c.Has("whitelist") && !c.Has("blacklist") && !c.Has("allowed_by_methods") {
		return nil, plugin.ErrAnyOf
	}
	if conf.code, err = c.Int("rejected_code", 403); err != nil {
		return nil, err
	}
	if conf.code < 200 || conf.code > 599 {
		return nil, fmt.Errorf("property \"rejected_code\" validation failed: expected %d to be at least 200", conf.code)
	}
	msg, err := c.String("rejected_msg", "The "+typ+" is forbidden.")
	if err != nil {
		return nil, err
	}
	conf.rejected = plugin.MessageBody(msg)
	conf.noValue = plugin.MessageBody("The request is rejected, please check the " + typ + " for this request")
	return conf, nil
}

func allowedByMethods(c plugin.Conf) ([]userMethods, error) {
	items, err := c.Objects("allowed_by_methods")
	if err != nil {
		return nil, err
	}
	out := make([]userMethods, 0, len(items))
	for i, it := range items {
		var um userMethods
		if um.user, err = it.String("user", ""); err != nil {
			return nil, fmt.Errorf("property \"allowed_by_methods\" validation failed: failed to validate item %d: %w", i+1, err)
		}
		if um.methods, err = it.StringList("methods", 1, false); err != nil {
			return nil, fmt.Errorf("property \"allowed_by_methods\" validation failed: failed to validate item %d: %w", i+1, err)
		}
		for _, m := range um.methods {
			if !slices.Contains(methodNames, m) {
				return nil, fmt.Errorf("property \"allowed_by_methods\" validation failed: failed to validate item %d: "+
					"property \"methods\" validation failed: failed to validate item: matches none of the enum values", i+1)
			}
		}
		out = append(out, um)
	}
	return out, nil
}

// Access lets the request through or answers.
func (c *Conf) Access(r *plugin.Request) plugin.Reply {
	var value string
	switch c.by {
	case byConsumer:
		if r.Consumer != nil {
			value = r.Consumer.Username
		}
	case byGroup:
		if r.Consumer != nil {
			value = r.Consumer.GroupID
		}
	case byRoute:
		value = r.RouteID
	case byService:
		value = r.ServiceID
	}
	if value == "" {
		return plugin.Reply{Status: 401, Body: c.noValue}
	}
	if slices.Contains(c.blacklist, value) {
		return plugin.Reply{Status: c.code, Body: c.rejected}
	}
	block, whitelisted := false, false
	if len(c.whitelist) > 0 {
		whitelisted = slices.Contains(c.whitelist, value)
		block = !whitelisted
	}
	if len(c.methods) > 0 && !whitelisted && !c.methodAllowed(value, r.Ctx.Method()) {
		block = true
	}
	if block {
		return plugin.Reply{Status: c.code, Body: c.rejected}
	}
	return plugin.Reply{}
}

// methodAllowed: the first entry naming user decides; a user no entry names is allowed.
func (c *Conf) methodAllowed(user string, method []byte) bool {
	for _, um := range c.methods {
		if um.user == user {
			for _, m := range um.methods {
				if m == string(method) {
					return true
				}
			}
			return false
		}
	}
	return true
}
