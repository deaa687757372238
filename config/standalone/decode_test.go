package standalone

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		env    map[string]string
		want   map[string]string
		warns  []string // substrings, in order
	}{
		{"ids: id, username, arr_n", YAML, `
routes:
  - uri: /a
    upstream_id: 1
  - id: 7
    uri: /b
    upstream_id: 1
upstreams:
  - id: 1
    nodes: {"127.0.0.1:80": 1}
    type: roundrobin
consumers:
  - username: jack
  - id: c2
    username: jill
#END`, nil, map[string]string{
			"/apisix/routes/arr_1":   `{"id":"arr_1","upstream_id":1,"uri":"/a"}`,
			"/apisix/routes/7":       `{"id":"7","upstream_id":1,"uri":"/b"}`,
			"/apisix/upstreams/1":    `{"id":"1","nodes":{"127.0.0.1:80":1},"type":"roundrobin"}`,
			"/apisix/consumers/jack": `{"id":"jack","username":"jack"}`,
			"/apisix/consumers/c2":   `{"id":"c2","username":"jill"}`,
		}, nil},
		{"credentials, plugin_metadata, secrets, plugins", YAML, `
consumers:
  - username: john_1
  - id: john_1/credentials/john-a
    plugins: {key-auth: {key: auth-a}}
plugin_metadata:
  - id: http-logger
    log_format: {host: "$host"}
  - log_format: {}
secrets:
  - id: vault/1
    uri: http://127.0.0.1:8200
plugins:
  - name: key-auth
  - name: ip-restriction
    stream: true
#END`, nil, map[string]string{
			"/apisix/consumers/john_1":                    `{"id":"john_1","username":"john_1"}`,
			"/apisix/consumers/john_1/credentials/john-a": `{"id":"john_1/credentials/john-a","plugins":{"key-auth":{"key":"auth-a"}}}`,
			"/apisix/plugin_metadata/http-logger":         `{"id":"http-logger","log_format":{"host":"$host"}}`,
			"/apisix/secrets/vault/1":                     `{"id":"vault/1","uri":"http://127.0.0.1:8200"}`,
			"/apisix/plugins":                             `[{"name":"key-auth"},{"name":"ip-restriction","stream":true}]`,
		}, []string{"plugin_metadata[1]: has no id"}},
		{"duplicate id: the later wins", YAML, `
routes:
  - {id: r1, uri: /old}
  - {id: r1, uri: /new}
#END`, nil, map[string]string{"/apisix/routes/r1": `{"id":"r1","uri":"/new"}`},
			[]string{"routes[1] (id r1): duplicate id: replaces routes[0]"}},
		{"duplicate id with the same modifiedIndex: the earlier stays", YAML, `
routes:
  - {id: r1, uri: /old, modifiedIndex: 3}
  - {id: r1, uri: /new, modifiedIndex: 3}
#END`, nil, map[string]string{"/apisix/routes/r1": `{"id":"r1","uri":"/old"}`},
			[]string{"same modifiedIndex"}},
		{"non-object entries and bad ids are skipped alone", YAML, `
routes:
  - just a string
  - [1, 2]
  - {id: "a/b", uri: /x}
  - {id: {x: 1}, uri: /y}
  - {id: ok, uri: /z}
consumers:
  - id: jack/credentials/x/y
  - username: 5
#END`, nil, map[string]string{"/apisix/routes/ok": `{"id":"ok","uri":"/z"}`},
			[]string{"routes[0]: is a string", "routes[1]: is a list", "contains '/'", "id is a mapping", "invalid credential id", "username is a number"}},
		{"env in YAML text, quoted stays a string", YAML, `
routes:
  - id: ${{RID}}
    uri: "${{URI:=/def}}"
    priority: ${{PRIO}}
    name: "${{PRIO}}"
#END`, map[string]string{"RID": "9", "PRIO": "5"}, map[string]string{
			"/apisix/routes/9": `{"id":"9","name":"5","priority":5,"uri":"/def"}`,
		}, nil},
		{"env in JSON: numbers and booleans converted", JSON, `{"routes":[{"id":"${{RID}}","uri":"/x","priority":"${{P}}","enable_websocket":"${{WS}}","name":"${{N:=n1}}"}]}`,
			map[string]string{"RID": "r", "P": "3", "WS": "true"}, map[string]string{
				"/apisix/routes/r": `{"enable_websocket":true,"id":"r","name":"n1","priority":3,"uri":"/x"}`,
			}, nil},
		{"JSON without #END, numbers exact", JSON, `{"upstreams":[{"id":1,"nodes":[{"host":"127.0.0.1","port":80,"weight":12345678901234567}]}]}`,
			nil, map[string]string{"/apisix/upstreams/1": `{"id":"1","nodes":[{"host":"127.0.0.1","port":80,"weight":12345678901234567}]}`}, nil},
		{"null and empty lists, unknown key", YAML, "routes:\nservices: []\nupstreams: {}\nroutes_conf_version: 3\nfoo: 1\n#END\n", nil,
			map[string]string{}, []string{`unknown top-level key "foo"`}},
		{"empty file", YAML, "#END", nil, map[string]string{}, nil},
		{"anchors and merge keys", YAML, `
x-up: &up
  type: roundrobin
  nodes: {"127.0.0.1:80": 1}
routes:
  - id: a
    uri: /a
    upstream: *up
  - id: b
    uri: /b
    upstream:
      <<: *up
      type: chash
      key: remote_addr
#END`, nil, map[string]string{
			"/apisix/routes/a": `{"id":"a","upstream":{"nodes":{"127.0.0.1:80":1},"type":"roundrobin"},"uri":"/a"}`,
			"/apisix/routes/b": `{"id":"b","upstream":{"key":"remote_addr","nodes":{"127.0.0.1:80":1},"type":"chash"},"uri":"/b"}`,
		}, []string{`unknown top-level key "x-up"`}},
		{"end marker with trailing spaces", YAML, "routes: [{id: a, uri: /a}]\n#END  \n\n", nil,
			map[string]string{"/apisix/routes/a": `{"id":"a","uri":"/a"}`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warns, err := Decode([]byte(tt.in), tt.format, "/apisix", env(tt.env), true)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			gotS := map[string]string{}
			for k, v := range got {
				gotS[k] = string(v)
			}
			if !maps.Equal(gotS, tt.want) {
				t.Errorf("got\n%v\nwant\n%v", gotS, tt.want)
			}
			var ws []string
			for _, w := range warns {
				ws = append(ws, w.String())
			}
			if len(ws) != len(tt.warns) {
				t.Fatalf("warnings %q, want %d like %q", ws, len(tt.warns), tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %d: %q, want it to contain %q", i, ws[i], w)
				}
			}
		})
	}
}

func TestDecodeFileErrors(t *testing.T) {
	bomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
routes: [*h]
#END`
	tests := []struct {
		name       string
		format     Format
		in         string
		requireEnd bool
		want       string
		is         error
	}{
		{"no #END", YAML, "routes: []\n", true, "missing valid end flag", ErrMissingEnd},
		{"#END not at the end", YAML, "#END\nroutes: []\n", true, "missing valid end flag", ErrMissingEnd},
		{"#END followed by too much space", YAML, "routes: []\n#END        \n", true, "missing valid end flag", ErrMissingEnd},
		{"truncated mid-write", YAML, "routes:\n  - id: a\n    uri: /a\n  - id: b\n    ur", true, "missing valid end flag", ErrMissingEnd},
		{"bad YAML", YAML, "routes: [\n#END", true, "invalid YAML", nil},
		{"bad JSON", JSON, `{"routes": [}`, false, "invalid JSON", nil},
		{"JSON trailing data", JSON, `{} {}`, false, "data after", nil},
		{"not a mapping", YAML, "- a\n- b\n#END", true, "not a mapping of lists", nil},
		{"list is a string", JSON, `{"routes":"x"}`, false, "routes: is a string, not a list", nil},
		{"unset variable", YAML, "routes: [{id: ${{NOPE}}}]\n#END", true, `can't find environment variable "NOPE"`, nil},
		{"unset variable in JSON", JSON, `{"routes":[{"uri":"${{NOPE}}"}]}`, false, `can't find environment variable "NOPE"`, nil},
		{"alias bomb", YAML, bomb, true, "aliases", ErrAliases},
		{"too large", JSON, "{}" + strings.Repeat(" ", MaxSize), false, "larger than", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Decode([]byte(tt.in), tt.format, "/apisix", env(map[string]string{}), tt.requireEnd)
			if err == nil {
				t.Fatalf("Decode succeeded with %v, want an error", slices.Collect(maps.Keys(got)))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// TestDecodeDefaultsRequireEnd: without requireEnd a YAML file needs no #END (the Admin API's
// YAML bodies have none).
func TestDecodeWithoutEnd(t *testing.T) {
	got, _, err := Decode([]byte("routes: [{id: a, uri: /a}]"), YAML, "/p", nil, false)
	if err != nil || string(got["/p/routes/a"]) != `{"id":"a","uri":"/a"}` {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestParseConfVersions(t *testing.T) {
	doc, err := Parse([]byte(`{"routes":[],"routes_conf_version":3,"plugins_conf_version":"x","X-Digest":"d"}`), JSON, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.ConfVersions) != 2 || doc.ConfVersions["routes"] == nil || doc.ConfVersions["plugins"] != "x" || len(doc.Unknown) != 0 {
		t.Fatalf("conf versions %v, unknown %v", doc.ConfVersions, doc.Unknown)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("routes: [{id: a, uri: /a}]\n#END"), false)
	f.Add([]byte("a: &a [1]\nb: [*a, *a]\nconsumers: [{username: x}, {id: x/credentials/abcdefg}]\n#END"), false)
	f.Add([]byte(`{"routes":[{"id":1,"uri":"${{X:=/}}"}],"plugins":[{"name":"a"}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		format := YAML
		if json {
			format = JSON
		}
		kvs, _, err := Decode(data, format, "/apisix", nil, false)
		if err != nil && kvs != nil {
			t.Fatalf("error %v with %d keys", err, len(kvs))
		}
		for k := range kvs {
			if !strings.HasPrefix(k, "/apisix/") {
				t.Fatalf("key %q outside the prefix", k)
			}
		}
	})
}
