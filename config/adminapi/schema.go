package adminapi

import (
	"net/http"
	"strings"
)

// schemaNames maps APISIX's schema names (GET /apisix/admin/schema/<name>, core.schema's keys)
// to the etcd directory of their objects.
var schemaNames = map[string]string{
	"route": "routes", "service": "services", "upstream": "upstreams", "consumer": "consumers",
	"credential": "credentials", "ssl": "ssls", "global_rule": "global_rules",
	"plugin_config": "plugin_configs", "consumer_group": "consumer_groups",
	"proto": "protos", "stream_route": "stream_routes",
}

// plugin answers GET /apisix/admin/plugins/<name>[?subsystem=][&schema_type=consumer] and GET
// /apisix/admin/schema/plugins/<name>: the plugin's JSON schema (apisix/admin/plugins.lua get).
func (h *Handler) pluginSchema(r *http.Request, name string) (int, any, error) {
	q := r.URL.Query()
	sub := q.Get("subsystem")
	if sub == "" {
		sub = "http"
	}
	if sub != "http" && sub != "stream" {
		return 0, nil, errorf(http.StatusBadRequest, "unsupported subsystem: %s", sub)
	}
	// zoneproxy serves no stream plugin; an HTTP plugin must be enabled (when the list is known).
	if sub == "stream" || (h.plugins != nil && !h.plugins[name]) || h.o.PluginSchema == nil {
		return 0, nil, errorf(http.StatusNotFound, "plugin not found in subsystem %s", sub)
	}
	schema, ok := h.o.PluginSchema(name, q.Get("schema_type") == "consumer")
	if !ok {
		if h.plugins == nil {
			return 0, nil, errorf(http.StatusNotFound, "plugin not found in subsystem %s", sub)
		}
		return 0, nil, errorf(http.StatusBadRequest, "not found schema")
	}
	return http.StatusOK, schema, nil
}

// objectSchema answers GET /apisix/admin/schema/<name> (apisix/admin/schema.lua).
func (h *Handler) objectSchema(name string) (int, any, error) {
	dir, ok := schemaNames[name]
	if ok && h.o.ObjectSchema != nil {
		if schema, ok := h.o.ObjectSchema(dir); ok {
			return http.StatusOK, schema, nil
		}
	}
	return 0, nil, errorf(http.StatusBadRequest, "not found schema: %s", name)
}

// validate answers POST /apisix/admin/schema/validate/<type>: the body checked as a PUT of it
// would be, nothing stored; 200 with no body, or 400 with the error.
func (h *Handler) validate(r *http.Request, typ string) (int, any, error) {
	res := resources[typ]
	if res == nil || typ == "credentials" {
		return 0, nil, errorf(http.StatusNotFound, "Unsupported resource type: %s", typ)
	}
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	if len(body) == 0 {
		return 0, nil, errorf(http.StatusBadRequest, "missing configurations")
	}
	v, err := decodeJSON(body)
	if err != nil {
		return 0, nil, err
	}
	conf, ok := v.(map[string]any)
	if !ok {
		return 0, nil, errorf(http.StatusBadRequest, "wrong type: expected object, got %s", jsonType(v))
	}
	id := "validate"
	switch {
	case typ == "consumers":
		if name, _ := conf["username"].(string); name != "" {
			id = name
		}
	case conf["id"] != nil:
		if !validID(conf["id"]) {
			return 0, nil, errorf(http.StatusBadRequest, `property "id" validation failed: object matches none of the required`)
		}
		id = idString(conf["id"])
	}
	if typ == "secrets" {
		id = "vault/" + id
	}
	t := target{res: res, dir: h.o.Prefix + "/" + res.dir + "/", id: id}
	t.key = t.dir + id
	if _, err := h.seal(t, conf); err != nil {
		// APISIX's validate endpoint answers the schema error without the
		// "invalid configuration: " the write paths prefix.
		if ae, ok := err.(*apiError); ok {
			if msg, ok := ae.body["error_msg"].(string); ok {
				ae = errorf(ae.status, "%s", strings.TrimPrefix(msg, "invalid configuration: "))
			}
			return 0, nil, ae
		}
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}
