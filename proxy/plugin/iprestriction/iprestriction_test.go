package iprestriction

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	tests := []struct{ name, conf, err string }{
		{"whitelist", `{"whitelist":["10.255.254.0/24","192.168.0.0/16"]}`, ""},
		{"blacklist v6", `{"blacklist":["::1","fe80::/32","2001:db8::/128"],"message":"go away","response_code":404}`, ""},
		{"bad v4 octet (TEST 2)", `{"whitelist":["10.255.256.0/24","192.168.0.0/16"]}`, `property "whitelist" validation failed: failed to validate item 1: object matches none of the required`},
		{"bad v4 mask (TEST 3)", `{"whitelist":["10.255.254.0/38"]}`, `property "whitelist" validation failed: failed to validate item 1: object matches none of the required`},
		{"v4 mask with a leading zero", `{"blacklist":["10.0.0.0/08"]}`, `failed to validate item 1: object matches none of the required`},
		{"not an address", `{"blacklist":["1.2.3.4","localhost"]}`, `property "blacklist" validation failed: failed to validate item 2: object matches none of the required`},
		{"v6 mask past 128", `{"whitelist":["::1/129"]}`, `invalid ip address: ::1/129`},
		{"empty conf (TEST 4)", `{}`, `value should match only one schema, but matches none`},
		{"both (TEST 6)", `{"whitelist":["172.17.40.0/24"],"blacklist":["10.255.0.0/16"]}`, `value should match only one schema, but matches both schemas 1 and 2`},
		{"empty list", `{"whitelist":[]}`, `property "whitelist" validation failed: expect array to have at least 1 items`},
		{"response_code too big", `{"whitelist":["::1"],"response_code":409}`, `property "response_code" validation failed: expected 409 to be at most 404`},
		{"response_code too small", `{"whitelist":["::1"],"response_code":401}`, `property "response_code" validation failed: expected 401 to be at least 403`},
		{"empty message", `{"whitelist":["::1"],"message":""}`, `property "message" validation failed: string too short, expected at least 1, got 0`},
		{"long message", `{"whitelist":["::1"],"message":"` + strings.Repeat("x", 1025) + `"}`, `property "message" validation failed: string too long, expected at most 1024, got 1025`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	const deny = `{"message":"Your IP address is not allowed"}` + "\n"
	tests := []struct {
		name, conf, addr string
		status           int
		body             string
	}{
		{"whitelisted", `{"whitelist":["127.0.0.0/24"]}`, "127.0.0.9", 0, ""},
		{"not whitelisted", `{"whitelist":["127.0.0.0/24"]}`, "127.0.1.1", 403, deny},
		{"blacklisted", `{"blacklist":["127.0.0.1"]}`, "127.0.0.1", 403, deny},
		{"not blacklisted", `{"blacklist":["127.0.0.1"]}`, "127.0.0.2", 0, ""},
		{"v6 cidr", `{"blacklist":["2001:db8::/32"]}`, "2001:db8::7", 403, deny},
		{"v4-mapped v6 client", `{"whitelist":["192.0.2.0/24"]}`, "::ffff:192.0.2.5", 0, ""},
		{"message and code", `{"blacklist":["10.0.0.0/8"],"message":"Do you want to do something bad?","response_code":404}`, "10.1.2.3",
			404, `{"message":"Do you want to do something bad?"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(tt.addr), Port: 1}, nil)
			rep := inst.(plugin.Accessor).Access(&plugin.Request{Ctx: &ctx})
			if rep.Status != tt.status || string(rep.Body) != tt.body {
				t.Errorf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
			}
		})
	}
}
