package regionsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/zoneproxy/zoneproxy/config/keyring"
)

// Secrets seals secret fields on write and opens them for a dump, as APISIX's Admin API and
// data plane do: an SSL object's key and keys[i] (when in clear PEM), and the plugin fields that
// PluginFields names (APISIX's encrypt_fields) in consumers and credentials. A nil Keyring, or an
// empty one, leaves values as they are.
type Secrets struct {
	Keyring *keyring.Keyring
	// PluginFields returns the encrypted fields of a plugin's consumer conf (nil: none).
	PluginFields func(plugin string) []string
}

// Seal returns value with its secret fields encrypted.
func (s *Secrets) Seal(rel string, value []byte) ([]byte, error) {
	return s.transform(rel, value, func(field, v string) (string, error) {
		if strings.HasPrefix(field, "ssl.") && !strings.HasPrefix(v, "---") {
			return v, nil // an SSL key not in PEM: encrypted already
		}
		return s.Keyring.Encrypt(v), nil
	})
}

// Open returns value with its secret fields decrypted; a field that does not decrypt is kept as
// it is (it was stored in clear).
func (s *Secrets) Open(rel string, value []byte) ([]byte, error) {
	return s.transform(rel, value, func(_, v string) (string, error) {
		if p, err := s.Keyring.Decrypt(v); err == nil {
			return p, nil
		}
		return v, nil
	})
}

// transform applies f to every secret string field of value; value is re-encoded only when one
// changed.
func (s *Secrets) transform(rel string, value []byte, f func(field, v string) (string, error)) ([]byte, error) {
	if s == nil || s.Keyring.Len() == 0 {
		return value, nil
	}
	kind, _, _ := strings.Cut(rel, "/")
	isSSL := kind == "ssls"
	isConsumer := kind == "consumers"
	if !isSSL && !(isConsumer && s.PluginFields != nil) {
		return value, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	changed := false
	apply := func(field string, v any) (any, error) {
		str, ok := v.(string)
		if !ok || str == "" {
			return v, nil
		}
		out, err := f(field, str)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		changed = changed || out != str
		return out, nil
	}
	var err error
	if isSSL {
		if k, ok := m["key"]; ok {
			if m["key"], err = apply("ssl.key", k); err != nil {
				return nil, err
			}
		}
		if keys, ok := m["keys"].([]any); ok {
			for i := range keys {
				if keys[i], err = apply("ssl.keys", keys[i]); err != nil {
					return nil, err
				}
			}
		}
	} else if plugins, ok := m["plugins"].(map[string]any); ok {
		for name, conf := range plugins {
			c, ok := conf.(map[string]any)
			if !ok {
				continue
			}
			for _, field := range s.PluginFields(name) {
				if v, ok := c[field]; ok {
					if c[field], err = apply("plugins."+name+"."+field, v); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if !changed {
		return value, nil
	}
	return marshal(m)
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
