package adminapi

import (
	"context"
	"net/http"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keyFields are the consumer-conf fields an authentication plugin finds its consumer by
// (APISIX's apisix/admin/utils.lua plugin_key_map): two consumers may not share one.
var keyFields = map[string]string{
	"key-auth":   "key",
	"basic-auth": "username",
	"jwt-auth":   "key",
	"hmac-auth":  "key_id",
}

// owner is who holds a key: a consumer (credential "") or one of its credentials.
type owner struct{ username, credential string }

// checkDuplicateKeys refuses a consumer or credential whose key-auth key, basic-auth username,
// jwt-auth key or hmac-auth key_id is already another's, as APISIX's consumers.lua and
// credentials.lua do: 400 "duplicate key found with consumer: <username>". A consumer may share a
// key with its own credentials; a credential with nothing else, not even its consumer.
func (h *Handler) checkDuplicateKeys(ctx context.Context, t target, conf map[string]any) error {
	plugins, _ := conf["plugins"].(map[string]any)
	wanted := map[string]string{} // plugin → key value in the body
	for name, pc := range plugins {
		field, ok := keyFields[name]
		if !ok {
			continue
		}
		pconf, _ := pc.(map[string]any)
		if v, ok := pconf[field].(string); ok {
			wanted[name] = h.plaintext(v)
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	self := owner{username: t.consumer, credential: t.id}
	if t.res.kind != "credential" {
		self = owner{username: strings.TrimPrefix(t.key, t.dir)}
	}
	resp, err := h.o.KV.Get(ctx, h.o.Prefix+"/consumers/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		who, ok := h.ownerOf(string(kv.Key))
		if !ok {
			continue
		}
		// APISIX: a consumer clashes with another username; a credential with any other holder.
		if self.credential == "" && who.username == self.username {
			continue
		}
		if self.credential != "" && who == self {
			continue
		}
		v, ok := decodeStored(kv.Value)
		if !ok {
			continue
		}
		obj, _ := v.(map[string]any)
		stored, _ := obj["plugins"].(map[string]any)
		for name, key := range wanted {
			pconf, _ := stored[name].(map[string]any)
			if s, ok := pconf[keyFields[name]].(string); ok && h.plaintext(s) == key {
				return errorf(http.StatusBadRequest, "duplicate key found with consumer: %s", who.username)
			}
		}
	}
	return nil
}

// ownerOf parses <prefix>/consumers/<username>[/credentials/<id>].
func (h *Handler) ownerOf(key string) (owner, bool) {
	rest, ok := strings.CutPrefix(key, h.o.Prefix+"/consumers/")
	if !ok || rest == "" {
		return owner{}, false
	}
	user, cred, isCred := strings.Cut(rest, "/credentials/")
	if isCred {
		return owner{username: user, credential: cred}, cred != "" && !strings.Contains(cred, "/")
	}
	return owner{username: user}, !strings.Contains(user, "/")
}

// plaintext is s decrypted with the keyring when it is a ciphertext of it, else s.
func (h *Handler) plaintext(s string) string {
	if h.o.Keyring.Len() == 0 {
		return s
	}
	if pt, err := h.o.Keyring.Decrypt(s); err == nil {
		return pt
	}
	return s
}
