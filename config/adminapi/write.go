package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/config/keyring"
)

// write answers PUT and POST: the object of the body, checked, stamped, encrypted and stored.
func (h *Handler) write(ctx context.Context, t target, method string, body []byte) (int, any, error) {
	if t.res.dir == "plugin_metadata" && t.id != "" && h.o.KnownPlugin != nil && !h.o.KnownPlugin(t.id) {
		// apisix/admin/plugin_metadata.lua: the name must be a plugin APISIX has, checked
		// before the body.
		return 0, nil, errorf(http.StatusBadRequest, "invalid plugin name")
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
		return 0, nil, errorf(http.StatusBadRequest, "invalid configuration: wrong type: expected object, got %s", jsonType(v))
	}
	if err := forbidTimes(conf); err != nil {
		return 0, nil, err
	}
	if method == http.MethodPost {
		return h.post(ctx, t, conf)
	}
	if t.key, err = h.putID(t, conf); err != nil {
		return 0, nil, err
	}
	if t.res.kind == "credential" {
		resp, err := h.o.KV.Get(ctx, h.o.Prefix+"/consumers/"+t.consumer, clientv3.WithCountOnly())
		if err != nil {
			return 0, nil, err
		}
		if resp.Count == 0 {
			return 0, nil, errorf(http.StatusNotFound, "consumer not found")
		}
	}
	if err := h.checkRefs(ctx, t, conf); err != nil {
		return 0, nil, err
	}
	if t.res.dir == "consumers" {
		if err := h.checkDuplicateKeys(ctx, t, conf); err != nil {
			return 0, nil, err
		}
	}
	prev, err := h.o.KV.Get(ctx, t.key)
	if err != nil {
		return 0, nil, err
	}
	if t.res.dir != "plugin_metadata" {
		now := h.now().Unix()
		conf["create_time"] = now
		if len(prev.Kvs) > 0 {
			if old, ok := decodeStored(prev.Kvs[0].Value); ok {
				if ct, ok := old.(map[string]any)["create_time"]; ok {
					conf["create_time"] = ct
				}
			}
		}
		conf["update_time"] = now
	}
	value, err := h.seal(t, conf)
	if err != nil {
		return 0, nil, err
	}
	put, err := h.o.KV.Put(ctx, t.key, string(value))
	if err != nil {
		return 0, nil, err
	}
	h.log.Info("object stored", "method", method, "key", t.key, "revision", put.Header.Revision)
	status := http.StatusCreated
	if len(prev.Kvs) > 0 {
		status = http.StatusOK
	}
	return status, map[string]any{"key": t.key, "value": h.present(t, conf)}, nil
}

// post stores conf under a new id: etcd's revision after a write of <prefix>/gen_id, zero-padded
// to 20 digits, as APISIX's etcd.push makes it.
func (h *Handler) post(ctx context.Context, t target, conf map[string]any) (int, any, error) {
	if t.id != "" || conf["id"] != nil {
		return 0, nil, errorf(http.StatusBadRequest, "wrong %s id, do not need it", t.res.kind)
	}
	if err := h.checkRefs(ctx, t, conf); err != nil {
		return 0, nil, err
	}
	gen, err := h.o.KV.Put(ctx, h.o.Prefix+"/gen_id", "1")
	if err != nil {
		return 0, nil, err
	}
	id := fmt.Sprintf("%020d", gen.Header.Revision)
	t.key = t.dir + id
	conf["id"] = id
	now := h.now().Unix()
	conf["create_time"], conf["update_time"] = now, now
	value, err := h.seal(t, conf)
	if err != nil {
		return 0, nil, err
	}
	put, err := h.o.KV.Put(ctx, t.key, string(value))
	if err != nil {
		return 0, nil, err
	}
	h.log.Info("object stored", "method", http.MethodPost, "key", t.key, "revision", put.Header.Revision)
	return http.StatusCreated, map[string]any{"key": t.key, "value": h.present(t, conf)}, nil
}

var (
	idPattern       = regexp.MustCompile(`^[a-zA-Z0-9-_.]{1,64}$`)
	usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-]+$`)
)

// putID applies APISIX's id rules of a PUT to conf (apisix/admin/resource.lua check_conf) and
// returns the object's key.
func (h *Handler) putID(t target, conf map[string]any) (string, error) {
	switch t.res.dir {
	case "consumers":
		if t.res.kind == "credential" {
			break
		}
		// A consumer's id is its username, in the body (PUT /consumers); a path id must equal it.
		name, _ := conf["username"].(string)
		if name == "" {
			return "", errorf(http.StatusBadRequest, `invalid configuration: property "username" is required`)
		}
		if t.id != "" && t.id != name {
			return "", errorf(http.StatusBadRequest, "wrong username")
		}
		if !usernamePattern.MatchString(name) {
			return "", errorf(http.StatusBadRequest, `invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\-]+$" with %q`, name)
		}
		return t.dir + name, nil
	case "plugin_metadata":
		if t.id == "" {
			return "", errorf(http.StatusBadRequest, "missing plugin name")
		}
		conf["id"] = t.id
		return t.key, nil
	case "secrets":
		if t.id == "" {
			return "", errorf(http.StatusBadRequest, "missing %s id", t.res.kind)
		}
	}
	id := t.id
	if id == "" {
		id = idString(conf["id"])
		if id == "" && conf["id"] != nil {
			return "", invalidID()
		}
	}
	if id == "" {
		return "", errorf(http.StatusBadRequest, "missing %s id", t.res.kind)
	}
	if conf["id"] != nil && idString(conf["id"]) != id {
		return "", errorf(http.StatusBadRequest, "wrong %s id", t.res.kind)
	}
	if t.res.dir == "secrets" {
		// The stored id of a secret is the part after the manager.
		if conf["id"] == nil {
			conf["id"] = id
		}
		return t.dir + id, nil
	}
	if conf["id"] == nil {
		conf["id"] = id
	}
	if !validID(conf["id"]) {
		return "", invalidID()
	}
	return t.dir + id, nil
}

// validID: a string of 1-64 of [a-zA-Z0-9-_.], or an integer >= 1 (apisix/schema_def.lua id_schema).
func validID(v any) bool {
	switch x := v.(type) {
	case string:
		return idPattern.MatchString(x)
	case fmt.Stringer:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		return err == nil && n >= 1
	}
	return false
}

func invalidID() error {
	return errorf(http.StatusBadRequest, `invalid configuration: property "id" validation failed: object matches none of the required`)
}

// forbidTimes refuses create_time and update_time in a PUT or POST body, as APISIX does (also
// inside upstream and plugins).
func forbidTimes(conf map[string]any) error {
	for _, p := range []string{"create_time", "update_time"} {
		if conf[p] != nil {
			return errorf(http.StatusBadRequest, "the property is forbidden:  %s", p)
		}
		for _, in := range []string{"upstream", "plugins"} {
			if m, ok := conf[in].(map[string]any); ok && m[p] != nil {
				return errorf(http.StatusBadRequest, "the property is forbidden:  %s.%s", in, p)
			}
		}
	}
	return nil
}

// seal encrypts what APISIX stores encrypted, checks the plugins are known, validates the object
// and returns the bytes to store.
func (h *Handler) seal(t target, conf map[string]any) ([]byte, error) {
	if h.plugins != nil {
		if plugins, ok := conf["plugins"].(map[string]any); ok {
			for name := range plugins {
				if !h.plugins[name] {
					return nil, errorf(http.StatusBadRequest, "unknown plugin [%s]", name)
				}
			}
		}
	}
	switch t.res.dir {
	case "ssls":
		encryptKeys(h.o.Keyring, conf)
	case "consumers":
		h.cryptFields(conf, true)
	}
	value := encodeJSON(conf)
	if t.res.validate && h.o.Validate != nil {
		if err := h.o.Validate(t.key, value); err != nil {
			h.log.Debug("object refused", "key", t.key, "error", err)
			return nil, errorf(http.StatusBadRequest, "%s", Message(err))
		}
	}
	return value, nil
}

// encryptKeys encrypts an SSL object's PEM keys (a value that does not start with "---" is
// already encrypted, or a reference, and stays).
func encryptKeys(k *keyring.Keyring, conf map[string]any) {
	if s, ok := conf["key"].(string); ok && strings.HasPrefix(s, "---") {
		conf["key"] = k.Encrypt(s)
	}
	if keys, ok := conf["keys"].([]any); ok {
		for i, x := range keys {
			if s, ok := x.(string); ok && strings.HasPrefix(s, "---") {
				keys[i] = k.Encrypt(s)
			}
		}
	}
}

// cryptFields encrypts (or decrypts) the EncryptFields of every plugin conf of a consumer or
// credential, in place when encrypting; decrypting returns a copy. A field that does not decrypt
// is shown as stored.
func (h *Handler) cryptFields(conf map[string]any, encrypt bool) map[string]any {
	plugins, ok := conf["plugins"].(map[string]any)
	if !ok || h.o.EncryptFields == nil || h.o.Keyring.Len() == 0 {
		return conf
	}
	out := conf
	if !encrypt {
		out = make(map[string]any, len(conf))
		for k, v := range conf {
			out[k] = v
		}
		out["plugins"] = make(map[string]any, len(plugins))
	}
	for name, pc := range plugins {
		pconf, ok := pc.(map[string]any)
		fields := h.o.EncryptFields(name)
		if !ok || len(fields) == 0 {
			out["plugins"].(map[string]any)[name] = pc
			continue
		}
		if !encrypt {
			cp := make(map[string]any, len(pconf))
			for k, v := range pconf {
				cp[k] = v
			}
			pconf = cp
		}
		for _, f := range fields {
			s, ok := pconf[f].(string)
			if !ok {
				continue
			}
			if encrypt {
				pconf[f] = h.o.Keyring.Encrypt(s)
			} else if pt, err := h.o.Keyring.Decrypt(s); err == nil {
				pconf[f] = pt
			}
		}
		out["plugins"].(map[string]any)[name] = pconf
	}
	return out
}

// Message is the error_msg APISIX gives for a validation error: the data plane's "field: reason"
// becomes `invalid configuration: property "field" validation failed: reason`, a plugin's error
// is APISIX's "failed to check the configuration of plugin ..." as it is.
func Message(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "failed to check the configuration of plugin"); i >= 0 {
		return msg[i:]
	}
	if strings.HasPrefix(msg, "unknown plugin") || strings.HasPrefix(msg, "invalid configuration") {
		return msg
	}
	field, reason, ok := strings.Cut(msg, ": ")
	if ok && fieldName.MatchString(field) {
		if reason == "unknown field" {
			return "invalid configuration: additional properties forbidden, found " + field
		}
		return fmt.Sprintf("invalid configuration: property %q validation failed: %s", field, reason)
	}
	return "invalid configuration: " + msg
}

var fieldName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "number"
}

// errChanged is APISIX's answer when a PATCH lost the race with another write.
var errChanged = errorf(http.StatusServiceUnavailable, "value changed before overwritten")
