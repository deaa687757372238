package builtin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/builtin"
)

// wrongValue is a JSON value of another type than ty.
func wrongValue(ty string) string {
	if ty == "string" {
		return "12345"
	}
	return `"not-a-` + ty + `"`
}

// TestDescribeMatchesCompile: every typed field of a plugin's described schema is one its
// Compile (or CompileConsumer) checks: a conf holding only that field, with a value of another
// type, is refused naming the field, or refused for a field the schema lists as required.
func TestDescribeMatchesCompile(t *testing.T) {
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		p, _ := reg.Lookup(name)
		for _, consumer := range []bool{false, true} {
			schema, ok := plugin.Describe(p, consumer)
			if !ok {
				if _, auth := p.(plugin.Auth); auth || !consumer {
					t.Errorf("%s: Describe(consumer=%v) not ok", name, consumer)
				}
				continue
			}
			if schema["type"] != "object" {
				t.Errorf("%s: schema type %v", name, schema["type"])
			}
			props := schema["properties"].(map[string]any)
			required, _ := schema["required"].([]string)
			for field, s := range props {
				ty, _ := s.(map[string]any)["type"].(string)
				if ty == "" {
					continue
				}
				t.Run(fmt.Sprintf("%s/consumer=%v/%s", name, consumer, field), func(t *testing.T) {
					conf := []byte(`{"` + field + `":` + wrongValue(ty) + `}`)
					var err error
					if consumer {
						_, _, err = p.(plugin.Auth).CompileConsumer(conf)
					} else {
						_, err = p.Compile(conf, &plugin.Env{})
					}
					if err == nil {
						t.Fatalf("%s accepted: the schema says %s", conf, ty)
					}
					if strings.Contains(err.Error(), `"`+field+`"`) {
						return
					}
					for _, r := range required {
						if strings.Contains(err.Error(), `"`+r+`"`) {
							return
						}
					}
					t.Logf("%s: refused for another reason: %v", conf, err)
				})
			}
		}
	}
}

// TestDescribe pins the schemas APISIX's tests show for the consumer side of basic-auth
// (t/admin/plugins.t) and a few route-side fields.
func TestDescribe(t *testing.T) {
	reg := builtin.Registry()
	get := func(name string, consumer bool) map[string]any {
		p, ok := reg.Lookup(name)
		if !ok {
			t.Fatalf("no plugin %s", name)
		}
		s, ok := plugin.Describe(p, consumer)
		if !ok {
			t.Fatalf("Describe(%s, %v) not ok", name, consumer)
		}
		return s
	}
	basic := get("basic-auth", true)
	if got := fmt.Sprintf("%v %v %v", basic["required"], basic["encrypt_fields"], basic["title"]); got != "[username password] [password] work with consumer object" {
		t.Errorf("basic-auth consumer schema: %s", got)
	}
	key := get("key-auth", false)
	header := key["properties"].(map[string]any)["header"].(map[string]any)
	if header["type"] != "string" || header["default"] != "apikey" {
		t.Errorf("key-auth header: %v", header)
	}
	rr := get("response-rewrite", false)
	filters := rr["properties"].(map[string]any)["filters"].(map[string]any)
	item := filters["items"].(map[string]any)
	if fmt.Sprint(item["required"]) != "[regex replace]" {
		t.Errorf("response-rewrite filters items: %v", item)
	}
	cors, _ := reg.Lookup("cors")
	if _, ok := plugin.Describe(cors, true); ok {
		t.Error("cors has no consumer schema")
	}
}
