package keyauth

import (
	"bufio"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name, conf, err string
		want            Conf
	}{
		{"defaults", `{}`, "", Conf{Header: "apikey", Query: "apikey", wwwAuth: `apikey realm="key"`, headerKey: []byte("Apikey")}},
		{"all set", `{"header":"X-Key","query":"k","hide_credentials":true,"anonymous_consumer":"anon","realm":"r"}`, "",
			Conf{Header: "X-Key", Query: "k", HideCredentials: true, Anonymous: "anon", wwwAuth: `apikey realm="r"`, headerKey: []byte("X-Key")}},
		{"unknown fields are allowed", `{"colour":"red"}`, "", Conf{Header: "apikey", Query: "apikey", wwwAuth: `apikey realm="key"`, headerKey: []byte("Apikey")}},
		{"header type", `{"header":1}`, `property "header" validation failed: wrong type: expected string, got number`, Conf{}},
		{"hide_credentials type", `{"hide_credentials":"yes"}`, `property "hide_credentials" validation failed: wrong type: expected boolean, got string`, Conf{}},
		{"empty anonymous", `{"anonymous_consumer":""}`, `property "anonymous_consumer" validation failed: string too short, expected at least 1, got 0`, Conf{}},
		{"empty realm", `{"realm":""}`, `property "realm" validation failed: string too short`, Conf{}},
		{"not an object", `[]`, `wrong type: expected object, got array`, Conf{}},
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
			if got := *inst.(*Conf); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCompileConsumer(t *testing.T) {
	tests := []struct{ conf, key, err string }{
		{`{"key":"auth-one"}`, "auth-one", ""},
		{`{}`, "", `property "key" is required`},
		{`{"key":1}`, "", `property "key" validation failed: wrong type: expected string, got number`},
	}
	for _, tt := range tests {
		key, _, err := Plugin.CompileConsumer([]byte(tt.conf))
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || key != tt.key {
			t.Errorf("%s: key %q, error %v; want %q, %q", tt.conf, key, err, tt.key, tt.err)
		}
	}
}

func TestRewrite(t *testing.T) {
	cs := plugin.NewConsumers()
	jack := plugin.NewConsumer("jack", "", "c-42", nil, false)
	anon := plugin.NewConsumer("anon", "", "", nil, false)
	cs.Add(jack)
	cs.Add(anon)
	cs.AddCredential(Name, "auth-one", &plugin.Credential{Consumer: jack, ID: "cred-1"})

	tests := []struct {
		name, conf, uri string
		headers         []string
		status          int
		body, wwwAuth   string
		consumer        string
		upstreamURI     string
		upstreamHeaders map[string]string // "" = absent
	}{
		{name: "missing", conf: `{}`, uri: "/x", status: 401, body: `{"message":"Missing API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "invalid", conf: `{}`, uri: "/x", headers: []string{"apikey", "nope"}, status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "header", conf: `{}`, uri: "/x", headers: []string{"apikey", "auth-one", "X-Consumer-Username", "forged", "X-Consumer-Custom-ID", "forged"},
			consumer: "jack", upstreamURI: "/x",
			upstreamHeaders: map[string]string{"apikey": "auth-one", "X-Consumer-Username": "jack", "X-Credential-Identifier": "cred-1", "X-Consumer-Custom-ID": "c-42"}},
		{name: "query", conf: `{}`, uri: "/x?a=1&apikey=auth-one", consumer: "jack", upstreamURI: "/x?a=1&apikey=auth-one"},
		{name: "header wins over query", conf: `{}`, uri: "/x?apikey=auth-one", headers: []string{"apikey", "nope"}, status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		// APISIX reads a key sent empty as "", looks it up and finds nothing.
		{name: "empty header", conf: `{}`, uri: "/x", headers: []string{"apikey", ""}, status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "empty header wins over query", conf: `{}`, uri: "/x?apikey=auth-one", headers: []string{"apikey", ""}, status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "empty query", conf: `{}`, uri: "/x?apikey=", status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "bare query", conf: `{}`, uri: "/x?apikey", status: 401,
			body: `{"message":"Invalid API key in request"}` + "\n", wwwAuth: `apikey realm="key"`},
		{name: "custom header and realm", conf: `{"header":"X-Key","realm":"r"}`, uri: "/x", status: 401,
			body: `{"message":"Missing API key in request"}` + "\n", wwwAuth: `apikey realm="r"`},
		{name: "hide header", conf: `{"hide_credentials":true}`, uri: "/x", headers: []string{"apikey", "auth-one"}, consumer: "jack",
			upstreamURI: "/x", upstreamHeaders: map[string]string{"apikey": ""}},
		{name: "hide query", conf: `{"hide_credentials":true}`, uri: "/x?a=1&apikey=auth-one&b=2", consumer: "jack", upstreamURI: "/x?a=1&b=2"},
		{name: "hide only query", conf: `{"hide_credentials":true}`, uri: "/x?apikey=auth-one", consumer: "jack", upstreamURI: "/x"},
		{name: "anonymous", conf: `{"anonymous_consumer":"anon"}`, uri: "/x", headers: []string{"X-Credential-Identifier", "forged"}, consumer: "anon",
			upstreamHeaders: map[string]string{"X-Consumer-Username": "anon", "X-Credential-Identifier": ""}},
		{name: "anonymous missing", conf: `{"anonymous_consumer":"ghost"}`, uri: "/x", status: 401,
			body: `{"message":"Invalid user authorization"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(tt.uri)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				ctx.Request.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			r := &plugin.Request{Ctx: &ctx, Consumers: cs}
			rep := inst.(plugin.Rewriter).Rewrite(r)
			if rep.Status != tt.status || string(rep.Body) != tt.body {
				t.Fatalf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
			}
			if got := string(ctx.Response.Header.Peek("WWW-Authenticate")); got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.wwwAuth)
			}
			if name := consumerName(r); name != tt.consumer {
				t.Errorf("consumer %q, want %q", name, tt.consumer)
			}
			if tt.upstreamURI != "" {
				if got := string(ctx.Request.Header.RequestURI()); got != tt.upstreamURI {
					t.Errorf("upstream URI %q, want %q", got, tt.upstreamURI)
				}
			}
			for k, v := range tt.upstreamHeaders {
				if got := string(ctx.Request.Header.Peek(k)); got != v {
					t.Errorf("upstream header %s %q, want %q", k, got, v)
				}
			}
		})
	}
}

func consumerName(r *plugin.Request) string {
	if r.Consumer == nil {
		return ""
	}
	return r.Consumer.Username
}

// TestEmptyHeaderOnTheWire: a key header sent with no value, as fasthttp parses it off the wire,
// is an invalid key, not a missing one.
func TestEmptyHeaderOnTheWire(t *testing.T) {
	inst, err := Plugin.Compile([]byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	raw := "GET /x?apikey=auth-one HTTP/1.1\r\nHost: a\r\napikey:\r\n\r\n"
	if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	cs := plugin.NewConsumers()
	jack := plugin.NewConsumer("jack", "", "", nil, false)
	cs.Add(jack)
	cs.AddCredential(Name, "auth-one", &plugin.Credential{Consumer: jack})
	r := &plugin.Request{Ctx: &ctx, Consumers: cs}
	rep := inst.(plugin.Rewriter).Rewrite(r)
	if want := `{"message":"Invalid API key in request"}` + "\n"; rep.Status != 401 || string(rep.Body) != want {
		t.Fatalf("reply %d %q, want 401 %q", rep.Status, rep.Body, want)
	}
}
