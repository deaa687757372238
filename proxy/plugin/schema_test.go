package plugin

import (
	"strings"
	"testing"
)

// minPropsPlugin checks only that its conf is not empty, as proxy-rewrite and echo do.
type minPropsPlugin struct{}

func (minPropsPlugin) Name() string  { return "min-props" }
func (minPropsPlugin) Priority() int { return 0 }
func (minPropsPlugin) Compile(raw []byte, _ *Env) (Instance, error) {
	c, err := ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.MinProperties(1); err != nil {
		return nil, err
	}
	_, _ = c.Raw("headers")
	return struct{}{}, nil
}

func TestMinProperties(t *testing.T) {
	for _, tt := range []struct {
		conf, wantErr string
	}{
		{`{}`, "expect object to have at least 1 properties"},
		{`{"headers":null}`, ""}, // a null field counts, as in JSON schema
		{`{"headers":{"X-A":"1"}}`, ""},
	} {
		_, err := minPropsPlugin{}.Compile([]byte(tt.conf), &Env{})
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err %v, want %q", tt.conf, err, tt.wantErr)
		}
	}
	schema, _ := Describe(minPropsPlugin{}, false)
	if schema["minProperties"] != 1 {
		t.Errorf("described minProperties %v, want 1", schema["minProperties"])
	}
	if _, ok := schema["properties"].(map[string]any)["headers"]; !ok {
		t.Errorf("a field read raw is not described: %v", schema)
	}
}
