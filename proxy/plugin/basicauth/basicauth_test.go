package basicauth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParse(t *testing.T) {
	tests := []struct {
		name, header, user, pass string
		ok                       bool
	}{
		{"plain", "Basic " + b64("foo:bar"), "foo", "bar", true},
		{"scheme in any case", "bAsIc " + b64("foo:bar"), "foo", "bar", true},
		{"tab after the scheme", "Basic\t" + b64("foo:bar"), "foo", "bar", true},
		{"no padding", "Basic " + strings.TrimRight(b64("foo:ba"), "="), "foo", "ba", true},
		{"anything after '=' is ignored", "Basic " + b64("foo:b") + "garbage!", "foo", "b", true},
		{"a ':' in the password truncates it", "Basic " + b64("foo:b:ar"), "foo", "b", true},
		{"whitespace removed", "Basic " + b64(" f o o : b\ta r "), "foo", "bar", true},
		{"unanchored, as APISIX's regex", "xBasic " + b64("foo:bar"), "foo", "bar", true},
		{"empty password", "Basic " + b64("foo:"), "foo", "", true},
		{"no colon", "Basic " + b64("foobar"), "", "", false},
		{"not base64", "Basic !!!!", "", "", false},
		{"length 1 mod 4", "Basic QUJDRE", "", "", false},
		{"other scheme", "Bearer " + b64("foo:bar"), "", "", false},
		{"scheme alone", "Basic ", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			user, pass, ok := Parse([]byte(tt.header), &buf)
			if ok != tt.ok || string(user) != tt.user || string(pass) != tt.pass {
				t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, %v", tt.header, user, pass, ok, tt.user, tt.pass, tt.ok)
			}
		})
	}
}

// FuzzParse: any header parses or not without panicking; what parses has no whitespace and no
// ':' in the username, and a well-formed header gives back what was encoded.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"Basic " + b64("foo:bar"), "basic Zm9vOmJhcg", "Basic ===", "Basic \x00\xff", "BASIC\v" + b64("a:b:c"), ""} {
		f.Add([]byte(s), "user", "pass")
	}
	f.Fuzz(func(t *testing.T, header []byte, user, pass string) {
		var buf []byte
		u, p, ok := Parse(header, &buf)
		if ok && (bytes.ContainsAny(u, " \t\r\n\f\v:") || bytes.ContainsAny(p, " \t\r\n\f\v:")) {
			t.Fatalf("Parse(%q) = %q, %q", header, u, p)
		}
		if strings.ContainsAny(user, " \t\r\n\f\v:") || strings.ContainsAny(pass, " \t\r\n\f\v:") {
			return
		}
		u, p, ok = Parse([]byte("Basic "+b64(user+":"+pass)), &buf)
		if !ok || string(u) != user || string(p) != pass {
			t.Fatalf("round trip of %q:%q gave %q, %q, %v", user, pass, u, p, ok)
		}
	})
}

func TestCompile(t *testing.T) {
	for _, tt := range []struct{ conf, err string }{
		{`{}`, ""},
		{`{"hide_credentials":true,"realm":"r","anonymous_consumer":"a"}`, ""},
		{`{"hide_credentials":1}`, `property "hide_credentials" validation failed: wrong type: expected boolean, got number`},
		{`{"realm":""}`, `property "realm" validation failed: string too short`},
	} {
		_, err := Plugin.Compile([]byte(tt.conf), nil)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.conf, err, tt.err)
		}
	}
	for _, tt := range []struct{ conf, err string }{
		{`{"username":"foo","password":"bar"}`, ""},
		{`{"username":"foo"}`, `property "password" is required`},
		{`{"password":"bar"}`, `property "username" is required`},
		{`{"username":"foo","password":1}`, `property "password" validation failed: wrong type: expected string, got number`},
	} {
		_, _, err := Plugin.CompileConsumer([]byte(tt.conf))
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("consumer %s: error %v, want %q", tt.conf, err, tt.err)
		}
	}
}

func TestRewrite(t *testing.T) {
	cs := plugin.NewConsumers()
	foo := plugin.NewConsumer("foo", "", "", nil, false)
	anon := plugin.NewConsumer("anon", "", "", nil, false)
	cs.Add(foo)
	cs.Add(anon)
	_, cc, _ := Plugin.CompileConsumer([]byte(`{"username":"foo","password":"bar"}`))
	cs.AddCredential(Name, "foo", &plugin.Credential{Consumer: foo, ID: "c1", Conf: cc})
	const (
		missing = `{"message":"Missing authorization in request"}` + "\n"
		invalid = `{"message":"Invalid authorization in request"}` + "\n"
		badUser = `{"message":"Invalid user authorization"}` + "\n"
	)
	tests := []struct {
		name, conf string
		auth       *string
		status     int
		body       string
		consumer   string
		authAfter  string
	}{
		{"missing", `{}`, nil, 401, missing, "", ""},
		{"empty header", `{}`, ptr(""), 401, invalid, "", ""},
		{"bad header", `{}`, ptr("Basic !"), 401, invalid, "", ""},
		{"unknown user", `{}`, ptr("Basic " + b64("who:bar")), 401, badUser, "", ""},
		{"wrong password", `{}`, ptr("Basic " + b64("foo:baz")), 401, badUser, "", ""},
		{"longer password", `{}`, ptr("Basic " + b64("foo:barr")), 401, badUser, "", ""},
		{"ok", `{}`, ptr("Basic " + b64("foo:bar")), 0, "", "foo", "Basic " + b64("foo:bar")},
		{"hide", `{"hide_credentials":true}`, ptr("Basic " + b64("foo:bar")), 0, "", "foo", ""},
		{"anonymous", `{"anonymous_consumer":"anon"}`, ptr("Basic " + b64("foo:baz")), 0, "", "anon", "Basic " + b64("foo:baz")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI("/x")
			if tt.auth != nil {
				ctx.Request.Header.Set("Authorization", *tt.auth)
			}
			r := &plugin.Request{Ctx: &ctx, Consumers: cs}
			rep := inst.(plugin.Rewriter).Rewrite(r)
			if rep.Status != tt.status || string(rep.Body) != tt.body {
				t.Fatalf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
			}
			if tt.status == 401 && string(ctx.Response.Header.Peek("WWW-Authenticate")) != `Basic realm="basic"` {
				t.Errorf("WWW-Authenticate %q", ctx.Response.Header.Peek("WWW-Authenticate"))
			}
			if tt.consumer != "" && (r.Consumer == nil || r.Consumer.Username != tt.consumer) {
				t.Errorf("consumer %v, want %s", r.Consumer, tt.consumer)
			}
			if tt.status == 0 && string(ctx.Request.Header.Peek("Authorization")) != tt.authAfter {
				t.Errorf("Authorization upstream %q, want %q", ctx.Request.Header.Peek("Authorization"), tt.authAfter)
			}
		})
	}
}

func ptr(s string) *string { return &s }
