package adminapi

import (
	"encoding/json"
	"testing"
)

// FuzzPatch: any stored object and any PATCH body, whole or at a sub-path, merge without panic
// into an object that encodes to JSON; a body that is not JSON is refused, never applied.
func FuzzPatch(f *testing.F) {
	f.Add(`{"uri":"/index.html","methods":["GET"],"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}}`,
		`{"methods":["GET","POST"],"upstream":{"nodes":{"127.0.0.1:1981":1}},"desc":null}`, "")
	f.Add(`{"uri":"/a","plugins":{"limit-count":{"count":2,"time_window":60}}}`, `{"count":5}`, "/plugins/limit-count")
	f.Add(`{"uri":"/a"}`, `"/b"`, "/uri/x")
	f.Add(`{"a":{"b":{"c":1}}}`, `null`, "/a/b/c")
	f.Add(`[1]`, `{}`, "")
	f.Fuzz(func(t *testing.T, stored, body, sub string) {
		old, ok := decodeStored([]byte(stored))
		obj, isObj := old.(map[string]any)
		if !ok || !isObj {
			obj = map[string]any{}
		}
		patch, err := decodeJSON([]byte(body))
		if err != nil {
			return
		}
		if sub == "" {
			p, ok := patch.(map[string]any)
			if !ok {
				return
			}
			obj = merge(obj, p)
		} else if obj, err = patchPath(obj, sub, patch); err != nil {
			return
		}
		if !json.Valid(encodeJSON(obj)) {
			t.Fatalf("merged object does not encode: %v", obj)
		}
	})
}

func TestMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"uri: wrong type: expected string, got number", `invalid configuration: property "uri" validation failed: wrong type: expected string, got number`},
		{"nope: unknown field", "invalid configuration: additional properties forbidden, found nope"},
		{"plugins: failed to check the configuration of plugin key-auth err: x", "failed to check the configuration of plugin key-auth err: x"},
		{"one of plugins, upstream, upstream_id or service_id is required", "invalid configuration: one of plugins, upstream, upstream_id or service_id is required"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Message(errString(tt.in)); got != tt.want {
				t.Errorf("Message(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
