package realip

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router"
)

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ name, conf, err string }{
		{"header", `{"source":"http_x_real_ip"}`, ""},
		{"xff trusted recursive", `{"source":"http_x_forwarded_for","trusted_addresses":["10.0.0.0/8","::1"],"recursive":true}`, ""},
		{"arg", `{"source":"arg_realip"}`, ""},
		{"no source", `{}`, `property "source" is required`},
		{"empty source", `{"source":""}`, `property "source" validation failed: string too short, expected at least 1, got 0`},
		{"source type", `{"source":1}`, `property "source" validation failed: wrong type: expected string, got number`},
		{"bad address", `{"source":"http_x_real_ip","trusted_addresses":["10.0.0.0/33"]}`, "invalid ip address: 10.0.0.0/33"},
		{"empty list", `{"source":"http_x_real_ip","trusted_addresses":[]}`, "expect array to have at least 1 items"},
		{"recursive type", `{"source":"http_x_real_ip","recursive":"yes"}`, `property "recursive" validation failed: wrong type: expected boolean, got string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	table, err := router.New(nil, router.ModeHostURI)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, conf, peer string
		headers          []string // name, value, ...
		uri              string
		want             string // the client address after the plugin
	}{
		{"x-real-ip", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9"}, "/", "203.0.113.9:0"},
		{"with port", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9:8080"}, "/", "203.0.113.9:8080"},
		{"v6 in brackets", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "[2001:db8::1]:99"}, "/", "[2001:db8::1]:99"},
		{"bare v6", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "2001:db8::2"}, "/", "[2001:db8::2]:0"},
		{"missing", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", nil, "/", "127.0.0.1:5000"},
		{"bad address", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "not-an-ip"}, "/", "127.0.0.1:5000"},
		{"bad port", `{"source":"http_x_real_ip"}`, "127.0.0.1:5000", []string{"X-Real-IP", "1.2.3.4:70000"}, "/", "127.0.0.1:5000"},
		{"query argument", `{"source":"arg_realip"}`, "127.0.0.1:5000", nil, "/?realip=198.51.100.4", "198.51.100.4:0"},
		{"untrusted peer", `{"source":"http_x_real_ip","trusted_addresses":["10.0.0.0/8"]}`, "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9"}, "/", "127.0.0.1:5000"},
		{"trusted peer", `{"source":"http_x_real_ip","trusted_addresses":["127.0.0.0/8"]}`, "127.0.0.1:5000", []string{"X-Real-IP", "203.0.113.9"}, "/", "203.0.113.9:0"},
		{"xff single", `{"source":"http_x_forwarded_for"}`, "127.0.0.1:5000", []string{"X-Forwarded-For", "198.51.100.1"}, "/", "198.51.100.1:0"},
		{"xff last entry", `{"source":"http_x_forwarded_for"}`, "127.0.0.1:5000", []string{"X-Forwarded-For", "198.51.100.1, 10.0.0.2,  10.0.0.3"}, "/", "10.0.0.3:0"},
		{"xff recursive", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8"],"recursive":true}`,
			"127.0.0.1:5000", []string{"X-Forwarded-For", "198.51.100.7, 198.51.100.1, 10.0.0.2,10.0.0.3"}, "/", "198.51.100.1:0"},
		{"xff recursive, all trusted", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8"],"recursive":true}`,
			"127.0.0.1:5000", []string{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}, "/", "10.0.0.1:0"},
		{"xff recursive without trusted_addresses", `{"source":"http_x_forwarded_for","recursive":true}`,
			"127.0.0.1:5000", []string{"X-Forwarded-For", "198.51.100.1, 10.0.0.2"}, "/", "10.0.0.2:0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			peer, _ := net.ResolveTCPAddr("tcp", tt.peer)
			ctx.Init(&fasthttp.Request{}, peer, nil)
			ctx.Request.SetRequestURI(tt.uri)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				ctx.Request.Header.Add(tt.headers[i], tt.headers[i+1])
			}
			r := &plugin.Request{Ctx: &ctx, Vars: table}
			if rep := inst.(plugin.Rewriter).Rewrite(r); rep.Status != 0 {
				t.Fatalf("reply %+v", rep)
			}
			if got := ctx.RemoteAddr().String(); got != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
			r.Reset()
			if got := ctx.RemoteAddr().String(); got != tt.peer {
				t.Errorf("after Reset: %s, want the peer %s", got, tt.peer)
			}
		})
	}
}

// TestXFFFields: with several X-Forwarded-For fields, the last one is read (APISIX's
// core.request.headers gives a table; the plugin takes its last element).
func TestXFFFields(t *testing.T) {
	inst, _ := Plugin.Compile([]byte(`{"source":"http_x_forwarded_for"}`), nil)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	ctx.Request.Header.Add("X-Forwarded-For", "198.51.100.1")
	ctx.Request.Header.Add("X-Forwarded-For", "198.51.100.2, 198.51.100.3")
	inst.(plugin.Rewriter).Rewrite(&plugin.Request{Ctx: &ctx})
	if got := ctx.RemoteIP().String(); got != "198.51.100.3" {
		t.Errorf("client %s, want 198.51.100.3", got)
	}
}
