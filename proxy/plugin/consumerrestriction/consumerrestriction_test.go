package consumerrestriction

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ conf, err string }{
		{`{"whitelist":["jack"]}`, ""},
		{`{"type":"consumer_group_id","blacklist":["g"],"rejected_code":401,"rejected_msg":"no"}`, ""},
		{`{"allowed_by_methods":[{"user":"jack","methods":["GET"]}]}`, ""},
		{`{}`, "object matches none of the required"},
		{`{"type":"host","whitelist":["a"]}`, `property "type" validation failed: matches none of the enum values`},
		{`{"whitelist":[]}`, `property "whitelist" validation failed: expect array to have at least 1 items`},
		{`{"whitelist":[1]}`, `failed to validate item 1: wrong type: expected string, got number`},
		{`{"whitelist":["a"],"rejected_code":100}`, `property "rejected_code" validation failed`},
		{`{"allowed_by_methods":[{"user":"jack","methods":["FETCH"]}]}`, `matches none of the enum values`},
	} {
		_, err := Plugin.Compile([]byte(tt.conf), nil)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.conf, err, tt.err)
		}
	}
}

func TestAccess(t *testing.T) {
	jack := plugin.NewConsumer("jack", "gold", "", nil, false)
	rose := plugin.NewConsumer("rose", "", "", nil, false)
	const (
		forbidden = `{"message":"The consumer_name is forbidden."}` + "\n"
		noValue   = `{"message":"The request is rejected, please check the consumer_name for this request"}` + "\n"
	)
	tests := []struct {
		name, conf string
		consumer   *plugin.Consumer
		method     string
		status     int
		body       string
	}{
		{"whitelisted", `{"whitelist":["jack"]}`, jack, "GET", 0, ""},
		{"not whitelisted", `{"whitelist":["jack"]}`, rose, "GET", 403, forbidden},
		{"no consumer", `{"whitelist":["jack"]}`, nil, "GET", 401, noValue},
		{"blacklisted", `{"blacklist":["jack"]}`, jack, "GET", 403, forbidden},
		{"not blacklisted", `{"blacklist":["jack"]}`, rose, "GET", 0, ""},
		{"custom code and message", `{"blacklist":["jack"],"rejected_code":401,"rejected_msg":"go away"}`, jack, "GET", 401, `{"message":"go away"}` + "\n"},
		{"by group", `{"type":"consumer_group_id","whitelist":["gold"]}`, jack, "GET", 0, ""},
		{"by group, none", `{"type":"consumer_group_id","whitelist":["gold"]}`, rose, "GET", 401,
			`{"message":"The request is rejected, please check the consumer_group_id for this request"}` + "\n"},
		{"method allowed", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`, jack, "POST", 0, ""},
		{"method not allowed", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`, jack, "GET", 403, forbidden},
		{"user not listed is allowed", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`, rose, "GET", 0, ""},
		{"whitelist wins over methods", `{"whitelist":["jack"],"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`, jack, "GET", 0, ""},
		{"by route", `{"type":"route_id","whitelist":["r1"]}`, nil, "GET", 0, ""},
		{"by service", `{"type":"service_id","whitelist":["s1"]}`, nil, "GET", 401,
			`{"message":"The request is rejected, please check the service_id for this request"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(tt.method)
			r := &plugin.Request{Ctx: &ctx, Consumer: tt.consumer, RouteID: "r1"}
			rep := inst.(plugin.Accessor).Access(r)
			if rep.Status != tt.status || string(rep.Body) != tt.body {
				t.Errorf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
			}
		})
	}
}
