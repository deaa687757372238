package prometheus

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name, conf, err string
		want            Conf
	}{
		{"defaults", `{}`, "", Conf{}},
		{"prefer_name", `{"prefer_name":true}`, "", Conf{PreferName: true}},
		{"prefer_name type", `{"prefer_name":"yes"}`, `property "prefer_name" validation failed: wrong type: expected boolean, got string`, Conf{}},
		{"not an object", `[]`, "wrong type: expected object, got array", Conf{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := *inst.(*Conf); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestLog: the log phase of a chain with the plugin marks the request, one without does not;
// Reset clears the mark.
func TestLog(t *testing.T) {
	with := plugin.Merge(setOf(t))
	tests := []struct {
		name  string
		chain *plugin.Chain
		want  bool
	}{
		{"with prometheus", with, true},
		{"without", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r plugin.Request
			r.Run(nil, tt.chain)
			r.Log()
			if r.Counted != tt.want {
				t.Errorf("Counted %v, want %v", r.Counted, tt.want)
			}
			r.Reset()
			if r.Counted {
				t.Error("Reset kept Counted")
			}
		})
	}
}

func setOf(t *testing.T) *plugin.Set {
	t.Helper()
	pol := &plugin.Policy{Registry: plugin.NewRegistry(Plugin), Enabled: map[string]bool{Name: true}}
	set, _, _, err := pol.CompileSet(map[string]json.RawMessage{Name: json.RawMessage(`{}`)}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return set
}
