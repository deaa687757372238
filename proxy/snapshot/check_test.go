package snapshot

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             string // "" = valid; else a substring of the error
	}{
		{"route", "/apisix/routes/1", `{"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1},"type":"roundrobin"}}`, ""},
		{"route with a bad uri type", "/apisix/routes/1", `{"uri":1}`, "uri"},
		{"route with a bad plugin conf", "/apisix/routes/1", `{"uri":"/a","plugins":{"key-auth":{"header":1}}}`, "key-auth"},
		{"upstream", "/apisix/upstreams/u", `{"nodes":[{"host":"127.0.0.1","port":80,"weight":1}]}`, ""},
		{"upstream of an unknown type", "/apisix/upstreams/u", `{"type":"nope","nodes":{"127.0.0.1:80":1}}`, "type"},
		{"consumer", "/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"k"}}}`, ""},
		{"credential", "/apisix/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k"}}}`, ""},
		{"credential with no auth plugin", "/apisix/consumers/jack/credentials/c1", `{"plugins":{"cors":{}}}`, "plugins"},
		{"not an object", "/apisix/routes/1", `[1]`, "not a JSON object"},
		{"empty", "/apisix/services/1", ``, "empty"},
		{"outside the prefix", "/other/routes/1", `{}`, "not the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(Options{}, tt.key, []byte(tt.value))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v, want valid", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Check = nil, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Check = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if err := Check(Options{}, "/apisix/protos/1", []byte(`{"content":"x"}`)); !errors.Is(err, ErrNotDecoded) {
		t.Fatalf("Check(proto) = %v, want ErrNotDecoded", err)
	}
}

// TestSchemaMatchesDecoder: a field the generated schema lists is accepted by Check (given the
// rest of a valid object), a field it does not list is refused as unknown.
func TestSchemaMatchesDecoder(t *testing.T) {
	opts := Options{Prefix: "/apisix"}
	for _, tc := range []struct {
		kind, key, base string
	}{
		{KindRoute, "/apisix/routes/1", `"uri":"/a","upstream_id":"1"`},
		{KindService, "/apisix/services/1", `"upstream_id":"1"`},
		{KindPluginConfig, "/apisix/plugin_configs/1", `"plugins":{}`},
		{KindConsumer, "/apisix/consumers/jack", `"username":"jack"`},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s, ok := Schema(tc.kind)
			if !ok {
				t.Fatalf("no schema for %s", tc.kind)
			}
			if s["additionalProperties"] != false {
				t.Errorf("additionalProperties = %v", s["additionalProperties"])
			}
			props := s["properties"].(map[string]any)
			for _, f := range []string{"id", "plugins", "create_time"} {
				if _, ok := props[f]; !ok {
					t.Errorf("schema lacks %q: %v", f, props)
				}
			}
			if err := Check(opts, tc.key, []byte(`{`+tc.base+`,"not_a_field":1}`)); err == nil {
				t.Errorf("a field outside the schema was accepted")
			}
			if err := Check(opts, tc.key, []byte(`{`+tc.base+`}`)); err != nil {
				t.Errorf("base object refused: %v", err)
			}
		})
	}
	if _, ok := Schema(KindUpstream); ok {
		t.Error("upstreams are not decoded by decodeStrict: no generated schema")
	}
	route, _ := Schema(KindRoute)
	uri := route["properties"].(map[string]any)["uri"].(map[string]any)
	if uri["type"] != "string" {
		t.Errorf("route uri: %v", uri)
	}
}
