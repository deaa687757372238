package regionsync

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/keyring"
)

var testKeyring, _ = keyring.New(keyring.Default)

func testFields(plugin string) []string {
	switch plugin {
	case "key-auth":
		return []string{"key"}
	case "basic-auth":
		return []string{"password"}
	}
	return nil
}

func TestLoad(t *testing.T) {
	env := map[string]string{"REGION": "eu", "NODE": "10.0.0.1:80"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	check := func(rel string, v []byte) error {
		if strings.HasPrefix(rel, "routes/") && !strings.Contains(string(v), `"uri"`) {
			return errors.New("uri is required")
		}
		return nil
	}
	tests := []struct {
		name    string
		files   []string
		want    map[string]string // rel -> substring of the value
		wantErr string
	}{
		{"env", []string{"routes:\n  - {id: r1, uri: /x, labels: {region: ${REGION}}, upstream: {nodes: {\"${NODE}\": 1}}, desc: '${MISSING:=none} $${REGION}'}\n"},
			map[string]string{"routes/r1": `"region":"eu"`}, ""},
		{"env default and literal", []string{"routes:\n  - {id: r1, uri: /x, desc: '${MISSING:=none} $${REGION}'}\n"},
			map[string]string{"routes/r1": `"desc":"none ${REGION}"`}, ""},
		{"comment lines untouched", []string{"# set ${NOPE} per region\nroutes:\n  - {id: r1, uri: /x}\n"},
			map[string]string{"routes/r1": `"uri":"/x"`}, ""},
		{"unset", []string{"routes:\n  - {id: r1, uri: /x, desc: ${NOPE} ${NOPE2}}\n"}, nil, "environment variables not set: NOPE, NOPE2"},
		{"merged", []string{"routes:\n  - {id: r1, uri: /x}\n", "upstreams:\n  - {id: u1, nodes: {\"a:1\": 1}}\n"},
			map[string]string{"routes/r1": `"uri":"/x"`, "upstreams/u1": `"a:1"`}, ""},
		{"duplicate across files", []string{"routes:\n  - {id: r1, uri: /x}\n", "routes:\n  - {id: r1, uri: /y}\n"}, nil, "duplicate id routes/r1 (also in file0.yaml)"},
		{"duplicate in a file", []string{"routes:\n  - {id: r1, uri: /x}\n  - {id: r1, uri: /y}\n"}, nil, "duplicate id"},
		{"invalid object", []string{"routes:\n  - {id: r1, uri: /x}\n  - {id: r2, host: a}\n"}, nil, "file0.yaml: routes/r2: uri is required"},
		{"unknown top-level key", []string{"rutes:\n  - {id: r1, uri: /x}\n"}, nil, `unknown top-level key "rutes"`},
		{"syntax", []string{"routes: [\n"}, nil, "file0.yaml:"},
		{"json", []string{`{"routes":[{"id":1,"uri":"/j"}]}`}, map[string]string{"routes/1": `"uri":"/j"`}, ""},
		{"secrets sealed", []string{"consumers:\n  - {username: jack, plugins: {key-auth: {key: k1}}}\n"},
			map[string]string{"consumers/jack": testKeyring.Encrypt("k1")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []Input
			for i, f := range tt.files {
				name := "file" + string(rune('0'+i)) + ".yaml"
				if strings.HasPrefix(f, "{") {
					name = "file.json"
				}
				in = append(in, Input{Name: name, Data: []byte(f)})
			}
			objs, err := Load(in, lookup, check, &Secrets{Keyring: testKeyring, PluginFields: testFields})
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(tt.want) {
				t.Errorf("objects %v, want %d", objs, len(tt.want))
			}
			for rel, sub := range tt.want {
				if !strings.Contains(string(objs[rel]), sub) {
					t.Errorf("%s = %s, want it to contain %s", rel, objs[rel], sub)
				}
			}
		})
	}
}

func TestFieldDiff(t *testing.T) {
	got := FieldDiff(
		[]byte(`{"id":"1","uri":"/a","update_time":1,"plugins":{"cors":{},"limit-count":{"count":10}},"hosts":["a"]}`),
		[]byte(`{"uri":"/b","update_time":2,"plugins":{"limit-count":{"count":20.0}},"hosts":["a","b"],"desc":"new"}`))
	want := []string{
		`+ desc: "new"`,
		`~ hosts: ["a"] -> ["a","b"]`,
		`- plugins.cors: {}`,
		`~ plugins.limit-count.count: 10 -> 20`,
		`~ uri: "/a" -> "/b"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("FieldDiff:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
