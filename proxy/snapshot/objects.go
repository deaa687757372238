package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// Timeout is an APISIX timeout object, in seconds.
type Timeout struct {
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Read    float64 `json:"read"`
}

func (t *Timeout) check(field string) error {
	if t == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"connect", t.Connect}, {"send", t.Send}, {"read", t.Read}} {
		if f.v <= 0 {
			return fieldError(field+"."+f.name, "must be a number > 0 (all of connect, send and read are required)")
		}
	}
	return nil
}

// routeDoc is an APISIX route as stored in etcd (apisix/schema_def.lua, _M.route).
type routeDoc struct {
	ID          json.RawMessage            `json:"id"`
	Name        *string                    `json:"name"`
	Desc        *string                    `json:"desc"`
	Labels      map[string]string          `json:"labels"`
	CreateTime  *int64                     `json:"create_time"`
	UpdateTime  *int64                     `json:"update_time"`
	URI         *string                    `json:"uri"`
	URIs        []string                   `json:"uris"`
	Priority    *int                       `json:"priority"`
	Methods     []string                   `json:"methods"`
	Host        *string                    `json:"host"`
	Hosts       []string                   `json:"hosts"`
	RemoteAddr  *string                    `json:"remote_addr"`
	RemoteAddrs []string                   `json:"remote_addrs"`
	Timeout     *Timeout                   `json:"timeout"`
	Vars        json.RawMessage            `json:"vars"`
	FilterFunc  *string                    `json:"filter_func"`
	Script      *string                    `json:"script"`
	ScriptID    json.RawMessage            `json:"script_id"`
	Plugins     map[string]json.RawMessage `json:"plugins"`
	PluginCfgID json.RawMessage            `json:"plugin_config_id"`
	Upstream    json.RawMessage            `json:"upstream"`
	ServiceID   json.RawMessage            `json:"service_id"`
	UpstreamID  json.RawMessage            `json:"upstream_id"`
	Websocket   *bool                      `json:"enable_websocket"`
	Status      *int                       `json:"status"`
}

// routeObj is a decoded, validated route.
// It keeps only what resolving and serving need, not the decoded document: a route's memory is
// most of a large snapshot's.
type routeObj struct {
	name             string
	serviceID        string
	upstreamID       string
	upstream         *upstream.Spec // inline upstream
	timeout          *Timeout
	enabled          bool
	enableWebsocket  bool
	websocketPresent bool
	ownHosts         bool // host or hosts set on the route itself
	// plugins holds the route's plugin_config_id and compiled plugins; nil when it has neither
	// (most routes: kept out of line so that a route stays within its size class).
	plugins *routePlugins
	// match is the route's match fields, kept only when it may inherit its service's hosts (and
	// so be compiled again when they change).
	match *router.Route
}

type routePlugins struct {
	configID string
	set      *plugin.Set
}

func (r *routeObj) pluginConfigID() string {
	if r.plugins == nil {
		return ""
	}
	return r.plugins.configID
}

// decodeRoute decodes and validates a route; match holds its match fields (the router validates
// them when compiling), plugins its plugins as given, for the builder to compile.
func decodeRoute(data []byte) (r *routeObj, match router.Route, plugins map[string]json.RawMessage, err error) {
	var d routeDoc
	if err := decodeStrict(data, &d); err != nil {
		return nil, match, nil, err
	}
	r, plugins, err = checkRoute(&d)
	if err != nil {
		return nil, match, nil, err
	}
	match = router.Route{URIs: d.URIs, Hosts: d.Hosts, Methods: d.Methods, RemoteAddrs: d.RemoteAddrs,
		Vars: d.Vars}
	if d.Priority != nil {
		match.Priority = *d.Priority
	}
	if d.URI != nil {
		match.URI = *d.URI
	}
	if d.Host != nil {
		match.Host = *d.Host
	}
	if d.RemoteAddr != nil {
		match.RemoteAddr = *d.RemoteAddr
	}
	return r, match, plugins, nil
}

func checkRoute(d *routeDoc) (*routeObj, map[string]json.RawMessage, error) {
	r := &routeObj{enabled: true, timeout: d.Timeout, ownHosts: d.Host != nil || d.Hosts != nil}
	if d.Name != nil {
		r.name = *d.Name
	}
	if err := checkMeta(d.Name, d.Desc, d.Labels); err != nil {
		return nil, nil, err
	}
	if _, err := idField("id", d.ID); err != nil {
		return nil, nil, err
	}
	if d.FilterFunc != nil {
		return nil, nil, fieldError("filter_func", "Lua functions are not supported by zoneproxy")
	}
	if d.Script != nil || d.ScriptID != nil {
		return nil, nil, fieldError("script", "Lua scripts are not supported by zoneproxy")
	}
	if d.Status != nil {
		switch *d.Status {
		case 0:
			r.enabled = false
		case 1:
		default:
			return nil, nil, fieldError("status", "must be 0 or 1, got %d", *d.Status)
		}
	}
	if err := d.Timeout.check("timeout"); err != nil {
		return nil, nil, err
	}
	var err error
	if r.serviceID, err = idField("service_id", d.ServiceID); err != nil {
		return nil, nil, err
	}
	if r.upstreamID, err = idField("upstream_id", d.UpstreamID); err != nil {
		return nil, nil, err
	}
	pcID, err := idField("plugin_config_id", d.PluginCfgID)
	if err != nil {
		return nil, nil, err
	}
	if pcID != "" {
		r.plugins = &routePlugins{configID: pcID}
	}
	if d.Upstream != nil {
		if r.upstream, err = upstream.Parse(d.Upstream); err != nil {
			return nil, nil, fmt.Errorf("upstream: %w", err)
		}
	}
	if d.Plugins == nil && d.Upstream == nil && d.UpstreamID == nil && d.ServiceID == nil {
		return nil, nil, errors.New("one of plugins, upstream, upstream_id or service_id is required")
	}
	if d.Websocket != nil {
		r.enableWebsocket, r.websocketPresent = *d.Websocket, true
	}
	return r, d.Plugins, nil
}

// serviceDoc is an APISIX service (schema_def.lua, _M.service).
type serviceDoc struct {
	ID         json.RawMessage            `json:"id"`
	Name       *string                    `json:"name"`
	Desc       *string                    `json:"desc"`
	Labels     map[string]string          `json:"labels"`
	CreateTime *int64                     `json:"create_time"`
	UpdateTime *int64                     `json:"update_time"`
	Plugins    map[string]json.RawMessage `json:"plugins"`
	Upstream   json.RawMessage            `json:"upstream"`
	UpstreamID json.RawMessage            `json:"upstream_id"`
	Script     *string                    `json:"script"`
	Websocket  *bool                      `json:"enable_websocket"`
	Hosts      []string                   `json:"hosts"`
}

type serviceObj struct {
	doc        serviceDoc
	upstreamID string
	upstream   *upstream.Spec
	plugins    *plugin.Set
}

func decodeService(data []byte) (*serviceObj, error) {
	var d serviceDoc
	if err := decodeStrict(data, &d); err != nil {
		return nil, err
	}
	s := &serviceObj{doc: d}
	if err := checkMeta(d.Name, d.Desc, d.Labels); err != nil {
		return nil, err
	}
	if _, err := idField("id", d.ID); err != nil {
		return nil, err
	}
	if d.Script != nil {
		return nil, fieldError("script", "Lua scripts are not supported by zoneproxy")
	}
	if d.Hosts != nil && len(d.Hosts) == 0 {
		return nil, fieldError("hosts", "must have at least 1 item")
	}
	var err error
	if s.upstreamID, err = idField("upstream_id", d.UpstreamID); err != nil {
		return nil, err
	}
	if d.Upstream != nil {
		if s.upstream, err = upstream.Parse(d.Upstream); err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
	}
	return s, nil
}

// pluginSetDoc is a plugin config or a global rule: an id and plugins.
type pluginSetDoc struct {
	ID         json.RawMessage            `json:"id"`
	Name       *string                    `json:"name"`
	Desc       *string                    `json:"desc"`
	Labels     map[string]string          `json:"labels"`
	CreateTime *int64                     `json:"create_time"`
	UpdateTime *int64                     `json:"update_time"`
	Plugins    map[string]json.RawMessage `json:"plugins"`
}

type pluginSet struct {
	set *plugin.Set
}

// decodePluginSet decodes a plugin_config (named set) or a global_rule (withName false),
// returning its plugins as given, for the builder to compile.
func decodePluginSet(data []byte, withMeta bool) (map[string]json.RawMessage, error) {
	var d pluginSetDoc
	if err := decodeStrict(data, &d); err != nil {
		return nil, err
	}
	if !withMeta && (d.Name != nil || d.Desc != nil || d.Labels != nil) {
		return nil, errors.New("global rules have only id and plugins")
	}
	if withMeta {
		if err := checkMeta(nil, d.Desc, d.Labels); err != nil {
			return nil, err
		}
	}
	if _, err := idField("id", d.ID); err != nil {
		return nil, err
	}
	if d.Plugins == nil {
		return nil, fieldError("plugins", "is required")
	}
	return d.Plugins, nil
}
