package adminapi

import (
	"context"
	"net/http"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// reference is a field of an object that names another object, checked on write as APISIX's
// etcd-backed Admin API checks it (the data plane does not: a dangling reference there is a 502).
type reference struct {
	field, dir, what string // "upstream_id", "upstreams", "upstream"
}

var references = map[string][]reference{
	"routes": {
		{"upstream_id", "upstreams", "upstream"},
		{"service_id", "services", "service"},
		{"plugin_config_id", "plugin_configs", "plugin config"},
	},
	"services":      {{"upstream_id", "upstreams", "upstream"}},
	"stream_routes": {{"upstream_id", "upstreams", "upstream"}, {"service_id", "services", "service"}},
	"consumers":     {{"group_id", "consumer_groups", "consumer group"}},
}

// checkRefs refuses conf when an object it names does not exist.
func (h *Handler) checkRefs(ctx context.Context, t target, conf map[string]any) error {
	if t.res.kind == "credential" {
		return nil
	}
	for _, ref := range references[t.res.dir] {
		id := idString(conf[ref.field])
		if id == "" {
			continue
		}
		resp, err := h.o.KV.Get(ctx, h.o.Prefix+"/"+ref.dir+"/"+id, clientv3.WithCountOnly())
		if err != nil {
			return errorf(http.StatusBadRequest, "failed to fetch %s info by %s id [%s]: %v", ref.what, ref.what, id, err)
		}
		if resp.Count == 0 {
			return errorf(http.StatusBadRequest, "failed to fetch %s info by %s id [%s], response code: 404", ref.what, ref.what, id)
		}
	}
	if sup := idString(nested(conf, "protocol", "superior_id")); t.res.dir == "stream_routes" && sup != "" {
		resp, err := h.o.KV.Get(ctx, h.o.Prefix+"/stream_routes/"+sup, clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count == 0 {
			return errorf(http.StatusBadRequest, "failed to fetch stream routes[%s], response code: 404", sup)
		}
	}
	return nil
}

func nested(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// user is a kind of object that may reference the one being deleted, and how.
type user struct {
	dir, name string
	// uses reports whether obj references id.
	uses func(obj map[string]any, id string) bool
	// msg is the refusal, given the user's id.
	msg string
}

func field(f string) func(map[string]any, string) bool {
	return func(o map[string]any, id string) bool { return idString(o[f]) == id }
}

// upstreamInPlugins: traffic-split's weighted upstreams name upstreams by id.
func upstreamInPlugins(o map[string]any, id string) bool {
	rules, _ := nested(o, "plugins", "traffic-split", "rules").([]any)
	for _, r := range rules {
		ups, _ := nested(r, "weighted_upstreams").([]any)
		for _, u := range ups {
			if idString(nested(u, "upstream_id")) == id {
				return true
			}
		}
	}
	return false
}

func protoInPlugins(o map[string]any, id string) bool {
	return idString(nested(o, "plugins", "grpc-transcode", "proto_id")) == id
}

// users lists, per kind, who may still use an object of that kind (apisix/admin/*.lua
// delete_checker), in the order APISIX looks.
var users = map[string][]user{
	"upstreams": {
		{"routes", "route", upstreamInPlugins, "can not delete this upstream, plugin in route [%s] is still using it now"},
		{"routes", "route", field("upstream_id"), "can not delete this upstream, route [%s] is still using it now"},
		{"services", "service", upstreamInPlugins, "can not delete this upstream, plugin in service [%s] is still using it now"},
		{"services", "service", field("upstream_id"), "can not delete this upstream, service [%s] is still using it now"},
		{"plugin_configs", "plugin_config", upstreamInPlugins, "can not delete this upstream, plugin in plugin_config [%s] is still using it now"},
		{"consumers", "consumer", upstreamInPlugins, "can not delete this upstream, plugin in consumer [%s] is still using it now"},
		{"consumer_groups", "consumer_group", upstreamInPlugins, "can not delete this upstream, plugin in consumer_group [%s] is still using it now"},
		{"global_rules", "global_rules", upstreamInPlugins, "can not delete this upstream, plugin in global_rules [%s] is still using it now"},
	},
	"services": {
		{"routes", "route", field("service_id"), "can not delete this service directly, route [%s] is still using it now"},
		{"stream_routes", "stream_route", field("service_id"), "can not delete this service directly, stream_route [%s] is still using it now"},
	},
	"plugin_configs": {
		{"routes", "route", field("plugin_config_id"), "can not delete this plugin config, route [%s] is still using it now"},
	},
	"consumer_groups": {
		{"consumers", "consumer", field("group_id"), "can not delete this consumer group, consumer [%s] is still using it now"},
	},
	"protos": {
		{"routes", "route", protoInPlugins, "can not delete this proto, route [%s] is still using it now"},
		{"services", "service", protoInPlugins, "can not delete this proto, service [%s] is still using it now"},
		{"plugin_configs", "plugin_config", protoInPlugins, "can not delete this proto, plugin_config [%s] is still using it now"},
		{"consumers", "consumer", protoInPlugins, "can not delete this proto, consumer [%s] is still using it now"},
		{"consumer_groups", "consumer_group", protoInPlugins, "can not delete this proto, consumer_group [%s] is still using it now"},
		{"global_rules", "global_rules", protoInPlugins, "can not delete this proto, global_rules [%s] is still using it now"},
	},
	"stream_routes": {
		{"stream_routes", "stream_route", func(o map[string]any, id string) bool {
			return idString(nested(o, "protocol", "superior_id")) == id
		}, "can not delete this stream route directly, stream route [%s] is still using it as superior_id"},
	},
}

// inUse returns APISIX's refusal when an object still references t's object, or nil.
func (h *Handler) inUse(ctx context.Context, t target) error {
	lists := map[string][]map[string]any{}
	for _, u := range users[t.res.dir] {
		objs, ok := lists[u.dir]
		if !ok {
			dir := target{res: resources[u.dir], dir: h.o.Prefix + "/" + u.dir + "/"}
			kvs, err := h.children(ctx, dir)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if v, ok := decodeStored(kv.Value); ok {
					if m, ok := v.(map[string]any); ok {
						objs = append(objs, m)
					}
				}
			}
			lists[u.dir] = objs
		}
		for _, o := range objs {
			if u.uses(o, t.id) {
				id := idString(o["id"])
				if id == "" {
					id = idString(o["username"])
				}
				return errorf(http.StatusBadRequest, u.msg, id)
			}
		}
	}
	return nil
}
