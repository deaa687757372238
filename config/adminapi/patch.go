package adminapi

import (
	"context"
	"net/http"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// patch answers PATCH: the stored object merged with the body (or the body set at a sub-path),
// checked again and written only if the object did not change since it was read.
func (h *Handler) patch(ctx context.Context, t target, body []byte) (int, any, error) {
	if t.key == "" {
		return 0, nil, errorf(http.StatusBadRequest, "missing %s id", t.res.kind)
	}
	if len(body) == 0 {
		return 0, nil, errorf(http.StatusBadRequest, "missing new configuration")
	}
	conf, err := decodeJSON(body)
	if err != nil {
		return 0, nil, err
	}
	if conf == nil {
		return 0, nil, errorf(http.StatusBadRequest, "missing new configuration")
	}
	patchObj, isObj := conf.(map[string]any)
	if t.sub == "" && !isObj {
		return 0, nil, errorf(http.StatusBadRequest, "invalid configuration")
	}
	prev, err := h.o.KV.Get(ctx, t.key)
	if err != nil {
		return 0, nil, err
	}
	if len(prev.Kvs) == 0 {
		return 0, nil, errNotFound
	}
	stored, _ := decodeStored(prev.Kvs[0].Value)
	obj, ok := stored.(map[string]any)
	if !ok {
		obj = map[string]any{}
	}
	obj = h.cryptFields(obj, false) // stored ciphertext is encrypted once again by seal
	now := h.now().Unix()
	if t.sub != "" {
		if t.res.dir == "ssls" {
			switch t.sub {
			case "/key":
				if s, ok := conf.(string); ok && strings.HasPrefix(s, "---") {
					conf = h.o.Keyring.Encrypt(s)
				}
			case "/keys":
				if keys, ok := conf.([]any); ok {
					encryptKeys(h.o.Keyring, map[string]any{"keys": keys})
				}
			}
		}
		if obj, err = patchPath(obj, t.sub, conf); err != nil {
			return 0, nil, err
		}
		obj["update_time"] = now
	} else {
		if t.res.dir == "ssls" {
			encryptKeys(h.o.Keyring, patchObj)
		}
		obj = merge(obj, patchObj)
		if patchObj["update_time"] == nil {
			obj["update_time"] = now
		}
	}
	if obj["create_time"] == nil {
		obj["create_time"] = now
	}
	if obj["id"] != nil && idString(obj["id"]) != t.id {
		return 0, nil, errorf(http.StatusBadRequest, "wrong %s id", t.res.kind)
	}
	obj["id"] = firstNonNil(obj["id"], t.id)
	if !validID(obj["id"]) && t.res.dir != "secrets" {
		return 0, nil, invalidID()
	}
	if err := h.checkRefs(ctx, t, obj); err != nil {
		return 0, nil, err
	}
	value, err := h.seal(t, obj)
	if err != nil {
		return 0, nil, err
	}
	resp, err := h.o.KV.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(t.key), "=", prev.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(t.key, string(value))).Commit()
	if err != nil {
		return 0, nil, err
	}
	if !resp.Succeeded {
		return 0, nil, errChanged
	}
	return http.StatusOK, map[string]any{"key": t.key, "value": h.present(t, obj)}, nil
}

func firstNonNil(a any, b string) any {
	if a != nil {
		return a
	}
	return b
}

// merge merges patch into dst recursively: objects merge, anything else (arrays included)
// replaces, null removes the key. dst is modified and returned.
func merge(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dv, pv)
			} else {
				dst[k] = merge(map[string]any{}, pv)
			}
		default:
			dst[k] = v
		}
	}
	return dst
}

// patchPath sets value at the slash-separated path in obj, creating missing objects on the way;
// a null value removes the key. A non-object on the way is APISIX's "invalid sub-path".
func patchPath(obj map[string]any, path string, value any) (map[string]any, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	cur := obj
	for i, s := range segs[:len(segs)-1] {
		next, ok := cur[s]
		if !ok || next == nil {
			m := map[string]any{}
			cur[s] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "invalid sub-path: /%s", strings.Join(segs[:i+1], "/"))
		}
		cur = m
	}
	last := segs[len(segs)-1]
	if value == nil {
		delete(cur, last)
	} else {
		cur[last] = value
	}
	return obj, nil
}

// delete answers DELETE: refused while another object references this one (unless force), a
// consumer's credentials deleted with it.
func (h *Handler) delete(ctx context.Context, t target, force bool) (int, any, error) {
	if t.key == "" {
		return 0, nil, errorf(http.StatusBadRequest, "missing %s id", t.res.kind)
	}
	if !force {
		if err := h.inUse(ctx, t); err != nil {
			return 0, nil, err
		}
	}
	ops := []clientv3.Op{clientv3.OpDelete(t.key)}
	if t.res.kind == "consumer" {
		ops = append(ops, clientv3.OpDelete(t.key+"/credentials/", clientv3.WithPrefix()))
	}
	resp, err := h.o.KV.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, nil, err
	}
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
		return 0, nil, errNotFound
	}
	return http.StatusOK, map[string]any{"deleted": "1", "key": t.key}, nil
}
